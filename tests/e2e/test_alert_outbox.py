"""The alert outbox on real servers: an anomaly that opened and closed while Alertmanager was down.

simulator → real Prometheus → MeshPulse (TestClient) → real Alertmanager → webhook sink.
Alertmanager only notifies a resolution for an alert it notified as firing, so the
receiver must get the firing notification first and the resolved one after, exactly
once each, once Alertmanager is back on the same port with the same storage.
Alertmanager groups by every label (``...``) so each alert is its own notification.
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
from detector.devstack import RunningAlertmanager, WebhookSink, start_alertmanager, start_warm_prometheus
from detector.devstack.polling import wait_until
from detector.settings import Settings
from detector.simulate.faults import FaultSchedule
from detector.simulate.server import SimulatorServer
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

INTERVAL = 2.0
WARM_UP_S = 60.0  # 30 points at 2 s: past the detectors' 20-point grace after the first window is settled
LIVE_LEAD_S = 40.0
"""Live scraping after the backfill, before MeshPulse starts. The first cycle scores its last ~11
points (22 s): the 10 s rate() windows that reach into the backfill hole must end before those
(22 s + 10 s, plus query lag and step alignment)."""
TARGET = {"service": "paymentservice", "signal": "error_ratio", "scope": "service"}


@dataclass
class Outbox:
    sim: SimulatorServer
    am: RunningAlertmanager
    sink: WebhookSink
    api: TestClient

    def events(self, **params: Any) -> list[dict[str, Any]]:
        r = self.api.get("/api/v1/anomalies", params={"limit": 5000, **params})
        assert r.status_code == 200, r.text
        return r.json()

    def notifications(self) -> dict[tuple[tuple[str, str], ...], list[str]]:
        """Status sequence per alert (its labels), in arrival order."""
        out: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for payload in self.sink.payloads:
            for alert in payload.get("alerts", []):
                out.setdefault(tuple(sorted(alert["labels"].items())), []).append(alert["status"])
        return out


@pytest.fixture(scope="module")
def outbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outbox]:
    work = tmp_path_factory.mktemp("outbox")
    topology = Topology.online_boutique(seed=7, ingress_rps=400.0)
    mesh = Mesh(topology, seed=7, start=time.time() - WARM_UP_S, faults=FaultSchedule())
    sim = SimulatorServer(mesh).start()
    prom = start_warm_prometheus(
        work, mesh, f"127.0.0.1:{sim.port}", live_lead_s=LIVE_LEAD_S, rate_window_s=10.0
    )
    try:
        with WebhookSink() as sink, start_alertmanager(work / "am", sink.url, group_by=["..."]) as am:
            settings = Settings(
                prometheus_url=prom.url,
                alertmanager_url=am.url,
                scrape_interval_s=INTERVAL,
                lookback_s=WARM_UP_S,
                rate_window="10s",
                query_lag_s=1.0,
                alert_resend_s=10,
                dashboard_url="http://meshpulse.test",
                state_path=work / "meshpulse.sqlite",
            )
            with TestClient(create_app(settings)) as api:
                wait_until(lambda: api.get("/readyz").status_code == 200, 30)
                yield Outbox(sim, am, sink, api)
    finally:
        prom.stop()
        sim.stop()


def test_anomaly_that_opened_and_closed_during_an_outage_is_notified_firing_then_resolved(
    outbox: Outbox,
) -> None:
    wait_until(lambda: outbox.events(active=True) == [], 60)
    outbox.am.stop()
    outbox.sink.clear()
    down_at = time.time()
    r = httpx.post(
        f"{outbox.sim.url}/faults",
        json={"kind": "error_burst", "service": "paymentservice", "duration_s": 14, "magnitude": 0.3},
        timeout=5,
    )
    assert r.status_code == 201, r.text

    def target_events() -> list[dict[str, Any]]:
        found = outbox.events(service="paymentservice", signal="error_ratio", since=down_at)
        return [e for e in found if e["scope"] == "service" and e["started_at"] >= down_at - INTERVAL]

    wait_until(target_events, 40)  # how soon is test_mesh_loop's to assert; here, what is delivered
    closed = wait_until(lambda: (es := target_events()) and all(e["ended_at"] for e in es) and es, 120)
    assert len(closed) == 1, f"the burst flapped: {closed}"
    assert outbox.sink.payloads == [], "Alertmanager was down, yet something was delivered"
    up_at = time.time()
    outbox.am.start()
    t_up = time.monotonic()

    def seen(status: str) -> bool:
        return any(
            status in statuses and all(dict(labels).get(k) == v for k, v in TARGET.items())
            for labels, statuses in outbox.notifications().items()
        )

    wait_until(lambda: seen("firing"), 20)
    firing_after = time.monotonic() - t_up
    wait_until(lambda: seen("resolved"), 90)
    resolved_after = time.monotonic() - t_up
    time.sleep(3 * INTERVAL + 2)  # anything duplicated would arrive by now
    per_alert = outbox.notifications()
    target = [
        s for labels, s in per_alert.items() if all(dict(labels).get(k) == v for k, v in TARGET.items())
    ]
    assert target == [["firing", "resolved"]], per_alert
    for labels, statuses in per_alert.items():  # none duplicated, none resolved before it fired
        assert statuses in (["firing"], ["firing", "resolved"]), (labels, statuses)
    event = closed[0]
    assert down_at <= event["started_at"] and event["ended_at"] <= up_at
    alert = next(
        a
        for p in outbox.sink.payloads
        for a in p["alerts"]
        if all(a["labels"].get(k) == v for k, v in TARGET.items())
    )
    assert alert["annotations"]["runbook_url"] == "docs/runbooks/mesh-anomaly.md#error-ratio"
    assert alert["annotations"]["dashboard_url"].startswith(
        "http://meshpulse.test/ui/services/paymentservice"
    )
    print(f"after restart: firing in {firing_after:.1f} s, resolved in {resolved_after:.1f} s")
