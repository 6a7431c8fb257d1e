"""Time MeshPulse's real cycle against a real Prometheus holding backfilled mesh history.

    .venv/bin/python bench/cycle.py [--services 100,1000] [--history-min 30] [--step 30]

For each mesh size: simulate ``--history-min`` minutes of Istio metrics
(``Topology.synthetic``), write them as OpenMetrics, load them with ``promtool tsdb
create-blocks-from openmetrics``, start ``/usr/bin/prometheus`` on the blocks (no scrape
target), then time the two halves of :meth:`Pipeline.run_cycle` separately:

* query  = ``PrometheusSource.fetch`` (all PromQL range queries + JSON → SeriesBlock),
* detect = ``DetectionBank().score(block)`` + ``EventTracker().update(scored)``,

for the warm-up cycle (the whole history at the cycle step, fresh bank) and for
steady-state cycles (one new step each, on the warmed bank), as the pipeline does.
Each number is the median of ``--repeats`` runs. Setup (generation, backfill) is
reported too but is not part of the cycle. Backfilled data is in the past, so every
query names explicit times inside it.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from detector.detect.bank import DetectionBank
from detector.detect.events import EventTracker
from detector.devstack import start_prometheus
from detector.scrape.source import PrometheusSource
from detector.series import Scope, SeriesBlock, SeriesKey, Signal
from detector.simulate.history import backfill, write_history
from detector.simulate.topology import Topology

PROMTOOL = "/usr/bin/promtool"
T = TypeVar("T")


@dataclass
class Result:
    services: int
    series: int = 0
    points_per_series: int = 0
    finite_points: int = 0
    warm_query: float = math.nan
    warm_detect: float = math.nan
    steady_query: float = math.nan
    steady_detect: float = math.nan
    gen_s: float = math.nan
    text_bytes: int = 0
    backfill_s: float = math.nan
    tsdb_bytes: int = 0
    prom_start_s: float = math.nan

    @property
    def points_per_s(self) -> float:
        return self.finite_points / self.warm_detect if self.warm_detect else math.nan


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def median_of(repeats: int, fn: Callable[[], T]) -> tuple[float, T]:
    """Median wall time of ``repeats`` calls, and the last call's value."""
    times, value = [], None
    for _ in range(repeats):
        dt, value = timed(fn)
        times.append(dt)
    return statistics.median(times), value  # type: ignore[return-value]


def detect(bank: DetectionBank, tracker: EventTracker, block: SeriesBlock) -> None:
    tracker.update(bank.score(block))


def jit_warm_up() -> None:
    """Compile the numba kernels outside the timed region (a real service pays this once)."""
    block = SeriesBlock([SeriesKey("x", "ns", Signal.RATE, Scope.SERVICE)], np.arange(8.0), np.ones((1, 8)))
    detect(DetectionBank(), EventTracker(), block)


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_size(n: int, args: argparse.Namespace, work: Path, log: Callable[[str], None]) -> Result:
    res = Result(n)
    step = float(args.step)
    # End well in the past and aligned to the step, so every query time is inside the blocks.
    end = math.floor((time.time() - 3600) / step) * step
    start = end - args.history_min * 60
    om, tsdb = work / f"om-{n}", work / f"tsdb-{n}"
    log(f"[{n} services] simulating {args.history_min} min at {step:g}s step …")
    res.gen_s, files = timed(
        lambda: write_history(
            Topology.synthetic(n, seed=args.seed), start, end + step, step, om, seed=args.seed
        )
    )
    res.text_bytes = sum(f.stat().st_size for f in files)
    log(f"[{n} services] {res.text_bytes / 1e9:.2f} GB of OpenMetrics in {res.gen_s:.1f}s; backfilling …")
    t0 = time.perf_counter()
    for f in files:  # one file at a time, deleted as soon as it is a block: disk peaks at one window
        backfill([f], tsdb, promtool=PROMTOOL, timeout_s=1800)
        f.unlink()
    res.backfill_s = time.perf_counter() - t0
    res.tsdb_bytes = dir_bytes(tsdb)
    log(
        f"[{n} services] backfill {res.backfill_s:.1f}s, TSDB {res.tsdb_bytes / 1e6:.0f} MB; "
        "starting Prometheus"
    )
    res.prom_start_s, prom = timed(
        lambda: start_prometheus(
            work / f"prom-{n}",
            [],
            f"{step:g}s",
            tsdb_dir=tsdb,
            extra_args=["--query.max-samples=500000000", "--query.timeout=10m"],
            ready_timeout_s=300,
        )
    )
    try:
        source = PrometheusSource(prom.url, window=args.rate_window, timeout_s=600)
        # The first full point has a whole rate window of samples behind it.
        q_start = start + math.ceil(_seconds(args.rate_window) / step) * step
        last_warm = end - args.steady_cycles * step
        log(f"[{n} services] warm-up fetch {q_start:.0f}…{last_warm:.0f} ×{args.repeats}")
        res.warm_query, block = median_of(args.repeats, lambda: source.fetch(q_start, last_warm, step))
        res.series, res.points_per_series = block.values.shape
        res.finite_points = int(np.isfinite(block.values).sum())
        log(f"[{n} services] {res.series} series × {res.points_per_series} points; warm-up detect")
        banks: list[tuple[DetectionBank, EventTracker]] = []

        def warm_detect() -> None:
            bank, tracker = DetectionBank(), EventTracker()
            detect(bank, tracker, block)
            banks.append((bank, tracker))

        res.warm_detect, _ = median_of(args.repeats, warm_detect)
        bank, tracker = banks[-1]
        query_s, detect_s = [], []
        for i in range(1, args.steady_cycles + 1):  # each cycle fetches just the next step, as the pipeline
            t = last_warm + i * step
            dq, cycle_block = timed(lambda t=t: source.fetch(t, t, step))  # type: ignore[misc]
            dd, _ = timed(lambda b=cycle_block: detect(bank, tracker, b))  # type: ignore[misc]
            query_s.append(dq)
            detect_s.append(dd)
        res.steady_query, res.steady_detect = statistics.median(query_s), statistics.median(detect_s)
    finally:
        prom.stop()
    if not args.keep:
        shutil.rmtree(tsdb, ignore_errors=True)
    return res


def _seconds(window: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(window[:-1]) * units[window[-1]]


def table(results: list[Result]) -> str:
    head = (
        "| services | series | history points/series | warm-up query s | warm-up detect s "
        "| steady query s | steady detect s | points/s (detect) "
        "| query share of warm-up | query share of steady |"
    )
    rows = [head, "|" + "---|" * 10]
    for r in results:
        rows.append(
            f"| {r.services:,} | {r.series:,} | {r.points_per_series} "
            f"| {r.warm_query:.2f} | {r.warm_detect:.3f} | {r.steady_query:.3f} | {r.steady_detect:.4f} "
            f"| {r.points_per_s:,.0f} "
            f"| {_share(r.warm_query, r.warm_detect)} | {_share(r.steady_query, r.steady_detect)} |"
        )
    if len(results) >= 2:
        a, b = results[0], results[-1]
        rows.append(
            f"| ×{b.services / a.services:g} ({b.services:,} vs {a.services:,}) | ×{b.series / a.series:.1f} "
            f"| – | ×{b.warm_query / a.warm_query:.1f} | ×{b.warm_detect / a.warm_detect:.1f} "
            f"| ×{b.steady_query / a.steady_query:.1f} | ×{b.steady_detect / a.steady_detect:.1f} "
            f"| ×{b.points_per_s / a.points_per_s:.2f} | – | – |"
        )
    return "\n".join(rows)


def _share(query: float, detect: float) -> str:
    """Query's share of query + detect: how much of the cycle is waiting on Prometheus."""
    return f"{query / (query + detect):.2%}"


def setup_table(results: list[Result]) -> str:
    rows = [
        "| services | OpenMetrics text | generate s | promtool backfill s | TSDB on disk "
        "| Prometheus start s |",
        "|---|---|---|---|---|---|",
    ]
    rows += [
        f"| {r.services:,} | {r.text_bytes / 1e9:.2f} GB | {r.gen_s:.1f} | {r.backfill_s:.1f} "
        f"| {r.tsdb_bytes / 1e6:.0f} MB | {r.prom_start_s:.1f} |"
        for r in results
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", default="100,1000", help="comma-separated mesh sizes")
    parser.add_argument("--history-min", type=int, default=30, help="backfilled history, minutes")
    parser.add_argument("--step", type=float, default=30.0, help="scrape interval = cycle step, seconds")
    parser.add_argument("--rate-window", default="2m", help="PromQL rate() window (≥ 4 samples per window)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per warm-up measurement (median)")
    parser.add_argument("--steady-cycles", type=int, default=5, help="steady-state cycles (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="scratch dir (default: a temp dir, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the TSDB blocks")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.services.split(",") if s.strip()]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    jit_warm_up()
    scratch = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="meshpulse-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        results = [run_size(n, args, scratch, log) for n in sizes]
    finally:
        if not args.workdir:
            shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"history {args.history_min} min at {args.step:g}s step, rate window {args.rate_window}; "
        f"medians of {args.repeats} warm-up runs and {args.steady_cycles} steady cycles\n"
    )
    print(table(results))
    print("\nsetup (not part of the cycle):\n")
    print(setup_table(results))
    print(f"\nwall time: {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
