"""The live stack the fault suite breaks, and what it reads back from it.

simulator → Prometheus → chaos proxy → MeshPulse (``python -m detector serve``, a real
process with a state file, so it can be SIGKILLed) → Alertmanager → webhook sink.
Every piece is a real server on 127.0.0.1; only the proxy and the simulator's
restart/rollout controls are test-only.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from detector.devstack import (
    ManagedProcess,
    RunningAlertmanager,
    RunningPrometheus,
    WebhookSink,
    free_port,
    start_alertmanager,
    start_prometheus,
)
from detector.devstack.chaos_proxy import ChaosProxy
from detector.devstack.polling import wait_until
from detector.simulate.control import ControlledSimulator
from detector.simulate.faults import FaultSchedule
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

INTERVAL = 3.0
"""MeshPulse's cycle and query step; Prometheus scrapes the simulator every second."""
WARM_UP_S = 70.0
"""Live history before MeshPulse starts: the detectors' grace period is 20 points."""
IDENTITY = ("service", "namespace", "signal", "scope", "pod", "version", "source")
"""Alert labels that name the series; severity may change during one event."""


def epoch(rfc3339: str) -> float:
    """Alertmanager's timestamps (nanosecond fractions, ``Z``) as Unix seconds."""
    head, _, frac = rfc3339.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float(f"0.{frac or 0}")


def identity(labels: dict[str, str]) -> tuple[str, ...]:
    return tuple(labels.get(name, "") for name in IDENTITY)


@dataclass
class Stack:
    """Everything running; :meth:`start` builds it, :meth:`stop` tears it down by PID."""

    work: Path
    topology: Topology = field(default_factory=lambda: Topology.online_boutique(seed=3, ingress_rps=400.0))
    sim: ControlledSimulator | None = None
    prometheus: RunningPrometheus | None = None
    proxy: ChaosProxy | None = None
    sink: WebhookSink | None = None
    alertmanager: RunningAlertmanager | None = None
    meshpulse: ManagedProcess | None = None
    port: int = 0
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=5.0))

    def start(self, warm_up_s: float = WARM_UP_S) -> Stack:
        mesh = Mesh(self.topology, seed=3, start=time.time(), faults=FaultSchedule())
        self.sim = sim = ControlledSimulator(mesh)
        sim.start()
        self.prometheus = start_prometheus(self.work / "prom", [f"127.0.0.1:{sim.port}"], "1s")
        self.proxy = ChaosProxy(self.prometheus.url, timeout_s=10.0)
        self.sink = WebhookSink()
        self.alertmanager = start_alertmanager(self.work / "am", self.sink.url, resolve_timeout="10m")
        time.sleep(warm_up_s)
        self.port = free_port()
        config = self.work / "meshpulse.yaml"  # JSON is YAML
        config.write_text(json.dumps(self.settings()))
        args = [
            "-m",
            "detector",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--config",
            str(config),
        ]
        self.meshpulse = ManagedProcess(sys.executable, args, self.work, name="meshpulse")
        self.start_meshpulse()
        wait_until(self.ready, 60)
        return self

    def settings(self) -> dict[str, Any]:
        assert self.proxy and self.alertmanager
        return {
            "prometheus_url": self.proxy.url,
            "alertmanager_url": self.alertmanager.url,
            "scrape_interval_s": INTERVAL,
            "lookback_s": WARM_UP_S,
            "rate_window": "10s",
            "query_lag_s": 1.0,
            "query_timeout_s": 2.0,
            "alert_resend_s": 10,
            "state_path": str(self.work / "meshpulse.sqlite"),
        }

    def start_meshpulse(self) -> None:
        assert self.meshpulse
        self.meshpulse.start()
        self.meshpulse.wait_ready(f"{self.url}/healthz", 60)

    def kill_meshpulse(self) -> None:
        """SIGKILL: no shutdown hook, no final commit, as an OOM kill or a node loss."""
        assert self.meshpulse
        os.kill(self.meshpulse.pid, signal.SIGKILL)
        self.meshpulse.stop()  # reaps the dead process

    def stop(self) -> None:
        for stop in (
            self.meshpulse and self.meshpulse.stop,
            self.alertmanager and self.alertmanager.stop,
            self.sink and self.sink.stop,
            self.proxy and self.proxy.stop,
            self.prometheus and self.prometheus.stop,
            self.sim and self.sim.stop,
        ):
            if stop:
                stop()
        self.http.close()

    # reading MeshPulse back -------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **params: Any) -> Any:
        r = self.http.get(self.url + path, params=params)
        r.raise_for_status()
        return r.json()

    def alive(self) -> bool:
        """``/healthz`` answers 200 (the process is up, whatever its backends do)."""
        try:
            return self.http.get(self.url + "/healthz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def ready(self) -> bool:
        try:
            return self.http.get(self.url + "/readyz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def last_success_at(self) -> float:
        r = self.http.get(self.url + "/readyz", timeout=2.0)
        return float(r.json()["metrics_source"]["last_success_at"] or 0.0)

    def events(self, since: float) -> list[dict[str, Any]]:
        """Events that started at or after ``since`` (data time), newest first."""
        return [e for e in self.get("/api/v1/anomalies", limit=5000, since=since) if e["started_at"] >= since]

    def active_events(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/anomalies", active=True, limit=5000))

    def recommendations(self, since: float) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/recommendations", since=since, limit=5000))

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

    # reading the webhook back -----------------------------------------------------------------
    def notifications(self) -> list[tuple[str, tuple[tuple[str, str], ...], tuple[str, ...], float]]:
        """(status, labels, identity, startsAt) of every alert in every webhook, in arrival order.

        Resolutions of a payload come first, as MeshPulse sends them, so a series that
        closes and reopens in one batch is not mistaken for a duplicate.
        """
        assert self.sink
        out = []
        for payload in self.sink.payloads:
            alerts = sorted(payload.get("alerts", []), key=lambda a: a["status"] != "resolved")
            out += [
                (
                    a["status"],
                    tuple(sorted(a["labels"].items())),
                    identity(a["labels"]),
                    round(epoch(a["startsAt"]), 3),
                )
                for a in alerts
            ]
        return out
