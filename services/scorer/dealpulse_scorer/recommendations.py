"""Recommendations from an explicit rule table. Serving-safe.

Two kinds of rule: a factor rule fires when the model says that factor *lowers* this deal's win chance
(so advice always follows the model's own reasons); a deal rule fires on the risk category or on plain
facts of the deal (an overdue close date, a Commit call without its gates). Every risk category has one
deal rule, so no deal is left without advice. Output is sorted
immediate → this_week → ongoing, de-duplicated, and capped so a rep sees a short list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from dealpulse_common.deal import OPEN_STAGES, CanonicalDeal, ForecastCategory, Stage
from dealpulse_common.events import Recommendation, RiskCategory, RiskFactor
from dealpulse_scorer.features import confirmed_commit_gates

Priority = Literal["immediate", "this_week", "ongoing"]
PRIORITY_ORDER: dict[str, int] = {"immediate": 0, "this_week": 1, "ongoing": 2}
MAX_RECOMMENDATIONS = 5


@dataclass(frozen=True)
class FactorRule:
    feature: str
    priority: Priority
    action: str


FACTOR_RULES: tuple[FactorRule, ...] = (
    FactorRule(
        "close_date_push_count",
        "immediate",
        "Agree a mutual close plan and re-confirm the close date with the economic buyer",
    ),
    FactorRule(
        "days_since_last_activity", "immediate", "Re-engage now: contact your champion and book the next meeting"
    ),
    FactorRule(
        "days_to_expected_close", "immediate", "Re-confirm the close date with the buyer and update it in the CRM"
    ),
    FactorRule(
        "activity_count_30d", "this_week", "Multi-thread the deal: bring two more stakeholders into the conversation"
    ),
    FactorRule("days_in_stage", "this_week", "Agree this stage's exit criteria with the buyer and a dated next step"),
    FactorRule("deal_age_days", "this_week", "Build a timeline with milestones back from the decision date"),
    FactorRule("champion_score", "this_week", "Identify and test a champion who will sell for you internally"),
    FactorRule("economic_buyer_score", "this_week", "Get a meeting with the economic buyer"),
    FactorRule("paper_score", "this_week", "Map the paper process (legal, procurement, security review) with dates"),
    FactorRule(
        "commit_gates_confirmed",
        "this_week",
        "Confirm budget, timing, decision process and paper process with the buyer",
    ),
    FactorRule("health_score", "this_week", "Run a qualification review (MEDDPICC) with your manager"),
    FactorRule("forecast_ordinal", "ongoing", "Align your forecast call with the evidence in the deal"),
    FactorRule("stage_ordinal", "ongoing", "Agree with the buyer what it takes to reach the next stage"),
    FactorRule("log_amount", "ongoing", "Validate scope and pricing against the buyer's budget"),
    FactorRule("amount_change_count", "ongoing", "Lock the scope: confirm the final amount in writing"),
    FactorRule(
        "close_days_before_quarter_end", "ongoing", "Check the buyer's fiscal calendar and align the close date with it"
    ),
    FactorRule("prior_industry", "ongoing", "Use case studies and references from won deals in this industry"),
    FactorRule("prior_product_type", "ongoing", "Bring in a product specialist to strengthen the solution fit"),
    FactorRule(
        "prior_lead_source",
        "ongoing",
        "Strengthen the relationship with whoever sourced the deal (partner, marketing, referrer)",
    ),
    FactorRule("prior_region", "ongoing", "Ask the regional leader what wins deals like this in this region"),
)
_FACTOR_RULES_BY_FEATURE: dict[str, FactorRule] = {rule.feature: rule for rule in FACTOR_RULES}


@dataclass(frozen=True)
class DealFacts:
    deal: CanonicalDeal
    category: RiskCategory
    today: date

    @property
    def confirmed_gates(self) -> int:
        return confirmed_commit_gates(self.deal)

    @property
    def is_overdue(self) -> bool:
        close = self.deal.expected_close_date
        return close is not None and close < self.today and not self.deal.is_closed

    @property
    def late_stage(self) -> bool:
        stage = self.deal.stage
        return stage in OPEN_STAGES and OPEN_STAGES.index(stage) >= OPEN_STAGES.index(Stage.PROPOSAL)


@dataclass(frozen=True)
class DealRule:
    name: str
    applies: Callable[[DealFacts], bool]
    priority: Priority
    action: str
    rationale: Callable[[DealFacts], str]


DEAL_RULES: tuple[DealRule, ...] = (
    DealRule(
        "critical_escalation",
        lambda f: f.category == RiskCategory.CRITICAL,
        "immediate",
        "Escalate to your manager and line up an executive sponsor",
        lambda f: "Critical risk: the model gives this deal under a 25% chance to win",
    ),
    DealRule(
        "commit_without_gates",
        lambda f: f.deal.forecast_category == ForecastCategory.COMMIT and f.confirmed_gates < 2,
        "immediate",
        "Confirm paper process, decision process, timing and budget before keeping this in Commit",
        lambda f: f"Called Commit with only {f.confirmed_gates} of 4 commit gates confirmed with high confidence",
    ),
    DealRule(
        "overdue_close_date",
        lambda f: f.is_overdue,
        "immediate",
        "Re-confirm the close date with the buyer and update it in the CRM",
        lambda f: f"The expected close date ({f.deal.expected_close_date}) has passed",
    ),
    DealRule(
        "high_risk_review",
        lambda f: f.category == RiskCategory.HIGH,
        "this_week",
        "Review this deal with your manager in this week's pipeline call",
        lambda f: "High risk: the model gives this deal a 25–49% chance to win",
    ),
    DealRule(
        "medium_risk_next_step",
        lambda f: f.category == RiskCategory.MEDIUM,
        "this_week",
        "Confirm a dated next step and the decision date with the buyer",
        lambda f: "Medium risk: the model gives this deal a 50–74% chance to win",
    ),
    DealRule(
        "late_stage_unqualified",
        lambda f: f.late_stage and not f.deal.qualification,
        "this_week",
        "Run a qualification review (MEDDPICC) with your manager",
        lambda f: f"At {f.deal.stage.value if f.deal.stage else 'a late stage'} with no qualification recorded",
    ),
    DealRule(
        "keep_momentum",
        lambda f: f.category == RiskCategory.LOW,
        "ongoing",
        "Keep momentum: confirm the next meeting and the mutual close plan",
        lambda f: "Low risk: protect what is working",
    ),
)


def recommend(
    factors: Sequence[RiskFactor],
    risk_category: RiskCategory,
    deal: CanonicalDeal,
    *,
    today: date | None = None,
    limit: int = MAX_RECOMMENDATIONS,
) -> list[Recommendation]:
    """Prioritised actions for a deal, from its risk factors, its risk category and its facts."""
    facts = DealFacts(deal, RiskCategory(risk_category), today or datetime.now(UTC).date())
    found: list[Recommendation] = []
    for rule in DEAL_RULES:
        if rule.applies(facts):
            found.append(Recommendation(priority=rule.priority, action=rule.action, rationale=rule.rationale(facts)))
    for factor in factors:
        factor_rule = _FACTOR_RULES_BY_FEATURE.get(factor.feature)
        if factor_rule is not None and factor.impact < 0:
            found.append(
                Recommendation(priority=factor_rule.priority, action=factor_rule.action, rationale=factor.description)
            )
    unique: dict[str, Recommendation] = {}
    for recommendation in found:
        unique.setdefault(recommendation.action, recommendation)
    ordered = sorted(unique.values(), key=lambda r: PRIORITY_ORDER[r.priority])  # stable: rule order within a tier
    return ordered[:limit]
