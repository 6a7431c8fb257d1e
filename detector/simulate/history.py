"""Pre-generated history so the detector has baselines from minute one.

History is written as OpenMetrics files and loaded with promtool's backfill, so it
lands in Prometheus exactly like scraped data. Files are split on 2-hour-aligned
windows because that is Prometheus's block size: one file → one non-overlapping block.

Each frame is written as soon as it is simulated (time-major), so memory stays at one
frame however long the window or large the mesh: buffering a 2-hour window of a
1,000-service mesh to write it series-major took several GB. Time-major order
interleaves the two metric families, which strict OpenMetrics forbids but promtool's
parser accepts (it only needs each series' samples in time order, which they are).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TextIO

import numpy as np

from detector.simulate.exposition import _HELP, _LE, DURATION, REQUESTS, Counters, Renderer
from detector.simulate.faults import FaultSchedule
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

BLOCK_S = 7200


def write_history(
    topology: Topology,
    start: float,
    end: float,
    step_s: float,
    out_dir: Path | str,
    seed: int = 0,
    faults: FaultSchedule | None = None,
    mesh: Mesh | None = None,
) -> list[Path]:
    """Simulate ``[start, end)`` every ``step_s`` and write one OpenMetrics file per 2 h window.

    Pass ``mesh`` (a fresh mesh at ``start``) to keep it afterwards: it ends at the last
    written timestamp, so a live :class:`~detector.simulate.server.SimulatorServer`
    built on it continues the same counters instead of resetting them.
    """
    mesh = mesh or Mesh(topology, seed=seed, start=start, faults=faults)
    renderer = Renderer(mesh.layout)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    window: int | None = None
    fh: TextIO | None = None
    t = float(start)
    try:
        while t < end:
            if fh is None or _window(t) != window:
                if fh is not None:
                    _close(fh)
                window = _window(t)
                files.append(out / f"history-{window}.om.txt")
                fh = files[-1].open("w")
                _header(fh)
            mesh.advance(t)
            _frame(renderer, *mesh.snapshot(), fh)
            t += step_s
    finally:
        if fh is not None:
            _close(fh)
    return files


def backfill(
    files: list[Path], tsdb_dir: Path | str, promtool: str = "promtool", timeout_s: float = 600.0
) -> None:
    """Turn OpenMetrics files into TSDB blocks; raises ``RuntimeError`` with promtool's output."""
    for f in files:
        proc = subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(f), str(tsdb_dir)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"promtool failed on {f}: {proc.stderr.strip() or proc.stdout.strip()}")


def _window(t: float) -> int:
    return int(t // BLOCK_S) * BLOCK_S


def _header(fh: TextIO) -> None:
    fh.write(f"# TYPE {REQUESTS} counter\n# HELP {REQUESTS} {_HELP[REQUESTS]}\n")
    fh.write(f"# TYPE {DURATION} histogram\n# HELP {DURATION} {_HELP[DURATION]}\n")


def _close(fh: TextIO) -> None:
    fh.write("# EOF\n")
    fh.close()


def _frame(renderer: Renderer, t: float, counters: Counters, fh: TextIO) -> None:
    """One scrape's samples with timestamp ``t``; a series appears once it has seen a request.

    Lines are byte-identical to :meth:`Renderer.openmetrics` (same labels, ``le`` and number
    formats), only ordered by time first, so the backfilled blocks hold the same samples.
    """
    ts, labels = f"{t:.3f}", renderer.labels
    live = list(zip(*np.nonzero(counters.requests > 0), strict=True))
    req, sums = counters.requests, counters.sum_ms
    fh.writelines(f"{REQUESTS}_total{{{labels[g][k]}}} {req[g, k]:.0f} {ts}\n" for g, k in live)
    cum = np.cumsum(counters.bins, axis=2)
    for g, k in live:
        lbl = labels[g][k]
        fh.writelines(
            f"{DURATION}_bucket{{{lbl},{le}}} {v:.0f} {ts}\n" for le, v in zip(_LE, cum[g, k], strict=True)
        )
        fh.write(f"{DURATION}_count{{{lbl}}} {req[g, k]:.0f} {ts}\n")
        fh.write(f"{DURATION}_sum{{{lbl}}} {sums[g, k]:.3f} {ts}\n")
