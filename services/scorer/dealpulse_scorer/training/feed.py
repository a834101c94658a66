"""One tenant's synthetic world as its CRM sends it to DealPulse: the live counterpart of the training set.

The deals are drawn by the same process as ``synthetic.generate``'s, for one tenant profile (its CRM and its
connection included), and delivered as ``life.received`` delivers them: from the connection on, a sync for a deal
created earlier, the CRM's history values with every change. The deals open at the anchor are therefore the same
population as the training set's open deals of that tenant, seen the same way. Deals that closed between the
connection and the anchor come too, so the pipeline at any moment of the replay is the tenant's whole pipeline.

Serving-safe (numpy only): the demo CRM (``dealpulse_cli.demo_feed``) replays these deliveries as webhooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from dealpulse_scorer.training.life import Delivery
from dealpulse_scorer.training.synthetic import ANCHOR, draw_deals, lives, seen_at_all
from dealpulse_scorer.training.world import TenantProfile, tenant_profile

OPEN_SHARE = 0.08  # a low guess of the share of drawn deals still open at the anchor (12 % at the defaults)


@dataclass(frozen=True)
class FeedDelivery:
    deal_id: str
    modified_at: datetime
    change: dict[str, object]  # canonical and JSON-ready, as ingest stores it


@dataclass(frozen=True)
class TenantFeed:
    connected_at: datetime
    deliveries: tuple[FeedDelivery, ...]  # in time order
    open_outcomes: dict[str, bool]  # how each deal open at the anchor ends (its drawn outcome)


def tenant_feed(profile: TenantProfile | str, n_open: int, seed: int = 0, anchor: datetime = ANCHOR,
                id_prefix: str = "L") -> TenantFeed:
    """The deliveries DealPulse receives from ``profile``'s CRM (a tenant id: its profile in the default world)
    between the connection and ``anchor``, for ``n_open`` deals open at ``anchor`` and those that closed since the
    connection among the deals drawn with them."""
    if n_open < 1:
        raise ValueError("n_open must be at least 1")
    tenant = tenant_profile(profile) if isinstance(profile, str) else profile
    rng = np.random.default_rng(seed)
    n_draw = int(n_open / OPEN_SHARE) + 20
    while True:
        draws = draw_deals(n_draw, [tenant], rng, anchor=anchor, keep=seen_at_all, id_prefix=id_prefix)
        open_positions = [i for i, draw in enumerate(draws) if not draw.closed]
        if len(open_positions) >= n_open:
            break
        n_draw *= 2
    chosen = draws[: open_positions[n_open - 1] + 1]
    deliveries: list[tuple[datetime, int, int, Delivery]] = []
    for number, life in enumerate(lives(chosen, seed, anchor)):
        deliveries.extend((d.modified_at, number, k, d) for k, d in enumerate(life.deliveries))
    deliveries.sort(key=lambda entry: entry[:3])
    return TenantFeed(
        connected_at=anchor - timedelta(days=tenant.connected_days_ago),
        deliveries=tuple(FeedDelivery(chosen[number].deal_id, d.modified_at, d.change)
                         for _, number, _, d in deliveries),
        open_outcomes={draw.deal_id: draw.won for draw in chosen if not draw.closed},
    )


def tenant_deliveries(profile: TenantProfile | str, n_open: int, seed: int = 0,
                      anchor: datetime = ANCHOR) -> Iterator[tuple[str, datetime, dict[str, object]]]:
    """``tenant_feed``'s deliveries as (deal_id, modified_at, change), in time order."""
    for delivery in tenant_feed(profile, n_open, seed, anchor).deliveries:
        yield delivery.deal_id, delivery.modified_at, delivery.change
