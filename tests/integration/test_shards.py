"""Three real ``python -m detector serve`` shards on one shared store; one is SIGKILLed.

The store is a SQLite file (shards on one machine), then a real PostgreSQL (shards on several
machines): the leases must hand the victim's services over on both.

Each shard decides ownership on its own, so the only proof that the mesh is covered exactly
once is to ask every shard (``GET /api/v1/shard``) and compare: before the kill all three
split the services, after it the two survivors must split all of them again, within the
lease grace, and at no moment may two shards claim the same service.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from detector.devstack import free_port, start_prometheus
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
GRACE_PERIODS = 2
SHARDS = ("shard-0", "shard-1", "shard-2")
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


@pytest.fixture(params=["sqlite", "postgres"])
def shards(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Shard]]:
    store = (
        {"MESHPULSE_STATE_URL": request.getfixturevalue("postgres_url")}
        if request.param == "postgres"
        else {"MESHPULSE_STATE_PATH": str(tmp_path / "shared.sqlite")}
    )
    topology = Topology.online_boutique(seed=3, ingress_rps=100.0)
    sim = SimulatorServer(Mesh(topology, seed=3, start=time.time(), faults=FaultSchedule())).start()
    prom = start_prometheus(tmp_path / "prom", [f"127.0.0.1:{sim.port}"], "1s")
    env = {
        **os.environ,
        **store,
        "MESHPULSE_PROMETHEUS_URL": prom.url,
        "MESHPULSE_SCRAPE_INTERVAL_S": str(CYCLE_S),
        "MESHPULSE_LOOKBACK_S": "30",
        "MESHPULSE_RATE_WINDOW": "10s",
        "MESHPULSE_QUERY_LAG_S": "1",
        "MESHPULSE_LEASE_S": str(LEASE_S),
    }
    running = {s: Shard(s, env, tmp_path / f"{s}.log") for s in SHARDS}
    try:
        yield running
    finally:
        for shard in running.values():
            shard.stop()
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


def covered(shards: list[Shard], live: list[str], *, strict: bool) -> set[str] | None:
    """The services, when every shard sees exactly ``live`` and together they own all it saw."""
    found = snapshot(shards, strict=strict)
    if set(found) != {s.shard_id for s in shards}:
        return None
    if any(st["live_shards"] != live or st["seen_services"] == 0 for st in found.values()):
        return None
    owned = [set(st["owned_services"]) for st in found.values()]
    union = set().union(*owned)
    seen = {st["seen_services"] for st in found.values()}
    disjoint = sum(map(len, owned)) == len(union)
    return union if disjoint and seen == {len(union)} else None


def poll(shards: list[Shard], live: list[str], timeout_s: float, *, strict: bool) -> set[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = covered(shards, live, strict=strict)
        if result:
            return result
        time.sleep(0.2)
    last = snapshot(shards, strict=False)
    raise AssertionError(f"shards never agreed on {live} within {timeout_s} s: {last}")


def test_a_killed_shards_services_are_taken_over_exactly_once(shards: dict[str, Shard]) -> None:
    everyone = list(shards.values())
    # start-up: imports, numba, first cycle
    services = poll(everyone, list(SHARDS), timeout_s=90, strict=False)
    snapshot(everyone, strict=True)
    assert len(services) >= 10
    victim = shards["shard-1"]
    victims = set(victim.status()["owned_services"])  # type: ignore[index]
    os.kill(victim.proc.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    survivors = [shards["shard-0"], shards["shard-2"]]
    # expiry (≤ one lease after the last renewal) + the grace + one cycle to notice + slack
    bound = LEASE_S * (1 + GRACE_PERIODS) + 2 * CYCLE_S + 4
    after = poll(survivors, ["shard-0", "shard-2"], timeout_s=bound, strict=True)
    took = time.monotonic() - killed_at
    assert after == services
    final = snapshot(survivors, strict=True)
    assert all(st["dead_shards"] == ["shard-1"] for st in final.values())
    print(f"{len(victims)} services of shard-1 taken over {took:.1f} s after SIGKILL (bound {bound:.0f} s)")
