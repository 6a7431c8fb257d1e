"""Break the live stack on purpose and check MeshPulse rides it out.

    .venv/bin/python bench/faults.py [--only NAME ...] [--workdir DIR]

One real stack (see ``fault_stack.py``), then one fault after another, each on a
quiet mesh. For each: was MeshPulse alive throughout (``/healthz``), were alerts
lost or duplicated at the webhook (fingerprint = labels + ``startsAt``), did it
open anomalies or recommendations that the fault cannot explain, and how long until
a cycle succeeded again. Too slow for the default suite (8-10 min); run it by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_stack import INTERVAL, Stack, wait_until

ROUTINE = {"destination-rule"}
"""Circuit-breaker sizing from 300 s of healthy traffic: issued once enough history exists, whatever
the fault. Anomaly- and data-driven kinds (traffic shifts, pod outliers) are what must not move."""
SETTLE_S = 3 * INTERVAL
"""After a fault ends, detection runs this long on fresh data before anything is counted."""


@dataclass
class FaultResult:
    fault: str
    injected: int
    survived: bool
    alerts_lost: int
    alerts_duplicated: int
    false_anomalies: int
    actions_on_missing_data: int
    recovery_s: float | None

    @property
    def ok(self) -> bool:
        zeros = (self.alerts_lost, self.alerts_duplicated, self.false_anomalies, self.actions_on_missing_data)
        return self.survived and self.recovery_s is not None and not any(zeros)


# measuring ------------------------------------------------------------------------------------
def hold(stack: Stack, seconds: float) -> bool:
    """Poll ``/healthz`` for ``seconds``; False if it ever failed to answer."""
    ok, deadline = True, time.monotonic() + seconds
    while time.monotonic() < deadline:
        ok &= stack.alive()
        time.sleep(0.5)
    return ok


def recovery(stack: Stack, cleared_at: float, timeout_s: float = 60.0) -> float | None:
    """Seconds from ``cleared_at`` until a cycle that started after it succeeded."""
    try:
        wait_until(lambda: stack.ready() and stack.last_success_at() >= cleared_at, timeout_s, 0.25)
    except TimeoutError:
        return None
    return round(time.time() - cleared_at, 1)


def quiet(stack: Stack) -> None:
    wait_until(lambda: stack.active_events() == [], 120, 1.0)


def duplicates(stack: Stack) -> int:
    """Fingerprints fired again after their resolution, plus second fingerprints of a firing series."""
    resolved: set[tuple] = set()
    live: dict[tuple, set[float]] = {}
    dup: set[tuple] = set()
    for status, labels, ident, start in stack.notifications():
        fp, firing = (labels, start), live.setdefault(ident, set())
        if status == "resolved":
            resolved.add(fp)
            firing.discard(start)
        elif fp in resolved or (start not in firing and firing):
            dup.add(fp)
        else:
            firing.add(start)
    return len(dup)


def undelivered(stack: Stack, since: float, wait_s: float = 15.0) -> int:
    """Events since ``since`` the webhook never heard of (firing), or never heard end (resolved)."""

    def missing() -> int:
        seen = {(status, ident, start) for status, _, ident, start in stack.notifications()}
        n = 0
        for e in stack.events(since):
            ident = tuple(
                e[k] or "" for k in ("service", "namespace", "signal", "scope", "pod", "version", "source")
            )
            start = round(e["started_at"], 3)
            n += not any((s, ident, start) in seen for s in ("firing", "resolved"))
            n += e["ended_at"] is not None and ("resolved", ident, start) not in seen
        return n

    with contextlib.suppress(TimeoutError):
        wait_until(lambda: missing() == 0, wait_s, 1.0)
    return missing()


def measure(
    stack: Stack,
    name: str,
    t0: float,
    injected: int,
    survived: bool,
    recovery_s: float | None,
    truth: str = "",
) -> FaultResult:
    """Count after the settle time; ``truth`` is a service with a real injected fault, if any."""
    time.sleep(SETTLE_S)
    since = t0 - 2 * INTERVAL
    allowed = stack.affected_by(truth) if truth else set()
    false = [e for e in stack.events(since) if e["service"] not in allowed]
    actions = [
        r
        for r in stack.recommendations(since)
        if r.get("service") not in allowed and r.get("kind") not in ROUTINE
    ]
    for item in false + actions:
        what = item.get("series") or f"{item.get('kind')} {item.get('service')}: {item.get('title', '')}"
        print(f"  {name}: unexplained {what} {item.get('explanation', '')}")
    return FaultResult(
        name, injected, survived, undelivered(stack, since), 0, len(false), len(actions), recovery_s
    )


# the faults -----------------------------------------------------------------------------------
def proxy_fault(mode: str, hold_s: float, delay_s: float = 0.0) -> Callable[[Stack], FaultResult]:
    """A misbehaving network path to Prometheus for ``hold_s``; no mesh fault, so nothing may fire."""

    def run(stack: Stack) -> FaultResult:
        assert stack.proxy
        before, t0 = stack.proxy.counts[mode], time.time()
        stack.proxy.set_mode(mode, delay_s)
        alive = hold(stack, hold_s)
        stack.proxy.set_mode("pass")
        cleared = time.time()
        return measure(stack, mode, t0, stack.proxy.counts[mode] - before, alive, recovery(stack, cleared))

    return run


def prometheus_killed(stack: Stack) -> FaultResult:
    """SIGKILL Prometheus while a cycle's query is in flight, restart it on the same TSDB."""
    assert stack.proxy and stack.prometheus
    t0 = time.time()
    stack.proxy.set_mode("slow", 0.3)  # stretch the cycle so "mid-cycle" is a wide target
    stack.proxy.started.clear()
    stack.proxy.started.wait(4 * INTERVAL)
    stack.prometheus.process._proc.kill()  # type: ignore[union-attr]
    stack.prometheus.stop()
    stack.proxy.set_mode("pass")
    alive = hold(stack, 2 * INTERVAL)
    stack.prometheus.start()
    cleared = time.time()
    return measure(stack, "prometheus killed", t0, 1, alive, recovery(stack, cleared))


def counter_reset(stack: Stack) -> FaultResult:
    """Every sidecar restarts: counters drop to zero; ``rate()`` must see a reset, not an outage."""
    assert stack.sim
    t0 = time.time()
    stack.sim.reset_counters()
    took = recovery(stack, t0)
    alive = hold(stack, 4 * INTERVAL)
    return measure(stack, "counter reset", t0, 1, alive, took)


def label_churn(stack: Stack) -> FaultResult:
    """Rollouts: two services' pods go away and new ones appear; neither is an anomaly."""
    assert stack.sim
    t0 = time.time()
    pods = stack.sim.roll_pods("cartservice", 1) + stack.sim.roll_pods("currencyservice", 1)
    alive = hold(stack, 4 * INTERVAL)

    def new_pods_seen() -> bool:
        r = stack.http.get(
            f"{stack.url}/api/v1/services/cartservice/series", params={"scope": "pod", "pod": pods[0]}
        )
        return r.status_code == 200

    try:
        wait_until(new_pods_seen, 30)
        took: float | None = round(time.time() - t0, 1)
    except TimeoutError:
        took = None
    return measure(stack, "label churn", t0, len(pods), alive, took)


def alertmanager_down(stack: Stack) -> FaultResult:
    """A real fault fires while Alertmanager is down; it must arrive once Alertmanager is back."""
    assert stack.alertmanager
    t0 = time.time()
    stack.alertmanager.stop()
    inject(stack, "paymentservice", 25)
    wait_until(lambda: paging(stack, "paymentservice"), 30)
    alive = hold(stack, 2 * INTERVAL)  # sends fail for a couple of cycles
    stack.alertmanager.start()
    back = time.time()
    try:
        stack.sink.wait_for(lambda p: fired(p, "paymentservice"), timeout=30)  # type: ignore[union-attr]
        took: float | None = round(time.time() - back, 1)
    except TimeoutError:
        took = None
    fault_over(t0 + 25)
    wait_until(lambda: stack.active_events() == [], 120, 1.0)
    return measure(stack, "alertmanager down", t0, 1, alive, took, truth="paymentservice")


def meshpulse_killed(stack: Stack) -> FaultResult:
    """SIGKILL MeshPulse mid-cycle during a firing alert; the restart resumes it, no re-page."""
    assert stack.proxy and stack.sink
    t0 = time.time()
    inject(stack, "paymentservice", 30)
    stack.sink.wait_for(lambda p: fired(p, "paymentservice"), timeout=40)
    stack.proxy.set_mode("slow", 0.2)
    stack.proxy.started.clear()
    stack.proxy.started.wait(4 * INTERVAL)
    stack.kill_meshpulse()
    stack.proxy.set_mode("pass")
    killed = time.time()
    stack.start_meshpulse()
    took = recovery(stack, killed)
    restored = bool(paging(stack, "paymentservice")) or stack.active_events() == []
    fault_over(t0 + 30)
    wait_until(lambda: stack.active_events() == [], 120, 1.0)
    return measure(stack, "meshpulse SIGKILL", t0, 1, restored, took, truth="paymentservice")


def fault_over(ends_at: float) -> None:
    """Sleep past an injected fault's end plus the rate window, so it cannot leak into the next fault."""
    time.sleep(max(0.0, ends_at + 10.0 + 2 * INTERVAL - time.time()))


def inject(stack: Stack, service: str, duration_s: float) -> None:
    assert stack.sim
    r = stack.http.post(
        f"{stack.sim.url}/faults",
        json={"kind": "error_burst", "service": service, "duration_s": duration_s, "magnitude": 0.3},
    )
    r.raise_for_status()


def paging(stack: Stack, service: str) -> list[dict]:
    return [e for e in stack.active_events() if e["service"] == service and e["signal"] == "error_ratio"]


def fired(payload: dict, service: str) -> bool:
    return any(a["labels"].get("service") == service and a["status"] == "firing" for a in payload["alerts"])


FAULTS: dict[str, Callable[[Stack], FaultResult]] = {
    "prometheus-killed": prometheus_killed,
    "slow": proxy_fault("slow", 3 * INTERVAL, delay_s=2.5),
    "5xx": proxy_fault("5xx", 2 * INTERVAL),
    "garbage": proxy_fault("garbage", 2 * INTERVAL),
    "partial": proxy_fault("drop", 3 * INTERVAL),
    "counter-reset": counter_reset,
    "alertmanager-down": alertmanager_down,
    "meshpulse-killed": meshpulse_killed,
    "label-churn": label_churn,
}


def run(names: Sequence[str], workdir: Path) -> list[FaultResult]:
    """Start one stack, run ``names`` in order, and fill in duplicates per fault."""
    stack = Stack(workdir).start()
    results = []
    try:
        for name in names:
            quiet(stack)
            before = duplicates(stack)
            result = FAULTS[name](stack)
            result.alerts_duplicated = duplicates(stack) - before
            print(row(result), flush=True)
            results.append(result)
    finally:
        stack.stop()
    return results


COLUMNS = ("fault", "injected", "survived", "lost", "duplicated", "false anomalies", "actions", "recovery s")


def row(r: FaultResult) -> str:
    cells: tuple[object, ...] = (r.fault, r.injected, "yes" if r.survived else "NO", r.alerts_lost)
    cells += (
        r.alerts_duplicated,
        r.false_anomalies,
        r.actions_on_missing_data,
        "—" if r.recovery_s is None else r.recovery_s,
    )
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(results: Sequence[FaultResult]) -> str:
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS)
    return "\n".join([head, *map(row, results)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", choices=sorted(FAULTS), default=list(FAULTS))
    p.add_argument("--workdir", type=Path)
    args = p.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="meshpulse-faults-"))
    results = run(args.only, workdir)
    print("\n" + table(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
