"""A demo CRM: creates open deals for a tenant, then keeps changing them, signed like a real CRM webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson

from dealpulse_common.deal import OPEN_STAGES
from dealpulse_ingest.normalize import normalize_stage
from dealpulse_ingest.payloads import GenericDealChange
from dealpulse_ingest.signature import sign

log = logging.getLogger(__name__)

# A CRM's names for the canonical open stages, in order (OPEN_STAGES).
_STAGE_PATH = ["Prospecting", "Qualification", "Discovery", "Proposal", "Negotiation/Review", "Commit - Verbal"]
_GATES = ("paper", "process", "timing", "budget", "champion", "economic_buyer")


class DemoCrm:
    def __init__(self, ingest_url: str, tenant_id: str, secret: str, seed: int = 11) -> None:
        self._url = f"{ingest_url}/v1/webhooks/generic"
        self._tenant_id = tenant_id
        self._secret = secret
        self._random = random.Random(seed)
        self._deals: dict[str, dict[str, Any]] = {}
        self._seed = seed
        self.rejected = 0

    async def run(self, initial_deals: int, rate_per_s: float, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=5.0) as client:
            for change in self._initial(initial_deals):
                await self._send(client, change)
            while not stop.is_set():
                await self._send(client, self._next_change())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0 / rate_per_s)

    def _initial(self, count: int) -> Iterator[dict[str, Any]]:
        from dealpulse_scorer.training.synthetic import open_deal_changes

        accepted_fields = set(GenericDealChange.model_fields)
        for generated in open_deal_changes(count, self._tenant_id, self._seed):
            # A CRM sends its own stage name; the canonical one is ingest's to decide.
            change = {k: v for k, v in generated.items() if k in accepted_fields and v is not None}
            change["stage"] = generated.get("crm_stage") or generated.get("stage")
            change["modified_at"] = _now()
            self._deals[change["deal_id"]] = change
            yield change

    def _next_change(self) -> dict[str, Any]:
        deal_id = self._random.choice(list(self._deals))
        deal = self._deals[deal_id]
        change: dict[str, Any] = {"deal_id": deal_id, "modified_at": _now()}
        kind = self._random.choice(("activity", "activity", "stage", "push", "amount", "qualification"))
        if kind == "activity":
            change["last_activity_at"] = _now()
        elif kind == "stage":
            current = normalize_stage(deal.get("stage") or "") or OPEN_STAGES[0]
            index = OPEN_STAGES.index(current) if current in OPEN_STAGES else 0
            change["stage"] = _STAGE_PATH[min(index + 1, len(_STAGE_PATH) - 1)]
        elif kind == "push":
            current_close = date.fromisoformat(deal.get("expected_close_date") or date.today().isoformat())
            change["expected_close_date"] = (current_close + timedelta(days=self._random.randint(7, 45))).isoformat()
        elif kind == "amount":
            change["amount"] = round(float(deal.get("amount") or 20_000) * self._random.uniform(0.7, 1.3), 2)
        else:
            gate = self._random.choice(_GATES)
            change["qualification"] = {gate: {"score": self._random.randint(0, 3),
                                              "evidence_strength": self._random.choice(("weak", "moderate", "strong")),
                                              "confidence": self._random.choice(("low", "medium", "high"))}}
        deal.update({k: v for k, v in change.items() if k != "qualification"})
        return change

    async def _send(self, client: httpx.AsyncClient, change: dict[str, Any]) -> None:
        body = orjson.dumps(change)
        headers = {"Content-Type": "application/json", "X-DealPulse-Tenant": self._tenant_id,
                   "X-DealPulse-Signature": sign(self._secret, body)}
        try:
            response = await client.post(self._url, content=body, headers=headers)
            if response.status_code >= 400:
                self.rejected += 1
                log.warning("demo change rejected: %s %s", response.status_code, response.text[:300])
        except httpx.HTTPError as exc:
            log.warning("demo change not delivered: %r", exc)


def _now() -> str:
    return datetime.now(UTC).isoformat()
