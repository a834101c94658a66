"""Delivery rules, pure: retries and backoff, Retry-After, the per-channel pace, who gets what, and secrets."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dealpulse_alerts.delivery_plan import Recipient, plan_alert
from dealpulse_alerts.emails import alert_email
from dealpulse_alerts.pacing import RetryPolicy, next_step
from dealpulse_alerts.senders import Outcome
from dealpulse_common.alert_settings import ChannelSettings, QuietHours, UserPreferences
from dealpulse_common.events import DealAlert
from tests import events

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=4, backoff_base_s=2.0, backoff_max_s=10.0)
CHANNELS = ChannelSettings.model_validate({
    "slack": {"webhook_url": "https://hooks.slack.test/T/B/x", "bot_token": "xoxb-secret", "signing_secret": "s3",
              "channel_min_severity": "high"},
    "email": {"host": "smtp.test", "from_address": "alerts@dealpulse.test", "password": "hunter2"}})


def person(user_id: str = "rep-1", **prefs: object) -> Recipient:
    return Recipient(user_id, f"{user_id}@example.test", None, ZoneInfo("UTC"), UserPreferences.model_validate(prefs))


def test_a_429_is_retried_after_exactly_the_retry_after_slack_asked_for() -> None:
    step = next_step(Outcome(False, "rate limited", retry_after_s=7), 1, POLICY, NOW)
    assert (step.status, step.retry_at) == ("retry", NOW + timedelta(seconds=7))


def test_other_failures_back_off_exponentially_up_to_the_cap() -> None:
    waits = [next_step(Outcome(False, "500"), n, POLICY, NOW).retry_at for n in (1, 2, 3)]
    assert waits == [NOW + timedelta(seconds=s) for s in (2, 4, 8)]
    assert POLICY.backoff(5) == 10.0


def test_past_the_budget_a_delivery_fails_with_the_last_reason() -> None:
    step = next_step(Outcome(False, "webhook answered 500"), 4, POLICY, NOW)
    assert (step.status, step.error) == ("failed", "gave up after 4 attempts: webhook answered 500")


def test_a_refusal_no_retry_can_fix_fails_at_once() -> None:
    step = next_step(Outcome(False, "Slack refused: invalid_auth", permanent=True), 1, POLICY, NOW)
    assert (step.status, step.error) == ("failed", "Slack refused: invalid_auth")
    assert next_step(Outcome.ok(), 3, POLICY, NOW).status == "sent"


def _critical_alert(severity: str = "critical") -> DealAlert:
    return events.alert_event(events.alert_data(severity=severity, owner_id="rep-1"))


def test_a_critical_alert_reaches_the_channel_and_each_recipient_by_dm_and_email() -> None:
    planned, named = plan_alert(_critical_alert(), CHANNELS, [person("rep-1"), person("mgr-1")], NOW)
    assert sorted((d.channel, d.recipient) for d in planned) == [
        ("email", "mgr-1"), ("email", "rep-1"), ("slack_dm", "mgr-1"), ("slack_dm", "rep-1"),
        ("slack_webhook", "channel")]
    assert len({d.delivery_id for d in planned}) == 5
    assert [(r.user_id, r.deliver_after) for r in named] == [("rep-1", NOW), ("mgr-1", NOW)]


def test_preferences_choose_channels_and_severity_and_the_channel_has_its_own_threshold() -> None:
    medium = _critical_alert("medium")
    planned, _ = plan_alert(medium, CHANNELS, [person("rep-1", channels=["email"]),
                                               person("mgr-1", min_severity="high")], NOW)
    assert [(d.channel, d.recipient) for d in planned] == [("email", "rep-1")]


def test_quiet_hours_defer_a_recipients_deliveries_and_the_event_says_until_when() -> None:
    quiet = person("rep-1", quiet_hours=QuietHours(start=time(11, 0), end=time(13, 0)))
    planned, named = plan_alert(_critical_alert(), CHANNELS, [quiet], NOW)
    assert {d.deliver_after for d in planned if d.recipient == "rep-1"} == {NOW + timedelta(hours=1)}
    assert named[0].deliver_after == NOW + timedelta(hours=1)
    assert next(d for d in planned if d.channel == "slack_webhook").deliver_after == NOW


def test_no_channel_configured_plans_nothing() -> None:
    planned, named = plan_alert(_critical_alert(), ChannelSettings(), [person()], NOW)
    assert planned == [] and named[0].channels == []


def test_secrets_are_never_in_the_public_view_and_an_edit_without_them_keeps_them() -> None:
    view = str(CHANNELS.public_view())
    assert "xoxb-secret" not in view and "hunter2" not in view and "hooks.slack.test" not in view
    edit = ChannelSettings.model_validate({"slack": {"channel_min_severity": "critical"},
                                           "email": {"host": "smtp2.test", "from_address": "a@dealpulse.test"}})
    kept = edit.keeping_secrets_of(CHANNELS)
    assert kept.slack is not None and kept.slack.bot_token == "xoxb-secret"
    assert kept.slack.channel_min_severity == "critical"
    assert kept.email is not None and (kept.email.host, kept.email.password) == ("smtp2.test", "hunter2")


def test_the_alert_email_escapes_crm_text_in_html_only() -> None:
    data = events.alert_data(title="Critical risk: <b>Acme</b> & co", deal_name="<script>x</script>")
    email = alert_email(data)
    assert "&lt;script&gt;" in email["html"] and "<script>" not in email["html"]
    assert "<script>x</script>" in email["text"]
