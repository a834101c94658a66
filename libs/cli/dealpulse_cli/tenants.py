"""``dealpulse tenant create | list | show | rotate-secret | disable | reencrypt``: onboarding from the command line.

The first five are a client of the gateway's platform-admin API (``dealpulse_gateway/tenant_routes.py``), so the
rules live in one place and every change is audited there. They send ``--token`` (env ``DEALPULSE_TOKEN``: a token
of your identity provider with the ``platform_admin`` claim); without one they sign a development platform-admin
token with ``DEALPULSE_JWT_SECRET``, as the embedded stack accepts. A webhook secret is printed by ``create`` and
``rotate-secret`` only, once.

``reencrypt`` is the operator's step of a key rotation, run against the database itself (``DATABASE_URL``): every
stored secret sealed again with the first of ``DEALPULSE_SECRETS_KEYS`` (docs/OPERATIONS.md, "Rotate secrets"; on
Kubernetes the migrate Job does the same on every run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import httpx

PLATFORM_PATH = "/v1/platform/tenants"
CLI_USER = "dealpulse-cli"
TOKEN_TTL_S = 600
# The home tenant of the development platform admin's token: a platform admin reads no tenant's data through it.
PLATFORM_TENANT = "platform"


def add_parsers(commands: Any) -> None:
    """``dealpulse tenant ...``, for ``main.build_parser``."""
    tenant = commands.add_parser("tenant", help="onboard tenants: create, list, show, rotate-secret, disable, "
                                                "reencrypt")
    actions = tenant.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a tenant and print its webhook secret (shown once)")
    create.add_argument("tenant_id")
    create.add_argument("--name", required=True, help="the tenant's display name")
    actions.add_parser("list", help="list every tenant (never a secret)")
    show = actions.add_parser("show", help="one tenant's status (never a secret)")
    show.add_argument("tenant_id")
    rotate = actions.add_parser("rotate-secret", help="a new webhook secret (printed once); the old one keeps "
                                                      "working for the overlap")
    rotate.add_argument("tenant_id")
    rotate.add_argument("--overlap", type=int, default=None, metavar="SECONDS",
                        help="how long the old secret stays valid (default: the gateway's setting, 24 h)")
    disable = actions.add_parser("disable", help="refuse the tenant's webhooks and tokens (its data stays)")
    disable.add_argument("tenant_id")
    for action in (create, show, rotate, disable, actions.choices["list"]):
        action.add_argument("--url", default=os.environ.get("DEALPULSE_GATEWAY_URL", "http://127.0.0.1:8000"),
                            help="the gateway's base URL (env DEALPULSE_GATEWAY_URL)")
        action.add_argument("--token", default=os.environ.get("DEALPULSE_TOKEN"),
                            help="a platform admin's JWT (env DEALPULSE_TOKEN; default: a development one)")
        action.add_argument("--json", action="store_true", help="print the gateway's answer as JSON")
    reencrypt = actions.add_parser("reencrypt", help="seal every stored secret again with the first key of "
                                                     "DEALPULSE_SECRETS_KEYS (key rotation)")
    reencrypt.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                           help="the application role's connection URL (env DATABASE_URL)")


def run(args: argparse.Namespace) -> int:
    if args.action == "reencrypt":
        return _reencrypt(args)
    method, path, body = _request_of(args)
    try:
        response = httpx.request(method, args.url.rstrip("/") + path, json=body, timeout=30.0,
                                 headers={"Authorization": f"Bearer {_token(args.token)}"})
    except httpx.HTTPError as exc:
        print(f"cannot reach the gateway at {args.url}: {exc}", file=sys.stderr)
        return 1
    if response.status_code >= 400:
        print(f"refused ({response.status_code}): {_detail(response)}", file=sys.stderr)
        return 2
    answer = response.json()
    print(json.dumps(answer, indent=2) if args.json else "\n".join(_lines(args.action, answer)))
    return 0


def _request_of(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    if args.action == "create":
        return "POST", PLATFORM_PATH, {"tenant_id": args.tenant_id, "name": args.name}
    if args.action == "list":
        return "GET", PLATFORM_PATH + "?limit=500", None
    if args.action == "show":
        return "GET", f"{PLATFORM_PATH}/{args.tenant_id}", None
    if args.action == "rotate-secret":
        return "POST", f"{PLATFORM_PATH}/{args.tenant_id}/rotate-secret", {"overlap_s": args.overlap}
    return "POST", f"{PLATFORM_PATH}/{args.tenant_id}/disable", None


def _token(given: str | None) -> str:
    if given:
        return given
    from dealpulse_common.auth import issue_token
    from dealpulse_common.settings import ServiceSettings

    return issue_token(ServiceSettings().jwt_secret, PLATFORM_TENANT, "admin", CLI_USER, TOKEN_TTL_S,
                       platform_admin=True)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:500]


def _lines(action: str, answer: dict[str, Any]) -> list[str]:
    if action == "list":
        return [_summary(t) for t in answer["tenants"]] or ["no tenants"]
    lines = [_summary(answer)]
    if answer.get("previous_secret_valid_until"):
        lines.append(f"the previous webhook secret works until {answer['previous_secret_valid_until']}")
    if "webhook_secret" in answer:
        lines.append(f"webhook secret (shown once, keep it now): {answer['webhook_secret']}")
    return lines


def _summary(tenant: dict[str, Any]) -> str:
    status = f"disabled since {tenant['disabled_at']}" if tenant["disabled"] else "enabled"
    return f"{tenant['tenant_id']}\t{tenant['name']}\t{status}\tcreated {tenant['created_at']}"


def _reencrypt(args: argparse.Namespace) -> int:
    if not args.database_url:
        print("set DATABASE_URL or pass --database-url", file=sys.stderr)
        return 2
    from pydantic import ValidationError

    from dealpulse_cli.bootstrap import reseal_secrets, secret_box
    from dealpulse_common.secrets_at_rest import MissingKey, SecretUnreadable

    try:
        resealed = asyncio.run(reseal_secrets(args.database_url, secret_box()))
    except (MissingKey, SecretUnreadable, ValidationError) as exc:
        print(f"nothing changed: {exc}", file=sys.stderr)
        return 2
    print(f"re-encrypted {resealed} secrets with the first key of DEALPULSE_SECRETS_KEYS")
    return 0
