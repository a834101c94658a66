"""The synthetic generator builds its rows through the path live traffic takes: a deal's deliveries, folded by
``DealReplay``, as of the last delivery before the observation moment. Each tenant's CRM and connection decide what
DealPulse knows; nothing delivered after ``as_of`` reaches a row; the demo feed's deliveries are the same process."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pytest

from dealpulse_cli.demo_feed import webhook_body
from dealpulse_common.deal import OPEN_STAGES, CanonicalDeal
from dealpulse_common.history import HISTORY_INPUTS, DealReplay
from dealpulse_ingest.normalize import canonical_changes
from dealpulse_ingest.payloads import GenericDealChange
from dealpulse_scorer.training.dataset import HISTORY_COLUMNS, row_to_deal
from dealpulse_scorer.training.feed import tenant_feed
from dealpulse_scorer.training.life import DealLife, Delivery, training_row
from dealpulse_scorer.training.synthetic import ANCHOR, draw_deals, lives, seen_at_all
from dealpulse_scorer.training.world import FULL_HISTORY, NO_HISTORY, STAGE_AND_PUSHES, make_tenants

COUNTS = ("close_date_push_count", "amount_change_count", "activity_count_30d")


@pytest.fixture(scope="module")
def world_lives() -> list[DealLife]:
    rng = np.random.default_rng(5)
    tenants = make_tenants(rng, 3)
    return list(lives(draw_deals(2500, tenants, rng, keep=seen_at_all), seed=5))


def by_crm(world: Iterable[DealLife], crm: object) -> list[DealLife]:
    return [life for life in world if life.draw.tenant.crm == crm]


def connected_at(life: DealLife) -> datetime:
    return ANCHOR - timedelta(days=life.draw.tenant.connected_days_ago)


def rows_of(world: Iterable[DealLife]) -> list[tuple[DealLife, dict[str, object]]]:
    return [(life, row) for life in world if (row := training_row(life)) is not None]


def test_a_row_is_the_replay_of_its_deliveries_up_to_as_of(world_lives: list[DealLife]) -> None:
    rows = rows_of(world_lives)
    assert len(rows) > 1000
    for life, row in rows:
        as_of = datetime.fromisoformat(str(row["as_of"]))
        folded = DealReplay()
        for delivery in life.deliveries:
            if delivery.modified_at <= as_of:
                folded.apply(delivery.change, delivery.modified_at)
        assert folded.modified_at == as_of, "as_of is the moment of the last delivery the row shows"
        deal, row_as_of, _ = row_to_deal(row)
        expected = CanonicalDeal.model_validate({
            **folded.snapshot, "tenant_id": life.draw.tenant.tenant_id, "deal_id": life.deal_id,
            "source_modified_at": as_of, "history": folded.history(as_of),
            "is_closed": deal.is_closed, "is_won": deal.is_won, "closed_at": deal.closed_at,
        })
        assert row_as_of == as_of
        assert deal.model_dump() == expected.model_dump(), life.deal_id


def test_outcome_fields_come_from_the_end_of_the_life(world_lives: list[DealLife]) -> None:
    for life, row in rows_of(world_lives):
        if life.closed_at is None:
            assert (row["is_closed"], row["is_won"], row["closed_at"]) == (False, None, None)
        else:
            close = life.crm_changes[-1]
            assert close.change["is_closed"] and close.modified_at == life.closed_at
            assert row["is_won"] is close.change["is_won"] and row["is_closed"] is True
            assert datetime.fromisoformat(str(row["as_of"])) < life.closed_at


def test_nothing_delivered_after_as_of_shapes_a_row(world_lives: list[DealLife]) -> None:
    changed = 0
    for life, row in rows_of(world_lives):
        as_of = datetime.fromisoformat(str(row["as_of"]))
        later = [d for d in life.deliveries if d.modified_at > as_of]
        if not later:
            continue
        scrambled = [Delivery(d.modified_at, {"stage": "commit", "amount": 9e9, "last_activity_at": d.modified_at
                                              .isoformat(), "history": {"activity_count_30d": 99}}) for d in later]
        kept = tuple(d for d in life.deliveries if d.modified_at <= as_of)
        assert training_row(replace(life, deliveries=(*kept, *scrambled))) == row
        changed += 1
    assert changed > 500, "closed deals have deliveries after their as_of (the check has teeth)"


def test_the_life_agrees_with_the_drawn_values_at_the_observation_moment(world_lives: list[DealLife]) -> None:
    """Every change the CRM made, folded from creation to the observation moment, gives back the drawn stage, its
    entry, the amount, the pushes, the amount changes and the 30-day activity count."""
    checked = 0
    for life in world_lives:
        draw, moment = life.draw, life.observed_until
        folded = DealReplay()
        for delivery in life.crm_changes:
            if delivery.modified_at <= moment:
                folded.apply(delivery.change, delivery.modified_at)
        history = folded.history(moment)
        assert folded.snapshot["stage"] == OPEN_STAGES[draw.stage].value
        assert folded.snapshot["amount"] == draw.amount
        assert history.close_date_push_count == draw.early_pushes + len(draw.overrun_steps)
        assert history.amount_change_count == draw.amount_changes
        assert history.activity_count_30d == draw.activity_30d
        entered = draw.created_at + timedelta(days=max(0.0, draw.age - draw.days_in_stage))
        assert history.stage_entered_at is not None
        assert abs((history.stage_entered_at - entered).total_seconds()) < 1.0
        checked += 1
    assert checked == len(world_lives)


def test_nothing_before_the_connection_is_delivered(world_lives: list[DealLife]) -> None:
    synced = 0
    for life in world_lives:
        start = connected_at(life)
        assert all(d.modified_at >= start for d in life.deliveries)
        if life.draw.created_at < start and life.deliveries:
            first = life.deliveries[0]
            assert first.modified_at == start, "a deal created before the connection arrives as one sync then"
            assert "created_at" in first.change and "stage" in first.change
            synced += 1
    assert synced > 100


@pytest.mark.parametrize(("crm", "never_unknown"), [
    (FULL_HISTORY, set(HISTORY_INPUTS)),
    (STAGE_AND_PUSHES, {"stage_entered_at", "close_date_push_count"}),
    (NO_HISTORY, set()),
])
def test_each_crm_kind_yields_its_documented_unknown_state(world_lives: list[DealLife], crm: object,
                                                           never_unknown: set[str]) -> None:
    rows = rows_of(by_crm(world_lives, crm))
    assert rows
    for life, row in rows:
        sent = life.deliveries[-1].change.get("history", {})
        assert set(sent) == set(life.draw.tenant.crm.sends), "every delivery carries what the CRM sends"
        for name in never_unknown:
            assert row[name] is not None, (name, life.deal_id)
        if life.draw.created_at >= connected_at(life):  # watched from creation: DealPulse counted everything
            assert all(row[name] is not None for name in HISTORY_COLUMNS if name != "days_since_last_activity")
    first_seen_mid_life = [row for life, row in rows if life.draw.created_at < connected_at(life)]
    unknown = {name: sum(row[name] is None for row in first_seen_mid_life) for name in COUNTS}
    for name in COUNTS:
        assert (unknown[name] == 0) == (name in never_unknown), (name, unknown)


def test_the_demo_feed_is_deterministic_per_seed() -> None:
    first, again, other = (tenant_feed("demo", 30, seed=s) for s in (4, 4, 5))
    assert first == again
    assert first.deliveries != other.deliveries


def test_the_demo_feed_replays_into_its_open_deals_through_ingests_normaliser() -> None:
    feed = tenant_feed("demo", 40, seed=3)
    assert len(feed.open_outcomes) == 40
    times = [d.modified_at for d in feed.deliveries]
    assert times == sorted(times) and times[0] >= feed.connected_at
    folded: dict[str, DealReplay] = {}
    for delivery in feed.deliveries:
        body = webhook_body(delivery.deal_id, delivery.modified_at, delivery.change, timedelta(0))
        # The CRM spells stages and forecast calls its own way; ingest's normaliser gives back the canonical change.
        assert body.get("stage") is None or body["stage"] == delivery.change["crm_stage"]
        assert canonical_changes(GenericDealChange.model_validate(body)) == delivery.change
        folded.setdefault(delivery.deal_id, DealReplay()).apply(delivery.change, delivery.modified_at)
    open_deals = {deal_id for deal_id, replay in folded.items() if not replay.snapshot.get("is_closed")}
    assert open_deals == set(feed.open_outcomes)
    assert len(folded) > len(open_deals), "deals that closed since the connection come too"
    for deal_id in open_deals:
        deal = CanonicalDeal.model_validate({**folded[deal_id].snapshot, "tenant_id": "t", "deal_id": deal_id})
        assert deal.stage in OPEN_STAGES and deal.created_at is not None


def test_webhook_bodies_move_every_moment_by_the_same_whole_days() -> None:
    feed = tenant_feed("demo", 5, seed=1)
    shift = timedelta(days=30)
    for delivery in feed.deliveries:
        body = webhook_body(delivery.deal_id, delivery.modified_at, delivery.change, shift)
        assert datetime.fromisoformat(body["modified_at"]) == delivery.modified_at + shift
        if "created_at" in body:
            assert datetime.fromisoformat(body["created_at"]) == datetime.fromisoformat(
                str(delivery.change["created_at"])) + shift
        if "history" in body and "stage_entered_at" in body["history"]:
            sent = json.dumps(body["history"])
            assert sent != json.dumps(delivery.change["history"])
