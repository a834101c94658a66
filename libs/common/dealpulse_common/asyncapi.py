"""Generate docs/asyncapi.yaml, the AsyncAPI 3.0 document of every topic, from the topic registry and the event
models (``python -m dealpulse_common.asyncapi docs/asyncapi.yaml``).

It is for a reader (a Slack-bot author) what docs/schemas/ is for code, generated from the same models; a test
fails when the committed file is stale. A development tool: pyyaml comes with the ``contracts`` extra.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from dealpulse_common.events import (
    AlertRecipient,
    AlertType,
    CloudEvent,
    CommitAdmission,
    DeadLetter,
    DealAlert,
    DealAlertData,
    DealChanged,
    DealChangedData,
    DealScored,
    DealScoredData,
    DealVerdict,
    DealVerdictData,
    DealVerdictOverride,
    DealVerdictOverrideData,
    ForecastBucket,
    GateCheck,
    Recommendation,
    RiskCategory,
    RiskFactor,
    ScoreChange,
    ScoreDelta,
)
from dealpulse_common.topics import ALL_TOPICS, DEAL_CHANGED, Topic

SCHEMA_REF = "#/components/schemas/{model}"
KEY = {"type": "string", "description": "{tenant_id}:{deal_id}: every event of a deal is on one partition, in order"}
DESCRIPTION = """DealPulse's services talk only through these Kafka topics. Every message is a CloudEvents 1.0
envelope in JSON (structured mode: the attributes and `data` in the value), keyed by `{tenant_id}:{deal_id}`, with
the extensions `tenantid`, `dealid` and `traceparent` (W3C trace context). Delivery is at least once: a consumer
dedupes by the event `id`, which is derived from what caused the event, so a replay carries the same id. Schema
changes are additive (ignore fields you do not know); a breaking change is a new `.v2` topic. A Slack bot reads
`deal.alerts.v1`: each message is one alert, its `data.slack_blocks` ready to post.""".replace("\n", " ")


def document() -> dict[str, Any]:
    examples = _examples()
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "DealPulse events", "version": "1.0.0", "description": DESCRIPTION},
        "defaultContentType": "application/json",
        "channels": {_channel_id(t): _channel(t) for t in ALL_TOPICS},
        "operations": _operations(),
        "components": {"schemas": _schemas(),
                       "messages": {t.event.__name__: _message(t, examples) for t in ALL_TOPICS}},
    }


def rendered() -> str:
    header = "# Generated from the event models by `python -m dealpulse_common.asyncapi docs/asyncapi.yaml`.\n"
    text: str = yaml.dump(document(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=118)
    return header + text


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # pyyaml ships no type hints
    """Text with line breaks as YAML literal blocks, so descriptions read as written; no anchors or aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _text)


def _channel_id(topic: Topic[CloudEvent]) -> str:
    return topic.name.replace(".", "_")


def _channel(topic: Topic[CloudEvent]) -> dict[str, Any]:
    readers = ", ".join(topic.consumers)
    return {
        "address": topic.name,
        "title": topic.name,
        "description": f"{topic.summary}\n\nWritten by {topic.producer}; read by {readers}.",
        "messages": {topic.event.__name__: {"$ref": f"#/components/messages/{topic.event.__name__}"}},
    }


def _message(topic: Topic[CloudEvent], examples: dict[str, CloudEvent]) -> dict[str, Any]:
    event = topic.event
    example = examples[event.__name__]
    return {
        "name": event.__name__,
        "title": event.event_type,
        "summary": topic.summary,
        "contentType": "application/json",
        "payload": {"$ref": SCHEMA_REF.format(model=event.__name__)},
        "bindings": {"kafka": {"key": KEY, "bindingVersion": "0.5.0"}},
        "examples": [{"name": f"{event.__name__}-example", "summary": f"key {example.key}; fields left empty omitted",
                      "payload": example.model_dump(mode="json", exclude_none=True)}],
    }


def _operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for topic in ALL_TOPICS:
        channel = {"$ref": f"#/channels/{_channel_id(topic)}"}
        message = [{"$ref": f"#/channels/{_channel_id(topic)}/messages/{topic.event.__name__}"}]
        operations[f"send_{_channel_id(topic)}"] = {
            "action": "send", "channel": channel, "messages": message,
            "summary": f"{topic.producer} publishes {topic.name}"}
        operations[f"receive_{_channel_id(topic)}"] = {
            "action": "receive", "channel": channel, "messages": message,
            "summary": f"{', '.join(topic.consumers)} consume {topic.name}"}
    return operations


def _schemas() -> dict[str, Any]:
    _, top = models_json_schema([(t.event, "validation") for t in ALL_TOPICS], ref_template=SCHEMA_REF)
    return dict(sorted(top["$defs"].items()))


def _examples() -> dict[str, CloudEvent]:
    """One event of each type, as a reader would see it (fixed values, so the document is reproducible)."""
    at = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    tenant, deal_id = "acme", "D-1042"
    ids = {"tenant_id": tenant, "deal_id": deal_id}
    deal = {**ids, "name": "Globex renewal", "account_name": "Globex", "amount": 120_000.0, "currency": "USD",
            "stage": "proposal", "owner_id": "rep-ann", "manager_id": "mgr-bo"}
    changed = DealChanged.create(
        source="dealpulse/ingest", id="5f0c", time=at, **ids,
        data=DealChangedData.model_validate({"deal": deal, "changed_fields": ["expected_close_date"],
                                             "provider": "hubspot", "source_event_id": "crm-881",
                                             "received_at": at}))
    factor = RiskFactor(feature="close_date_push_count", label="Close date pushes", impact=-9.5,
                        description="close date pushed 3 times")
    advice = Recommendation(priority="immediate", action="Confirm the close date with the economic buyer",
                            rationale="The close date moved three times")
    scored = DealScored.create(
        source="dealpulse/scorer", id="7a21", time=at, **ids,
        data=DealScoredData.model_validate({
            "deal": deal, "risk_score": 82, "risk_category": RiskCategory.CRITICAL, "win_probability": 0.18,
            "factors": [factor], "recommendations": [advice], "previous_category": RiskCategory.HIGH,
            "since_previous": ScoreDelta(previous_risk_score=61, previous_scored_at=at.replace(day=3), delta=21,
                                         changes=[ScoreChange(field="close_date_push_count",
                                                              label="Close date pushes", delta=21,
                                                              description="close date pushed 3rd time")]),
            "model_version": "v20261201-1", "scored_at": at, "source_event_id": "crm-881", "provider": "hubspot"}))
    verdict = DealVerdict.create(
        source="dealpulse/verdict", id="9c3e", time=at, **ids,
        data=DealVerdictData(
            ai_forecast=ForecastBucket.PIPELINE, forecast_basis="win_probability", win_probability=0.18,
            commit_admission=CommitAdmission.NOT_APPLICABLE, ai_verdict=ForecastBucket.PIPELINE,
            gates=[GateCheck(gate="paper", passed=False, reason="Paper: not assessed.")],
            reasons=["No qualification recorded; win probability 18% is below Best Case (50%)."],
            predictive_eligible=True, thresholds_version="default-1", risk_score=82, source_event_id="7a21",
            decided_at=at, owner_id="rep-ann", provider="hubspot", changed=True))
    override = DealVerdictOverride.create(
        source="dealpulse/gateway", id="b7f2", time=at, **ids,
        data=DealVerdictOverrideData(action="set", forecast_category=ForecastBucket.BEST_CASE,
                                     reason="Legal signed off; the buyer confirmed budget on the call",
                                     requested_by="mgr-bo", requested_at=at))
    link = "https://dealpulse.example.com/#deal=D-1042"
    alert = DealAlert.create(
        source="dealpulse/alerts", id="c41d", time=at, **ids,
        data=DealAlertData(
            alert_id="c41d", alert_type=AlertType.ENTERED_CRITICAL, severity="critical",
            title="Critical risk: Globex renewal",
            summary="Globex renewal entered critical risk at 82/100, up from 61 (high).", risk_score=82,
            deal_name="Globex renewal", amount=120_000.0, currency="USD", owner_id="rep-ann", manager_id="mgr-bo",
            deep_link=link, source_event_id="7a21", raised_at=at, dedupe_key=f"{tenant}:{deal_id}:entered_critical",
            slack_blocks=[
                {"type": "header", "text": {"type": "plain_text", "text": "🔴 Critical risk: Globex renewal"}},
                {"type": "actions", "block_id": "dealpulse_alert_actions", "elements": [
                    {"type": "button", "action_id": "open_deal", "url": link,
                     "text": {"type": "plain_text", "text": "Open deal"}}]}],
            recipients=[AlertRecipient(user_id="rep-ann", role="owner", deliver_after=at, channels=["slack_dm"]),
                        AlertRecipient(user_id="mgr-bo", role="manager", deliver_after=at.replace(hour=7, day=8),
                                       channels=["email"])],
            deliver_after=at, factors=[factor], recommendations=[advice]))
    dead = DeadLetter.of(service="scorer", original_topic=DEAL_CHANGED.name, original_key=f"{tenant}:{deal_id}",
                         original=b'{"not": "an event"}', error="ValidationError: 1 validation error ...",
                         tenant_id=tenant, deal_id=deal_id, partition=2, offset=1041, id="e0aa", time=at)
    dead.data.failed_at = at
    found: list[CloudEvent] = [changed, scored, verdict, override, alert, dead]
    assert {type(e) for e in found} == {t.event for t in ALL_TOPICS}, "an example for every topic"
    return {type(e).__name__: e for e in found}


def export(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rendered())


if __name__ == "__main__":
    export(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/asyncapi.yaml"))
