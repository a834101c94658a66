"""The model Jobs of a cluster (deploy/k8s/base/model-jobs.yaml), one command each.

``dealpulse bootstrap-model``: a fresh registry gets a first global model, trained on a data set given (an export,
a CRM dump in the canonical schema) or else on a generated demo data set kept on the registry volume, and
promoted; a registry with an active model is left alone, so the Job can run on every deploy.

``dealpulse retrain``: for each tenant named, export its point-in-time training rows from the live store
(``export-training``), train a tenant model on them, and promote it only through the promotion gate (it must beat
the active global model on the tenant's holdout). A tenant without enough closed deals, or whose new model does not
beat the global one, keeps the model that serves it; both are outcomes, not failures.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from dealpulse_cli.bootstrap import DEMO_MODEL_DEALS, ensure_model

log = logging.getLogger(__name__)

RETRAIN_TENANTS_ENV = "DEALPULSE_RETRAIN_TENANTS"


def add_parsers(commands: Any, registry_arg: Any) -> None:
    """``dealpulse bootstrap-model`` and ``dealpulse retrain``, for ``main.build_parser``."""
    boot = commands.add_parser("bootstrap-model",
                               help="train and promote a first global model when none is active (a fresh cluster)")
    boot.add_argument("--data", type=Path, default=None,
                      help="CSV or Parquet in the canonical schema (an export); default: a generated demo data set")
    boot.add_argument("--deals", type=int, default=DEMO_MODEL_DEALS, help="deals of the generated demo data set")
    registry_arg(boot)

    retrain = commands.add_parser("retrain", help="export each tenant's training rows, train its model, and "
                                                  "promote it only if it beats the global model (the gate)")
    retrain.add_argument("--tenant", action="append", default=None,
                         help=f"a tenant to retrain (repeat it; default: env {RETRAIN_TENANTS_ENV}, comma-separated)")
    retrain.add_argument("--since", type=date.fromisoformat, default=None,
                         help="only deals closed on or after this date (YYYY-MM-DD)")
    retrain.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                         help="the application role's connection URL (env DATABASE_URL)")
    registry_arg(retrain)


def run_bootstrap(args: argparse.Namespace) -> int:
    print(f"active: {bootstrap_model(args.registry, args.data, args.deals)}")
    return 0


def bootstrap_model(registry_root: Path, data: Path | None, demo_deals: int = DEMO_MODEL_DEALS) -> str:
    """The active global version, after training and promoting one when none is active."""
    if data is None:
        return ensure_model(registry_root, demo_deals)
    from dealpulse_scorer.model import ModelRegistry
    from dealpulse_scorer.training.train import train

    registry = ModelRegistry(registry_root)
    active = registry.active_version()
    if active is not None:
        return active
    version = train(data, registry_root)
    registry.promote(version, reason=f"bootstrap on {data.name}")
    return version


@dataclass(frozen=True)
class Retrained:
    tenant_id: str
    version: str | None  # None: nothing was trained
    promoted: bool
    reason: str

    def line(self) -> str:
        if self.promoted:
            return f"tenant {self.tenant_id}: {self.reason}"
        trained = f"trained {self.version}, not promoted" if self.version else "not trained"
        return f"tenant {self.tenant_id}: {trained}: {self.reason}"


def run_retrain(args: argparse.Namespace) -> int:
    tenants = args.tenant or [t for t in os.environ.get(RETRAIN_TENANTS_ENV, "").split(",") if t.strip()]
    if not tenants or not args.database_url:
        print(f"name the tenants (--tenant or {RETRAIN_TENANTS_ENV}) and set DATABASE_URL", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="dealpulse-retrain-") as work:
        for tenant_id in tenants:
            print(retrain_tenant(args.database_url, args.registry, tenant_id.strip(), Path(work),
                                 since=args.since).line())
    return 0


def retrain_tenant(database_url: str, registry_root: Path, tenant_id: str, work_dir: Path, *,
                   since: date | None = None) -> Retrained:
    """Export, train and gate one tenant's model (the export is input only: it is not kept)."""
    from dealpulse_cli.export_training import export_training
    from dealpulse_scorer.model import ModelRegistry
    from dealpulse_scorer.promotion import PromotionRefused, promote_version
    from dealpulse_scorer.training.train import NotEnoughData, train

    rows = work_dir / f"{tenant_id}.csv"
    asyncio.run(export_training(database_url, tenant_id, rows, as_of=datetime.now(UTC), since=since))
    try:
        version = train(rows, registry_root, tenant_id=tenant_id)
    except NotEnoughData as too_few:
        return Retrained(tenant_id, None, False, str(too_few))
    try:
        return Retrained(tenant_id, version, True, promote_version(ModelRegistry(registry_root), version, tenant_id))
    except PromotionRefused as refused:
        return Retrained(tenant_id, version, False, str(refused))
