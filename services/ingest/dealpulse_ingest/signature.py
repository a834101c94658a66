"""Checking webhook signatures as Stripe signs them: ``t=<unix>,v1=<hex>``, HMAC-SHA256 over ``"{t}.{body}"``.

The signing side is the CRM's; DealPulse's own senders (demo feed, benchmarks, tests) use
``dealpulse_cli.webhook_client``."""

from __future__ import annotations

import hashlib
import hmac
import time


class SignatureError(ValueError):
    pass


def verify(secret: str, body: bytes, header: str | None, tolerance_s: int, now: float | None = None) -> None:
    if not header:
        raise SignatureError("missing signature header")
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        raise SignatureError("signature header has no valid timestamp") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError("signature timestamp outside the allowed window (replayed or clock skew)")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        raise SignatureError("signature does not match")
