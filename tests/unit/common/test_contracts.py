"""Every event type round-trips through its topic's codec, and the committed JSON Schemas are current."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from dealpulse_common import asyncapi
from dealpulse_common.deal import Stage
from dealpulse_common.events import RiskFactor
from dealpulse_common.schemas import rendered_schemas
from dealpulse_common.topics import (
    ALL_TOPICS,
    DEAD_LETTERS,
    DEAL_ALERTS,
    DEAL_CHANGED,
    DEAL_SCORED,
    DEAL_VERDICT,
    DEAL_VERDICT_OVERRIDE,
)
from tests import events
from tests.events import NOW

ROOT = Path(__file__).resolve().parents[3]
DEAL = events.deal("t1", "D1", amount=1200.5, stage=Stage.PROPOSAL, expected_close_date=date(2026, 12, 31),
                   qualification={"champion": {"score": 2}})


def _samples():
    scored = events.scored_data(DEAL, risk_score=70, factors=[RiskFactor(feature="f", label="F", impact=-3.5,
                                                                         description="d")],
                                model_version="v1", source_event_id="e1", timing={"received_at": NOW})
    return [
        (DEAL_CHANGED, events.changed_event(DEAL, source_event_id="e1")),
        (DEAL_SCORED, events.scored_event(scored)),
        (DEAL_VERDICT, events.verdict_event(events.verdict_data(
            forecast_basis="health_score", health_score=2, reasons=["r"], source_event_id="e1"))),
        (DEAL_VERDICT_OVERRIDE, events.override_command()),
        (DEAL_ALERTS, events.alert_event(events.alert_data(
            title="t", summary="s", risk_score=80, deep_link="http://x/#deal=D1", source_event_id="e1"))),
        (DEAD_LETTERS, events.dead_letter_event()),
    ]


@pytest.mark.parametrize(("topic", "event"), _samples(), ids=lambda v: getattr(v, "name", ""))
def test_event_round_trips_through_its_topic(topic, event) -> None:
    decoded = topic.decode(event.to_bytes())
    assert decoded == event
    assert decoded.specversion == "1.0" and decoded.type == topic.event.event_type
    assert decoded.key == "t1:D1"


def test_a_consumer_rejects_another_topics_event() -> None:
    changed = _samples()[0][1]
    with pytest.raises(ValueError):
        DEAL_SCORED.decode(changed.to_bytes())


def test_consumers_tolerate_additive_fields() -> None:
    """Schema changes are additive: an older consumer must read an event with fields it does not know."""
    import orjson

    event = _samples()[4][1]
    raw = orjson.loads(event.to_bytes())
    raw["newattribute"] = "from a newer producer"
    assert DEAL_ALERTS.decode(orjson.dumps(raw)) == event


def test_committed_json_schemas_are_current() -> None:
    for name, text in rendered_schemas().items():
        committed = ROOT / "docs" / "schemas" / name
        assert committed.exists(), f"{committed} missing: run python -m dealpulse_common.schemas docs/schemas"
        assert committed.read_text() == text, f"{name} is stale: run python -m dealpulse_common.schemas docs/schemas"


def test_committed_asyncapi_document_is_current(tmp_path: Path) -> None:
    committed = ROOT / "docs" / "asyncapi.yaml"
    fix = "run python -m dealpulse_common.asyncapi docs/asyncapi.yaml"
    assert committed.exists(), f"{committed} missing: {fix}"
    fresh = tmp_path / "asyncapi.yaml"
    subprocess.run([sys.executable, "-m", "dealpulse_common.asyncapi", str(fresh)], check=True)
    assert committed.read_text() == fresh.read_text() == asyncapi.rendered(), f"docs/asyncapi.yaml is stale: {fix}"


def test_the_asyncapi_document_names_every_topic_and_every_reference_resolves() -> None:
    import yaml

    document = yaml.safe_load(asyncapi.rendered())
    assert document["asyncapi"].startswith("3.")
    assert sorted(c["address"] for c in document["channels"].values()) == sorted(t.name for t in ALL_TOPICS)
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref")
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert refs
    for ref in refs:
        target: object = document
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, f"{ref} does not resolve"
            target = target[part]
    # Each message's example is an event its topic decodes.
    for topic in ALL_TOPICS:
        [example] = document["components"]["messages"][topic.event.__name__]["examples"]
        assert topic.event.model_validate(example["payload"]).type == topic.event.event_type


def test_topic_names_appear_only_in_the_registry() -> None:
    """No topic name as a bare string anywhere but libs/common/dealpulse_common/topics.py."""
    names = {topic.name for topic in ALL_TOPICS}
    offenders = []
    for folder in ("services", "libs"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "topics.py" and path.parent.name == "dealpulse_common":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and node.value in names:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_only_the_kafka_module_sends_to_the_broker() -> None:
    """Services publish through EventPublisher; only benchmarks drive raw bench topics themselves."""
    offenders = []
    for folder in ("services", "libs"):
        for path in (ROOT / folder).rglob("*.py"):
            if (path.name == "kafka.py" and path.parent.name == "dealpulse_common") or path.parent.name == "bench":
                continue
            source = path.read_text()
            if ".send_and_wait(" in source or "_producer.send(" in source or "producer.send(" in source:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
