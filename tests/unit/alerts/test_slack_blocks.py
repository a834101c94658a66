"""The Slack blocks of every alert are valid Block Kit, whatever the CRM put in the deal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from dealpulse_alerts.handlers import AlertRules, compose_alert, scored_candidates, verdict_candidates
from dealpulse_alerts.slack import deal_link, format_amount
from dealpulse_common.events import (
    AlertType,
    CommitAdmission,
    DealAlertData,
    DealScored,
    ForecastBucket,
    GateCheck,
    Recommendation,
    RiskCategory,
    RiskFactor,
    ScoreChange,
    ScoreDelta,
)
from tests import events
from tests.events import NOW

RULES = AlertRules()
BLOCK_TYPES = {"header", "section", "context", "actions", "divider"}
TEXT_TYPES = {"plain_text", "mrkdwn"}


def assert_valid_block_kit(blocks: list[dict[str, Any]]) -> None:
    """Slack's documented limits for a message's blocks."""
    assert 0 < len(blocks) <= 50
    orjson.dumps(blocks)  # plain JSON all the way down
    for block in blocks:
        assert block["type"] in BLOCK_TYPES
        assert len(block.get("block_id", "")) <= 255
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and 0 < len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] in TEXT_TYPES and 0 < len(block["text"]["text"]) <= 3000
            fields = block.get("fields", [])
            assert len(fields) <= 10
            assert all(f["type"] in TEXT_TYPES and 0 < len(f["text"]) <= 2000 for f in fields)
        elif block["type"] == "context":
            assert 0 < len(block["elements"]) <= 10
            assert all(e["type"] in TEXT_TYPES and 0 < len(e["text"]) <= 3000 for e in block["elements"])
        elif block["type"] == "actions":
            assert 0 < len(block["elements"]) <= 25
            for button in block["elements"]:
                assert button["type"] == "button"
                assert button["text"]["type"] == "plain_text" and 0 < len(button["text"]["text"]) <= 75
                assert 0 < len(button["action_id"]) <= 255
                assert len(button.get("value", "")) <= 2000 and len(button.get("url", "")) <= 3000
                assert button.get("style", "primary") in {"primary", "danger"}


def _texts(block: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in (block.get("text"), *block.get("fields", []), *block.get("elements", [])) if t and "type" in t
            and t["type"] in TEXT_TYPES]


def scored_event(name: str = "Acme renewal", *, changes: int = 1, factor_text: str = "stalled 40 days",
                 **deal: Any) -> DealScored:
    since = ScoreDelta(previous_risk_score=55, previous_scored_at=NOW - timedelta(days=1), delta=30, changes=[
        ScoreChange(field=f"f{i}", label=f"Change {i}", delta=1, description=f"change number {i}: +1 risk")
        for i in range(changes)])
    data = events.scored_data(
        events.deal("t1", "D-1.x", name=name, account_name="Acme Corp", amount=45_000, owner_name="Dana Rep", **deal),
        risk_score=85, risk_category=RiskCategory.CRITICAL, win_probability=0.15,
        factors=[RiskFactor(feature=f"f{i}", label=f"Factor {i}", impact=-12.0, description=factor_text)
                 for i in range(3)],
        recommendations=[Recommendation(priority="immediate", action="Schedule an exec sponsor call",
                                        rationale="critical"),
                         Recommendation(priority="ongoing", action="Keep notes current", rationale="hygiene")],
        since_previous=since, previous_category=RiskCategory.HIGH,
    )
    return events.scored_event(data, id="scored:t1:crm-1")


def alert_for(event: DealScored) -> DealAlertData:
    return compose_alert(scored_candidates(event, RULES)[0], event, "http://127.0.0.1:8000/").data


def test_a_critical_alert_has_the_expected_layout() -> None:
    alert = alert_for(scored_event())
    blocks = alert.slack_blocks
    assert_valid_block_kit(blocks)
    assert [b["type"] for b in blocks] == ["header", "section", "section", "section", "section", "context",
                                           "actions"]
    assert blocks[0]["text"]["text"] == "🔴 Critical risk: Acme renewal"
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields == ["*Deal*\nAcme renewal · Acme Corp", "*Amount*\n$45,000", "*Risk score*\n85/100 (critical)",
                      "*Owner*\nDana Rep"]
    assert blocks[2]["text"]["text"].startswith("*Top risk factors*\n• *Factor 0*: stalled 40 days")
    assert blocks[3]["text"]["text"].startswith("*Why it changed*\n• Risk 55 → 85 (+30) since Nov 21")
    assert "Change number 0: +1 risk" in blocks[3]["text"]["text"]
    assert "Schedule an exec sponsor call" in blocks[4]["text"]["text"]
    assert "Keep notes current" not in blocks[4]["text"]["text"]


def test_the_buttons_open_the_deal_snooze_and_flag_a_false_alarm() -> None:
    alert = alert_for(scored_event())
    [actions] = [b for b in alert.slack_blocks if b["type"] == "actions"]
    buttons = {b["action_id"]: b for b in actions["elements"]}
    assert list(buttons) == ["open_deal", "snooze_24h", "false_alarm"]
    assert buttons["open_deal"]["url"] == alert.deep_link == "http://127.0.0.1:8000/#deal=D-1.x"
    for button in buttons.values():
        assert orjson.loads(button["value"]) == {"tenant_id": "t1", "alert_id": alert.alert_id, "deal_id": "D-1.x"}
    assert buttons["false_alarm"]["style"] == "danger"


def test_crm_text_is_escaped_and_clipped_to_slacks_limits() -> None:
    hostile = "<!channel> & <http://evil|click> " + "x" * 5000
    alert = alert_for(scored_event(hostile, changes=400, factor_text="y" * 4000))
    assert_valid_block_kit(alert.slack_blocks)
    # mrkdwn would turn "<!channel>" into a mention of everyone; plain_text (the header) shows it as typed.
    mrkdwn = " ".join(t["text"] for b in alert.slack_blocks for t in _texts(b) if t["type"] == "mrkdwn")
    assert "<!channel>" not in mrkdwn and "<http://evil" not in mrkdwn and "&lt;!channel&gt; &amp;" in mrkdwn
    assert alert.slack_blocks[0]["text"]["text"].endswith("…")


def test_a_commit_alert_is_valid_block_kit_too() -> None:
    data = events.verdict_data(
        ai_forecast=ForecastBucket.COMMIT, forecast_basis="win_probability", win_probability=0.8,
        commit_admission=CommitAdmission.NOT_ADMITTED, ai_verdict=ForecastBucket.BEST_CASE,
        gates=[GateCheck(gate="paper", passed=False, reason="Paper: not assessed.")], reasons=["r"],
        predictive_eligible=True, thresholds_version="default-1", risk_score=20, source_event_id="s", decided_at=NOW)
    source = events.verdict_event(data, deal_id="D9", id="v9")
    alert = compose_alert(verdict_candidates(source)[0], source, "http://x").data
    assert_valid_block_kit(alert.slack_blocks)
    assert alert.slack_blocks[0]["text"]["text"] == "🟡 Commit not supported: D9"
    assert alert.alert_type is AlertType.COMMIT_NOT_ADMITTED


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    (45_000, "USD", "$45,000"), (1_250_000.4, "EUR", "€1,250,000"), (900, "CHF", "900 CHF"), (None, "USD", "—"),
])
def test_amounts_read_as_money(amount: float | None, currency: str, shown: str) -> None:
    assert format_amount(amount, currency) == shown


def test_deep_links_escape_the_deal_id() -> None:
    assert deal_link("https://dp.example/", "A/B C") == "https://dp.example/#deal=A%2FB%20C"
