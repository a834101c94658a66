"""``dealpulse dlq list | show | replay``: read the dead-letter topic, and send what was fixed back where it came from.

Every consumer dead-letters what it cannot parse or store (``dlq.v1``: the original bytes, where they came from, the
error, the service, the time) and goes on. ``list`` and ``replay`` select letters by original topic, reason (a
part of the error), service, tenant and time; ``show ID`` prints one letter with its original decoded. ``replay``
re-publishes each selected original unchanged, under its key, to its original topic with a ``dealpulse-replay``
header naming the letter; the sinks are idempotent by event id, so a second replay changes nothing. Refused webhooks
(``webhook:<provider>``) were never on a topic and cannot be replayed: the CRM sends them again.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from dealpulse_common.events import CloudEvent, DeadLetter
from dealpulse_common.kafka import EventPublisher, make_producer, read_whole_topic
from dealpulse_common.settings import ServiceSettings
from dealpulse_common.topics import ALL_TOPICS, DEAD_LETTERS, Topic

REPLAY_HEADER = "dealpulse-replay"
REPLAYABLE: dict[str, Topic[CloudEvent]] = {t.name: t for t in ALL_TOPICS if t is not DEAD_LETTERS}
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def moment(text: str) -> datetime:
    """``2h``, ``30m``, ``1d``, ``90s`` ago, or an ISO 8601 time (UTC unless it says otherwise)."""
    if found := _DURATION.match(text):
        return datetime.now(UTC) - timedelta(**{_UNITS[found[2]]: int(found[1])})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: not a duration (2h, 30m, 1d) nor an ISO 8601 time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def add_parsers(commands: Any) -> None:
    """``dealpulse dlq list | show | replay``, for ``main.build_parser``."""
    dlq = commands.add_parser("dlq", help="list, show and replay dead letters (env KAFKA_BOOTSTRAP)")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = actions.add_parser("list", help="one line per dead letter: time, id, service, origin, key, error")
    _filters(listing)
    show = actions.add_parser("show", help="one dead letter in full, its original decoded")
    show.add_argument("id", help="the dead letter's id (see dlq list)")
    replay = actions.add_parser("replay", help="re-publish the selected originals to their topics, unchanged")
    _filters(replay)
    replay.add_argument("--id", action="append", dest="ids", default=None, help="only this letter (repeat it)")
    replay.add_argument("--dry-run", action="store_true", help="say what would be replayed, send nothing")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic", default=None, help="the original topic (e.g. deal.scored.v1)")
    parser.add_argument("--reason", default=None, help="a part of the error, case-insensitive")
    parser.add_argument("--service", default=None, help="the service that dead-lettered it")
    parser.add_argument("--tenant", default=None, help="the tenant it belongs to")
    parser.add_argument("--since", type=moment, default=None, help="failed at or after: 2h, 30m, 1d or ISO time")
    parser.add_argument("--until", type=moment, default=None, help="failed before: 2h, 30m, 1d or ISO time")


@dataclass(frozen=True)
class Selection:
    topic: str | None = None
    reason: str | None = None
    service: str | None = None
    tenant: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ids: frozenset[str] | None = None

    @classmethod
    def of(cls, args: argparse.Namespace) -> Selection:
        ids = getattr(args, "ids", None)
        return cls(args.topic, args.reason, args.service, args.tenant, args.since, args.until,
                   frozenset(ids) if ids else None)

    def keeps(self, letter: DeadLetter) -> bool:
        data = letter.data
        return ((self.topic is None or data.original_topic == self.topic)
                and (self.reason is None or self.reason.lower() in data.error.lower())
                and (self.service is None or data.service == self.service)
                and (self.tenant is None or letter.tenantid == self.tenant)
                and (self.since is None or data.failed_at >= self.since)
                and (self.until is None or data.failed_at < self.until)
                and (self.ids is None or letter.id in self.ids))


def run(args: argparse.Namespace) -> int:
    settings = ServiceSettings(service_name="dealpulse-dlq")
    if args.dlq_command == "show":
        return asyncio.run(_show(settings, args.id))
    letters = [letter for letter in asyncio.run(read_letters(settings)) if Selection.of(args).keeps(letter)]
    if args.dlq_command == "list":
        for letter in letters:
            print(one_line(letter))
        print(f"{len(letters)} dead letter(s)")
        return 0
    return asyncio.run(_replay(settings, letters, dry_run=args.dry_run))


async def read_letters(settings: ServiceSettings) -> list[DeadLetter]:
    """Every dead letter on the topic, oldest first, each once (a batch re-delivered after a crash can write the
    same letter, with the same id, twice)."""
    letters: dict[str, DeadLetter] = {}
    for record in await read_whole_topic(settings, DEAD_LETTERS):
        try:
            letter = DEAD_LETTERS.decode(record.value or b"")
        except (ValidationError, ValueError):
            print(f"skipped: {DEAD_LETTERS.name} offset {record.offset} of partition {record.partition} is not a "
                  f"dead letter", file=sys.stderr)
            continue
        letters.setdefault(letter.id, letter)
    return sorted(letters.values(), key=lambda letter: letter.data.failed_at)


def one_line(letter: DeadLetter) -> str:
    data = letter.data
    origin = data.original_topic + (f"[{data.partition}]@{data.offset}" if data.offset is not None else "")
    error = data.error.splitlines()[0][:160] if data.error else ""
    return f"{data.failed_at.isoformat()}  {letter.id}  {data.service}  {origin}  {data.original_key}  {error}"


def full_text(letter: DeadLetter) -> str:
    """The letter as JSON, with the original bytes shown as JSON when they are, else as text or base64."""
    body = letter.model_dump(mode="json")
    original = base64.b64decode(letter.data.original_value_b64)
    try:
        body["original"] = json.loads(original)
    except ValueError:
        try:
            body["original_text"] = original.decode()
        except UnicodeDecodeError:
            body["original_text"] = None  # not text: the base64 in data is all there is
    return json.dumps(body, indent=2, ensure_ascii=False)


async def _show(settings: ServiceSettings, letter_id: str) -> int:
    for letter in await read_letters(settings):
        if letter.id == letter_id:
            print(full_text(letter))
            return 0
    print(f"no dead letter {letter_id} on {DEAD_LETTERS.name}", file=sys.stderr)
    return 1


async def _replay(settings: ServiceSettings, letters: Sequence[DeadLetter], *, dry_run: bool) -> int:
    replayable = [letter for letter in letters if letter.data.original_topic in REPLAYABLE]
    for letter in letters:
        if letter.data.original_topic not in REPLAYABLE:
            print(f"not replayable (never on a topic): {one_line(letter)}")
    verb = "would replay" if dry_run else "replayed"
    if not dry_run and replayable:
        producer = make_producer(settings)
        await producer.start()
        try:
            publisher = EventPublisher(producer, settings.service_name, settings.kafka_publish_timeout_s)
            for letter in replayable:
                await publisher.republish(REPLAYABLE[letter.data.original_topic], letter.data.original_key,
                                          base64.b64decode(letter.data.original_value_b64), _headers(letter))
        finally:
            await producer.stop()
    for letter in replayable:
        print(f"{verb}: {one_line(letter)}")
    print(f"{verb} {len(replayable)} of {len(letters)} dead letter(s)")
    return 0


def _headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    headers = [(REPLAY_HEADER, letter.id.encode())]
    if letter.traceparent:
        headers.append(("traceparent", letter.traceparent.encode()))
    return headers
