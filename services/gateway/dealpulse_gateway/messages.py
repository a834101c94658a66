"""What the gateway writes to a tenant's Redis stream and sends on the WebSocket.

Pure functions, shared by the fan-out consumer (writer) and the WebSocket (reader).

A stream entry has three fields:
- ``kind``: score | verdict | alert | deleted (the CRM deleted the deal: a dashboard drops its row);
- ``owner``: the deal owner's user id ("" when unknown), so a rep's socket filters without parsing JSON;
- ``message``: the compact JSON ``{"kind", "event": <CloudEvent JSON>, "gateway_at": <ISO time>}``.
A WebSocket frame is that message with the entry's stream id in front: ``{"id", "kind", "event", "gateway_at"}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import orjson

from dealpulse_common.events import CloudEvent, DealAlert, DealChanged, DealScored, DealVerdict


class StreamKind(StrEnum):
    SCORE = "score"
    VERDICT = "verdict"
    ALERT = "alert"
    DELETED = "deleted"


def kind_of(event: CloudEvent) -> StreamKind | None:
    """What the event is on a dashboard's stream; None for what a dashboard never shows (a live deal's change:
    its score follows; a verdict that did not change: every score has one, and the feed would be nothing else)."""
    if isinstance(event, DealScored):
        return StreamKind.SCORE
    if isinstance(event, DealVerdict):
        return StreamKind.VERDICT if event.data.changed else None
    if isinstance(event, DealAlert):
        return StreamKind.ALERT
    if isinstance(event, DealChanged) and event.data.deleted:
        return StreamKind.DELETED
    return None

# A Redis stream id ("<ms>-<seq>", or "<ms>" meaning "<ms>-0"); "0" resumes from the oldest retained entry.
_STREAM_ID = re.compile(r"^(\d{1,20})(?:-(\d{1,20}))?$")


def stream_key(tenant_id: str) -> str:
    # The braces are a Redis Cluster hash tag: a tenant's stream and its de-duplication keys share one slot,
    # which the atomic fan-out script needs.
    return f"dealpulse:stream:{{{tenant_id}}}"


def dedupe_key(tenant_id: str, kind: StreamKind, event_id: str) -> str:
    return f"dealpulse:seen:{{{tenant_id}}}:{kind}:{event_id}"


def owner_of(event: CloudEvent) -> str | None:
    """The user id of the deal's owner, which decides what a rep may see."""
    if isinstance(event, DealScored | DealChanged):
        return event.data.deal.owner_id
    if isinstance(event, DealVerdict | DealAlert):
        return event.data.owner_id
    return None


@dataclass(frozen=True)
class StreamEntry:
    kind: StreamKind
    owner_id: str | None
    message: str

    def fields(self) -> dict[str, str]:
        return {"kind": self.kind.value, "owner": self.owner_id or "", "message": self.message}

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> StreamEntry:
        return cls(kind=StreamKind(fields["kind"]), owner_id=fields.get("owner") or None, message=fields["message"])


def stream_entry(event: CloudEvent, gateway_at: datetime) -> StreamEntry | None:
    kind = kind_of(event)
    if kind is None:
        return None
    message = orjson.dumps({"kind": kind.value, "event": event.model_dump(mode="json"),
                            "gateway_at": gateway_at.isoformat()}).decode()
    return StreamEntry(kind=kind, owner_id=owner_of(event), message=message)


def client_frame(stream_id: str, message: str) -> str:
    """The WebSocket text frame: the stored message with its stream id first, without re-encoding the event."""
    if not message.startswith("{") or message == "{}":
        raise ValueError("a stream message must be a non-empty JSON object")
    return '{"id":' + orjson.dumps(stream_id).decode() + "," + message[1:]


def parse_stream_id(raw: str) -> tuple[int, int]:
    """``"1700000000000-3"`` → ``(1700000000000, 3)``; raises ValueError for anything that is not a stream id."""
    match = _STREAM_ID.match(raw)
    if not match:
        raise ValueError(f"not a stream id: {raw!r}")
    return int(match.group(1)), int(match.group(2) or 0)


def format_stream_id(parsed: tuple[int, int]) -> str:
    return f"{parsed[0]}-{parsed[1]}"
