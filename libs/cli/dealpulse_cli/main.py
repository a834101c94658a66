"""``dealpulse``: one command for the operator tasks."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from dealpulse_cli import dlq, model_jobs, people, tenants
from dealpulse_cli.bootstrap import DEMO_TENANT
from dealpulse_cli.log_rotation import ROTATE_AFTER_RECORDS

DEFAULT_REGISTRY = Path(os.environ.get("DEALPULSE_MODEL_REGISTRY", "/var/tmp/dealpulse/models"))


def _registry_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY,
                        help="model registry folder (env DEALPULSE_MODEL_REGISTRY)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dealpulse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start the embedded stack, all services and a demo CRM feed")
    run.add_argument("--no-feed", action="store_true", help="do not start the demo CRM feed")
    run.add_argument("--feed-rate", type=float, default=5.0, help="demo deal changes per second")
    run.add_argument("--rotate-after", type=int, default=ROTATE_AFTER_RECORDS,
                     help="empty the embedded broker's topics once one holds this many records, all read")
    _registry_arg(run)

    migrate = commands.add_parser("migrate", help="apply pending SQL migrations")
    migrate.add_argument("--database-url", default=os.environ.get("DATABASE_ADMIN_URL"),
                         help="an owner/admin connection URL (env DATABASE_ADMIN_URL)")
    migrate.add_argument("--app-database-url", default=os.environ.get("DATABASE_URL"),
                         help="the services' URL (env DATABASE_URL): the application role gets its password")

    token = commands.add_parser("token", help="print a development JWT")
    token.add_argument("--tenant", default=DEMO_TENANT)
    token.add_argument("--role", choices=("rep", "manager", "admin"), default="admin")
    token.add_argument("--user", default="demo-admin")
    token.add_argument("--ttl", type=int, default=24 * 3600, help="lifetime in seconds")
    token.add_argument("--platform-admin", action="store_true",
                       help="with the platform_admin claim (onboarding tenants: dealpulse tenant ...)")

    demo = commands.add_parser("demo-data", help="write a synthetic CRM history")
    demo.add_argument("--deals", type=int, default=20_000)
    demo.add_argument("--tenants", type=int, default=1)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--out", type=Path, default=Path("demo-deals.csv"))

    export = commands.add_parser("export-training", help="write point-in-time training rows from the live store")
    export.add_argument("--tenant", required=True)
    export.add_argument("--since", type=date.fromisoformat, default=None,
                        help="only deals closed on or after this date (YYYY-MM-DD); open deals always")
    export.add_argument("--as-of", type=datetime.fromisoformat, default=None,
                        help="observe open deals at this moment (ISO 8601; default now)")
    export.add_argument("--out", type=Path, required=True, help="CSV, or Parquet for .parquet")
    export.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="the application role's connection URL (env DATABASE_URL)")

    train = commands.add_parser("train", help="train a model on closed deals and write a new version")
    train.add_argument("--data", type=Path, required=True)
    train.add_argument("--tenant", default=None, help="train a tenant-specific model")
    train.add_argument("--seed", type=int, default=0)
    _registry_arg(train)

    promote = commands.add_parser("promote", help="make a model version active")
    promote.add_argument("version")
    promote.add_argument("--tenant", default=None)
    promote.add_argument("--force", action="store_true",
                         help="promote a tenant model even if it does not beat the global one (logged)")
    _registry_arg(promote)

    rollback = commands.add_parser("rollback", help="re-activate the previously promoted version")
    rollback.add_argument("--tenant", default=None)
    _registry_arg(rollback)

    models = commands.add_parser("models", help="list model versions with their metrics")
    models.add_argument("--tenant", default=None)
    _registry_arg(models)

    evaluate = commands.add_parser("evaluate", help="score a model version on a data file and write a report")
    evaluate.add_argument("--model", required=True, help="the version to evaluate (see dealpulse models)")
    evaluate.add_argument("--data", type=Path, required=True, help="CSV or Parquet in the canonical schema")
    evaluate.add_argument("--tenant", default=None, help="a tenant model's version; only that tenant's deals")
    evaluate.add_argument("--out", type=Path, default=None, help="report folder (default evaluation-VERSION)")
    evaluate.add_argument("--split", choices=("auto", "test", "all"), default="auto",
                          help="auto: the test split on the training file, else every closed deal")
    _registry_arg(evaluate)

    imp = commands.add_parser("import", help="import a CSV/XLSX deal export through ingest, with a progress bar")
    imp.add_argument("file", type=Path, help="a .csv or .xlsx file")
    imp.add_argument("--tenant", required=True, help="the tenant to import into (must match the token's)")
    imp.add_argument("--mapping", type=Path, default=None, help='column mapping JSON: {"CRM header": "field"}')
    imp.add_argument("--url", default=os.environ.get("DEALPULSE_INGEST_URL", "http://127.0.0.1:8001"),
                     help="ingest's base URL (env DEALPULSE_INGEST_URL)")
    imp.add_argument("--token", default=os.environ.get("DEALPULSE_TOKEN"),
                     help="an admin JWT (env DEALPULSE_TOKEN; default: one signed with DEALPULSE_JWT_SECRET)")

    model_jobs.add_parsers(commands, _registry_arg)  # bootstrap-model, retrain: dealpulse_cli/model_jobs.py
    tenants.add_parsers(commands)  # tenant create | list | show | rotate-secret | disable | reencrypt
    people.add_parsers(commands)  # user add | list | disable: dealpulse_cli/people.py
    dlq.add_parsers(commands)  # dlq list | show | replay: dealpulse_cli/dlq.py

    bench = commands.add_parser("bench", help="measure the targets and write docs/BENCHMARKS.md")
    bench.add_argument("which", nargs="?", default="all", choices=("all", *bench_sections(), "compare"),
                       help="one section, every section in one run (all), or compare the figures with git's")
    bench.add_argument("--changes", type=int, default=12_000, help="webhooks of the 200/s latency run (60 s)")
    bench.add_argument("--rate", type=float, default=200.0)
    bench.add_argument("--rows", type=int, default=100_000,
                       help="CSV rows for the import benchmark, deals in the tenant for the metrics benchmark")
    bench.add_argument("--requests", type=int, default=200, help="timed requests per route (metrics benchmark)")
    bench.add_argument("--deals", type=int, default=10_000, help="open deals for the dashboard benchmark")
    bench.add_argument("--report", type=Path, default=Path("docs/BENCHMARKS.md"))
    bench.add_argument("--soak-minutes", type=float, default=10.0, help="how long the soak feeds the system")
    bench.add_argument("--against", default="HEAD", help="compare: the git revision of docs/benchmarks.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the CLI's own output
    args = build_parser().parse_args(argv)
    handler = _COMMANDS[args.command]
    return handler(args) or 0


def _run(args: argparse.Namespace) -> int:
    from dealpulse_cli.run import run_system

    return run_system(registry=args.registry, feed=not args.no_feed, feed_rate=args.feed_rate,
                      rotate_after=args.rotate_after)


def _migrate(args: argparse.Namespace) -> int:
    from dealpulse_cli.bootstrap import prepare_database

    if not args.database_url or not args.app_database_url:
        print("set DATABASE_ADMIN_URL and DATABASE_URL, or pass --database-url and --app-database-url",
              file=sys.stderr)
        return 2
    applied = asyncio.run(prepare_database(args.database_url, args.app_database_url))
    print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")
    return 0


def _token(args: argparse.Namespace) -> int:
    from dealpulse_common.auth import issue_token
    from dealpulse_common.settings import ServiceSettings

    print(issue_token(ServiceSettings().jwt_secret, args.tenant, args.role, args.user, args.ttl,
                      platform_admin=args.platform_admin))
    return 0


def _demo_data(args: argparse.Namespace) -> int:
    from dealpulse_scorer.training.dataset import write_deals
    from dealpulse_scorer.training.synthetic import generate

    rows = generate(args.deals, args.tenants, args.seed)
    write_deals(rows, args.out)
    closed = [r for r in rows if r["is_closed"]]
    wins = sum(1 for r in closed if r["is_won"])
    print(f"wrote {len(rows)} deals to {args.out}: {len(closed)} closed ({wins / max(1, len(closed)):.1%} won)")
    return 0


def _export_training(args: argparse.Namespace) -> int:
    from dealpulse_cli.export_training import export_training, summary_text

    if not args.database_url:
        print("set DATABASE_URL or pass --database-url", file=sys.stderr)
        return 2
    as_of = (args.as_of or datetime.now(UTC)).astimezone(UTC)
    summary = asyncio.run(export_training(args.database_url, args.tenant, args.out, as_of=as_of, since=args.since))
    print(summary_text(summary, args.out, as_of, args.since))
    return 0


def _train(args: argparse.Namespace) -> int:
    from dealpulse_scorer.training.train import train

    command = " ".join(["dealpulse", *sys.argv[1:]])  # kept with the version: how it was made
    version = train(args.data, args.registry, tenant_id=args.tenant, seed=args.seed, command=command)
    print(f"trained {version} (not active yet: dealpulse promote {version})")
    return 0


def _promote(args: argparse.Namespace) -> int:
    from dealpulse_scorer.model import ModelRegistry
    from dealpulse_scorer.promotion import PromotionRefused, promote_version

    try:
        print(promote_version(ModelRegistry(args.registry), args.version, args.tenant, force=args.force))
    except PromotionRefused as refused:
        print(f"refused: {refused}", file=sys.stderr)
        return 2
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from dealpulse_scorer.model import ModelRegistry

    version = ModelRegistry(args.registry).rollback(tenant_id=args.tenant)
    print(f"active: {version}")
    return 0


def _models(args: argparse.Namespace) -> int:
    from dealpulse_scorer.model import ModelRegistry

    for line in ModelRegistry(args.registry).describe(tenant_id=args.tenant):
        print(line)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from dealpulse_scorer.training.evaluate import evaluate, summary_lines

    out = args.out or Path(f"evaluation-{args.model}")
    result = evaluate(args.registry, args.model, args.data, out, args.tenant, split=args.split)
    print("\n".join(summary_lines(result)))
    return 0


def _import(args: argparse.Namespace) -> int:
    from dealpulse_cli.importer import run_import, token_for

    try:
        token = token_for(args.tenant, args.token)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    return run_import(args.file, url=args.url, token=token, mapping=args.mapping)


def _bench(args: argparse.Namespace) -> int:
    from dealpulse_cli.bench import results, sections

    if args.which == "compare":
        print("\n".join(results.compare(args.report.with_name(results.JSON_NAME), args.against)))
        return 0
    # A benchmark starts a whole system: on SIGTERM unwind through its teardown instead of orphaning it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return sections.run(args.which, args)


def bench_sections() -> tuple[str, ...]:
    from dealpulse_cli.bench.sections import SECTIONS

    return tuple(SECTIONS)


_COMMANDS = {"run": _run, "migrate": _migrate, "token": _token, "demo-data": _demo_data,
             "export-training": _export_training, "train": _train,
             "promote": _promote, "rollback": _rollback, "models": _models, "evaluate": _evaluate, "bench": _bench,
             "import": _import, "bootstrap-model": model_jobs.run_bootstrap, "retrain": model_jobs.run_retrain,
             "tenant": tenants.run, "user": people.run_user, "dlq": dlq.run}

if __name__ == "__main__":
    raise SystemExit(main())
