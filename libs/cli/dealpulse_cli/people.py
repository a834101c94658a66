"""``dealpulse user add | list | disable | enable``: the people of a tenant, their roles and who reports to whom.

A manager sees the deals of everyone reporting to them, directly or not (the gateway walks ``manager_id``). A
disabled user's tokens are refused at once by every service: ``disable`` marks the user in PostgreSQL and writes
the revocation that services check in Redis (``dealpulse_common.revocation``); running it again for a disabled user
writes the revocation again (after a Redis loss). ``enable`` clears the mark and admits tokens issued from then on;
one handed out before stays refused, so a token that leaked while the user was away does not come back to life.

The commands connect as the services do (``DATABASE_URL``, ``REDIS_URL``), inside the tenant's transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, TypeVar

import asyncpg
from redis.asyncio import Redis

from dealpulse_cli import people_store
from dealpulse_cli.people_store import User
from dealpulse_common.alert_settings import zone_of
from dealpulse_common.auth import MAX_USER_ID_LENGTH, Role
from dealpulse_common.db import create_pool, tenant_transaction
from dealpulse_common.revocation import reinstate, revoke
from dealpulse_common.settings import ServiceSettings

T = TypeVar("T")


class Refused(Exception):
    """What the operator asked for cannot be done; the message says why (exit status 1)."""


def add_parsers(commands: Any) -> None:
    """``dealpulse user ...``, for ``main.build_parser``."""
    user = commands.add_parser("user", help="add, list, disable or enable a tenant's users (roles, managers)")
    actions = user.add_subparsers(dest="user_command", required=True)

    add = actions.add_parser("add", help="add a user with a role and, optionally, their manager")
    _common(add)
    add.add_argument("--user", required=True, help="the user id (the token's sub)")
    add.add_argument("--role", required=True, choices=[role.value for role in Role])
    add.add_argument("--manager", default=None, help="the user id of their manager (a user of the tenant)")
    add.add_argument("--name", default=None)
    add.add_argument("--email", default=None)
    add.add_argument("--timezone", default="UTC", help="IANA zone (quiet hours, digests)")

    listing = actions.add_parser("list", help="list the tenant's users")
    _common(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")

    disable = actions.add_parser("disable", help="disable a user: their tokens are refused from now on")
    _common(disable)
    disable.add_argument("--user", required=True)

    enable = actions.add_parser("enable", help="enable a disabled user: tokens issued from now on are accepted")
    _common(enable)
    enable.add_argument("--user", required=True)


def _common(parser: argparse.ArgumentParser) -> None:
    defaults = ServiceSettings()
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--database-url", default=defaults.database_url,
                        help="the application role's connection URL (env DATABASE_URL)")
    parser.add_argument("--redis-url", default=defaults.redis_url, help="where revocations live (env REDIS_URL)")


def run_user(args: argparse.Namespace) -> int:
    command: Callable[[argparse.Namespace], Awaitable[str]] = {
        "add": _add, "list": _list, "disable": _disable, "enable": _enable}[args.user_command]
    try:
        print(asyncio.run(command(args)))
    except Refused as exc:
        print(f"dealpulse user {args.user_command}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _add(args: argparse.Namespace) -> str:
    person = User(user_id=_user_id(args.user), role=args.role, manager_id=args.manager, name=args.name,
                  email=args.email, timezone=_zone(args.timezone), disabled_at=None)

    async def add(conn: asyncpg.Connection) -> str:
        if person.manager_id is not None:
            manager = await people_store.user(conn, args.tenant, person.manager_id)
            if manager is None:
                raise Refused(f"no user {person.manager_id!r} in tenant {args.tenant!r} to report to")
            if manager.role == Role.REP:
                raise Refused(f"{person.manager_id!r} is a rep: only a manager or an admin has reports")
        if not await people_store.add_user(conn, args.tenant, person):
            raise Refused(f"tenant {args.tenant!r} already has a user {person.user_id!r}")
        reports_to = f", reporting to {person.manager_id}" if person.manager_id else ""
        return f"added {person.user_id} ({person.role}{reports_to}) to {args.tenant}"

    return await _in_tenant(args, add)


async def _list(args: argparse.Namespace) -> str:
    found = await _in_tenant(args, lambda conn: people_store.users(conn, args.tenant))
    if args.json:
        return "\n".join(json.dumps(asdict(person), default=str) for person in found)
    lines = ["user\trole\tmanager\tname\temail\tstatus"]
    lines += [f"{p.user_id}\t{p.role}\t{p.manager_id or '-'}\t{p.name or '-'}\t{p.email or '-'}\t"
              f"{'disabled ' + p.disabled_at.isoformat() if p.disabled_at else 'active'}" for p in found]
    return "\n".join(lines)


async def _disable(args: argparse.Namespace) -> str:
    async def disable(conn: asyncpg.Connection) -> str:
        disabled_at = await people_store.disable_user(conn, args.tenant, args.user)
        if disabled_at is None:
            raise Refused(f"no user {args.user!r} in tenant {args.tenant!r}")
        # Inside the transaction: if Redis is away the command fails and the user stays as they were, never
        # marked disabled while their tokens still work.
        redis = Redis.from_url(args.redis_url)
        try:
            await revoke(redis, args.tenant, args.user, disabled_at)
        finally:
            await redis.aclose()
        return f"disabled {args.user} of {args.tenant} (since {disabled_at.isoformat()}): their tokens are refused"

    return await _in_tenant(args, disable)


async def _enable(args: argparse.Namespace) -> str:
    async def enable(conn: asyncpg.Connection) -> str:
        enabled_at = await people_store.enable_user(conn, args.tenant, args.user)
        if enabled_at is None:
            known = await people_store.user(conn, args.tenant, args.user)
            raise Refused(f"{args.user!r} of tenant {args.tenant!r} is not disabled" if known
                          else f"no user {args.user!r} in tenant {args.tenant!r}")
        # As for disable: Redis away fails the command and the user stays disabled in both places.
        redis = Redis.from_url(args.redis_url)
        try:
            await reinstate(redis, args.tenant, args.user, enabled_at)
        finally:
            await redis.aclose()
        return (f"enabled {args.user} of {args.tenant}: tokens issued from {enabled_at.isoformat(timespec='seconds')} "
                "on are accepted, older ones stay refused")

    return await _in_tenant(args, enable)


async def _in_tenant(args: argparse.Namespace, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    pool = await create_pool(args.database_url, max_size=1)
    try:
        async with tenant_transaction(pool, args.tenant) as conn:
            if not await people_store.tenant_exists(conn, args.tenant):
                raise Refused(f"no tenant {args.tenant!r}")
            return await work(conn)
    finally:
        await pool.close()


def _user_id(text: str) -> str:
    if not 0 < len(text) <= MAX_USER_ID_LENGTH or not text.isprintable():
        raise Refused("the user id must be a non-empty printable string (the tokens' sub)")
    return text


def _zone(name: str) -> str:
    try:
        zone_of(name)
    except ValueError as exc:
        raise Refused(str(exc)) from exc
    return name
