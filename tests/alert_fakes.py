"""Third parties alerts deliver to, as real local servers: a Slack fake (aiohttp) and an SMTP server (aiosmtpd).

The Slack fake takes incoming-webhook posts (``/webhook/{name}``) and the Web API methods delivery uses
(``/api/users.lookupByEmail``, ``/api/conversations.open``, ``/api/chat.postMessage``). It records every request
and answers from a script when told to (``fail_next``: 429 with Retry-After, 500, …), 200 otherwise.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

# The Slack Web API base the alerts service is started with (tests/conftest.py) is this port plus the offset.
SLACK_API_PORT = 17990


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def serve_locally(app: web.Application, port: int) -> web.AppRunner:
    """``app`` served on 127.0.0.1:``port`` until the returned runner is cleaned up."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@dataclass(frozen=True)
class SlackPost:
    path: str  # /webhook/<name> or /api/chat.postMessage
    body: dict[str, Any]
    status: int  # what the fake answered
    received_at: float = field(default_factory=time.monotonic)

    @property
    def delivery_id(self) -> str | None:
        metadata = self.body.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        found: str | None = payload.get("delivery_id")
        return found


@dataclass
class SlackFake:
    port: int
    posts: list[SlackPost] = field(default_factory=list)
    _script: dict[str, deque[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def webhook_url(self, name: str) -> str:
        return f"{self.url}/webhook/{name}"

    def fail_next(self, path: str, *answers: tuple[int, dict[str, str]]) -> None:
        """The next requests to ``path`` get these (status, headers) answers, in order; then 200 again."""
        self._script.setdefault(path, deque()).extend(answers)

    def delivered(self, path: str | None = None) -> list[SlackPost]:
        """Posts the fake accepted (answered 200), to ``path`` if given."""
        return [p for p in self.posts if p.status == 200 and (path is None or p.path == path)]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/webhook/{name}", self._webhook)
        app.router.add_route("*", "/api/{method}", self._api)
        self._runner = await serve_locally(app, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _scripted(self, path: str) -> tuple[int, dict[str, str]]:
        queue = self._script.get(path)
        return queue.popleft() if queue else (200, {})

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        status, headers = self._scripted(request.path)
        self.posts.append(SlackPost(request.path, body, status))
        return web.Response(status=status, text="ok" if status == 200 else "rate_limited", headers=headers)

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await _request_body(request)
        status, headers = self._scripted(request.path)
        self.posts.append(SlackPost(request.path, body, status))
        if status != 200:
            error = "ratelimited" if status == 429 else "internal_error"
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        if method == "users.lookupByEmail":
            return web.json_response({"ok": True, "user": {"id": slack_user_id(str(body["email"]))}})
        if method == "conversations.open":
            return web.json_response({"ok": True, "channel": {"id": f"D-{body['users']}"}})
        if method == "chat.postMessage":
            return web.json_response({"ok": True, "channel": body["channel"], "ts": f"{len(self.posts)}.000"})
        return web.json_response({"ok": False, "error": "unknown_method"}, status=404)


def slack_user_id(email: str) -> str:
    return "U" + hashlib.sha256(email.encode()).hexdigest()[:8].upper()


async def _request_body(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        return dict(await request.json())
    form = dict(await request.post()) if request.can_read_body else {}
    return {**dict(request.query), **{k: str(v) for k, v in form.items()}}


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: Message

    def part(self, content_type: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                return payload.decode()
        raise AssertionError(f"no {content_type} part")


class _Recorder:
    def __init__(self, inbox: list[ReceivedMail]) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # the name aiosmtpd calls
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        self.inbox.append(ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), message_from_bytes(content)))
        return "250 OK"


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free local port that keeps every message it accepts."""

    def __init__(self) -> None:
        self.inbox: list[ReceivedMail] = []
        self.port = free_port()
        self._controller = Controller(_Recorder(self.inbox), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[ReceivedMail]:
        return [mail for mail in self.inbox if address in mail.rcpt_tos]



@pytest.fixture(scope="module")
async def slack() -> AsyncIterator[SlackFake]:
    from tests.conftest import TEST_PORT_OFFSET  # here: conftest itself imports this module

    fake = SlackFake(SLACK_API_PORT + TEST_PORT_OFFSET)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()
