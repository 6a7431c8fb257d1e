"""A real single-node VictoriaMetrics scraping local targets: the second engine behind the query API.

MeshPulse only speaks Prometheus's HTTP query API, and VictoriaMetrics serves it under the same
paths (``/api/v1/query_range``), so running the same scenarios against both keeps us honest about
"any Prometheus-compatible backend". Two flags matter for a live test:

* ``-search.latencyOffset``: VictoriaMetrics hides the newest 30 s by default (so a query never
  sees a half-ingested point). MeshPulse already stops ``query_lag_s`` behind now, so a 30 s
  offset would only make every fresh point a NaN; it is set to the scrape interval instead.
* ``-search.disableCache``: the rollup result cache assumes old data never changes; tests
  restart and query the same window repeatedly, so the cache only risks stale answers there.

Debian's ``victoria-metrics`` package ships the binary as ``/usr/bin/victoria-metrics``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from detector.devstack.ports import free_port
from detector.devstack.processes import ManagedProcess
from detector.devstack.prometheus import SCRAPE_JOB
from detector.devstack.running import RunningServer

VICTORIAMETRICS_BINARY = os.environ.get("MESHPULSE_VICTORIAMETRICS_BIN", "/usr/bin/victoria-metrics")


def victoriametrics_scrape_config(
    scrape_targets: Sequence[str], scrape_interval: str = "5s", drop_labels: Sequence[str] = ()
) -> dict:
    """The ``-promscrape.config`` content: the same job as the Prometheus devstack, nothing else.

    Only fields VictoriaMetrics' strict parser knows (no ``evaluation_interval``, no rules).

    >>> victoriametrics_scrape_config(["127.0.0.1:8000"])["scrape_configs"][0]["honor_labels"]
    True
    """
    job: dict = {
        "job_name": SCRAPE_JOB,
        "honor_labels": True,
        "scrape_interval": scrape_interval,
        "static_configs": [{"targets": list(scrape_targets)}],
    }
    if drop_labels:
        job["metric_relabel_configs"] = [{"action": "labeldrop", "regex": "|".join(drop_labels)}]
    return {"global": {"scrape_interval": scrape_interval}, "scrape_configs": [job]}


class RunningVictoriaMetrics(RunningServer):
    """A started VictoriaMetrics; :meth:`restart` keeps the port and ``-storageDataPath``."""

    ready_path = "/health"

    def __init__(self, process: ManagedProcess, port: int, config_path: Path, data_path: Path) -> None:
        super().__init__(process, port)
        self.config_path = config_path
        self.data_path = data_path


def _seconds(duration: str) -> float:
    """``"1s"`` → 1.0, ``"500ms"`` → 0.5; enough of Prometheus' duration syntax for scrape intervals.

    >>> _seconds("500ms"), _seconds("2m")
    (0.5, 120.0)
    """
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if duration.endswith(suffix):
            return float(duration[: -len(suffix)]) * scale
    return float(duration)


def start_victoriametrics(
    workdir: Path,
    port: int | None = None,
    scrape_targets: Sequence[str] = (),
    scrape_interval: str = "5s",
    *,
    drop_labels: Sequence[str] = (),
    extra_args: Sequence[str] = (),
    ready_timeout_s: float = 30.0,
) -> RunningVictoriaMetrics:
    """Write ``workdir/promscrape.yml``, start VictoriaMetrics on 127.0.0.1 and wait until healthy.

    Healthy means the HTTP API answers; the first scrape lands up to one interval later, so
    callers poll for data exactly as with :func:`detector.devstack.start_prometheus`.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config_path = workdir / "promscrape.yml"
    data_path = workdir / "victoriametrics-data"
    config_path.write_text(
        json.dumps(victoriametrics_scrape_config(scrape_targets, scrape_interval, drop_labels), indent=2)
    )
    offset_ms = max(int(_seconds(scrape_interval) * 1000), 1)
    args = [
        f"-httpListenAddr=127.0.0.1:{port}",
        f"-storageDataPath={data_path}",
        "-retentionPeriod=100y",
        f"-promscrape.config={config_path}",
        f"-search.latencyOffset={offset_ms}ms",
        "-search.disableCache",
        "-loggerLevel=WARN",
        *extra_args,
    ]
    running = RunningVictoriaMetrics(
        ManagedProcess(VICTORIAMETRICS_BINARY, args, workdir, name="victoriametrics"),
        port,
        config_path,
        data_path,
    )
    try:
        running.start(ready_timeout_s)
    except BaseException:
        running.stop()
        raise
    return running
