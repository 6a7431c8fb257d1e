"""Break the live stack on purpose and check MeshPulse rides it out.

    .venv/bin/python bench/faults.py [--only NAME ...] [--workdir DIR]

One real stack (see ``fault_stack.py``), then one fault after another, each on a
quiet mesh. For each: did MeshPulse survive it (``/healthz`` answered throughout,
``/readyz`` said why while metrics were missing, plus each fault's own checks), were
alerts lost or duplicated at the webhook (fingerprint = labels + ``startsAt``) or
actions applied twice at the hook, did it open anomalies or non-routine
recommendations that the fault cannot explain, and how long until a cycle (or an
action) succeeded again. Too slow for the default suite; ``tests/e2e/test_faults.py``
runs its essentials there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_stack import INTERVAL, MAX_SERIES, Stack, wait_until, within

ROUTINE = {"destination-rule"}
"""Circuit-breaker sizing from 300 s of healthy traffic: issued once enough history exists, whatever
the fault. Anomaly- and data-driven kinds (traffic shifts, pod outliers) are what must not move."""


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
def hold(stack: Stack, seconds: float, *, explained: bool = False) -> bool:
    """Poll ``/healthz`` for ``seconds``; False if it ever failed to answer.

    ``explained``: also require ``/readyz`` to have said why (503 with a reason) at least once.
    """
    ok, reasons, deadline = True, set(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        ok &= stack.alive()
        reason = stack.not_ready_reason()
        if reason is not None:
            ok &= bool(reason)
            reasons.add(reason[:120])
        time.sleep(0.5)
    if explained:
        print(f"  /readyz said: {sorted(reasons) or 'nothing'}")
        ok &= bool(reasons)
    return ok


def recovery(stack: Stack, cleared_at: float, timeout_s: float = 60.0) -> float | None:
    """Seconds from ``cleared_at`` until a cycle that started after it succeeded."""
    if not within(lambda: stack.ready() and stack.last_success_at() >= cleared_at, timeout_s, 0.25):
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

    within(lambda: missing() == 0, wait_s, 1.0)
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
    time.sleep(stack.settle_s)
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
def proxy_fault(
    name: str, mode: str, hold_s: float = 0.0, delay_s: float = 0.0
) -> Callable[[Stack], FaultResult]:
    """A misbehaving network path to Prometheus for ``hold_s`` (default: the stack's hold);
    no mesh fault, so nothing may fire."""

    def run(stack: Stack) -> FaultResult:
        assert stack.proxy
        before, t0 = stack.proxy.counts[mode], time.time()
        stack.proxy.set_mode(mode, delay_s)
        alive = hold(stack, hold_s or stack.hold_s, explained=mode in ("5xx", "garbage"))
        stack.proxy.set_mode("pass")
        cleared = time.time()
        return measure(stack, name, t0, stack.proxy.counts[mode] - before, alive, recovery(stack, cleared))

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
    alive = hold(stack, stack.hold_s, explained=True)
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


def label_churn(stack: Stack, cycles: int = 6) -> FaultResult:
    """Rollouts every cycle: two services' pods go away and new ones appear, ``cycles`` times
    over; neither the vanished pods nor the new ones are an anomaly."""
    assert stack.sim
    t0, pods, alive = time.time(), [], True
    for generation in range(1, cycles + 1):
        pods = stack.sim.roll_pods("cartservice", generation) + stack.sim.roll_pods(
            "currencyservice", generation
        )
        alive &= hold(stack, INTERVAL)
    alive &= hold(stack, INTERVAL)

    def new_pods_seen() -> bool:
        r = stack.http.get(
            f"{stack.url}/api/v1/services/cartservice/series", params={"scope": "pod", "pod": pods[0]}
        )
        return r.status_code == 200

    took = round(time.time() - t0, 1) if within(new_pods_seen, 30) else None
    return measure(stack, "label churn", t0, len(pods) * cycles, alive, took)


def alertmanager_down(stack: Stack, down_s: float = 75.0) -> FaultResult:
    """Alertmanager down for over a minute while a real fault fires *and ends*; once it is
    back, the alert must arrive once, firing then resolved (the outbox kept both)."""
    assert stack.alertmanager and stack.sink
    t0, n0 = time.time(), len(stack.sink.payloads)
    stack.alertmanager.stop()
    inject(stack, "paymentservice", 20)
    opened = within(lambda: paging(stack, "paymentservice"), 30)
    closed = within(lambda: stack.active_events() == [], down_s, 1.0)  # opened and closed unheard
    alive = hold(stack, max(0.0, t0 + down_s - time.time())) and opened and closed
    print(f"  Alertmanager down {time.time() - t0:.0f} s; event opened {opened}, closed while down {closed}")
    stack.alertmanager.start()
    back = time.time()
    firing = within(lambda: heard(stack, n0, "firing", "paymentservice"), 60, 0.5)
    took = round(time.time() - back, 1) if firing else None
    within(lambda: heard(stack, n0, "resolved", "paymentservice"), 90, 1.0)
    return measure(stack, "Alertmanager down", t0, 1, alive, took, truth="paymentservice")


def meshpulse_killed(stack: Stack, fault_s: float = 30.0, until_resolved: bool = True) -> FaultResult:
    """SIGKILL MeshPulse mid-cycle during a firing alert; the restart resumes it, no re-page.

    Survived means: the store passes ``integrity_check``, the open event comes back with
    its id, the detectors come back warm (no series' point count went down) and, with
    ``until_resolved``, once the fault is over the resolution is delivered (counted under
    "lost" otherwise). Without it (CI), counting starts ``settle_s`` after the restart.
    """
    assert stack.proxy and stack.sink
    t0, n0 = time.time(), len(stack.sink.payloads)
    inject(stack, "paymentservice", fault_s)
    wait_until(lambda: heard(stack, n0, "firing", "paymentservice") and paging(stack, "paymentservice"), 40)
    before = {e["id"] for e in paging(stack, "paymentservice")}
    stack.proxy.set_mode("slow", 0.2)  # stretch the cycle so "mid-cycle" is a wide target
    stack.proxy.started.clear()
    stack.proxy.started.wait(4 * INTERVAL)
    counts = {k: v["count"] for k, v in stack.saved_state().get("bank", {}).items()}
    stack.kill_meshpulse()
    stack.proxy.set_mode("pass")
    killed = time.time()
    intact = stack.integrity() == "ok"
    stack.start_meshpulse()
    took = recovery(stack, killed)
    after = {e["id"] for e in paging(stack, "paymentservice")}
    bank = stack.saved_state().get("bank", {})
    cold = [k for k, n in counts.items() if k in bank and bank[k]["count"] < n]
    print(
        f"  store: {'ok' if intact else 'CORRUPT'}; open events before {sorted(before)},"
        f" after {sorted(after)}; {len(cold)} of {len(counts)} series restarted cold"
    )
    restored = intact and not cold and bool(before) and before <= after
    if until_resolved:
        fault_over(t0 + fault_s)
        wait_until(lambda: stack.active_events() == [], 120, 1.0)
        intact &= stack.integrity() == "ok"
    return measure(stack, "meshpulse SIGKILL", t0, 1, restored and intact, took, truth="paymentservice")


def receiver_fault(stack: Stack, name: str, server: str) -> FaultResult:
    """The action target (``hook`` or ``kube``) down, then answering 503, then back.

    A person approves and applies one circuit-breaker recommendation in each state. While
    it is down or erroring: a bounded number of attempts, a ``failed`` audit row, and the
    cycles go on. Once it is back: the next apply lands exactly once and nothing failed
    earlier is re-applied. Duplicated counts applications of one action beyond the first.
    """
    target = stack.hook if server == "hook" else stack.kube
    assert target
    if server == "kube":
        stack.restart_meshpulse(applier="kubernetes")
        wait_until(stack.ready, 60)
    wait_until(lambda: len(stack.pending()) >= 3, 400, 2.0)  # routine sizing needs 300 s of history
    recs = [r["id"] for r in stack.pending()[:3]]
    t0, ok, failed_requests = time.time(), True, 0
    for mode, rec in zip(("down", "error"), recs, strict=False):
        target.set_mode(mode)
        seen = _applies(target.requests)
        result = stack.approve_and_apply(rec)
        ok &= result["outcome"] == "failed" and any(a["outcome"] == "failed" for a in stack.audit(rec))
        attempts = _applies(target.requests) - seen
        ok &= hold(stack, INTERVAL) and stack.ready()  # cycles go on (weights unreadable: no decision)
        failed_requests += max(attempts, 1 if mode == "down" else 0)
        ok &= attempts <= 4  # bounded: the hook tries 3 times, the API client at most 3 retries + 1
        print(f"  {server} {mode}: {rec} -> {result['outcome']} after {attempts} request(s) reached it")
    target.set_mode("up")
    back = time.time()
    writes = _writes(stack, server)
    result = stack.approve_and_apply(recs[2])
    took: float | None = round(time.time() - back, 1) if result["outcome"] == "applied" else None
    hold(stack, 2 * INTERVAL)  # a few cycles with the target back: nothing failed is retried
    new = _writes(stack, server) - writes
    print(f"  {server} back: {recs[2]} -> {result['outcome']}; {new} write(s) since")
    dup = max(0, new - 1)
    if server == "kube":
        stack.restart_meshpulse()
        wait_until(stack.ready, 60)
    r = measure(stack, name, t0, failed_requests, ok and new >= 1, took)
    r.alerts_duplicated = dup
    return r


def _applies(requests: list[tuple[str, str, int]]) -> int:
    """Requests that apply something (the hook's POSTs; circuit-breaker reads and writes on the
    API), leaving out the weight reads every cycle makes."""
    return sum(method == "POST" or "/destinationrules/" in path for method, path, _ in requests)


def _writes(stack: Stack, server: str) -> int:
    if server == "hook":
        assert stack.hook
        return sum(stack.hook.applied.values())
    assert stack.kube
    return len(stack.kube.writes)


def cardinality_explosion(stack: Stack, pods: int = 150) -> FaultResult:
    """A workload with ``pods`` fresh pod names appears (thousands of new series, over the cap).

    Survived: ``/metrics`` reports the drop, the log says so, every real service's
    service-level series are still scored, and memory grows by less than 150 MB.
    """
    assert stack.sim
    rss, t0 = stack.rss_mb(), time.time()
    stack.sim.explode("shippingservice", "fanout", pods)
    capped = within(lambda: stack.metric("meshpulse_series_dropped") > 0, 60, 1.0)
    took = round(time.time() - t0, 1) if capped else None
    alive = hold(stack, 4 * INTERVAL)
    dropped, scored = stack.metric("meshpulse_series_dropped"), stack.metric("meshpulse_series_scored")
    growth = stack.rss_mb() - rss
    said = "series cap" in stack.log_text()
    services = {s["service"] for s in stack.get("/api/v1/services")}
    kept = all(_scored_recently(stack, w.service) for w in stack.topology.workloads)
    print(
        f"  scored {scored:.0f} (cap {MAX_SERIES}), dropped {dropped:.0f}; RSS +{growth:.0f} MB;"
        f" logged: {said}; real services kept: {kept}; fanout listed: {'fanout' in services}"
    )
    stack.sim.explode("shippingservice", "fanout", 0)
    ok = alive and dropped > 0 and scored <= MAX_SERIES and said and kept and growth < 150
    return measure(stack, "cardinality explosion", t0, pods, ok, took, truth="fanout")


def _scored_recently(stack: Stack, service: str) -> bool:
    """The service-level rate of ``service`` has a score for a point of the last few cycles."""
    r = stack.http.get(f"{stack.url}/api/v1/services/{service}/series", params={"since": time.time() - 20})
    if r.status_code != 200:
        return False
    return any(score is not None for score in r.json()["score"])


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


def heard(stack: Stack, since: int, status: str, service: str) -> bool:
    """The webhook got an alert of ``service`` with ``status`` in a payload after the first ``since``."""
    assert stack.sink
    alerts = [a for p in stack.sink.payloads[since:] for a in p["alerts"]]
    return any(a["labels"].get("service") == service and a["status"] == status for a in alerts)


FAULTS: dict[str, Callable[[Stack], FaultResult]] = {
    "prometheus-killed": prometheus_killed,
    "slow": proxy_fault("slow Prometheus", "slow", 3 * INTERVAL, delay_s=2.5),
    "5xx": proxy_fault("Prometheus 5xx", "5xx"),
    "garbage": proxy_fault("malformed JSON", "garbage"),
    "partial": proxy_fault("partial data", "drop", 3 * INTERVAL),
    "counter-reset": counter_reset,
    "alertmanager-down": alertmanager_down,
    "meshpulse-killed": meshpulse_killed,
    "label-churn": label_churn,
    "cardinality": cardinality_explosion,
    "hook-down": lambda stack: receiver_fault(stack, "hook down / 503", "hook"),
    "kube-down": lambda stack: receiver_fault(stack, "Kubernetes API down / 503", "kube"),
}


def run(names: Sequence[str], workdir: Path) -> list[FaultResult]:
    """Start one stack, run ``names`` in order, and fill in duplicates per fault."""
    stack = Stack(workdir).start(backfilled=True)
    results = []
    try:
        for name in names:
            results.append(run_one(stack, name))
            print(row(results[-1]), flush=True)
    finally:
        stack.stop()
    return results


def run_one(stack: Stack, fault: str | Callable[[Stack], FaultResult]) -> FaultResult:
    """One fault on a quiet mesh; duplicates are the fault's own plus those at the alert webhook."""
    quiet(stack)
    before = duplicates(stack)
    result = (FAULTS[fault] if isinstance(fault, str) else fault)(stack)
    result.alerts_duplicated += duplicates(stack) - before
    return result


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
    began = time.monotonic()
    results = run(args.only, workdir)
    print("\n" + table(results) + f"\n\nwall time: {time.monotonic() - began:.0f} s")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
