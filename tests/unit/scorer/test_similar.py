"""Similar won deals: same tenant segment first, nearest size first, and a story a rep can use."""

from __future__ import annotations

from datetime import UTC, datetime

from dealpulse_common.deal import CanonicalDeal, DealHistory
from dealpulse_scorer.similar import similar_won_deals, what_happened


def _won(deal_id: str, amount: float, industry: str = "software", product: str = "core", pushes: int = 0,
         champion: int | None = None, currency: str = "USD") -> CanonicalDeal:
    qualification = {"champion": {"score": champion, "confidence": "high"}} if champion is not None else {}
    return CanonicalDeal(tenant_id="t", deal_id=deal_id, amount=amount, currency=currency, industry=industry,
                         product_type=product, is_closed=True, is_won=True, created_at=datetime(2026, 1, 1, tzinfo=UTC),
                         closed_at=datetime(2026, 3, 2, tzinfo=UTC), qualification=qualification,
                         history=DealHistory(close_date_push_count=pushes))


OPEN = CanonicalDeal(tenant_id="t", deal_id="open", amount=50_000, industry="software", product_type="core")


def test_nearest_size_in_the_same_segment_first() -> None:
    won = [_won("far", 400_000), _won("near", 52_000), _won("mid", 80_000), _won("other-industry", 50_000,
                                                                                 industry="retail")]
    found = similar_won_deals(OPEN, won)
    assert [s.deal_id for s in found] == ["near", "mid", "far"]
    assert found[0].similarity > found[1].similarity > found[2].similarity
    assert all(0 < s.similarity <= 1 for s in found)


def test_only_won_deals_in_the_deals_own_currency_compare_by_size() -> None:
    won = [_won("yen", 50_000, currency="JPY"), _won("dollars", 90_000), _won("lower-case", 45_000, currency="usd")]
    found = similar_won_deals(OPEN, won)
    assert [s.deal_id for s in found] == ["lower-case", "dollars"], "¥50,000 is not a deal of $50,000's size"
    assert {s.currency for s in found} == {"USD"}


def test_falls_back_to_the_industry_when_the_product_has_too_few() -> None:
    won = [_won("same-product", 60_000), _won("addon", 50_000, product="add_on")]
    assert {s.deal_id for s in similar_won_deals(OPEN, won)} == {"same-product", "addon"}


def test_closed_deals_and_empty_libraries_get_none() -> None:
    assert similar_won_deals(OPEN, []) == []
    assert similar_won_deals(_won("done", 50_000), [_won("near", 52_000)]) == []


def test_a_deal_is_never_similar_to_itself() -> None:
    assert similar_won_deals(OPEN, [OPEN.model_copy(update={"is_closed": False})]) == []


def test_what_happened_tells_the_story() -> None:
    assert what_happened(_won("w", 10_000, pushes=2, champion=3)) == [
        "won in 60 days", "close date pushed 2 times", "champion confirmed (high confidence)"]
    assert what_happened(_won("w", 10_000))[1] == "close date never moved"
