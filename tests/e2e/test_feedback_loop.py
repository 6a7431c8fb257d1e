"""The closed loop on real servers: simulator → Prometheus → MeshPulse (auto) → GitOps files → simulator.

MeshPulse runs in ``auto`` mode with the GitOps applier, so a traffic decision is really
written as a VirtualService file and read back as the live weights next cycle. The
simulator has no runtime routing API, so a follower thread in this test plays the part of
Argo CD + Istio: it reads the files and re-weights the simulated mesh (see
:func:`set_route_weights`). Only then does a shift change what Prometheus sees, which is
what makes the restore after recovery a real test rather than a replay of our own writes.

Decide tunables are shortened (cooldown, streaks, window) so the module runs in ~3 minutes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from detector.act.gitops import GitOpsWriter
from detector.api.app import create_app
from detector.decide.manifests import to_yaml, virtual_service
from detector.decide.records import DecideConfig, TrafficConfig
from detector.devstack import RunningPrometheus, start_warm_prometheus
from detector.devstack.polling import wait_until
from detector.settings import Settings
from detector.simulate.exposition import Layout
from detector.simulate.faults import FaultSchedule
from detector.simulate.server import SimulatorServer
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

INTERVAL = 3.0
WARM_UP_S = 40.0
LIVE_LEAD_S = 20.0
"""Live scraping after the backfill, before MeshPulse starts: two 10 s rate windows. The first
cycle (40 s at 3 s) is all grace, so the windows reaching into the backfill hole are never scored."""
QUIET_S = 30.0
NS = "default"
CANARIES = ("productcatalogservice", "recommendationservice")
TRAFFIC = TrafficConfig(
    max_step=20, floors={"v2": 10}, cooldown_s=2 * INTERVAL, open_after=2, close_after=3, min_requests=50
)
DECIDE = DecideConfig(mode="auto", traffic=TRAFFIC, window_s=15.0)


def set_route_weights(mesh: Mesh, service: str, weights: dict[str, int]) -> None:
    """Re-weight ``service``'s subsets in a running mesh: what Istio does when a VirtualService syncs.

    Weights only enter the mesh through :class:`Layout`'s per-cell fractions; the series
    (groups) do not depend on them, so swapping the layout keeps every counter and label.
    """
    with mesh.lock:
        topo = mesh.topology
        workloads = [
            replace(w, weights=tuple(weights[v] / 100 for v in w.versions)) if w.service == service else w
            for w in topo.workloads
        ]
        new = Topology(workloads, topo.edges, topo.ingress_rps, topo.seed, topo.ingress)
        mesh.topology, mesh.layout = new, Layout(new)


@dataclass
class Follower:
    """Polls the GitOps directory and pushes changed weights into the mesh, keeping a history."""

    mesh: Mesh
    reader: GitOpsWriter
    history: dict[str, list[tuple[float, dict[str, int]]]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(0.25):
            for svc in CANARIES:
                weights = self.reader.read_weights(NS, svc)
                seen = self.history.setdefault(svc, [])
                if weights is not None and (not seen or seen[-1][1] != weights):
                    set_route_weights(self.mesh, svc, weights)
                    seen.append((time.time(), weights))

    def weights(self, service: str) -> dict[str, int]:
        return self.history[service][-1][1]


@dataclass
class Loop:
    mesh: Mesh
    sim: SimulatorServer
    prometheus: RunningPrometheus
    api: TestClient
    follower: Follower

    def inject(self, **fault: Any) -> dict[str, Any]:
        r = httpx.post(f"{self.sim.url}/faults", json=fault, timeout=5)
        assert r.status_code == 201, r.text
        return r.json()

    def traffic_recs(self, **params: Any) -> list[dict[str, Any]]:
        recs = self.api.get("/api/v1/recommendations", params={"limit": 5000, **params}).json()
        return sorted((r for r in recs if r["kind"].startswith("traffic")), key=lambda r: r["created_at"])

    def served(self, service: str) -> dict[str, float]:
        """Cumulative requests per subset the simulated mesh has served (destination side)."""
        totals = self.mesh.totals("destination_workload")
        return {v: totals[f"{service}-{v}"].requests for v in ("v1", "v2")}


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    work = tmp_path_factory.mktemp("feedback")
    gitops = work / "gitops"
    for svc in CANARIES:  # what a person committed: the canaries at 50/50
        path = GitOpsWriter(gitops).path("VirtualService", NS, svc)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            to_yaml(virtual_service(svc, NS, f"{svc}.{NS}.svc.cluster.local", {"v1": 50, "v2": 50}))
        )
    topology = Topology.online_boutique(seed=5, ingress_rps=400.0)
    mesh = Mesh(topology, seed=5, start=time.time() - WARM_UP_S, faults=FaultSchedule())
    sim = SimulatorServer(mesh).start()
    follower = Follower(mesh, GitOpsWriter(gitops))
    thread = threading.Thread(target=follower.run, name="gitops-follower", daemon=True)
    thread.start()
    # the committed 50/50 is in the mesh before its history is written, as it was before any scrape
    wait_until(lambda: all(follower.history.get(svc) for svc in CANARIES), 10, 0.05)
    prom = start_warm_prometheus(
        work, mesh, f"127.0.0.1:{sim.port}", live_lead_s=LIVE_LEAD_S, rate_window_s=10.0
    )
    try:
        settings = Settings(
            prometheus_url=prom.url,
            scrape_interval_s=INTERVAL,
            lookback_s=WARM_UP_S,
            rate_window="10s",
            query_lag_s=1.0,
            state_path=work / "meshpulse.sqlite",
            decide_mode="auto",
            applier="gitops",
            gitops_dir=gitops,
        )
        app = create_app(settings)
        with TestClient(app) as api:
            app.state.runtime.pipeline.decide_config = DECIDE  # short cooldown, streaks and window
            wait_until(lambda: api.get("/readyz").status_code == 200, 30)
            yield Loop(mesh, sim, prom, api, follower)
    finally:
        follower.stop.set()
        thread.join(timeout=5)
        prom.stop()
        sim.stop()


def test_healthy_mesh_keeps_its_weights(loop: Loop) -> None:
    t0 = time.time()
    time.sleep(QUIET_S)
    assert loop.traffic_recs(since=t0 - WARM_UP_S) == [], "a healthy mesh moved weights"
    for svc in CANARIES:
        assert [w for _, w in loop.follower.history[svc]] == [{"v1": 50, "v2": 50}]


def test_canary_regression_shifts_to_floor_then_restores(loop: Loop) -> None:
    t0 = time.time()
    fault_s = 35.0
    loop.inject(kind="canary_regression", service="productcatalogservice", duration_s=fault_s)
    svc = "productcatalogservice"
    floor = TRAFFIC.floor("v2")
    wait_until(lambda: loop.follower.weights(svc)["v2"] == floor, 60)
    reached_floor = time.time() - t0
    before = loop.served(svc)
    time.sleep(4.0)
    after = loop.served(svc)
    share = (after["v2"] - before["v2"]) / sum(after[v] - before[v] for v in after)
    assert share < 0.2, f"the mesh did not follow the written weights: v2 got {share:.0%}"

    wait_until(lambda: loop.follower.weights(svc) == {"v1": 50, "v2": 50}, 120)
    restored = time.time() - t0
    changes = [(t, w) for t, w in loop.follower.history[svc] if t >= t0]
    _assert_bounded(changes, {"v1": 50, "v2": 50})
    kinds = [r["kind"] for r in loop.traffic_recs(service=svc, since=t0)]
    assert kinds == ["traffic-shift", "traffic-shift", "traffic-restore", "traffic-restore"], kinds
    assert {r["status"] for r in loop.traffic_recs(service=svc, since=t0)} == {"applied"}
    at_floor = next(i for i, (_, w) in enumerate(changes) if w["v2"] == floor)
    assert changes[at_floor + 1][0] >= t0 + fault_s, "weight went back before the canary recovered"
    assert loop.traffic_recs(service="recommendationservice") == [], "an untouched canary was moved"
    timeline = ", ".join(f"+{t - t0:.0f}s v2={w['v2']}" for t, w in changes)
    print(f"\nv2 at its floor after {reached_floor:.1f} s, back to 50/50 after {restored:.1f} s: {timeline}")


def _assert_bounded(changes: list[tuple[float, dict[str, int]]], start: dict[str, int]) -> None:
    prev_t, prev = None, start
    for t, w in changes:
        assert sum(w.values()) == 100 and w["v2"] >= TRAFFIC.floor("v2"), w
        assert sum(abs(w[s] - prev[s]) for s in w) <= 2 * TRAFFIC.max_step, (prev, w)
        if prev_t is not None:  # file times lag the decision by < one poll, so allow a little slack
            assert t - prev_t >= TRAFFIC.cooldown_s - 1.0, (prev_t, t)
        prev_t, prev = t, w
