"""The sending side of DealPulse's generic webhook, as an outside CRM has it: a JSON body, the tenant, a signature.

The demo feed, the latency benchmark and the tests send changes this way. They share no code with ingest, which
checks what arrives: like any CRM they only know the documented signature scheme (Stripe's), ``t=<unix>,v1=<hex>``
with HMAC-SHA256 of ``"<t>.<body>"`` under the tenant's webhook secret.
"""

from __future__ import annotations

import hashlib
import hmac
import time

WEBHOOK_PATH = "/v1/webhooks/generic"


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-DealPulse-Signature`` value for ``body``, signed now unless ``timestamp`` says when."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{signed_at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={signed_at},v1={digest}"


def webhook_headers(tenant_id: str, secret: str, body: bytes) -> dict[str, str]:
    """The headers of one signed JSON change for ``tenant_id``."""
    return {"Content-Type": "application/json", "X-DealPulse-Tenant": tenant_id,
            "X-DealPulse-Signature": signature(secret, body)}
