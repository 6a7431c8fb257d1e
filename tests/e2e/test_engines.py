"""The same detection on two real engines: Prometheus and VictoriaMetrics, scraping one simulator,
and on both state stores: SQLite and a real PostgreSQL.

MeshPulse claims any Prometheus-compatible query API works. Both engines scrape the same live
mesh at the same time, so one warm-up and one injected fault serve both: each engine gets its
own MeshPulse (TestClient, scheduler running) and must list the burst on paymentservice within
the same bound as ``test_mesh_loop.py``. Differences in ``rate()`` semantics or staleness
between the engines show up here as a late, missing or spurious event. A third MeshPulse reads
Prometheus and keeps its state in PostgreSQL instead of SQLite: the same end-to-end detection
on the shared store, for the price of one more client on the same warm-up and fault.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from detector.api.app import create_app
from detector.devstack import start_warm_engines
from detector.devstack.polling import wait_until
from detector.settings import Settings
from detector.simulate.faults import FaultSchedule
from detector.simulate.server import SimulatorServer
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

INTERVAL = 3.0
"""MeshPulse's cycle (and query step); both engines scrape every second."""
WARM_UP_S = 70.0
"""Grace of 20 points at the 3 s step, plus one 10 s rate window: history loaded into both engines."""
LIVE_LEAD_S = 30.0
"""Live scraping before the MeshPulses start. The first cycle scores its last 3-4 points (70 s at
3 s, less the 20-point grace): the 10 s rate() windows that reach into the hole before the live
scrape must end before those (12 s + 10 s, plus query lag and step alignment)."""
VARIANTS = {
    "prometheus": ("prometheus", "sqlite"),
    "victoriametrics": ("victoriametrics", "sqlite"),
    "prometheus-postgres": ("prometheus", "postgresql"),
}
"""Test id → (metrics engine, state store dialect)."""
FAULTED = "paymentservice"
DETECT_WITHIN_S = 30.0
"""Looser than test_mesh_loop's 3 cycles + 2 s: three MeshPulses share one process (and the GIL),
and this test is about the engines agreeing, not about latency; the burst lasts 25 s."""


def events(api: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = api.get("/api/v1/anomalies", params={"limit": 5000, **params})
    assert r.status_code == 200, r.text
    body: list[dict[str, Any]] = r.json()
    return body


def callers_of(topology: Topology, service: str) -> set[str]:
    """The service and everything that calls it, directly or not: where its fault may show."""
    seen, todo = {service}, [service]
    while todo:
        callee = todo.pop()
        for e in topology.edges:
            if e.callee == callee and e.caller not in seen:
                seen.add(e.caller)
                todo.append(e.caller)
    return seen


class Stack:
    def __init__(self, topology: Topology, sim: SimulatorServer, apis: dict[str, TestClient]) -> None:
        self.topology, self.sim, self.apis = topology, sim, apis


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_schemas: Any) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("engines")
    topology = Topology.online_boutique(seed=3, ingress_rps=400.0)
    mesh = Mesh(topology, seed=3, start=time.time() - WARM_UP_S, faults=FaultSchedule())
    sim = SimulatorServer(mesh).start()
    with ExitStack() as stop:
        stop.callback(sim.stop)
        # one history, one mesh: both engines hold the same warm-up and scrape the same live counters
        engines = start_warm_engines(
            work,
            mesh,
            f"127.0.0.1:{sim.port}",
            live_lead_s=LIVE_LEAD_S,
            rate_window_s=10.0,
            victoriametrics=True,
        )
        stop.callback(engines.stop)
        assert engines.victoriametrics is not None
        urls = {"prometheus": engines.prometheus.url, "victoriametrics": engines.victoriametrics.url}
        apis: dict[str, TestClient] = {}
        for variant, (engine, store) in VARIANTS.items():
            state = (
                {"state_url": postgres_schemas.create()[1]}
                if store == "postgresql"
                else {"state_path": work / f"{variant}.sqlite"}
            )
            settings = Settings(
                prometheus_url=urls[engine],
                scrape_interval_s=INTERVAL,
                lookback_s=WARM_UP_S,
                rate_window="10s",
                query_lag_s=1.0,
                **state,
            )
            apis[variant] = stop.enter_context(TestClient(create_app(settings)))
        for api in apis.values():
            wait_until(lambda api=api: api.get("/readyz").status_code == 200, 30)
        yield Stack(topology, sim, apis)


@pytest.fixture(scope="module")
def burst(stack: Stack) -> float:
    """One error burst on paymentservice, seen by both engines; returns when it was injected."""
    t0 = time.time()
    r = httpx.post(
        f"{stack.sim.url}/faults",
        json={"kind": "error_burst", "service": FAULTED, "duration_s": 25, "magnitude": 0.3},
        timeout=5,
    )
    assert r.status_code == 201, r.text
    return t0


@pytest.mark.parametrize("engine", VARIANTS)
def test_warm_mesh_is_healthy_and_quiet(stack: Stack, engine: str) -> None:
    api = stack.apis[engine]
    assert api.app.state.runtime.store.dialect == VARIANTS[engine][1]
    services = api.get("/api/v1/services").json()
    assert len(services) >= 10
    assert {s["health"] for s in services} == {"healthy"}, services
    assert events(api, active=True) == []


@pytest.mark.parametrize("engine", VARIANTS)
def test_error_burst_is_detected(stack: Stack, burst: float, engine: str) -> None:
    api = stack.apis[engine]

    def listed() -> list[dict[str, Any]]:
        found = events(api, service=FAULTED, signal="error_ratio", since=burst - 1)
        return [e for e in found if e["scope"] == "service"]

    # measured from the injection, so the second engine gets no extra time from the first's wait
    try:
        wait_until(listed, max(burst + DETECT_WITHIN_S - time.time(), 0.5))
    except AssertionError:
        ready = api.get("/readyz").json()
        raise AssertionError(
            f"{engine}: no error_ratio event; readyz {ready}; events {events(api)}"
        ) from None
    detected_after = time.time() - burst
    allowed = callers_of(stack.topology, FAULTED)
    noisy = [e for e in events(api, since=burst - 1) if e["service"] not in allowed]
    assert noisy == [], f"{engine}: anomalies on untouched services:\n" + "\n".join(
        f"{e['series']} {e['severity']} {e['explanation']}" for e in noisy
    )
    print(f"{engine}: error burst listed within {detected_after:.1f} s")
