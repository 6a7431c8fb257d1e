"""Pre-generated history so the detector has baselines from minute one.

History is written as OpenMetrics files and loaded with promtool's backfill, so it
lands in Prometheus exactly like scraped data. Files are split on 2-hour-aligned
windows because that is Prometheus's block size: one file → one non-overlapping block.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from detector.simulate.exposition import Counters, Renderer
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
    frames: list[tuple[float, Counters]] = []
    t = float(start)
    while t < end:
        if frames and _window(t) != _window(frames[0][0]):
            files.append(_flush(renderer, frames, out))
            frames = []
        mesh.advance(t)
        frames.append(mesh.snapshot())
        t += step_s
    if frames:
        files.append(_flush(renderer, frames, out))
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


def _flush(renderer: Renderer, frames: list[tuple[float, Counters]], out: Path) -> Path:
    path = out / f"history-{_window(frames[0][0])}.om.txt"
    with path.open("w") as fh:
        renderer.openmetrics(frames, fh)
    return path
