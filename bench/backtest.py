"""Backtest MeshPulse's traffic actions on history: which changes ``auto`` would have made, and what for.

    .venv/bin/python bench/backtest.py                      # simulated history with known faults
    .venv/bin/python bench/backtest.py --prometheus URL --start UNIX --end UNIX [--weights ns/svc=v1:90,v2:10]

Simulated (default): an Online Boutique mesh gets ``--minutes`` of history with a fixed
set of faults (two canary regressions, a service-wide error burst on a canary service that
must *not* move weights, a bad pod on a one-version service), written as OpenMetrics,
backfilled with promtool and served by a real Prometheus, so the replay runs the same
PromQL as production. Either way one range fetch is cut into the pipeline's cycles and
replayed by :mod:`detector.decide.backtest`; the table lists every paper change and the
5xx it would have avoided per route.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from detector.decide.backtest import cycle_blocks, replay
from detector.decide.records import DecideConfig
from detector.detect.volume_gate import window_seconds
from detector.devstack import start_prometheus
from detector.scrape.source import PrometheusSource
from detector.series import SeriesBlock
from detector.simulate.faults import FaultSchedule
from detector.simulate.history import backfill, write_history
from detector.simulate.topology import Topology

PROMTOOL = "/usr/bin/promtool"
# (start minute, kind, service, duration min, extra): placed after the warm-up, with quiet gaps.
FAULTS: tuple[tuple[int, str, str, int, dict[str, float]], ...] = (
    (40, "canary_regression", "productcatalogservice", 15, {}),
    (65, "error_burst", "recommendationservice", 6, {"magnitude": 0.2}),
    (80, "canary_regression", "recommendationservice", 10, {"magnitude": 3.0}),
    (95, "bad_pod", "cartservice", 8, {}),
)


def main() -> None:
    args = _parse()
    config = _config(args)
    t0 = time.perf_counter()
    if args.prometheus:
        source = PrometheusSource(args.prometheus, window=args.rate_window, timeout_s=120)
        block = source.fetch(args.start, args.end, args.step)
        truth: list[str] = []
    else:
        block, truth = _simulated(args)
    fetched = time.perf_counter() - t0
    report = replay(
        cycle_blocks(block, args.warm_up_min * 60, args.cycle_s),
        config,
        rate_window_s=window_seconds(args.rate_window),
        weights=_weights(args.weights),
    )
    replayed = time.perf_counter() - t0 - fetched
    t = config.traffic
    print(
        f"decide: window {config.window_s:g} s, max step {t.max_step}, floors {t.floors or t.default_floor}, "
        f"cooldown {t.cooldown_s:g} s, open after {t.open_after}, close after {t.close_after}"
    )
    if truth:
        print("injected faults (ground truth):\n  " + "\n  ".join(truth))
    print(report.table())
    print(
        f"\nfetch {fetched:.1f} s ({len(block)} series × {len(block.timestamps)} points), "
        f"replay {replayed:.1f} s"
    )


def _simulated(args: argparse.Namespace) -> tuple[SeriesBlock, list[str]]:
    topology = Topology.online_boutique(seed=args.seed, ingress_rps=args.rps)
    end = math.floor(time.time() / args.step) * args.step - 600
    start = end - args.minutes * 60
    faults = FaultSchedule()
    truth = []
    for minute, kind, service, duration, extra in () if args.healthy else FAULTS:
        pod = topology.workload(service).pods["v1"][0] if kind == "bad_pod" else None
        f = faults.add(
            topology,
            kind,
            service,
            start + minute * 60,
            duration * 60,
            pod=pod,
            magnitude=extra.get("magnitude"),
        )
        truth.append(
            f"t+{minute:>3} min  {kind:<18} {service}{'/' + f.subset if f.subset else ''}"
            f"{' pod ' + pod if pod else ''} for {duration} min (magnitude {f.magnitude:g})"
        )
    work = Path(args.workdir or tempfile.mkdtemp(prefix="meshpulse-backtest-"))
    try:
        files = write_history(
            topology, start, end, args.step, work / "history", seed=args.seed, faults=faults
        )
        backfill(files, work / "tsdb", promtool=PROMTOOL)
        with start_prometheus(work / "prom", [], "15s", tsdb_dir=work / "tsdb") as prom:
            source = PrometheusSource(prom.url, window=args.rate_window, timeout_s=120)
            return source.fetch(start, end, args.step), truth
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def _config(args: argparse.Namespace) -> DecideConfig:
    base = DecideConfig(mode="auto", window_s=args.window_s)
    floors = dict(_pair(p, int) for p in args.floor)
    traffic = replace(base.traffic, floors=floors, max_step=args.max_step, cooldown_s=args.cooldown_s)
    return replace(base, traffic=traffic)


def _weights(specs: list[str]) -> dict[str, dict[str, int]]:
    """``ns/svc=v1:90,v2:10`` → ``{"ns/svc": {"v1": 90, "v2": 10}}``."""
    out = {}
    for spec in specs:
        route, _, parts = spec.partition("=")
        out[route] = dict(_pair(p.replace(":", "="), int) for p in parts.split(","))
    return out


def _pair(text: str, cast: type[int]) -> tuple[str, int]:
    k, _, v = text.partition("=")
    return k, cast(v)


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prometheus", help="replay this Prometheus instead of a simulated history")
    p.add_argument("--start", type=float, help="Unix seconds (with --prometheus)")
    p.add_argument("--end", type=float, help="Unix seconds (with --prometheus)")
    p.add_argument("--weights", action="append", default=[], help="ns/svc=v1:90,v2:10 (default: inferred)")
    p.add_argument("--minutes", type=float, default=110, help="simulated history length")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--healthy", action="store_true", help="no faults: a healthy mesh must change nothing")
    p.add_argument("--rps", type=float, default=100.0, help="simulated ingress requests/s at peak")
    p.add_argument("--step", type=float, default=15.0, help="query step = the pipeline's scrape interval")
    p.add_argument("--cycle-s", type=float, default=15.0, help="how often the pipeline decides")
    p.add_argument("--warm-up-min", type=float, default=30.0, help="the first cycle's lookback")
    p.add_argument("--rate-window", default="1m")
    p.add_argument("--window-s", type=float, default=300.0, help="decide's snapshot window")
    p.add_argument("--max-step", type=int, default=20)
    p.add_argument("--cooldown-s", type=float, default=300.0)
    p.add_argument("--floor", action="append", default=[], help="subset=points, e.g. v2=10")
    p.add_argument("--workdir", help="keep the simulated history and TSDB here")
    args = p.parse_args()
    if args.prometheus and (args.start is None or args.end is None):
        p.error("--prometheus needs --start and --end")
    return args


if __name__ == "__main__":
    main()
