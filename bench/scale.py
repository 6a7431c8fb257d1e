"""Scaling table: MeshPulse shards as separate processes against a real Prometheus.

    .venv/bin/python bench/scale.py [--series 1000,10000,50000] [--shards 1,2,4] [--cycles 4]

For each size: simulate a few minutes of Istio metrics for ``Topology.synthetic`` (sized to the
asked series count), backfill them with ``promtool tsdb create-blocks-from openmetrics`` and start
``/usr/bin/prometheus`` on the blocks. Then, for each shard count N, start N worker processes
(``bench/scale.py --worker``), each running the production :class:`Pipeline` cycle with a
:class:`PrometheusSource`, wrapped in :class:`OwnedSource` when N > 1, and one SQLite store shared
by the N processes. Backfilled data is in the past, so the pipeline's clock is set inside it
and stepped one scrape interval per cycle.

A worker renews its lease, waits until it sees all N shards, runs the warm-up cycle (the
``--warmup-min`` lookback), and then, started together with the others, ``--cycles`` steady-state
cycles back to back. Per steady cycle it measures: wall time split into query (lease renewal,
service inventory, PromQL, JSON → block), detect and write (the store transaction), the
Prometheus-side cost of its own queries (``stats=all``: ``execTotalTime`` and
``totalQueryableSamples``), its CPU time and its RSS (``VmRSS``/``VmHWM`` from
``/proc/<pid>/status``). The parent adds Prometheus's own view of the steady phase: the CPU
seconds and the ``prometheus_engine_query_duration_seconds`` sums from its ``/metrics``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import requests

from detector.detect.bank import DetectionBank
from detector.detect.events import EventTracker
from detector.devstack import start_prometheus
from detector.devstack.running import RunningServer
from detector.notify.alertmanager import NullNotifier
from detector.pipeline import Pipeline
from detector.scrape import promql
from detector.scrape.source import Identity, MetricSource, PrometheusSource
from detector.series import Scope, SeriesBlock, SeriesKey, Signal
from detector.settings import Settings
from detector.shard.filter import OwnedSource
from detector.shard.leases import Leases
from detector.simulate.history import backfill, write_history
from detector.simulate.topology import Topology
from detector.store.sqlite import StateStore

PROMTOOL = "/usr/bin/promtool"
RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "meshpulse-rules.yml"
SERIES_PER_SERVICE = 34.65
"""Scored series per synthetic service (bench/cycle.py: 34,650 at 1,000 services)."""


# worker side ------------------------------------------------------------------------------------
class StatsSession(requests.Session):
    """Asks Prometheus for ``stats=all`` and adds the per-query statistics up."""

    def __init__(self) -> None:
        super().__init__()
        self.totals = {"queries": 0.0, "exec_s": 0.0, "eval_s": 0.0, "samples": 0.0, "bytes": 0.0}

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if "/api/v1/query" in str(url):
            kwargs["params"] = {**(kwargs.get("params") or {}), "stats": "all"}
        response = super().request(method, url, *args, **kwargs)
        body = response.content
        at = body.rfind(b'"stats":')
        if response.status_code == 200 and at >= 0:
            stats, _ = json.JSONDecoder().raw_decode(body[at + 8 :].decode())
            timings, samples = stats.get("timings", {}), stats.get("samples", {})
            self.totals["queries"] += 1
            self.totals["exec_s"] += float(timings.get("execTotalTime", 0.0))
            self.totals["eval_s"] += float(timings.get("evalTotalTime", 0.0))
            self.totals["samples"] += float(samples.get("totalQueryableSamples", 0.0))
            self.totals["bytes"] += len(body)
        return response


class TimedSource:
    """A :class:`ServiceScopedSource` passing through, timing the inventory apart from the data."""

    def __init__(self, inner: PrometheusSource) -> None:
        self.inner, self.inventory_s = inner, 0.0

    def fetch(self, start: float, end: float, step: float) -> SeriesBlock:
        return self.inner.fetch(start, end, step)

    def services(self, start: float, end: float, step: float) -> list[Identity]:
        t0 = time.perf_counter()
        try:
            return self.inner.services(start, end, step)
        finally:
            self.inventory_s += time.perf_counter() - t0

    def fetch_services(
        self, start: float, end: float, step: float, identities: Sequence[Identity]
    ) -> SeriesBlock:
        return self.inner.fetch_services(start, end, step, identities)


class PlainSource:
    """Hides :meth:`services`/:meth:`fetch_services`, so :class:`OwnedSource` filters after the query."""

    def __init__(self, inner: MetricSource) -> None:
        self.inner = inner

    def fetch(self, start: float, end: float, step: float) -> SeriesBlock:
        return self.inner.fetch(start, end, step)


class TimedStore:
    """The shared store, timing each cycle's transaction (the "write" of a cycle)."""

    def __init__(self, inner: StateStore) -> None:
        self.inner, self.write_s = inner, 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        t0 = time.perf_counter()
        try:
            with self.inner.transaction() as db:
                yield db
        finally:
            self.write_s += time.perf_counter() - t0


def proc_status(pid: int | str = "self") -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` of a process, in MiB."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = float(value.split()[0]) / 1024
    return found


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def jit_warm_up() -> None:
    """Compile the numba kernels before anything is timed (a service pays this once at start)."""
    block = SeriesBlock([SeriesKey("x", "ns", Signal.RATE, Scope.SERVICE)], np.arange(8.0), np.ones((1, 8)))
    EventTracker().update(DetectionBank().score(block))


def _handshake(word: str) -> None:
    print(json.dumps({"state": word}), flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit(f"worker: no go after {word}")


def worker(cfg: dict[str, Any]) -> dict[str, Any]:
    jit_warm_up()
    step, shards = float(cfg["step"]), int(cfg["shards"])
    store = StateStore(cfg["store"])
    session = StatsSession()
    recorded = cfg["variant"] == "rules"
    prom = PrometheusSource(
        cfg["url"], window=cfg["rate_window"], timeout_s=900, session=session, recorded=recorded
    )
    timed = TimedSource(prom)
    # "post-filter": what shards did before queries were scoped: fetch the whole mesh, keep a share
    source: MetricSource = PlainSource(timed) if cfg["variant"] == "post-filter" else timed
    settings = Settings(
        prometheus_url=cfg["url"],
        scrape_interval_s=step,
        lookback_s=float(cfg["warmup_s"]),
        rate_window=cfg["rate_window"],
        query_lag_s=0.0,
        max_series=10**9,
        decide_mode="off",
        state_path=Path(cfg["store"]),
        shard_id=cfg["shard_id"] if shards > 1 else "",
        lease_s=3600.0,
    )
    if shards > 1:  # one replica alone runs unsharded, as a single-replica deployment does
        leases = Leases(store, cfg["shard_id"], lease_s=3600.0)
        while len(leases.renew().live) < shards:
            time.sleep(0.05)
        source = OwnedSource(source, leases)
    now = [float(cfg["warm_end"])]
    writes = TimedStore(store)
    pipeline = Pipeline(
        settings,
        source=source,
        store=writes,  # type: ignore[arg-type]  # a timing proxy, not a subclass
        notifier=NullNotifier(),
        clock=lambda: now[0],
    )
    registry = pipeline.telemetry.registry

    def stage(name: str) -> float:
        value = registry.get_sample_value("meshpulse_cycle_duration_seconds_sum", {"stage": name})
        return float(value or 0.0)

    def snapshot() -> dict[str, float]:
        return {
            "query": stage("query"),
            "detect": stage("detect"),
            "write": writes.write_s,
            "inventory": timed.inventory_s,
            "cpu": cpu_s(),
            **{f"prom_{k}": v for k, v in session.totals.items()},
        }

    _handshake("ready")
    t0, before = time.perf_counter(), snapshot()
    warm = pipeline.run_cycle()
    warm_total = time.perf_counter() - t0
    warm_parts = {k: v - before[k] for k, v in snapshot().items()}
    _handshake("warm")
    cycles = []
    for i in range(1, int(cfg["cycles"]) + 1):
        now[0] = float(cfg["warm_end"]) + i * step
        before, t0 = snapshot(), time.perf_counter()
        record = pipeline.run_cycle()
        total = time.perf_counter() - t0
        if not record.ok:
            raise SystemExit(f"worker {cfg['shard_id']}: cycle failed: {record.error}")
        cycles.append(
            {"total": total, "series": record.series, **{k: v - before[k] for k, v in snapshot().items()}}
        )
        cycles[-1].update(proc_status())
    owned = pipeline.source.ownership.owned if isinstance(pipeline.source, OwnedSource) else ()
    state = {
        "bank": pipeline.bank.export_state(),
        "tracker": pipeline.tracker.export_state(),
        "dispatcher": pipeline.dispatcher.export_state(),
    }
    return {
        "shard_id": cfg["shard_id"],
        "pid": os.getpid(),
        "owned_services": len(owned),
        "warm": {"total": warm_total, "series": warm.series, **warm_parts},
        "cycles": cycles,
        "state_bytes": len(json.dumps(state, default=float)),
        **proc_status(),
    }


# parent side ------------------------------------------------------------------------------------
@dataclass
class Row:
    """One (size, shard count) measurement; per-shard figures are medians over steady cycles."""

    services: int
    shards: int
    variant: str = "scoped"
    series: int = 0
    cycle_s: float = math.nan  # slowest shard's median cycle
    query_s: float = math.nan
    inventory_s: float = math.nan
    detect_s: float = math.nan
    write_s: float = math.nan
    cpu_s: float = math.nan  # the shard process's CPU per cycle (slowest shard)
    rss_mib: float = math.nan  # largest VmRSS after the last cycle
    hwm_mib: float = math.nan  # largest VmHWM
    state_kib: float = math.nan  # detector state per shard (largest), JSON
    queries: float = math.nan  # PromQL queries per cycle, all shards
    prom_exec_s: float = math.nan  # Prometheus execTotalTime per cycle, all shards (stats=all)
    prom_samples: float = math.nan  # totalQueryableSamples per cycle, all shards
    shard_samples: float = math.nan  # totalQueryableSamples per cycle, the largest shard
    prom_bytes: float = math.nan  # response bytes per cycle, all shards
    prom_cpu_s: float = math.nan  # Prometheus process CPU seconds per cycle (its /metrics)
    prom_engine_s: float = math.nan  # prometheus_engine_query_duration_seconds_sum per cycle
    warm_s: float = math.nan  # slowest shard's warm-up cycle
    wall_s: float = math.nan  # steady phase wall time ÷ cycles (all shards in parallel)
    per_shard: list[dict[str, Any]] = field(default_factory=list)


def prom_counters(url: str) -> dict[str, float]:
    """Prometheus's own CPU and query-engine time so far, from its ``/metrics``."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    found = {"cpu": 0.0, "engine": 0.0}
    for line in text.splitlines():
        if line.startswith("process_cpu_seconds_total "):
            found["cpu"] = float(line.split()[-1])
        elif line.startswith("prometheus_engine_query_duration_seconds_sum{"):
            found["engine"] += float(line.split()[-1])
    return found


def _send(procs: Sequence[subprocess.Popen[str]], word: str) -> None:
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(word + "\n")
        p.stdin.flush()


def _expect(procs: Sequence[subprocess.Popen[str]], state: str) -> list[dict[str, Any]]:
    out = []
    for p in procs:
        assert p.stdout is not None
        line = p.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {p.pid} died before {state!r} (exit {p.wait()})")
        msg = json.loads(line)
        if state != "result" and msg.get("state") != state:
            raise RuntimeError(f"worker {p.pid} said {msg}, expected {state}")
        out.append(msg)
    return out


def run_shards(
    n_services: int, shards: int, variant: str, prom: RunningServer, cfg: dict[str, Any], work: Path
) -> Row:
    store = work / f"state-{n_services}-{shards}-{variant}.sqlite"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                json.dumps(
                    {**cfg, "shard_id": f"s{i}", "shards": shards, "variant": variant, "store": str(store)}
                ),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(shards)
    ]
    try:
        _expect(procs, "ready")
        _send(procs, "go")
        _expect(procs, "warm")
        before, t0 = prom_counters(prom.url), time.perf_counter()
        _send(procs, "go")
        results = _expect(procs, "result")
        wall, after = time.perf_counter() - t0, prom_counters(prom.url)
        for p in procs:
            p.wait(timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
    return summarize(n_services, shards, variant, results, before, after, wall, int(cfg["cycles"]))


def summarize(
    n_services: int,
    shards: int,
    variant: str,
    results: list[dict[str, Any]],
    before: dict[str, float],
    after: dict[str, float],
    wall: float,
    cycles: int,
) -> Row:
    def med(r: dict[str, Any], key: str) -> float:
        return statistics.median(c[key] for c in r["cycles"])

    slowest = max(results, key=lambda r: med(r, "total"))
    total = lambda key: sum(med(r, key) for r in results)  # noqa: E731
    return Row(
        n_services,
        shards,
        variant,
        series=int(sum(med(r, "series") for r in results)),
        cycle_s=med(slowest, "total"),
        query_s=med(slowest, "query"),
        inventory_s=med(slowest, "inventory"),
        detect_s=med(slowest, "detect"),
        write_s=med(slowest, "write"),
        cpu_s=med(slowest, "cpu"),
        rss_mib=max(r["VmRSS"] for r in results),
        hwm_mib=max(r["VmHWM"] for r in results),
        state_kib=max(r["state_bytes"] for r in results) / 1024,
        queries=total("prom_queries"),
        prom_exec_s=total("prom_exec_s"),
        prom_samples=total("prom_samples"),
        shard_samples=max(med(r, "prom_samples") for r in results),
        prom_bytes=total("prom_bytes"),
        prom_cpu_s=(after["cpu"] - before["cpu"]) / cycles,
        prom_engine_s=(after["engine"] - before["engine"]) / cycles,
        warm_s=max(r["warm"]["total"] for r in results),
        wall_s=wall / cycles,
        per_shard=[
            {
                "shard": r["shard_id"],
                "owned": r["owned_services"],
                "series": med(r, "series"),
                "cycle_s": med(r, "total"),
                "query_s": med(r, "query"),
                "rss_mib": r["VmRSS"],
            }
            for r in results
        ],
    )


@dataclass
class Setup:
    services: int
    gen_s: float = math.nan
    text_bytes: int = 0
    backfill_s: float = math.nan
    rules_backfill_s: float = math.nan
    tsdb_bytes: int = 0
    prom_rss_mib: float = math.nan


def run_size(series: int, args: argparse.Namespace, work: Path, log: Any) -> tuple[Setup, list[Row]]:
    """One mesh size: simulate, backfill, start Prometheus, run every shard count and variant."""
    n = max(1, round(series / SERIES_PER_SERVICE))
    setup = Setup(n)
    step, window_s = float(args.step), _seconds(args.rate_window)
    warm_s = args.warmup_min * 60
    # history: one rate window before the warm-up, the warm-up, the steady cycles, one spare step
    end = math.floor((time.time() - 3600) / step) * step
    start = end - (window_s + warm_s + (args.cycles + 1) * step)
    om, tsdb = work / f"om-{n}", work / f"tsdb-{n}"
    log(f"[{n} services] simulating {(end - start) / 60:.1f} min at {step:g}s …")
    t0 = time.perf_counter()
    files = write_history(Topology.synthetic(n, seed=args.seed), start, end + step, step, om, seed=args.seed)
    setup.gen_s = time.perf_counter() - t0
    setup.text_bytes = sum(f.stat().st_size for f in files)
    t0 = time.perf_counter()
    for f in files:  # deleted as soon as it is a block: disk peaks at one 2-hour window of text
        backfill([f], tsdb, promtool=PROMTOOL, timeout_s=3600)
        f.unlink()
    setup.backfill_s = time.perf_counter() - t0
    setup.tsdb_bytes = sum(f.stat().st_size for f in tsdb.rglob("*") if f.is_file())
    log(f"[{n} services] {setup.text_bytes / 1e9:.2f} GB text, backfill {setup.backfill_s:.0f}s; Prometheus")
    prom = _start(work / f"prom-{n}", tsdb, step)
    rows, hwm = [], math.nan
    try:
        cfg = {
            "url": prom.url,
            "step": step,
            "rate_window": args.rate_window,
            "warmup_s": warm_s,
            "warm_end": end - args.cycles * step,
            "cycles": args.cycles,
        }
        for shards in args.shard_counts:
            rows.append(run_shards(n, shards, "scoped", prom, cfg, work))
            log(json.dumps(asdict(rows[-1])))
            log(f"[{n} services] {shards} shard(s): {_brief(rows[-1])}")
        for shards in args.post_filter:
            rows.append(run_shards(n, shards, "post-filter", prom, cfg, work))
            log(json.dumps(asdict(rows[-1])))
            log(f"[{n} services] {shards} shard(s), post-filter: {_brief(rows[-1])}")
        if args.rules:
            t0 = time.perf_counter()
            first = end - args.cycles * step - warm_s - step
            hwm = proc_status(prom.pid).get("VmHWM", math.nan)
            prom = record_rules(prom, tsdb, first, end, step, work / f"prom-{n}")
            setup.rules_backfill_s = time.perf_counter() - t0
            for shards in args.rules:
                rows.append(run_shards(n, shards, "rules", prom, {**cfg, "url": prom.url}, work))
                log(json.dumps(asdict(rows[-1])))
                log(f"[{n} services] {shards} shard(s), recording rules: {_brief(rows[-1])}")
        setup.prom_rss_mib = float(np.nanmax([hwm, proc_status(prom.pid).get("VmHWM", math.nan)]))
    finally:
        prom.stop()
        if not args.keep:
            shutil.rmtree(tsdb, ignore_errors=True)
            shutil.rmtree(work / f"prom-{n}", ignore_errors=True)
    return setup, rows


def _brief(r: Row) -> str:
    return f"cycle {r.cycle_s:.2f}s, query {r.query_s:.2f}s, Prometheus CPU {r.prom_cpu_s:.2f}s/cycle"


def record_rules(
    prom: RunningServer, tsdb: Path, start: float, end: float, step: float, workdir: Path
) -> Any:
    """Evaluate the shipped recording rules over ``[start, end]`` into blocks; restart Prometheus on them."""
    out = workdir.parent / "rule-blocks"
    proc = subprocess.run(
        [
            PROMTOOL,
            "tsdb",
            "create-blocks-from",
            "rules",
            f"--url={prom.url}",
            f"--start={start:.0f}",
            f"--end={end:.0f}",
            f"--eval-interval={step:g}s",
            f"--output-dir={out}",
            str(RULES),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"promtool could not backfill the recording rules: {proc.stderr[-2000:]}")
    for block in out.iterdir():
        block.rename(tsdb / block.name)
    shutil.rmtree(out, ignore_errors=True)
    prom.stop()
    return _start(workdir, tsdb, step)


def _start(workdir: Path, tsdb: Path, step: float) -> Any:
    return start_prometheus(
        workdir,
        [],
        f"{step:g}s",
        tsdb_dir=tsdb,
        extra_args=["--query.max-samples=500000000", "--query.timeout=15m"],
        ready_timeout_s=300,
    )


def _seconds(window: str) -> float:
    return float(window[:-1]) * {"s": 1, "m": 60, "h": 3600}[window[-1]]


# report ------------------------------------------------------------------------------------------
def table(rows: list[Row]) -> str:
    head = (
        "| services | series | shards | queries | series/shard | cycle s | query s | inventory s | detect s "
        "| write s | shard CPU s | RSS MiB/shard (HWM) | state KiB/shard | queries/cycle | Prom exec s/cycle "
        "| Prom samples/cycle (largest shard) | Prom CPU s/cycle | steady wall s/cycle |"
    )
    out = [head, "|" + "---|" * 18]
    for r in rows:
        out.append(
            f"| {r.services:,} | {r.series:,} | {r.shards} | {r.variant} | {r.series / r.shards:,.0f} "
            f"| {r.cycle_s:.2f} "
            f"| {r.query_s:.2f} | {r.inventory_s:.3f} | {r.detect_s:.3f} | {r.write_s:.3f} | {r.cpu_s:.2f} "
            f"| {r.rss_mib:.0f} ({r.hwm_mib:.0f}) | {r.state_kib:,.0f} | {r.queries:.0f} "
            f"| {r.prom_exec_s:.2f} | {r.prom_samples:,.0f} ({r.shard_samples:,.0f}) | {r.prom_cpu_s:.2f} "
            f"| {r.wall_s:.2f} |"
        )
    return "\n".join(out)


def setup_table(setups: list[Setup]) -> str:
    out = [
        "| services | OpenMetrics text | generate s | promtool backfill s | rules backfill s | TSDB "
        "| Prometheus VmHWM |",
        "|---|---|---|---|---|---|---|",
    ]
    out += [
        f"| {s.services:,} | {s.text_bytes / 1e9:.2f} GB | {s.gen_s:.0f} | {s.backfill_s:.0f} "
        f"| {'–' if math.isnan(s.rules_backfill_s) else f'{s.rules_backfill_s:.0f}'} "
        f"| {s.tsdb_bytes / 1e6:.0f} MB | {s.prom_rss_mib:,.0f} MiB |"
        for s in setups
    ]
    return "\n".join(out)


def constants(rows: list[Row]) -> dict[str, float]:
    """Per-1k-series costs, least-squares over the unsharded rows: ``y = a + b · series/1000``."""
    ones = [r for r in rows if r.shards == 1 and r.variant == "scoped"] or rows
    x = np.array([r.series / 1000 for r in ones])

    def fit(values: list[float]) -> tuple[float, float]:
        if len(ones) < 2:
            return 0.0, float(values[0] / x[0])
        b, a = np.polyfit(x, np.array(values), 1)
        return float(a), float(b)

    found = {}
    for name, vals in {
        "cycle_s": [r.cycle_s for r in ones],
        "query_s": [r.query_s for r in ones],
        "detect_s": [r.detect_s for r in ones],
        "write_s": [r.write_s for r in ones],
        "cpu_s": [r.cpu_s for r in ones],
        "rss_mib": [r.rss_mib for r in ones],
        "state_kib": [r.state_kib for r in ones],
        "prom_exec_s": [r.prom_exec_s for r in ones],
        "prom_cpu_s": [r.prom_cpu_s for r in ones],
        "prom_samples": [r.prom_samples for r in ones],
    }.items():
        a, b = fit(vals)
        found[f"{name}_fixed"], found[f"{name}_per_1k"] = a, b
    return found


def extrapolate(
    found: dict[str, float],
    target: float = 1_000_000,
    interval_s: float = 15.0,
    headroom: float = 0.5,
    name_bytes: int = 23,
    series_per_service: float = SERIES_PER_SERVICE,
) -> str:
    """Replicas, backend load and memory for ``target`` series, from the measured constants.

    A replica may spend ``headroom × interval_s`` on a cycle (the rest absorbs slow queries and
    catching up after an outage). ``name_bytes`` is a service name URL-encoded with its ``|``.
    """

    def per(key: str, series: float) -> float:
        return found[f"{key}_fixed"] + found[f"{key}_per_1k"] * series / 1000

    def state_mib(series: float) -> float:
        return found["state_kib_per_1k"] * series / 1000 / 1024

    budget = headroom * interval_s
    per_replica = (budget - found["cycle_s_fixed"]) / found["cycle_s_per_1k"] * 1000
    replicas = math.ceil(target / per_replica)
    series = target / replicas
    services = series / series_per_service
    chunks = math.ceil(services * name_bytes / (promql.MAX_MATCHER_BYTES - 120))
    queries = 1 + 3 * len(Scope) * chunks
    rows = [
        (
            "series per replica at a 15 s cycle, no headroom",
            f"{(interval_s - found['cycle_s_fixed']) / found['cycle_s_per_1k'] * 1000:,.0f}",
        ),
        (f"series per replica at {budget:g} s ({headroom:.0%} headroom)", f"{per_replica:,.0f}"),
        (f"replicas for {target:,.0f} series", f"{replicas}"),
        ("series / services per replica", f"{series:,.0f} / {services:,.0f}"),
        ("matcher chunks / queries per replica and cycle", f"{chunks} / {queries}"),
        ("queries/s on the query layer, all replicas", f"{replicas * queries / interval_s:,.1f}"),
        (
            "samples/s read by the query layer",
            f"{found['prom_samples_per_1k'] * target / 1000 / interval_s:,.0f}",
        ),
        (
            "query-layer CPU, cores (Prometheus engine as measured)",
            f"{found['prom_cpu_s_per_1k'] * target / 1000 / interval_s:,.1f}",
        ),
        ("replica CPU, cores each", f"{per('cpu_s', series) / interval_s:.2f}"),
        ("replica RSS, MiB each", f"{per('rss_mib', series):,.0f}"),
        ("detector state, MiB each / all", f"{state_mib(series):,.1f} / {state_mib(target):,.0f}"),
    ]
    return "\n".join(["| for 1 M series | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def ratios(rows: list[Row]) -> str:
    """Size ratios (largest vs smallest, unsharded) and shard ratios (N vs 1) from the same run."""
    out = [
        "| compared | series | cycle s | query s | detect s | RSS/shard | Prom exec s | Prom samples "
        "| Prom samples, largest shard | Prom CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    ones = sorted((r for r in rows if r.shards == 1 and r.variant == "scoped"), key=lambda r: r.series)
    if len(ones) >= 2:
        a, b = ones[0], ones[-1]
        out.append(_ratio_row(f"{b.services:,} vs {a.services:,} services, 1 shard", a, b))
    for size in sorted({r.services for r in rows}):
        base = next((r for r in ones if r.services == size), None)
        for r in rows:
            if base and r.services == size and r is not base:
                label = f"{size:,} services, {r.shards} shard(s) {r.variant} vs 1 shard"
                out.append(_ratio_row(label, base, r))
    return "\n".join(out)


def _ratio_row(label: str, a: Row, b: Row) -> str:
    def x(p: float, q: float) -> str:
        return f"×{q / p:.2f}" if p else "–"

    return (
        f"| {label} | {x(a.series, b.series)} | {x(a.cycle_s, b.cycle_s)} | {x(a.query_s, b.query_s)} "
        f"| {x(a.detect_s, b.detect_s)} | {x(a.rss_mib, b.rss_mib)} | {x(a.prom_exec_s, b.prom_exec_s)} "
        f"| {x(a.prom_samples, b.prom_samples)} | {x(a.shard_samples, b.shard_samples)} "
        f"| {x(a.prom_cpu_s, b.prom_cpu_s)} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", default="1000,10000,50000", help="comma-separated target series counts")
    parser.add_argument("--shards", default="1,2,4", help="comma-separated shard counts")
    parser.add_argument("--step", type=float, default=15.0, help="scrape interval = cycle step, seconds")
    parser.add_argument("--rate-window", default="1m", help="PromQL rate() window")
    parser.add_argument("--warmup-min", type=float, default=3.0, help="lookback of the warm-up cycle")
    parser.add_argument("--cycles", type=int, default=4, help="steady cycles per shard (median)")
    parser.add_argument(
        "--post-filter",
        default="",
        help="also run these shard counts the old way: whole-mesh queries, filtered after",
    )
    parser.add_argument(
        "--rules",
        default="",
        help="also run these shard counts on the recording rules (backfilled by promtool)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="scratch dir (default: a temp dir, removed)")
    parser.add_argument("--keep", action="store_true", help="keep TSDB blocks and Prometheus dirs")
    parser.add_argument("--json", default=None, help="also write every measurement to this file")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = worker(json.loads(args.worker))
        print(json.dumps(result), flush=True)
        return 0
    args.shard_counts, args.post_filter, args.rules = (
        [int(s) for s in v.split(",") if s.strip()] for v in (args.shards, args.post_filter, args.rules)
    )
    sizes = [int(s) for s in args.series.split(",") if s.strip()]

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    scratch = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="meshpulse-scale-"))
    scratch.mkdir(parents=True, exist_ok=True)
    setups, rows = [], []
    try:
        for size in sizes:
            setup, size_rows = run_size(size, args, scratch, log)
            setups.append(setup)
            rows += size_rows
    finally:
        if not args.workdir:
            shutil.rmtree(scratch, ignore_errors=True)
    found = constants(rows)
    print(
        f"step {args.step:g}s, rate window {args.rate_window}, warm-up {args.warmup_min:g} min, "
        f"medians of {args.cycles} steady cycles per shard; cycle/query/detect/write/CPU of the slowest "
        "shard; queries and Prometheus figures summed over all shards\n"
    )
    print(table(rows))
    print("\nratios (same run):\n")
    print(ratios(rows))
    print("\nconstants (least squares over the 1-shard rows, y = fixed + per_1k · series/1000):\n")
    for k, v in found.items():
        print(f"- {k}: {v:.6g}")
    if len({r.series for r in rows if r.shards == 1 and r.variant == "scoped"}) >= 2:  # a line needs 2 points
        print("\nextrapolation (constants above; see docs/SCALING.md for the formulas):\n")
        print(extrapolate(found))
    print("\nsetup (not part of the cycle):\n")
    print(setup_table(setups))
    print(f"\nwall time: {time.perf_counter() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"rows": [asdict(r) for r in rows], "setup": [asdict(s) for s in setups], "constants": found},
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
