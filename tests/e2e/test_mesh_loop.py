"""The whole loop on real servers: simulator → Prometheus → MeshPulse → Alertmanager → webhook.

One stack per module (Prometheus needs live data before detectors are warm), and
scenarios run one after another on it, each waiting for the mesh to be quiet again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from detector.api.app import create_app
from detector.devstack import RunningPrometheus, WebhookSink, start_alertmanager, start_warm_prometheus
from detector.devstack.polling import wait_until
from detector.settings import Settings
from detector.simulate.faults import FaultSchedule
from detector.simulate.server import SimulatorServer
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

INTERVAL = 3.0
"""MeshPulse's cycle (and query step); Prometheus scrapes every second."""
WARM_UP_S = 70.0
"""History backfilled before the live scrape, and the first cycle's warm-up query."""
DETECT_WAIT_S = 40.0
"""Wall-clock patience for an event to be listed. How soon it is detected is asserted in data
time (:func:`assert_prompt`): on a busy 2-core runner a cycle may start late, which is the
machine, not the detector."""
PROMPT_S = 3 * INTERVAL
"""The first anomalous point of a fault: one scrape (1 s), the next point on the query grid (up
to one step), and up to two more steps while the 10 s rate window fills with the fault, for
signals whose first point holds too little of it to cross the band (measured: 2-5 s)."""
LIVE_LEAD_S = 30.0
"""Live scraping before MeshPulse starts. The first cycle scores its last 3-4 points (70 s at
3 s, less the 20-point grace): the 10 s rate() windows that reach into the backfill hole must
end before those (12 s + 10 s, plus query lag and step alignment)."""


@dataclass
class Stack:
    topology: Topology
    sim: SimulatorServer
    prometheus: RunningPrometheus
    sink: WebhookSink
    api: TestClient

    def inject(self, **fault: Any) -> dict[str, Any]:
        r = httpx.post(f"{self.sim.url}/faults", json=fault, timeout=5)
        assert r.status_code == 201, r.text
        return r.json()

    def events(self, **params: Any) -> list[dict[str, Any]]:
        r = self.api.get("/api/v1/anomalies", params={"limit": 5000, **params})
        assert r.status_code == 200, r.text
        return r.json()

    def assert_quiet_outside(self, service: str, since: float) -> None:
        """No event on a service the fault cannot reach (it, and its callers, may show it)."""
        noisy = [e for e in self.events(since=since) if e["service"] not in self.affected_by(service)]
        assert noisy == [], "anomalies on untouched services:\n" + "\n".join(
            f"{e['series']} {e['severity']} {e['explanation']}" for e in noisy
        )

    def affected_by(self, service: str) -> set[str]:
        """The service and everything that calls it, directly or not: where a fault may show."""
        seen, todo = {service}, [service]
        while todo:
            callee = todo.pop()
            for e in self.topology.edges:
                if e.callee == callee and e.caller not in seen:
                    seen.add(e.caller)
                    todo.append(e.caller)
        return seen


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("e2e")
    topology = Topology.online_boutique(seed=3, ingress_rps=400.0)
    mesh = Mesh(topology, seed=3, start=time.time() - WARM_UP_S, faults=FaultSchedule())
    sim = SimulatorServer(mesh).start()
    prom = start_warm_prometheus(
        work, mesh, f"127.0.0.1:{sim.port}", live_lead_s=LIVE_LEAD_S, rate_window_s=10.0
    )
    try:
        with WebhookSink() as sink, start_alertmanager(work / "am", sink.url) as am:
            settings = Settings(
                prometheus_url=prom.url,
                alertmanager_url=am.url,
                scrape_interval_s=INTERVAL,
                lookback_s=WARM_UP_S,
                rate_window="10s",
                query_lag_s=1.0,
                alert_resend_s=10,
                state_path=work / "meshpulse.sqlite",
            )
            with TestClient(create_app(settings)) as api:
                wait_until(lambda: api.get("/readyz").status_code == 200, 30)
                yield Stack(topology, sim, prom, sink, api)
    finally:
        prom.stop()
        sim.stop()


def assert_prompt(events: list[dict[str, Any]], injected_at: float, bound_s: float = PROMPT_S) -> float:
    """Seconds, in data time, from the injection to the first anomalous point of ``events``."""
    first = min(e["started_at"] for e in events) - injected_at
    assert first <= bound_s, f"first anomalous point {first:.1f} s after the fault (bound {bound_s} s)"
    return first


def test_warm_mesh_is_healthy_and_quiet(stack: Stack) -> None:
    services = stack.api.get("/api/v1/services").json()
    assert len(services) >= 10
    assert {s["health"] for s in services} == {"healthy"}, services
    assert stack.events(active=True) == []
    recs = stack.api.get("/api/v1/recommendations").json()
    assert [r for r in recs if r["kind"].startswith("traffic")] == [], "a healthy mesh moved weights"


def test_error_burst_is_listed_alerted_and_resolved(stack: Stack) -> None:
    t0 = time.time()
    stack.inject(kind="error_burst", service="paymentservice", duration_s=25, magnitude=0.3)

    def listed() -> list[dict[str, Any]]:
        return [
            e
            for e in stack.events(service="paymentservice", signal="error_ratio", active=True)
            if e["scope"] == "service"
        ]

    found = wait_until(listed, DETECT_WAIT_S)
    detected_after, first_point = time.time() - t0, assert_prompt(found, t0)
    stack.sink.wait_for(
        lambda p: any(
            a["labels"].get("service") == "paymentservice"
            and a["labels"].get("signal") == "error_ratio"
            and a["status"] == "firing"
            for a in p["alerts"]
        ),
        timeout=15,
    )
    health = stack.api.get("/api/v1/services/paymentservice").json()["health"]
    assert health in ("degraded", "failing")
    stack.sink.wait_for(
        lambda p: (
            p["status"] == "resolved"
            and any(a["labels"].get("service") == "paymentservice" for a in p["alerts"])
        ),
        timeout=90,
    )
    stack.assert_quiet_outside("paymentservice", since=t0 - 1)
    print(f"error burst: first anomalous point at +{first_point:.1f} s, listed at + {detected_after:.1f} s")


def test_latency_spike_is_detected(stack: Stack) -> None:
    wait_until(lambda: stack.events(active=True) == [], 60)
    t0 = time.time()
    # 8x: the p99 floor (about 2.2x the level before one point alone crosses the band,
    # for bucket interpolation and thin pod windows) makes 4x on a 5 ms service borderline
    stack.inject(kind="latency_spike", service="currencyservice", duration_s=20, magnitude=8.0)
    quantiles = wait_until(
        lambda: [
            e
            for e in stack.events(service="currencyservice", active=True)
            if e["signal"] in ("p50", "p90", "p99") and e["scope"] == "service"
        ],
        DETECT_WAIT_S,
    )
    assert_prompt(quantiles, t0)
    # the whole histogram moved too: the latency-shape signal sees it as well
    shape = wait_until(
        lambda: [
            e
            for e in stack.events(service="currencyservice", signal="latency_shape", since=t0 - 1)
            if e["scope"] == "service"
        ],
        DETECT_WAIT_S,
    )
    assert_prompt(shape, t0, PROMPT_S + INTERVAL)
    wait_until(lambda: stack.events(service="currencyservice", active=True) == [], 90)
    stack.assert_quiet_outside("currencyservice", since=t0 - 1)


def test_bad_pod_is_named(stack: Stack) -> None:
    wait_until(lambda: stack.events(active=True) == [], 60)
    cart = stack.topology.workload("cartservice")
    pods = [p for v in cart.versions for p in cart.pods[v]]
    bad = pods[0]
    t0 = time.time()
    stack.inject(kind="bad_pod", service="cartservice", pod=bad, duration_s=25)
    found = wait_until(
        lambda: [e for e in stack.events(service="cartservice", active=True) if e["scope"] == "pod"],
        DETECT_WAIT_S,
    )
    assert {e["pod"] for e in found} == {bad}
    assert_prompt(found, t0)

    def named() -> list[dict[str, Any]]:
        recs = stack.api.get("/api/v1/recommendations", params={"service": "cartservice"}).json()
        return [r for r in recs if r["kind"] == "pod-outlier" and bad in r["title"]]

    rec = wait_until(named, 30)[0]
    detail = stack.api.get(f"/api/v1/recommendations/{rec['id']}").json()
    assert detail["rationale"] and detail["evidence"]
    wait_until(lambda: stack.events(service="cartservice", active=True) == [], 90)
    pod_events = {e["pod"] for e in stack.events(service="cartservice", since=t0 - 1) if e["scope"] == "pod"}
    assert pod_events == {bad}, "a healthy sibling pod was flagged"


def test_prometheus_outage_degrades_then_recovers_without_false_anomalies(stack: Stack) -> None:
    wait_until(lambda: stack.events(active=True) == [], 60)
    t0 = time.time()
    stack.prometheus.stop()
    try:
        ready = wait_until(
            lambda: (r := stack.api.get("/readyz")).status_code == 503 and r.json(), 3 * INTERVAL + 5
        )
        assert ready["metrics_source"]["error"]
        assert stack.api.get("/healthz").status_code == 200
        assert {s["health"] for s in stack.api.get("/api/v1/services").json()} == {"no_data"}
        time.sleep(2 * INTERVAL)
    finally:
        stack.prometheus.start()
    wait_until(lambda: stack.api.get("/readyz").status_code == 200, 30)
    time.sleep(6 * INTERVAL)  # let detection run on fresh data for a while
    assert stack.events(since=t0) == [], "anomalies opened around the outage"
    assert {s["health"] for s in stack.api.get("/api/v1/services").json()} == {"healthy"}
