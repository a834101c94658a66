"""What an alert shows about a deal: the compact card kept from the deal's latest score."""

from __future__ import annotations

from pydantic import BaseModel

from dealpulse_common.events import DealScoredData, Recommendation, RiskCategory, RiskFactor


class DealCard(BaseModel):
    """What an alert shows about a deal, taken from its latest score (a verdict event carries none of it)."""

    deal_id: str
    name: str | None = None
    account_name: str | None = None
    amount: float | None = None
    currency: str = "USD"
    owner_id: str | None = None
    owner_name: str | None = None
    manager_id: str | None = None
    risk_score: int | None = None
    risk_category: RiskCategory | None = None
    factors: list[RiskFactor] = []
    recommendations: list[Recommendation] = []

    @classmethod
    def from_scored(cls, data: DealScoredData) -> DealCard:
        deal = data.deal
        return cls(deal_id=deal.deal_id, name=deal.name, account_name=deal.account_name, amount=deal.amount,
                   currency=deal.currency, owner_id=deal.owner_id, owner_name=deal.owner_name,
                   manager_id=deal.manager_id, risk_score=data.risk_score, risk_category=data.risk_category,
                   factors=data.factors[:3], recommendations=data.recommendations[:3])

    @property
    def display_name(self) -> str:
        return self.name or self.account_name or self.deal_id
