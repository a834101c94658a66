"""HubSpot deal webhooks: batches of deal.creation / propertyChange / deletion / restore / merge events, signed
(v3).

The app secret is the one the tenant admin stored (``PUT /v1/admin/connectors/hubspot``), else the tenant's webhook
secret (``handlers.accepted_secrets``). Deal stages arrive as pipeline stage ids ("appointmentscheduled"
or "12345678"); ``tenant_settings.settings.hubspot.stage_map`` turns them into stage names, unmapped ids pass
through raw for the normaliser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from dealpulse_common.history import HISTORY_KEY
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
    parse_bool,
    parse_count,
    parse_date,
    parse_datetime,
    put_history,
    recent_activity_count,
    to_generic,
)

SIGNATURE_WINDOW_S = 300
MAX_EVENTS = 1000  # HubSpot sends at most 100; anything far bigger is not HubSpot

# HubSpot signs the URI with these characters decoded (developers.hubspot.com, "Validating requests", v3).
_URI_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
               "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}

PROPERTY_MAP: dict[str, str] = {
    "dealname": "name", "hubspot_owner_id": "owner_id", "deal_currency_code": "currency",
    "hs_forecast_category": "forecast_category", "dealtype": "custom.dealtype",
}
# The CRM's own probability is a *guess* derived from the stage: feeding it to the model would leak the CRM's
# opinion into ours, so it is deliberately ignored (as is the pipeline, implied by the stage id).
IGNORED_PROPERTIES = frozenset({"hs_deal_stage_probability", "pipeline", "hs_lastmodifieddate"})
# HubSpot's stage calculated properties: when the deal entered its current stage, and when it entered a given stage
# (``hs_date_entered_<stage id>``, and ``hs_v2_`` of the same in newer accounts).
CURRENT_STAGE_ENTERED = "hs_v2_date_entered_current_stage"
STAGE_ENTERED_PREFIXES = ("hs_v2_date_entered_", "hs_date_entered_")
LIFETIME_ACTIVITIES = "num_notes"  # "Number of sales activities", counted since the deal's creation
_HELD_ONLY = ("date entered a stage or activity count without the deal's stage or creation at the same instant in "
              "this delivery: not known to be the deal's current stage or a 30-day count")


@dataclass
class HubSpotChange(ParsedChange):
    """A change plus what only the whole change (all events of one deal and instant) can settle: HubSpot sends the
    date a deal entered a stage and its lifetime activity count as events of their own, and they count only beside
    the deal's stage and creation time."""

    stage_id: str | None = None
    stage_entered: dict[str, datetime] = field(default_factory=dict)
    lifetime_activities: int | None = None


@dataclass
class EventResult:
    index: int
    status: str  # accepted | duplicate | stale | ignored | rejected
    reason: str | None = None
    deal_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Batch:
    changes: list[ParsedChange] = field(default_factory=list)
    results: list[EventResult] = field(default_factory=list)  # events already decided (ignored / rejected)
    raw_rejected: dict[int, bytes] = field(default_factory=dict)


def _decode_uri(uri: str) -> str:
    for encoded, char in _URI_DECODE.items():
        uri = uri.replace(encoded, char).replace(encoded.lower(), char)
    return uri


def expected_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    source = f"{method.upper()}{_decode_uri(uri)}".encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def verify_v3(secret: str | None, method: str, uri: str, body: bytes, signature: str | None,
              timestamp: str | None, now: float | None = None) -> None:
    """HubSpot's v3 request signature, with its 5-minute replay window."""
    if not secret:
        raise AuthError("unknown tenant or no webhook secret configured")
    if not signature or not timestamp:
        raise AuthError("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header")
    try:
        sent_ms = int(timestamp)
    except ValueError:
        raise AuthError("X-HubSpot-Request-Timestamp is not epoch milliseconds") from None
    current = time.time() if now is None else now
    if abs(current - sent_ms / 1000) > SIGNATURE_WINDOW_S:
        raise AuthError("request timestamp outside the 5-minute window (replayed or clock skew)")
    if not hmac.compare_digest(expected_signature(secret, method, uri, body, timestamp).encode(),
                               signature.encode()):
        raise AuthError("signature does not match")


def parse_batch(body: bytes, config: Mapping[str, Any]) -> Batch:
    """Each event decided on its own: mapped into a change, ignored, or rejected with a reason."""
    events = load_json(body)
    if not isinstance(events, list):
        raise MalformedError("a HubSpot webhook body is a JSON array of events")
    if len(events) > MAX_EVENTS:
        raise MalformedError(f"more than {MAX_EVENTS} events in one delivery")
    batch = Batch()
    singles: list[tuple[int, HubSpotChange]] = []
    for index, event in enumerate(events):
        try:
            parsed = parse_event(event, config)
            if not isinstance(parsed, str):
                # Validated alone before merging, so one bad value cannot take its neighbours down with it.
                for change in parsed:
                    to_generic(change)
        except ConnectorError as exc:
            batch.results.append(EventResult(index, "rejected", str(exc)))
            batch.raw_rejected[index] = orjson.dumps(event)
            continue
        if isinstance(parsed, str):
            batch.results.append(EventResult(index, "ignored", parsed))
            continue
        for change in parsed:
            change.indices = [index]
            singles.append((index, change))
    for change in _group(singles):
        if _settle(change):
            batch.changes.append(change)
        else:
            batch.results.extend(EventResult(i, "ignored", _HELD_ONLY, change.deal_id) for i in change.indices)
    return batch


def _group(singles: list[tuple[int, HubSpotChange]]) -> list[HubSpotChange]:
    """Merge one deal's events of the same instant into one change, oldest instant first.

    HubSpot sends one event per changed property, often several with the same ``occurredAt``. Ingest ignores a
    change no newer than the stored one, so sent separately all but the first would be dropped as stale.
    """
    groups: dict[tuple[str, str, bool, bool], HubSpotChange] = {}
    for _, change in singles:
        key = (change.deal_id, str(change.fields["modified_at"]), change.deleted, change.restored)
        if key not in groups:
            groups[key] = change
            continue
        merged = groups[key]
        nested = {name: {**merged.fields.get(name, {}), **change.fields.get(name, {})} for name in _NESTED}
        merged.fields.update(change.fields)
        merged.fields.update({name: values for name, values in nested.items() if values})
        merged.stage_id = change.stage_id or merged.stage_id
        merged.stage_entered.update(change.stage_entered)
        if change.lifetime_activities is not None:
            merged.lifetime_activities = change.lifetime_activities
        merged.indices.extend(change.indices)
        merged.raw = merged.raw + b"\n" + change.raw
        merged.event_id = digest_id("hubspot", merged.event_id, change.event_id)
    # At one instant a restore goes first (the changes that follow apply to the restored deal), a deletion last.
    return sorted(groups.values(), key=lambda c: (c.fields["modified_at"], not c.restored, c.deleted))


_NESTED = ("custom", HISTORY_KEY)  # objects one event fills in part, merged rather than replaced


def _settle(change: HubSpotChange) -> bool:
    """Take the held values that the whole change vouches for; False when the change sets nothing else."""
    if change.stage_id is not None and change.stage_id in change.stage_entered:
        change.fields.setdefault(HISTORY_KEY, {}).setdefault("stage_entered_at",
                                                             change.stage_entered[change.stage_id])
    put_history(change.fields, "activity_count_30d", recent_activity_count(
        change.lifetime_activities, change.fields.get("created_at"), change.fields["modified_at"]))
    return change.deleted or change.restored or bool(set(change.fields) - {"deal_id", "modified_at"})


def parse_event(event: Any, config: Mapping[str, Any]) -> list[HubSpotChange] | str:
    """The changes an event makes (one, or a merge's tombstones), or the reason (a string) it is ignored."""
    if not isinstance(event, dict):
        raise ConnectorError("event is not a JSON object")
    kind = event.get("subscriptionType")
    if not isinstance(kind, str) or not kind.startswith("deal."):
        raise ConnectorError(f"not a deal event: subscriptionType {str(kind)[:60]!r}")
    portal = config.get("portal_id")
    if portal is not None and str(event.get("portalId")) != str(portal):
        raise ConnectorError(f"portalId {str(event.get('portalId'))[:30]!r} is not this tenant's HubSpot account")
    object_id = _object_id(event.get("objectId"), "objectId")
    if "occurredAt" not in event:
        raise ConnectorError("event has no occurredAt")
    occurred_at: datetime = parse_datetime(event["occurredAt"])
    # attemptNumber changes on every retry, so it must not be part of the identity of the event.
    identity = {k: v for k, v in event.items() if k != "attemptNumber"}
    if kind == "deal.merge":
        return _merged_away(event, identity, occurred_at)
    change = HubSpotChange(event_id=digest_id("hubspot", identity),
                           fields={"deal_id": object_id, "modified_at": occurred_at}, raw=orjson.dumps(event))
    if kind == "deal.deletion":
        change.deleted = True
    elif kind == "deal.restore":
        change.restored = True
    elif kind == "deal.creation":
        change.fields["created_at"] = occurred_at
    elif kind == "deal.propertyChange":
        name = event.get("propertyName")
        if not isinstance(name, str) or not name:
            raise ConnectorError("propertyChange event has no propertyName")
        value = event.get("propertyValue")
        if _hold(change, name, value):
            return [change]
        mapped = map_property(name, value, config)
        if mapped is None:
            return f"property {name[:60]!r} is not used by DealPulse"
        change.fields.update(mapped)
        if name == "dealstage":
            change.stage_id = str(value)
    else:
        raise ConnectorError(f"unsupported subscription type {kind[:60]!r}")
    return [change]


def _hold(change: HubSpotChange, name: str, value: Any) -> bool:
    """Keep a value that counts only beside others of the same change (``_settle``); False for any other property."""
    if name == LIFETIME_ACTIVITIES:
        change.lifetime_activities = parse_count(value, name)
        return True
    prefix = next((p for p in STAGE_ENTERED_PREFIXES if name.startswith(p) and name != CURRENT_STAGE_ENTERED), None)
    if prefix is None:
        return False
    if value is not None and value != "":
        change.stage_entered[name.removeprefix(prefix)] = parse_datetime(value)
    return True


def _merged_away(event: dict[str, Any], identity: dict[str, Any], occurred_at: datetime) -> list[HubSpotChange]:
    """A merge as tombstones for every deal that no longer exists after it.

    HubSpot merges deals into a new one (``newObjectId``), so the primary goes too unless it is the one that stays.
    The surviving deal is not invented here: its properties arrive as its own events.
    """
    primary = _object_id(event.get("primaryObjectId"), "primaryObjectId")
    merged = event.get("mergedObjectIds")
    if not isinstance(merged, list) or not merged:
        raise ConnectorError("merge event has no mergedObjectIds")
    survivor = _object_id(event.get("newObjectId", primary), "newObjectId")
    gone = dict.fromkeys([primary, *(_object_id(m, "mergedObjectIds") for m in merged)])
    gone.pop(survivor, None)
    return [HubSpotChange(event_id=digest_id("hubspot", identity, deal_id), deleted=True, raw=orjson.dumps(event),
                          fields={"deal_id": deal_id, "modified_at": occurred_at}) for deal_id in gone]


def _object_id(value: Any, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value):
        raise ConnectorError(f"event has no {name}")
    return str(value)


def map_property(name: str, value: Any, config: Mapping[str, Any]) -> dict[str, Any] | None:
    """One HubSpot deal property as ``GenericDealChange`` fields, or None when DealPulse does not use it."""
    if name in IGNORED_PROPERTIES:
        return None
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ConnectorError(f"property {name[:60]!r} has a non-scalar value")
    empty = value is None or value == ""
    fields: dict[str, Any] = {}
    if name == "dealstage":
        if empty:
            raise ConnectorError("dealstage is empty")
        stage_map = config_map(config, "stage_map")
        fields["stage"] = str(stage_map.get(str(value), value))
    elif name == "amount":
        fields["amount"] = parse_amount(value)
    elif name == "closedate":
        fields["expected_close_date"] = None if empty else parse_date(value)
    elif name == "createdate":
        if not empty:
            fields["created_at"] = parse_datetime(value)
    elif name == "notes_last_updated":
        fields["last_activity_at"] = None if empty else parse_datetime(value)
    elif name == CURRENT_STAGE_ENTERED:
        put_history(fields, "stage_entered_at", None if empty else parse_datetime(value))
    elif name in ("hs_is_closed", "hs_is_closed_won"):
        fields["is_closed" if name == "hs_is_closed" else "is_won"] = None if empty else parse_bool(value)
    elif name in PROPERTY_MAP:
        apply_field_map({name: None if empty else str(value)}, PROPERTY_MAP, fields)
    else:
        apply_field_map({name: value}, config_map(config, "field_map"), fields)
    return fields or None
