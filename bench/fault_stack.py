"""The live stack the fault suite breaks, and what it reads back from it.

simulator → Prometheus → chaos proxy → MeshPulse (``python -m detector serve``, a real
process with a state file, so it can be SIGKILLed) → Alertmanager → webhook sink;
MeshPulse's actions go to a hook receiver (or, reconfigured, a Kubernetes API).
Every piece is a real server on 127.0.0.1; only the proxy, the simulator's
restart/rollout/fan-out controls and the receivers' failure switches are test-only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fault_receivers import FanOutSimulator, HookReceiver, KubeApi

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
from detector.devstack.warm import start_warm_prometheus
from detector.simulate.faults import FaultSchedule
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

INTERVAL = 3.0
"""MeshPulse's cycle and query step; Prometheus scrapes the simulator every second."""
WARM_UP_S = 75.0
"""Live history before MeshPulse starts: the detectors' grace period is 20 points."""
IDENTITY = ("service", "namespace", "signal", "scope", "pod", "version", "source")
"""Alert labels that name the series; severity may change during one event."""
LIVE_LEAD_S = 20.0
"""With backfilled history: live scraping before MeshPulse starts, two rate windows."""
TOKEN = "fault-suite-token"
"""API token for approve/apply: a person acting while a receiver is down."""
MAX_SERIES = 600
"""The series cap: above the quiet mesh's ~330 series, below a cardinality explosion."""


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
    sim: FanOutSimulator | None = None
    prometheus: RunningPrometheus | None = None
    proxy: ChaosProxy | None = None
    sink: WebhookSink | None = None
    alertmanager: RunningAlertmanager | None = None
    meshpulse: ManagedProcess | None = None
    hook: HookReceiver | None = None
    kube: KubeApi | None = None
    port: int = 0
    settle_s: float = 3 * INTERVAL
    """After a fault ends, detection runs this long on fresh data before anything is counted."""
    hold_s: float = 2 * INTERVAL
    """How long a metrics outage lasts: at least one whole cycle fails."""
    lookback_s: float = WARM_UP_S
    overrides: dict[str, Any] = field(default_factory=dict)
    """Settings on top of :meth:`settings` (a fault may restart MeshPulse with other ones)."""
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=5.0))

    def start(self, warm_up_s: float = WARM_UP_S, *, backfilled: bool = False) -> Stack:
        """``backfilled``: write the warm-up history straight into Prometheus's TSDB (seconds)
        instead of letting it scrape ``warm_up_s`` of live traffic first."""
        began = time.time() - (warm_up_s if backfilled else 0.0)
        mesh = Mesh(self.topology, seed=3, start=began, faults=FaultSchedule())
        self.sim = sim = FanOutSimulator(mesh)
        sim.start()
        target = f"127.0.0.1:{sim.port}"
        if backfilled:
            self.prometheus = start_warm_prometheus(
                self.work, mesh, target, live_lead_s=LIVE_LEAD_S, rate_window_s=10.0
            )
        else:
            self.prometheus = start_prometheus(self.work / "prom", [target], "1s")
        self.proxy = ChaosProxy(self.prometheus.url, timeout_s=10.0)
        self.sink = WebhookSink()
        self.hook = HookReceiver()
        self.kube = KubeApi(self.topology)
        self.alertmanager = start_alertmanager(self.work / "am", self.sink.url, resolve_timeout="10m")
        if not backfilled:
            time.sleep(warm_up_s)
        self.port = free_port()
        (self.work / "hook-secret").write_text("fault-suite-hook-secret\n")
        self.kube.write_kubeconfig(self.work / "kubeconfig")
        config_file = self.work / "meshpulse.yaml"
        args = [
            "-m",
            "detector",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--config",
            str(config_file),
        ]
        self.meshpulse = ManagedProcess(sys.executable, args, self.work, name="meshpulse")
        self.lookback_s = warm_up_s + (LIVE_LEAD_S if backfilled else 0.0)
        self.start_meshpulse()
        wait_until(self.ready, 60)
        return self

    def settings(self) -> dict[str, Any]:
        assert self.proxy and self.alertmanager and self.hook
        return {
            "prometheus_url": self.proxy.url,
            "alertmanager_url": self.alertmanager.url,
            "scrape_interval_s": INTERVAL,
            "lookback_s": self.lookback_s,
            "rate_window": "10s",
            "query_lag_s": 1.0,
            "query_timeout_s": 2.0,
            "alert_resend_s": 10,
            "state_path": str(self.work / "meshpulse.sqlite"),
            "max_series": MAX_SERIES,
            "decide_mode": "approval",
            "applier": "http",
            "hook_url": self.hook.url,
            "hook_secret_file": str(self.work / "hook-secret"),
            "api_tokens": [TOKEN],
            **self.overrides,
        }

    def start_meshpulse(self) -> None:
        assert self.meshpulse
        (self.work / "meshpulse.yaml").write_text(json.dumps(self.settings()))  # JSON is YAML
        with _env(KUBECONFIG=str(self.work / "kubeconfig")):
            self.meshpulse.start()
        self.meshpulse.wait_ready(f"{self.url}/healthz", 60)

    def restart_meshpulse(self, **overrides: Any) -> None:
        """A graceful restart (SIGTERM) with other settings; the state file carries over."""
        assert self.meshpulse
        self.meshpulse.stop()
        self.overrides = overrides
        self.start_meshpulse()

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
            self.hook and self.hook.stop,
            self.kube and self.kube.stop,
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

    def not_ready_reason(self) -> str | None:
        """``/readyz``'s explanation while it answers 503; None when ready or unreachable."""
        try:
            r = self.http.get(self.url + "/readyz", timeout=2.0)
        except httpx.HTTPError:
            return None
        return None if r.status_code == 200 else str(r.json()["metrics_source"]["error"] or "")

    def metric(self, name: str) -> float:
        """One unlabelled sample of MeshPulse's own ``/metrics``."""
        text = self.http.get(self.url + "/metrics", timeout=5.0).text
        m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
        return float(m.group(1)) if m else float("nan")

    def rss_mb(self) -> float:
        assert self.meshpulse
        status = Path(f"/proc/{self.meshpulse.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]

    def log_text(self) -> str:
        assert self.meshpulse
        return self.meshpulse.log_path.read_text(errors="replace")

    # the state file, read as an operator would after a crash -----------------------------------
    def integrity(self) -> str:
        """``PRAGMA integrity_check`` of the state file, read-only, beside the running service."""
        uri = f"file:{self.work / 'meshpulse.sqlite'}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10.0)) as db:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])

    def saved_state(self) -> dict[str, Any]:
        """The committed pipeline state (detector bank, tracker, dispatcher, decide)."""
        uri = f"file:{self.work / 'meshpulse.sqlite'}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10.0)) as db:
            row = db.execute("SELECT body FROM component_state WHERE name = 'pipeline'").fetchone()
        return dict(json.loads(row[0])) if row else {}

    def pending(self, kind: str = "destination-rule") -> list[dict[str, Any]]:
        return [
            r
            for r in self.get("/api/v1/recommendations", limit=5000)
            if r["kind"] == kind and r["status"] == "pending"
        ]

    def approve_and_apply(self, rec_id: str) -> dict[str, Any]:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        base = f"{self.url}/api/v1/recommendations/{rec_id}"
        self.http.post(f"{base}/approve", headers=auth).raise_for_status()
        r = self.http.post(f"{base}/apply", headers=auth, timeout=60.0)
        if r.status_code == 409 and isinstance(r.json().get("detail"), dict):
            return dict(r.json()["detail"])  # the apply ran and failed: outcome and detail
        r.raise_for_status()
        return dict(r.json())

    def audit(self, rec_id: str) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/actions", recommendation=rec_id, limit=100))

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


def within(check: Callable[[], object], timeout_s: float, every_s: float = 0.5) -> bool:
    """``wait_until`` as a yes or no: the suite counts what did not happen instead of stopping."""
    try:
        wait_until(check, timeout_s, every_s)
    except AssertionError:
        return False
    return True


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Set environment variables for a child process started inside, then put them back."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
