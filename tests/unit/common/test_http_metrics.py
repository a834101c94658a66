"""Every app set up with the shared service skeleton counts and times its requests by route template and status."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI, HTTPException
from prometheus_client import REGISTRY

from dealpulse_common.http_metrics import UNMATCHED
from dealpulse_common.service import ServiceUnavailable, install_problem_handlers, probe_router


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(probe_router({}))

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        if thing_id == "missing":
            raise HTTPException(404, "no such thing")
        if thing_id == "away":
            raise ServiceUnavailable("the database is away", 5)
        if thing_id == "broken":
            raise RuntimeError("a bug")
        return {"id": thing_id}

    return app


def _count(method: str, route: str, status: int) -> float:
    labels = {"method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("dealpulse_http_requests_total", labels) or 0.0


def _observed(method: str, route: str, status: int) -> float:
    labels = {"method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("dealpulse_http_request_duration_seconds_count", labels) or 0.0


async def _get(app: FastAPI, *paths: str, method: str = "GET") -> list[int]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return [(await client.request(method, path)).status_code for path in paths]


async def test_requests_are_counted_and_timed_by_route_template_never_by_raw_path() -> None:
    route = "/things/{thing_id}"
    before, timed_before = _count("GET", route, 200), _observed("GET", route, 200)
    ids = [uuid.uuid4().hex for _ in range(3)]
    assert await _get(_app(), *(f"/things/{i}" for i in ids)) == [200, 200, 200]
    assert _count("GET", route, 200) == before + 3
    assert _observed("GET", route, 200) == timed_before + 3
    exposition = "".join(str(sample) for family in REGISTRY.collect() for sample in family.samples)
    assert not any(i in exposition for i in ids), "a raw path leaked into a label"


async def test_each_status_is_its_own_series_including_an_unanswered_exception() -> None:
    route = "/things/{thing_id}"
    before = {status: _count("GET", route, status) for status in (404, 503, 500)}
    assert await _get(_app(), "/things/missing", "/things/away", "/things/broken") == [404, 503, 500]
    assert {status: _count("GET", route, status) - before[status] for status in before} == {404: 1, 503: 1, 500: 1}


async def test_unknown_paths_and_methods_share_one_series_each() -> None:
    unmatched_before = _count("GET", UNMATCHED, 404)
    other_before = _count("other", "/healthz", 405)
    assert await _get(_app(), f"/{uuid.uuid4().hex}", f"/{uuid.uuid4().hex}") == [404, 404]
    assert await _get(_app(), "/healthz", method="BREW") == [405]
    assert _count("GET", UNMATCHED, 404) == unmatched_before + 2
    assert _count("other", "/healthz", 405) == other_before + 1
