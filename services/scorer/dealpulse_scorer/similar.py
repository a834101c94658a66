"""Up to three won deals like this one (same segment and currency, similar size) and what happened in them.

Only the tenant's own won deals are candidates (they come from its row-level-secured scores), so a rep never
sees another customer's pipeline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dealpulse_common.deal import CanonicalDeal, Confidence, QualificationCategory
from dealpulse_common.events import SimilarDeal

MAX_SIMILAR = 3


def similar_won_deals(deal: CanonicalDeal, won: Sequence[CanonicalDeal], limit: int = MAX_SIMILAR) -> list[SimilarDeal]:
    """The closest won deals: same industry and product first (same industry if too few), nearest amount first —
    only in the deal's own currency, where "similar size" means something."""
    if deal.is_closed or not won:
        return []
    others = [w for w in won if w.deal_id != deal.deal_id and w.industry == deal.industry
              and _currency(w) == _currency(deal)]
    same_product = [w for w in others if w.product_type == deal.product_type]
    pool = same_product if len(same_product) >= limit else others
    ranked = sorted(pool, key=lambda w: (-_size_similarity(deal.amount, w.amount), w.deal_id))
    return [_describe(w, _size_similarity(deal.amount, w.amount)) for w in ranked[:limit]]


def _currency(deal: CanonicalDeal) -> str:
    return (deal.currency or "USD").upper()


def _size_similarity(a: float | None, b: float | None) -> float:
    """1 for equal amounts, 0.5 for a factor of two apart (exp of minus the log-ratio)."""
    if not a or not b:
        return 0.0
    return round(math.exp(-abs(math.log(a) - math.log(b))), 2)


def _describe(won: CanonicalDeal, similarity: float) -> SimilarDeal:
    return SimilarDeal(deal_id=won.deal_id, name=won.name, account_name=won.account_name, amount=won.amount,
                       currency=_currency(won), similarity=similarity, closed_at=won.closed_at,
                       what_happened=what_happened(won))


def what_happened(won: CanonicalDeal) -> list[str]:
    """Plain sentences about how a won deal went, from what the CRM told us about it."""
    story = []
    if won.created_at and won.closed_at:
        story.append(f"won in {(won.closed_at - won.created_at).days} days")
    pushes = won.history.close_date_push_count
    if pushes == 0:
        story.append("close date never moved")
    elif pushes is not None:
        story.append(f"close date pushed {pushes} time{'s' * (pushes > 1)}")
    for category, label in ((QualificationCategory.CHAMPION, "champion confirmed"),
                            (QualificationCategory.ECONOMIC_BUYER, "economic buyer engaged"),
                            (QualificationCategory.PAPER, "paper process agreed")):
        entry = won.qualification.get(category)
        if entry and entry.score >= 2:
            story.append(label + (" (high confidence)" if entry.confidence is Confidence.HIGH else ""))
    return story
