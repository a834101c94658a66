"""The synthetic world's fixed tables: segments with their shares and win-logit effects, products with their
typical size and cycle, tenants with their reps, their CRM (which history it sends) and when DealPulse was
connected to it. Shared by the training-data generator and the live demo feed.

Serving-safe (numpy only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dealpulse_common.deal import OPEN_STAGES, ForecastCategory, QualificationCategory, Stage
from dealpulse_common.history import HISTORY_INPUTS

# name -> (share of deals, effect on the win logit)
INDUSTRIES: dict[str, tuple[float, float]] = {
    "software": (0.22, 0.30),
    "financial_services": (0.15, 0.10),
    "healthcare": (0.13, -0.15),
    "manufacturing": (0.14, 0.00),
    "retail": (0.11, -0.25),
    "education": (0.08, -0.35),
    "public_sector": (0.07, -0.45),
    "media": (0.10, 0.15),
}
# name -> (share, win-logit effect, typical amount in USD, typical planned cycle in days)
PRODUCTS: dict[str, tuple[float, float, float, float]] = {
    "core": (0.38, 0.25, 25000.0, 60.0),
    "professional": (0.27, 0.00, 60000.0, 90.0),
    "enterprise": (0.15, -0.35, 180000.0, 150.0),
    "add_on": (0.20, 0.45, 12000.0, 35.0),
}
LEAD_SOURCES: dict[str, tuple[float, float]] = {
    "inbound": (0.32, 0.25),
    "outbound": (0.28, -0.30),
    "partner": (0.15, -0.10),
    "referral": (0.10, 0.50),
    "event": (0.15, -0.05),
}
REGIONS: dict[str, tuple[float, float]] = {
    "na": (0.42, 0.10),
    "emea": (0.30, 0.00),
    "apac": (0.18, -0.20),
    "latam": (0.10, -0.30),
}
# How easily each qualification category scores well (pain is found early, paper late).
QUALIFICATION_OFFSETS: dict[QualificationCategory, float] = {
    QualificationCategory.PAIN: 0.6,
    QualificationCategory.METRICS: 0.1,
    QualificationCategory.CHAMPION: 0.0,
    QualificationCategory.ECONOMIC_BUYER: -0.3,
    QualificationCategory.DECISION_CRITERIA: 0.1,
    QualificationCategory.PROCESS: -0.2,
    QualificationCategory.PAPER: -0.6,
    QualificationCategory.TIMING: 0.0,
    QualificationCategory.BUDGET: -0.1,
    QualificationCategory.COMPETITION: 0.2,
}
ACCOUNT_WORDS: tuple[tuple[str, ...], tuple[str, ...]] = (
    (
        "Northwind",
        "Contoso",
        "Globex",
        "Initech",
        "Umbrella",
        "Stark",
        "Wayne",
        "Tyrell",
        "Soylent",
        "Hooli",
        "Vandelay",
        "Wonka",
        "Cyberdyne",
        "Aperture",
        "Massive",
        "Oscorp",
        "Pied Piper",
        "Dunder",
        "Acme",
        "Gringotts",
        "Monarch",
        "Nakatomi",
        "Sirius",
        "Zorg",
        "Virtucon",
        "Bluth",
        "Prestige",
        "Duff",
        "Kramerica",
        "Gekko",
    ),
    (
        "Labs",
        "Group",
        "Systems",
        "Health",
        "Bank",
        "Retail",
        "Foods",
        "Energy",
        "Logistics",
        "Media",
        "Partners",
        "Industries",
        "Analytics",
        "Insurance",
        "Holdings",
        "Networks",
        "Robotics",
    ),
)
FIRST_NAMES = (
    "Ava",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Priya",
    "Quinn",
    "Rafael",
    "Sara",
    "Tomas",
)
LAST_NAMES = (
    "Adams",
    "Berg",
    "Costa",
    "Diaz",
    "Eriksen",
    "Fischer",
    "Gupta",
    "Hughes",
    "Ito",
    "Jensen",
    "Khan",
    "Lopez",
    "Moreau",
    "Nowak",
    "Okafor",
    "Patel",
    "Rossi",
    "Silva",
    "Tanaka",
    "Weber",
)


@dataclass(frozen=True)
class Rep:
    owner_id: str
    name: str
    manager_id: str
    skill: float  # unobserved effect on the win logit
    optimism: float  # how readily the rep calls a deal Commit, independent of the deal


# How the synthetic CRMs spell stages and forecast calls (ingest's normaliser maps them to the canonical names).
CRM_STAGE_NAMES: dict[Stage, str] = dict(zip(
    (*OPEN_STAGES, Stage.CLOSED_WON, Stage.CLOSED_LOST),
    ("Prospecting", "Qualification", "Discovery", "Proposal", "Negotiation/Review", "Commit - Verbal",
     "Closed Won", "Closed Lost"), strict=True))
CRM_FORECAST_NAMES: dict[ForecastCategory, str] = {
    ForecastCategory.PIPELINE: "Pipeline", ForecastCategory.BEST_CASE: "Best Case",
    ForecastCategory.COMMIT: "Commit", ForecastCategory.OMITTED: "Omitted", ForecastCategory.CLOSED: "Closed",
}


@dataclass(frozen=True)
class CrmKind:
    """A kind of CRM: which of ``HISTORY_INPUTS`` it sends with every change (docs/MODEL.md, "Tenants")."""

    name: str
    sends: frozenset[str]


FULL_HISTORY = CrmKind("full history", frozenset(HISTORY_INPUTS))
# Salesforce's Opportunity has LastStageChangeDate and PushCount but no activity or amount-change count.
STAGE_AND_PUSHES = CrmKind("stage entry and pushes", frozenset({"stage_entered_at", "close_date_push_count"}))
NO_HISTORY = CrmKind("no history", frozenset())


@dataclass(frozen=True)
class TenantProfile:
    tenant_id: str
    share: float  # of generated deals
    effect: float  # on the win logit
    qualification_adoption: float  # share of deals with qualification recorded
    activity_intensity: float  # multiplies logged activity
    owners: tuple[Rep, ...]
    crm: CrmKind = NO_HISTORY  # what history its CRM sends
    connected_days_ago: float = 0.0  # DealPulse was connected this many days before the data set's "now"


def tenant_id_for(index: int) -> str:
    return "demo" if index == 0 else f"tenant-{index + 1}"


def make_reps(rng: np.random.Generator, tenant_id: str, n_reps: int) -> tuple[Rep, ...]:
    def name() -> str:
        return f"{FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]} {LAST_NAMES[int(rng.integers(len(LAST_NAMES)))]}"

    return tuple(
        Rep(
            owner_id=f"{tenant_id}-rep-{k + 1:02d}",
            name=name(),
            manager_id=f"{tenant_id}-mgr-{k // 5 + 1}",
            skill=float(rng.normal(0, 0.35)),
            optimism=float(rng.normal(0, 0.5)),
        )
        for k in range(n_reps)
    )


# (CRM, connected days before "now") of demo, tenant-2, tenant-3; further tenants repeat the kinds in turn and
# draw their connection. The history spans HISTORY_DAYS = 730 days, so tenant-2 has been watched from its first deal.
DEFAULT_CRMS: tuple[tuple[CrmKind, float], ...] = ((STAGE_AND_PUSHES, 45.0), (FULL_HISTORY, 760.0), (NO_HISTORY, 400.0))


def _crm_of(rng: np.random.Generator, index: int) -> tuple[CrmKind, float]:
    if index < len(DEFAULT_CRMS):
        return DEFAULT_CRMS[index]
    return DEFAULT_CRMS[index % len(DEFAULT_CRMS)][0], float(rng.uniform(60, 700))


def make_tenants(rng: np.random.Generator, n_tenants: int) -> list[TenantProfile]:
    """The demo tenant holds 40% of deals and uses qualification on most of them; others vary. Each has its CRM
    and connection from ``DEFAULT_CRMS``."""
    if n_tenants < 1:
        raise ValueError("need at least one tenant")
    tenants = []
    for index in range(n_tenants):
        tenant_id = tenant_id_for(index)
        reps = make_reps(rng, tenant_id, int(rng.integers(8, 16)))
        effect = 0.0 if index == 0 else float(rng.normal(0, 0.25))
        adoption = 0.85 if index == 0 else float(rng.uniform(0.2, 0.9))
        intensity = 1.0 if index == 0 else float(rng.uniform(0.6, 1.4))
        crm, connected_days_ago = _crm_of(rng, index)
        tenants.append(
            TenantProfile(
                tenant_id=tenant_id,
                share=0.4 if index == 0 else 0.6 / max(1, n_tenants - 1),
                effect=effect,
                qualification_adoption=adoption,
                activity_intensity=intensity,
                owners=reps,
                crm=crm,
                connected_days_ago=connected_days_ago,
            )
        )
    return tenants


def tenant_profile(tenant_id: str, n_tenants: int = 3, seed: int = 0) -> TenantProfile:
    """The profile ``generate(..., n_tenants, seed)`` gives ``tenant_id`` (its reps, CRM and connection)."""
    for profile in make_tenants(np.random.default_rng(seed), n_tenants):
        if profile.tenant_id == tenant_id:
            return profile
    raise KeyError(f"no tenant {tenant_id!r} among {n_tenants}")


def pick(rng: np.random.Generator, table: Mapping[str, tuple[float, ...]]) -> str:
    """A segment value drawn with the table's shares."""
    names = list(table)
    shares = np.array([row[0] for row in table.values()])
    return names[int(rng.choice(len(names), p=shares / shares.sum()))]


_EVIDENCE_BY_SCORE = ("none", "weak", "moderate", "strong")


def qualification_entry(rng: np.random.Generator, score: int, high_confidence: bool) -> dict[str, Any]:
    """A qualification entry whose evidence and confidence go with its score (with some slack)."""
    evidence = _EVIDENCE_BY_SCORE[max(0, min(3, score + int(rng.integers(-1, 2)) * (rng.random() < 0.2)))]
    if score >= 2 and high_confidence:
        confidence = "high"
    elif score >= 1 and rng.random() < 0.6:
        confidence = "medium"
    else:
        confidence = "low"
    return {"score": score, "evidence_strength": evidence, "confidence": confidence}
