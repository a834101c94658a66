"""Pipedrive webhooks v2 for deals (create.deal, change.deal, delete.deal), with HTTP Basic auth.

Pipedrive lets the webhook carry an HTTP Basic user and password: the user is the tenant id and the password the
tenant's webhook secret. Stage ids go through ``tenant_settings.settings.pipedrive.stage_map`` (id -> stage name);
unmapped ids pass through raw. A won or lost deal's stage is its status ("won"/"lost"): Pipedrive keeps the
stage a deal was closed from, which says nothing about the outcome.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any

from dealpulse_ingest.connectors.common import (
    AuthError,
    ConnectorError,
    MalformedError,
    ParsedChange,
    apply_field_map,
    config_map,
    digest_id,
    load_json,
    parse_amount,
    parse_count,
    parse_date,
    parse_datetime,
    put_history,
    recent_activity_count,
)

# meta.action in v2 ("create"/"change"/"delete"), and v1's past tense, which some accounts still send.
_ACTIONS = {"create": "create", "added": "create", "change": "change", "updated": "change", "delete": "delete",
            "deleted": "delete"}
TEXT_FIELDS = {"title": "name", "currency": "currency", "org_name": "account_name", "owner_name": "owner_name"}


def check_basic_auth(header: str | None, expected_user: str, secret: str | None) -> None:
    if not secret:
        raise AuthError("unknown tenant or no webhook secret configured")
    if not header or not header.lower().startswith("basic "):
        raise AuthError("missing HTTP Basic credentials")
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise AuthError("malformed HTTP Basic credentials") from None
    # Both compared in constant time, and both always compared, so timing does not reveal which one was wrong.
    user_ok = hmac.compare_digest(user.encode(), expected_user.encode())
    password_ok = hmac.compare_digest(password.encode(), secret.encode())
    if not (user_ok and password_ok):
        raise AuthError("HTTP Basic credentials do not match the tenant")


def parse_event(body: bytes, config: Mapping[str, Any]) -> ParsedChange:
    event = load_json(body)
    if not isinstance(event, dict) or not isinstance(event.get("meta"), dict):
        raise MalformedError("a Pipedrive webhook body is a JSON object with meta, data and previous")
    meta: dict[str, Any] = event["meta"]
    entity = meta.get("entity", meta.get("object"))
    if entity != "deal":
        raise ConnectorError(f"not a deal event: entity {str(entity)[:40]!r}")
    action = _ACTIONS.get(str(meta.get("action")))
    if action is None:
        raise ConnectorError(f"unsupported action {str(meta.get('action'))[:40]!r}")
    current = event.get("data", event.get("current"))  # v1 calls the deal's new state "current"
    data = current if isinstance(current, dict) else None
    previous = event.get("previous") if isinstance(event.get("previous"), dict) else None
    deal = data or previous
    if deal is None:
        raise ConnectorError("event carries no deal in data or previous")
    v2 = "entity" in meta  # v1 names the entity "object" and puts the deal id in meta.id
    deal_id = (meta.get("entity_id") if v2 else meta.get("id")) or deal.get("id")
    if deal_id is None or isinstance(deal_id, bool) or str(deal_id) == "":
        raise ConnectorError("event has no deal id")
    deleted = action == "delete" or _is_deleted(data or {})
    # A deal taken out of the trash changes from deleted to not deleted (v2: is_deleted; v1: status).
    restored = not deleted and previous is not None and _is_deleted(previous) and data is not None
    stamp = meta.get("timestamp") if deleted else (deal.get("update_time") or meta.get("timestamp"))
    if stamp is None:
        raise ConnectorError("event has neither data.update_time nor meta.timestamp to order it by")
    fields: dict[str, Any] = {"deal_id": str(deal_id), "modified_at": parse_datetime(stamp)}
    if not (deleted or restored):  # a restore brings back the snapshot kept at the deletion
        fields.update(map_deal(deal, config))
        _map_history(deal, fields)
    # Each delivery has its own id in v2 (meta.id, stable across retries); v1 bodies fall back to a digest.
    event_id = f"pipedrive:{meta['id']}" if v2 and meta.get("id") else digest_id(
        "pipedrive", action, str(deal_id), stamp, data)
    return ParsedChange(event_id=event_id, fields=fields, deleted=deleted, restored=restored, raw=body)


def _is_deleted(deal: Mapping[str, Any]) -> bool:
    return deal.get("is_deleted") is True or deal.get("status") == "deleted"


def map_deal(deal: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """The deal's current state (Pipedrive sends it whole in ``data``) as ``GenericDealChange`` fields."""
    fields: dict[str, Any] = {}
    for source, target in TEXT_FIELDS.items():
        if source in deal:
            fields[target] = None if deal[source] in (None, "") else str(deal[source])
    if "value" in deal:
        fields["amount"] = parse_amount(deal["value"])
    owner = deal.get("owner_id", deal.get("user_id"))
    if isinstance(owner, dict):  # v1 expands the user object
        owner = owner.get("id", owner.get("value"))
    if owner is not None and not isinstance(owner, bool):
        fields["owner_id"] = str(owner)
    status = deal.get("status")
    if status in ("won", "lost"):
        fields.update(stage=status, is_closed=True, is_won=status == "won")
        closed = deal.get("close_time") or deal.get("won_time" if status == "won" else "lost_time")
        if closed:
            fields["closed_at"] = parse_datetime(closed)
    else:
        if status == "open":
            fields["is_closed"] = False
        stage_id = deal.get("stage_id")
        if stage_id is not None and not isinstance(stage_id, bool | dict | list):
            fields["stage"] = str(config_map(config, "stage_map").get(str(stage_id), stage_id))
    if deal.get("expected_close_date"):
        fields["expected_close_date"] = parse_date(deal["expected_close_date"])
    if deal.get("add_time"):
        fields["created_at"] = parse_datetime(deal["add_time"])
    if deal.get("last_activity_date"):
        fields["last_activity_at"] = parse_datetime(str(deal["last_activity_date"])[:10] + "T00:00:00+00:00")
    # v2 nests custom fields under custom_fields (a money field as {"value", "currency"}); v1 puts their hashes
    # at the top level.
    nested = deal.get("custom_fields")
    custom: Mapping[str, Any] = nested if isinstance(nested, dict) else deal
    values = {k: v.get("value") if isinstance(v, dict) else v for k, v in custom.items()}
    apply_field_map(values, config_map(config, "field_map"), fields)
    return fields


def _map_history(deal: Mapping[str, Any], fields: dict[str, Any]) -> None:
    """What Pipedrive knows of the deal's past (docs/CRM_WEBHOOKS.md, "History").

    ``stage_change_time`` is when the deal entered its pipeline stage; a won or lost deal's stage is its status, which
    it entered when it closed, so the time is taken for an open deal only. ``done_activities_count`` counts the
    deal's completed activities since its creation, a 30-day count only for a deal younger than 30 days.
    """
    if deal.get("status") not in ("won", "lost") and deal.get("stage_change_time"):
        put_history(fields, "stage_entered_at", parse_datetime(deal["stage_change_time"]))
    done = parse_count(deal.get("done_activities_count"), "done_activities_count")
    put_history(fields, "activity_count_30d",
                recent_activity_count(done, fields.get("created_at"), fields["modified_at"]))
