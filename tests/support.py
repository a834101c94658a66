"""Typed helpers for tests that drive the running system through its public interfaces."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import orjson
import pytest
import websockets
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from dealpulse_cli.bootstrap import ensure_tenant
from dealpulse_cli.stack import STACK_ROOT, EmbeddedStack, stop_process
from dealpulse_cli.supervisor import Supervisor, is_ready
from dealpulse_cli.system import LIFTED_QUOTAS, running_system
from dealpulse_cli.webhook_client import WEBHOOK_PATH, webhook_headers
from dealpulse_common.auth import issue_token
from dealpulse_common.deal import CanonicalDeal, Stage
from dealpulse_common.events import CloudEvent, DeadLetter, DealChanged, DealVerdictData, RiskFactor, utcnow
from dealpulse_common.kafka import EventPublisher, Outgoing, make_producer
from dealpulse_common.settings import ServiceSettings
from dealpulse_common.topics import DEAD_LETTERS, DEAL_CHANGED, Topic
from tests import events

T = TypeVar("T")
E = TypeVar("E", bound=CloudEvent)

# What every service needs besides DEALPULSE_ENV outside development: production auth (an identity provider's
# JWKS), a service secret of its own and the keys sealing tenants' secrets (from deploy/k8s: the ConfigMap and the
# dealpulse-secrets Secret).
PRODUCTION_AUTH_ENV = {
    "DEALPULSE_AUTH_MODE": "jwks", "DEALPULSE_JWKS_URL": "https://auth.example.com/.well-known/jwks.json",
    "DEALPULSE_JWT_ISSUER": "https://auth.example.com/", "DEALPULSE_JWT_AUDIENCE": "dealpulse",
    "DEALPULSE_SERVICE_SECRET": "a-production-service-secret-of-32-bytes-or-more",
    "DEALPULSE_SECRETS_KEYS": "cHJvZHVjdGlvbi1rZXktb2YtdGhlLXRlc3Qtc3VpdGU=",
}


@dataclass
class Tenant:
    tenant_id: str
    webhook_secret: str


@dataclass
class RunningSystem:
    stack: EmbeddedStack
    supervisor: Supervisor
    registry: Path
    _tenants: list[str] = field(default_factory=list)

    def url(self, service: str) -> str:
        return self.supervisor.url(service)

    def ws_url(self, path: str = "/v1/stream") -> str:
        return self.url("gateway").replace("http://", "ws://") + path

    async def metric_families(self, service: str) -> list[Metric]:
        """What the service's /metrics page exposes now, parsed."""
        async with httpx.AsyncClient(base_url=self.url(service), timeout=5) as client:
            response = await client.get("/metrics")
        response.raise_for_status()
        return list(text_string_to_metric_families(response.text))

    async def metric_samples(self, service: str, name: str) -> list[Sample]:
        """The samples named ``name`` (``..._total`` for a counter's count) the service exposes now."""
        return [sample for family in await self.metric_families(service) for sample in family.samples
                if sample.name == name]

    async def new_tenant(self, prefix: str = "t", *, register: bool = True) -> Tenant:
        """A tenant of the test's own, so tests never see each other's data (``register=False``: not yet in
        ``tenants``, so jobs that visit every tenant skip it until ``register_tenant``)."""
        tenant = Tenant(f"{prefix}-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex)
        if register:
            await self.register_tenant(tenant)
        return tenant

    async def register_tenant(self, tenant: Tenant) -> None:
        """The tenant in ``tenants``, its webhook secret sealed as the services expect (the development key)."""
        await ensure_tenant(self.stack.admin_database_url, tenant.tenant_id, f"Test {tenant.tenant_id}",
                            tenant.webhook_secret)

    def token(self, tenant: Tenant, role: str = "admin", user: str = "test-admin") -> str:
        return issue_token(ServiceSettings().jwt_secret, tenant.tenant_id, role, user, 3600)

    async def send_change(self, tenant: Tenant, change: dict[str, Any], *, signature: str | None = None,
                          headers: dict[str, str] | None = None, ingest_url: str | None = None) -> httpx.Response:
        """Send ``change`` as the tenant's CRM would: signed with its secret (or with ``signature`` if given), to
        the suite's ingest or the one at ``ingest_url``."""
        body = orjson.dumps(change)
        all_headers = webhook_headers(tenant.tenant_id, tenant.webhook_secret, body)
        if signature:
            all_headers["X-DealPulse-Signature"] = signature
        all_headers.update(headers or {})
        async with httpx.AsyncClient(timeout=10.0) as client:
            return await client.post(f"{ingest_url or self.url('ingest')}{WEBHOOK_PATH}", content=body,
                                     headers=all_headers)

    async def upload_import(self, tenant: Tenant, body: bytes, content_type: str = "text/csv",
                            mapping: dict[str, str] | None = None) -> httpx.Response:
        """Upload a CRM export to ingest's bulk import as the tenant's admin (``mapping``: header -> field)."""
        params = {"mapping": orjson.dumps(mapping).decode()} if mapping else {}
        async with httpx.AsyncClient(base_url=self.url("ingest"), timeout=60) as client:
            return await client.post("/v1/imports", content=body, params=params,
                                     headers={"Content-Type": content_type, **self.auth(tenant)})

    async def import_finished(self, tenant: Tenant, job_id: str, timeout: float = 60) -> dict[str, Any]:
        """The import job once it is done or failed."""
        async with httpx.AsyncClient(base_url=self.url("ingest"), timeout=10) as client:
            async def probe() -> dict[str, Any] | None:
                job: dict[str, Any] = (await client.get(f"/v1/imports/{job_id}", headers=self.auth(tenant))).json()
                return job if job["status"] in ("done", "failed") else None

            return await poll_until(probe, timeout=timeout, interval=0.2)

    def auth(self, tenant: Tenant, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant, role)}"}

    async def gateway(self, method: str, path: str, tenant: Tenant, role: str = "admin", user: str = "test-admin",
                      **kwargs: Any) -> httpx.Response:
        """A REST call to the gateway as ``user`` of the tenant in ``role`` (``kwargs``: params, json...)."""
        async with httpx.AsyncClient(base_url=self.url("gateway"), timeout=20) as client:
            headers = {"Authorization": f"Bearer {self.token(tenant, role, user)}"}
            return await client.request(method, path, headers=headers, **kwargs)

    async def platform(self, method: str, path: str, *, platform_admin: bool = True, **kwargs: Any) -> httpx.Response:
        """A call to the gateway's platform-admin API (``/v1/platform/tenants...``) with a development token of an
        operator outside every test tenant; ``platform_admin=False``: the same token without the claim."""
        token = issue_token(ServiceSettings().jwt_secret, "platform", "admin", "test-operator", 3600,
                            platform_admin=platform_admin)
        async with httpx.AsyncClient(base_url=self.url("gateway"), timeout=20) as client:
            return await client.request(method, f"/v1/platform/tenants{path}",
                                        headers={"Authorization": f"Bearer {token}"}, **kwargs)

    async def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``dealpulse ARGS`` as an operator runs it against this stack (its DATABASE_URL, REDIS_URL...)."""
        command = [str(Path(sys.executable).parent / "dealpulse"), *args]
        return await asyncio.to_thread(subprocess.run, command, env=self.supervisor.service_env(),
                                       capture_output=True, text=True, timeout=60)

    async def publish(self, topic: Topic[CloudEvent], events: Sequence[CloudEvent]) -> None:
        """Put events straight onto a topic, acknowledged, as one of the services would."""
        producer = make_producer(ServiceSettings(kafka_bootstrap=self.stack.kafka_bootstrap))
        await producer.start()
        try:
            await EventPublisher(producer, "tests", 10.0).publish_many([Outgoing(topic, e) for e in events])
        finally:
            await producer.stop()

    async def publish_bytes(self, topic: Topic[CloudEvent], key: str, values: Sequence[bytes]) -> None:
        """Put raw bytes onto a topic under one key (one partition, in this order), as a foreign or broken producer
        would: nothing checks that they parse."""
        producer = AIOKafkaProducer(bootstrap_servers=self.stack.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for value in values:
                await producer.send_and_wait(topic.name, value, key=key.encode())
        finally:
            await producer.stop()

    async def stream(self, tenant: Tenant, role: str = "admin", user: str = "test-admin",
                     **params: str) -> StreamClient:
        """A dashboard's WebSocket on the gateway's live stream as ``user`` (``params``: ``last_id`` to resume)."""
        query = "&".join([f"token={self.token(tenant, role, user)}", *(f"{k}={v}" for k, v in params.items())])
        return StreamClient(await websockets.connect(f"{self.ws_url()}?{query}", open_timeout=10))

    async def dead_letters(self, tenant_id: str, service: str, expected: int) -> list[DeadLetter]:
        """The tenant's dead letters from ``service``, once at least ``expected`` of them are on the topic."""
        return await self.read_topic(DEAD_LETTERS, expected,
                                     lambda letter: letter.tenantid == tenant_id and letter.data.service == service)

    async def deal_changes(self, tenant_id: str, deal_id: str, expected: int) -> list[DealChanged]:
        """The deal's ``crm.deal.changed.v1`` events in the order ingest published them (one key, one partition),
        once at least ``expected`` of them are on the topic."""
        return await self.read_topic(DEAL_CHANGED, expected,
                                     lambda event: event.tenantid == tenant_id and event.dealid == deal_id)

    async def read_topic(self, topic: Topic[E], expected: int, keep: Callable[[E], bool]) -> list[E]:
        """The topic's events that ``keep`` selects, read from its start, once at least ``expected`` are found."""
        consumer = AIOKafkaConsumer(topic.name, bootstrap_servers=self.stack.kafka_bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=10)
        await consumer.start()
        found: list[E] = []
        try:
            async def read() -> list[E] | None:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    found.extend(event for event in (topic.decode(r.value) for r in records) if keep(event))
                return found if len(found) >= expected else None

            return await poll_until(read, timeout=30)
        finally:
            await consumer.stop()

    async def count_rows(self, table: str, tenant: Tenant) -> int:
        """How many rows of ``tenant`` the table holds (read as the owner)."""
        rows = await self.admin_fetch(f"SELECT count(*) AS n FROM {table} WHERE tenant_id = $1", tenant.tenant_id)
        return int(rows[0]["n"])

    async def has_rows(self, table: str, tenant: Tenant, n: int) -> bool:
        """At least ``n`` rows of ``tenant`` in the table: a ``poll_until`` probe."""
        return await self.count_rows(table, tenant) >= n

    async def admin_fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """Read as the database owner (bypassing row-level security) to check what was persisted."""
        conn = await asyncpg.connect(self.stack.admin_database_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()


def suite_env(port_offset: int) -> dict[str, str]:
    """What the test suite changes in every service's settings, for a system on ``port_offset``."""
    from tests.alert_fakes import SLACK_API_PORT  # a plugin of tests/conftest.py: imported once it is registered

    return {# Fast group rebalances on the embedded broker (see docs/ARCHITECTURE.md).
            "KAFKA_SESSION_TIMEOUT_MS": "3000", "KAFKA_HEARTBEAT_INTERVAL_MS": "300",
            # An import whose ingest process died is reported failed after this long without a heartbeat
            # (progress is flushed every second) rather than the production minute.
            "INGEST_IMPORT_STALE_AFTER_S": "10",
            # Alert delivery against the local Slack fake (tests/alert_fakes.py), with short retries and schedules.
            "ALERTS_SLACK_API_URL": f"http://127.0.0.1:{SLACK_API_PORT + port_offset}/api/",
            "ALERTS_DELIVERY_BACKOFF_BASE_S": "0.3", "ALERTS_DELIVERY_MAX_ATTEMPTS": "4",
            "ALERTS_SCHEDULE_INTERVAL_S": "1",
            # The gateway looks for tenants without today's pipeline snapshot every 2 s rather than every 5 minutes.
            "GATEWAY_SNAPSHOT_INTERVAL_S": "2", **LIFTED_QUOTAS}


@contextmanager
def suite_system(request: pytest.FixtureRequest, name: str, port_offset: int, *, model_deals: int,
                 env: Mapping[str, str] | None = None) -> Iterator[RunningSystem]:
    """A fresh embedded stack named ``name`` with the five services (``suite_env`` plus ``env``), torn down on the way
    out and its data removed; the services' logs are printed if a test of the run failed."""
    failed = True

    def print_logs_if_failed() -> None:
        if failed:
            # Past capture: output of a fixture's teardown is otherwise shown only if the last test failed.
            capture = request.config.pluginmanager.getplugin("capturemanager")
            with capture.global_and_fixture_disabled():
                _print_logs(STACK_ROOT / name / "logs")

    with running_system(stack_name=name, port_offset=port_offset, fresh=True,
                        env={**suite_env(port_offset), **(env or {})}, model_deals=model_deals, ready_timeout_s=90,
                        remove_data=True, on_stopped=print_logs_if_failed) as running:
        yield RunningSystem(stack=running.require_embedded_stack(), supervisor=running.supervisor,
                            registry=running.registry)
        failed = request.session.testsfailed > 0


def _print_logs(log_dir: Path, lines: int = 60) -> None:
    if not log_dir.exists():
        return
    for log in sorted(log_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        sys.stderr.write(f"\n----- last {len(tail)} lines of {log.name} -----\n" + "\n".join(tail) + "\n")


@contextmanager
def own_service(system: RunningSystem, service: str, env: Mapping[str, str], port_shift: int = 40,
                timeout: float = 60.0) -> Iterator[str]:
    """A second ``service`` process on the running stack with ``env`` added (other auth, other quotas), on its
    default port plus the suite's offset plus ``port_shift``; yields its URL, stopped on the way out. A gateway
    joins a consumer group of its own, so the suite's gateway keeps all of its partitions."""
    supervisor = system.supervisor
    port = supervisor.port(service) + port_shift
    own_env = {**supervisor.service_env(), f"{service.upper()}_PORT": str(port),
               "GATEWAY_CONSUMER_GROUP": f"gateway-{port}", **env}
    log = supervisor.log_dir / f"{service}-{port}.log"
    url = f"http://127.0.0.1:{port}"
    with open(log, "ab") as output:
        process = subprocess.Popen([sys.executable, "-m", f"dealpulse_{service}"], env=own_env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not is_ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{service} on port {port} did not get ready; see {log}")
            time.sleep(0.1)
        yield url
    finally:
        stop_process(process, timeout=15)


def run_cli(*args: str, env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``dealpulse ARGS`` as an operator runs it (the virtualenv's entry point), with ``env`` added."""
    cli = Path(sys.executable).parent / "dealpulse"
    return subprocess.run([str(cli), *args], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout)


async def poll_until(probe: Callable[[], Awaitable[T | None]], timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


class StreamClient:
    """A real WebSocket client on the gateway's live stream."""

    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection

    @classmethod
    async def connect(cls, url: str, token: str) -> StreamClient:
        return cls(await websockets.connect(f"{url}?token={token}", open_timeout=10))

    async def next_message(self, timeout: float = 20.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), timeout)
        message: dict[str, Any] = json.loads(raw)
        return message

    async def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no matching stream message in time")
            message = await self.next_message(remaining)
            if match(message):
                return message

    async def until_ids(self, wanted: set[str], within_s: float = 20.0) -> list[dict[str, Any]]:
        """Every message received until all ``wanted`` event ids have arrived."""
        received: list[dict[str, Any]] = []
        pending = set(wanted)
        async with asyncio.timeout(within_s):
            while pending:
                message = await self.next_message(within_s)
                received.append(message)
                pending.discard(message["event"]["id"])
        return received

    async def collect(self, seconds: float) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                messages.append(await self.next_message(remaining))
            except TimeoutError:
                break
        return messages

    async def close(self) -> None:
        await self.connection.close()


@dataclass(frozen=True)
class Person:
    """A row of ``users``: who someone is in a tenant, in which role, reporting to whom."""

    user_id: str
    email: str | None = None
    role: str = "rep"
    manager_id: str | None = None
    timezone: str = "UTC"


async def add_users(system: RunningSystem, tenant: Tenant, *people: Person) -> None:
    """The tenant's users, written as the database owner (``dealpulse user add`` is tested on its own)."""
    conn = await asyncpg.connect(system.stack.admin_database_url)
    try:
        await conn.executemany(
            "INSERT INTO users (tenant_id, user_id, name, email, role, manager_id, timezone) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(tenant.tenant_id, p.user_id, p.user_id.title(), p.email, p.role, p.manager_id, p.timezone)
             for p in people])
    finally:
        await conn.close()


async def add_team(system: RunningSystem, tenant: Tenant, manager: str, *reports: str) -> None:
    """``manager`` (a manager) with ``reports`` (reps) reporting to them: whose deals the manager sees."""
    await add_users(system, tenant, Person(manager, role="manager"),
                    *(Person(rep, manager_id=manager) for rep in reports))


def from_json(value: Any) -> Any:
    """A json/jsonb value as ``admin_fetch`` returns it (text: its plain connection has no codec), decoded."""
    return orjson.loads(value) if isinstance(value, str) else value


def deal_change(deal_id: str, modified_at: str, **fields: Any) -> dict[str, Any]:
    return {"deal_id": deal_id, "modified_at": modified_at, **fields}


async def seed_deal(system: RunningSystem, tenant: Tenant, deal_id: str, *, owner: str | None = "rep-1",
                    amount: float | None = 10_000, risk: int | None = 80,
                    scored_ago: timedelta = timedelta(minutes=5), created_ago: timedelta = timedelta(days=1),
                    deleted: bool = False, verdict: DealVerdictData | None = None,
                    **deal_fields: Any) -> CanonicalDeal:
    """A deal as the services would have stored it, written straight into the read models as the database owner (so
    ages, staleness and ordering are exact): its snapshot in ``deals`` (``deleted`` marks the CRM's deletion), unless
    ``risk`` is None its latest score in ``deal_risk`` (``scored_ago`` old), and ``verdict`` as its latest verdict.
    ``deal_fields`` are canonical deal fields (currency, stage, is_closed, closed_at, forecast_category...)."""
    now = utcnow()
    fields: dict[str, Any] = {"name": f"Deal {deal_id}", "account_name": "Acme", "stage": Stage.PROPOSAL,
                              "owner_name": f"Name of {owner}", **deal_fields}
    deal = events.deal(tenant.tenant_id, deal_id, amount=amount, owner_id=owner, **fields)
    conn = await asyncpg.connect(system.stack.admin_database_url)
    try:
        await conn.execute(
            "INSERT INTO deals (tenant_id, deal_id, snapshot, source_modified_at, last_event_id, created_at, "
            "deleted_at) VALUES ($1, $2, $3::jsonb, $4, 'seed', $5, $6)",
            tenant.tenant_id, deal_id, deal.model_dump_json(), now, now - created_ago, now if deleted else None)
        if risk is None:
            return deal
        scored = events.scored_data(
            deal, risk_score=risk, factors=[RiskFactor(feature="days_since_last_activity", label="Stalled",
                                                       impact=-9.5, description="No activity for 40 days")],
            model_version="v-test", scored_at=now - scored_ago, source_event_id=f"seed-{deal_id}")
        await conn.execute(
            "INSERT INTO deal_risk (tenant_id, deal_id, source_event_id, risk_score, risk_category, win_probability, "
            "amount, owner_id, is_closed, features, payload, source_modified_at, scored_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '{}', $10::jsonb, $11, $12)",
            tenant.tenant_id, deal_id, scored.source_event_id, risk, scored.risk_category.value,
            scored.win_probability, amount, owner, deal.is_closed, scored.model_dump_json(), now, scored.scored_at)
        if verdict is not None:
            await conn.execute(
                "INSERT INTO deal_verdict (tenant_id, deal_id, source_event_id, ai_forecast, ai_verdict, "
                "commit_admission, predictive_eligible, payload, decided_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)",
                tenant.tenant_id, deal_id, scored.source_event_id, verdict.ai_forecast.value, verdict.ai_verdict.value,
                verdict.commit_admission.value, verdict.predictive_eligible, verdict.model_dump_json(),
                now - scored_ago)
    finally:
        await conn.close()
    return deal


def hubspot_headers(secret: str, url: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """HubSpot's v3 signature headers of a POST of ``body`` to ``url``, signed with the app secret ``secret``."""
    from dealpulse_ingest.connectors.hubspot import expected_signature

    ts = str(timestamp if timestamp is not None else int(time.time() * 1000))
    return {"X-HubSpot-Signature-v3": expected_signature(secret, "POST", url, body, ts),
            "X-HubSpot-Request-Timestamp": ts}


def scorer_credential(tenant_id: str, *, caller: str = "gateway", secret: str | None = None) -> dict[str, str]:
    """The headers the gateway sends the scorer: its service credential naming ``tenant_id``."""
    from dealpulse_common.service_auth import issue_service_credential
    from dealpulse_common.settings import ServiceSettings

    credential = issue_service_credential(secret or ServiceSettings().service_secret, caller=caller,
                                          audience="scorer", tenant_id=tenant_id)
    return {"Authorization": f"Bearer {credential}"}
