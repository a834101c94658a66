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

from dealpulse_cli.webhook_client import WEBHOOK_PATH, webhook_headers
from dealpulse_common.deal import COMMIT_GATES, OPEN_STAGES, QualificationCategory, Stage

log = logging.getLogger(__name__)

# A CRM's names for the canonical open stages, in order (OPEN_STAGES).
_STAGE_PATH = ["Prospecting", "Qualification", "Discovery", "Proposal", "Negotiation/Review", "Commit - Verbal"]
# The fields of the generic webhook this CRM fills in (the synthetic snapshots carry derived ones too).
_CRM_FIELDS = frozenset({
    "deal_id", "modified_at", "name", "account_name", "amount", "currency", "stage", "forecast_category",
    "industry", "region", "product_type", "lead_source", "owner_id", "owner_name", "manager_id", "created_at",
    "expected_close_date", "closed_at", "is_closed", "is_won", "last_activity_at", "qualification", "custom",
})
# The qualification it changes: the commit gates, and who champions and signs the deal.
_GATES = (*(gate.value for gate in COMMIT_GATES), QualificationCategory.CHAMPION.value,
          QualificationCategory.ECONOMIC_BUYER.value)


class DemoCrm:
    def __init__(self, ingest_url: str, tenant_id: str, secret: str, seed: int = 11) -> None:
        self._url = f"{ingest_url}{WEBHOOK_PATH}"
        self._tenant_id = tenant_id
        self._secret = secret
        self._random = random.Random(seed)
        self._deals: dict[str, dict[str, Any]] = {}
        self._stage_index: dict[str, int] = {}  # each deal's position on _STAGE_PATH, as this CRM knows it
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

        for generated in open_deal_changes(count, self._tenant_id, self._seed):
            # A CRM sends its own stage name; the canonical one is ingest's to decide.
            change = {k: v for k, v in generated.items() if k in _CRM_FIELDS and v is not None}
            change["stage"] = generated.get("crm_stage") or generated.get("stage")
            change["modified_at"] = _now()
            self._deals[change["deal_id"]] = change
            self._stage_index[change["deal_id"]] = _open_stage_index(generated.get("stage"))
            yield change

    def _next_change(self) -> dict[str, Any]:
        deal_id = self._random.choice(list(self._deals))
        deal = self._deals[deal_id]
        change: dict[str, Any] = {"deal_id": deal_id, "modified_at": _now()}
        kind = self._random.choice(("activity", "activity", "stage", "push", "amount", "qualification"))
        if kind == "activity":
            change["last_activity_at"] = _now()
        elif kind == "stage":
            index = min(self._stage_index[deal_id] + 1, len(_STAGE_PATH) - 1)
            self._stage_index[deal_id] = index
            change["stage"] = _STAGE_PATH[index]
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
        try:
            response = await client.post(self._url, content=body,
                                         headers=webhook_headers(self._tenant_id, self._secret, body))
            if response.status_code >= 400:
                self.rejected += 1
                log.warning("demo change rejected: %s %s", response.status_code, response.text[:300])
        except httpx.HTTPError as exc:
            log.warning("demo change not delivered: %r", exc)


def _open_stage_index(stage: str | None) -> int:
    """Where a canonical stage sits on the open path; a deal outside it starts at the beginning."""
    return OPEN_STAGES.index(Stage(stage)) if stage in OPEN_STAGES else 0


def _now() -> str:
    return datetime.now(UTC).isoformat()
