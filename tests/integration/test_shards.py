"""Three real ``python -m detector serve`` shards on one shared store; one is SIGKILLed mid-incident.

The store is a SQLite file (shards on one machine), then a real PostgreSQL (shards on several
machines): the leases must hand the victim's services over on both.

Each shard decides ownership on its own, so the only proof that the mesh is covered exactly
once is to ask every shard (``GET /api/v1/shard``) and compare: before the kill all three
split the services, after it the two survivors must split all of them again, within two
lease periods (and a cycle to notice), and at no moment may two shards claim the same service.

Alerts and decisions must survive the kill too. Shards page a real Alertmanager through a tap
that records which shard POSTed what; Alertmanager routes every alert to its own notification
(``group_by: [...]``) at a webhook sink. A fault on one of the victim's services is paged by the
victim, which is then killed: its new owner must carry on the same incident (the same alert,
``startsAt`` and all, re-sent by it alone) rather than page a second one or leave it to expire,
and must not repeat the victim's recommendations for it.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from detector.devstack import WebhookSink, free_port, start_alertmanager, start_prometheus
from detector.devstack.polling import wait_until
from detector.notify.alertmanager import rfc3339
from detector.settings import Settings
from detector.simulate.faults import FaultSchedule
from detector.simulate.server import SimulatorServer
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        "shard_id" not in Settings.model_fields,
        reason="sharding is not wired into Settings/create_app yet",
    ),
]
CYCLE_S = 1.0
LEASE_S = 3.0
TAKEOVER_S = 2 * LEASE_S + CYCLE_S
"""Dead two lease periods after its last renewal (at most the kill), seen at the next renewal."""
JITTER_S = 1.0
"""A cycle starting after its tick on a busy 2-core machine running three shards, Prometheus,
Alertmanager and PostgreSQL (up to 0.5 s seen; the bound is about the lease rule, not the load)."""
SLACK_S = 2.0
"""The survivor's fetch after renewing, before ``/api/v1/shard`` shows the new split, and polling."""
GRACE = 6
"""Points a new series is scored 0 while its detector warms up (the built-in 20 doubles the wait)."""
SHARDS = ("shard-0", "shard-1", "shard-2")
TARGET = "frontend"
"""Faulted: rendezvous over the fixed shard ids gives it to shard-1 (the victim), then to shard-0."""
TARGET_LABELS = {"service": TARGET, "signal": "error_ratio", "scope": "service"}
ROOT = Path(__file__).resolve().parents[2]


class Shard:
    """One serve process, stopped (or killed) by its own PID."""

    def __init__(self, shard_id: str, env: dict[str, str], log: Path) -> None:
        self.shard_id, self.port = shard_id, free_port()
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "detector", "serve", "--port", str(self.port)],
                env={**env, "MESHPULSE_SHARD_ID": shard_id},
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def get(self, path: str, **params: Any) -> Any:
        """The JSON answer, or None when there is none (yet)."""
        r = httpx.get(f"http://127.0.0.1:{self.port}{path}", params=params, timeout=5)
        return r.json() if r.status_code == 200 else None

    def status(self) -> dict[str, Any] | None:
        try:
            r = httpx.get(f"http://127.0.0.1:{self.port}/api/v1/shard", timeout=2)
        except httpx.HTTPError:
            return None
        return r.json() if r.status_code == 200 else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class AlertmanagerTap:
    """Forwards ``/{shard_id}/api/v2/...`` to Alertmanager and records who POSTed which alerts.

    Each shard's ``alertmanager_url`` is ``{url}/{shard_id}``, so the path names the sender.
    Only what Alertmanager accepted is recorded: that is what the shard was told got through.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self._lock = threading.Lock()
        self._posts: list[tuple[str, float, list[dict[str, Any]]]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def posts(self, since: float = 0.0) -> list[tuple[str, float, list[dict[str, Any]]]]:
        """``(shard_id, monotonic time, alerts)`` accepted at or after ``since``."""
        with self._lock:
            return [p for p in self._posts if p[1] >= since]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        tap = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                shard_id, _, path = self.path.lstrip("/").partition("/")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    r = httpx.post(
                        f"{tap.upstream}/{path}",
                        content=body,
                        headers={"Content-Type": "application/json"},
                        timeout=5,
                    )
                    code = r.status_code
                except httpx.HTTPError:
                    code = 502
                if 200 <= code < 300:
                    with tap._lock:
                        tap._posts.append((shard_id, time.monotonic(), json.loads(body)))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@dataclass
class Cluster:
    shards: dict[str, Shard]
    sim: SimulatorServer
    sink: WebhookSink
    tap: AlertmanagerTap

    def inject(self, **fault: Any) -> None:
        r = httpx.post(f"{self.sim.url}/faults", json=fault, timeout=5)
        assert r.status_code == 201, r.text

    def notifications(self, service: str | None = None) -> dict[tuple[tuple[str, str], ...], list[str]]:
        """Status sequence per alert (its labels, Alertmanager's fingerprint), in arrival order."""
        out: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for payload in self.sink.payloads:
            for alert in payload.get("alerts", []):
                if service is None or alert["labels"].get("service") == service:
                    out.setdefault(tuple(sorted(alert["labels"].items())), []).append(alert["status"])
        return out


@pytest.fixture(params=["sqlite", "postgres"])
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    store = (
        {"MESHPULSE_STATE_URL": request.getfixturevalue("postgres_url")}
        if request.param == "postgres"
        else {"MESHPULSE_STATE_PATH": str(tmp_path / "shared.sqlite")}
    )
    model = tmp_path / "model.yaml"
    model.write_text(f"detector:\n  grace: {GRACE}\n")
    topology = Topology.online_boutique(seed=3, ingress_rps=100.0)
    sim = SimulatorServer(Mesh(topology, seed=3, start=time.time(), faults=FaultSchedule())).start()
    prom = start_prometheus(tmp_path / "prom", [f"127.0.0.1:{sim.port}"], "1s")
    env = {
        **os.environ,
        **store,
        "MESHPULSE_PROMETHEUS_URL": prom.url,
        "MESHPULSE_SCRAPE_INTERVAL_S": str(CYCLE_S),
        "MESHPULSE_LOOKBACK_S": "30",
        "MESHPULSE_RATE_WINDOW": "5s",
        "MESHPULSE_QUERY_LAG_S": "1",
        "MESHPULSE_LEASE_S": str(LEASE_S),
        "MESHPULSE_DETECTOR_MODEL": str(model),
        "MESHPULSE_ALERT_RESEND_S": "2",
        "MESHPULSE_DECIDE_MODE": "dry-run",
    }
    running: dict[str, Shard] = {}
    try:
        with WebhookSink() as sink, start_alertmanager(tmp_path / "am", sink.url, group_by=["..."]) as am:
            tap = AlertmanagerTap(am.url)
            try:
                for s in SHARDS:
                    shard_env = {**env, "MESHPULSE_ALERTMANAGER_URL": f"{tap.url}/{s}"}
                    running[s] = Shard(s, shard_env, tmp_path / f"{s}.log")
                yield Cluster(running, sim, sink, tap)
            finally:
                for shard in running.values():
                    shard.stop()
                tap.stop()
    finally:
        prom.stop()
        sim.stop()


def snapshot(shards: list[Shard], *, strict: bool) -> dict[str, dict[str, Any]]:
    """Every answering shard's status; ``strict`` checks that no service is claimed twice.

    Not while shards start: one that is up alone owns everything until its next renewal
    shows it the newcomers (a join overlaps by up to a cycle; only a leave must not).
    """
    found = {s.shard_id: st for s in shards if (st := s.status()) is not None}
    claims: dict[str, str] = {}
    for shard_id, st in found.items():
        for service in st["owned_services"]:
            assert not strict or service not in claims, f"{service} owned by {claims[service]} and {shard_id}"
            claims[service] = shard_id
    return found


Statuses = dict[str, dict[str, Any]]


def covered(shards: list[Shard], live: list[str], *, strict: bool) -> tuple[set[str], Statuses] | None:
    """The services and statuses, when every shard sees exactly ``live`` and together they own all
    it saw."""
    found = snapshot(shards, strict=strict)
    if set(found) != {s.shard_id for s in shards}:
        return None
    if any(st["live_shards"] != live or st["seen_services"] == 0 for st in found.values()):
        return None
    owned = [set(st["owned_services"]) for st in found.values()]
    union = set().union(*owned)
    seen = {st["seen_services"] for st in found.values()}
    disjoint = sum(map(len, owned)) == len(union)
    return (union, found) if disjoint and seen == {len(union)} else None


def poll(
    shards: list[Shard], live: list[str], timeout_s: float, *, strict: bool
) -> tuple[set[str], Statuses]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = covered(shards, live, strict=strict)
        if result:
            return result
        time.sleep(0.2)
    last = snapshot(shards, strict=False)
    raise AssertionError(f"shards never agreed on {live} within {timeout_s} s: {last}")


Incident = tuple[tuple[str, str], ...]
"""An alert's labels but severity, which may rise while the incident goes on."""


def incidents(posts: list[tuple[str, float, list[dict[str, Any]]]], shard_id: str) -> dict[Incident, str]:
    """``startsAt`` of the first firing service-level 5xx alert on the target that ``shard_id`` POSTed."""
    first: dict[Incident, str] = {}
    for sender, _, alerts in posts:
        for a in alerts:
            if (
                sender == shard_id
                and "endsAt" not in a
                and all(a["labels"].get(k) == v for k, v in TARGET_LABELS.items())
            ):
                first.setdefault(
                    tuple(sorted((k, v) for k, v in a["labels"].items() if k != "severity")), a["startsAt"]
                )
    return first


def test_a_killed_shards_services_and_alerts_are_taken_over_exactly_once(cluster: Cluster) -> None:
    shards, t0 = cluster.shards, time.monotonic()
    everyone = list(shards.values())
    # start-up: imports, numba, first cycle
    services, _ = poll(everyone, list(SHARDS), timeout_s=90, strict=False)
    up_at = time.monotonic()
    snapshot(everyone, strict=True)
    assert len(services) >= 10
    victim, survivors = shards["shard-1"], [shards["shard-0"], shards["shard-2"]]
    victims = set(victim.status()["owned_services"])  # type: ignore[index]
    assert f"default/{TARGET}" in victims, victims

    # the victim pages an incident on one of its services (bounded: warm-up, then three cycles and AM)
    def warm() -> bool:
        series = victim.get(f"/api/v1/services/{TARGET}/series", signal="error_ratio") or {"score": []}
        return sum(score is not None for score in series["score"]) > GRACE + 1

    wait_until(warm, 60, every_s=0.5)
    warm_at = time.monotonic()
    cluster.inject(kind="error_burst", service=TARGET, duration_s=60, magnitude=0.3)
    paged = wait_until(lambda: incidents(cluster.tap.posts(), victim.shard_id), 3 * CYCLE_S + 5, every_s=0.1)
    cluster.sink.wait_for(
        lambda p: any(
            a["status"] == "firing" and all(a["labels"].get(k) == v for k, v in TARGET_LABELS.items())
            for a in p["alerts"]
        ),
        timeout=5,
        interval=0.1,
    )
    paged_at = time.monotonic()

    os.kill(victim.proc.pid, signal.SIGKILL)
    killed_at, killed_wall = time.monotonic(), time.time()
    victim.proc.wait(timeout=10)

    # (a) within two lease periods and a cycle, never owned twice
    after, views = poll(survivors, ["shard-0", "shard-2"], timeout_s=TAKEOVER_S + SLACK_S, strict=True)
    took = time.monotonic() - killed_at
    assert after == services
    # the renewal at which the later survivor saw shard-1 dead (or, if the poll missed it, its next)
    decided = max(st["renewed_at"] for st in views.values()) - killed_wall
    assert decided <= TAKEOVER_S + JITTER_S, f"taken over {decided:.1f} s after the kill"
    final = snapshot(survivors, strict=True)
    assert all(st["dead_shards"] == ["shard-1"] for st in final.values())
    owner_of = {svc: shard_id for shard_id, st in final.items() for svc in st["owned_services"]}
    heir = shards[owner_of[f"default/{TARGET}"]]

    # (b) the heir carries the same incident on: re-sent by it, same labels and startsAt as paged
    carried = wait_until(
        lambda: incidents(cluster.tap.posts(since=killed_at), heir.shard_id), 3 * CYCLE_S + 2, every_s=0.2
    )
    carried_at = time.monotonic()
    assert carried == paged, "the heir paged the incident as a new one (another startsAt)"

    # ... and goes on scoring the stored event itself, not a new one. (A victim killed between
    # paging and storing the event once left its heir to open a second one, about 1 run in 10:
    # a cycle now stores its events before it pages them.)
    def continued() -> list[dict[str, Any]]:
        found = heir.get("/api/v1/anomalies", service=TARGET, signal="error_ratio", active="true")
        events = [e for e in found or [] if e["scope"] == "service"]
        return events if events and all(e["last_seen"] > killed_wall for e in events) else []

    events = wait_until(continued, 5 + 4 * CYCLE_S, every_s=0.5)
    continued_at = time.monotonic()
    assert len(events) == 1, f"the incident is not watched once by its heir: {events}"
    started = rfc3339(events[0]["started_at"])
    assert {started} == set(paged.values()), "the heir scores a new event, not the one it took over"

    # (c) no duplicate: one firing notification per alert, each sent after the kill by its owner only
    time.sleep(max(0.0, carried_at + 2 * CYCLE_S - time.monotonic()))  # a duplicate would be out by now
    notified = cluster.notifications(TARGET)
    assert notified, "nothing about the incident reached the webhook"
    for labels, statuses in notified.items():  # firing once (a resolution may follow)
        assert statuses[0] == "firing" and statuses.count("firing") == 1, (labels, statuses)
    for labels, statuses in cluster.notifications().items():  # no re-page anywhere without a resolution
        assert all(a != "firing" or b != "firing" for a, b in itertools.pairwise(statuses)), labels
    post_kill = cluster.tap.posts(since=killed_at)
    for shard_id in ("shard-0", "shard-2"):  # Alertmanager would merge a new startsAt silently
        assert incidents(post_kill, shard_id) in ({}, paged), f"{shard_id} re-paged the incident"
    senders: dict[str, set[str]] = {}
    for shard_id, _, alerts in post_kill:
        for a in alerts:
            senders.setdefault(f"{a['labels']['namespace']}/{a['labels']['service']}", set()).add(shard_id)
    for service, who in senders.items():
        assert who == {owner_of[service]}, f"{service} was alerted on by {who} after the kill"

    # (d) no duplicated decision: the heir does not repeat what the victim recommended (all in
    # the shared store; dry-run, so the audit log has one "would-apply" per recommendation)
    recs = heir.get("/api/v1/recommendations", limit=5000)
    assert recs is not None
    for service in {svc.split("/", 1)[1] for svc in victims}:
        sizing = [r for r in recs if r["service"] == service and r["kind"] == "destination-rule"]
        assert len(sizing) <= 1, f"{service}: destination rule recommended again: {sizing}"
    print(
        f"{len(victims)} services of shard-1 taken over {decided:.1f} s after SIGKILL (bound"
        f" {TAKEOVER_S + JITTER_S:.1f} s), seen by the test at {took:.1f} s; {TARGET}'s 5xx incident"
        f" paged by shard-1, carried on by"
        f" {heir.shard_id} (same startsAt), its event scored again {continued_at - killed_at:.1f} s after"
        f" the kill; {sum(map(len, notified.values()))} notifications for {TARGET}, none twice;"
        f" {len(recs)} recommendations, none repeated. Phases: up {up_at - t0:.1f} s,"
        f" warm {warm_at - up_at:.1f} s, paged {paged_at - warm_at:.1f} s, kill to checked"
        f" {time.monotonic() - killed_at:.1f} s"
    )
