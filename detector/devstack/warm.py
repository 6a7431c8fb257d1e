"""Metrics engines that already hold a simulated mesh's warm-up history, in seconds instead of a minute.

MeshPulse's first cycle warms its detectors on ``lookback_s`` of history (a grace of about 20
points), and a test used to sleep that long while Prometheus scraped live traffic. Here the
history is simulated in one go and loaded straight into the engine (promtool's backfill for
Prometheus, the import API for VictoriaMetrics); the live scrape then continues the very same
counters.

The simulator imports numpy, so it is imported where it is used: importing
:mod:`detector.devstack` stays standard library only.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from detector.devstack.prometheus import PROMETHEUS_BINARY, RunningPrometheus, start_prometheus
from detector.devstack.victoriametrics import RunningVictoriaMetrics, start_victoriametrics

if TYPE_CHECKING:
    from detector.simulate.traffic import Mesh

PROMTOOL_BINARY = os.environ.get("MESHPULSE_PROMTOOL_BIN", str(Path(PROMETHEUS_BINARY).with_name("promtool")))
SCRAPE_LABELS = ("job", "instance")
"""What a scrape adds to every sample and the written history does not have."""
_IMPORT_CHUNK = 8 << 20
"""Bytes per import request: well under VictoriaMetrics' request size limit."""


@dataclass(frozen=True)
class WarmEngines:
    prometheus: RunningPrometheus
    victoriametrics: RunningVictoriaMetrics | None = None

    def stop(self) -> None:
        for engine in (self.victoriametrics, self.prometheus):
            if engine is not None:
                engine.stop()


def start_warm_prometheus(
    workdir: Path, mesh: Mesh, target: str, *, live_lead_s: float, rate_window_s: float
) -> RunningPrometheus:
    """A Prometheus in ``workdir/prom`` holding ``mesh``'s history and scraping ``target`` every second.

    See :func:`start_warm_engines` for what ``mesh`` and ``target`` must be, and why the live
    lead and the dropped labels.
    """
    return start_warm_engines(
        workdir, mesh, target, live_lead_s=live_lead_s, rate_window_s=rate_window_s
    ).prometheus


def start_warm_engines(
    workdir: Path,
    mesh: Mesh,
    target: str,
    *,
    live_lead_s: float,
    rate_window_s: float,
    scrape_interval_s: float = 1.0,
    victoriametrics: bool = False,
) -> WarmEngines:
    """Engines holding ``mesh``'s history until now, then scraping ``target`` live for ``live_lead_s``.

    ``mesh`` is fresh at the history's beginning (``Mesh(..., start=time.time() - warm_up_s)``)
    and ``target`` serves it (a :class:`~detector.simulate.server.SimulatorServer` may already
    listen): writing the history advances the mesh to now, so the live counters continue the
    written ones. Nothing may scrape ``target`` before this is called, or the mesh would jump
    ahead of its history. Prometheus runs in ``workdir/prom`` and, when asked for, a
    VictoriaMetrics loaded with the same history in ``workdir/vm``; restarts keep the history.

    Why ``job``/``instance`` are dropped from live samples: the history has no such labels and a
    scrape adds them, so without the drop every live series would be a new one starting from
    nothing. ``rate()`` does not extrapolate back past a series' first sample, so the first window
    of every new series reads low: a traffic drop on every service at once.

    Why the live lead: the engine scrapes nothing while the history is written and loaded, a hole
    of a few seconds. A ``rate()`` window that starts or ends inside the hole is extrapolated from
    a short span and reads low too. Scraping live for ``live_lead_s`` before MeshPulse starts lets
    those points age into the part of the history the first cycle only warms up on (its grace
    period). So the lead is at least two rate windows (the affected windows and one of margin),
    and more when the first cycle also scores points: it must then cover the span the first
    cycle scores (``lookback_s`` less the grace period) plus one window.
    """
    if live_lead_s < 2 * rate_window_s:
        raise ValueError(
            f"live_lead_s={live_lead_s} is under two rate windows ({2 * rate_window_s} s): points whose"
            " rate() windows reach into the hole before the live scrape would be scored"
        )
    workdir = Path(workdir)
    history, tsdb = workdir / "history", workdir / "prom" / "prometheus-data"
    interval = f"{scrape_interval_s:g}s"
    started: list[RunningPrometheus | RunningVictoriaMetrics] = []
    try:
        files = _write_history(mesh, history, scrape_interval_s)
        _backfill(files, tsdb)
        prometheus = start_prometheus(
            workdir / "prom", [target], interval, tsdb_dir=tsdb, drop_labels=SCRAPE_LABELS
        )
        started.append(prometheus)
        vm = None
        if victoriametrics:
            vm = start_victoriametrics(
                workdir / "vm", scrape_targets=[target], scrape_interval=interval, drop_labels=SCRAPE_LABELS
            )
            started.append(vm)
            _import(files, vm.url)
        shutil.rmtree(history)  # hundreds of MB of text, loaded by now
        time.sleep(live_lead_s)
    except BaseException:
        shutil.rmtree(history, ignore_errors=True)
        for engine in started:
            engine.stop()
        raise
    return WarmEngines(prometheus, vm)


def _write_history(mesh: Mesh, out: Path, step_s: float) -> list[Path]:
    from detector.simulate.history import write_history

    began, now = mesh.t, time.time()
    if began > now - 2 * step_s:
        raise ValueError("mesh has no history to write: build it with start=time.time() - warm_up_s")
    return write_history(mesh.topology, began, now, step_s, out, mesh=mesh)


def _backfill(files: list[Path], tsdb: Path) -> None:
    from detector.simulate.history import backfill

    backfill(files, tsdb, PROMTOOL_BINARY)


def _import(files: list[Path], url: str) -> None:
    """POST the OpenMetrics files to ``/api/v1/import/prometheus``, timestamps in milliseconds."""
    chunk: list[str] = []
    size = 0
    for f in files:
        with f.open() as lines:
            for line in lines:
                if line.startswith("#"):
                    continue
                sample, _, seconds = line.rpartition(" ")
                chunk.append(f"{sample} {round(float(seconds) * 1000)}\n")
                size += len(line)
                if size >= _IMPORT_CHUNK:
                    _post(f"{url}/api/v1/import/prometheus", "".join(chunk).encode())
                    chunk, size = [], 0
    if chunk:
        _post(f"{url}/api/v1/import/prometheus", "".join(chunk).encode())


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=60.0):
        pass
