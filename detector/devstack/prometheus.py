"""A real Prometheus scraping local targets, with the same knobs the mesh's has.

The config is written as JSON, which is valid YAML, so this package needs no YAML
library. ``honor_labels`` keeps the ``namespace``/``pod`` labels of the simulated
Istio exposition instead of renaming them ``exported_*``, which is what a
Prometheus scraping Istio sidecars through ``kubernetes_sd`` ends up with.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Sequence
from pathlib import Path

from detector.devstack.ports import free_port
from detector.devstack.processes import ManagedProcess, http_post
from detector.devstack.running import RunningServer

PROMETHEUS_BINARY = os.environ.get("MESHPULSE_PROMETHEUS_BIN", "/usr/bin/prometheus")
SCRAPE_JOB = "istio-mesh"


def prometheus_config(
    scrape_targets: Sequence[str],
    scrape_interval: str = "5s",
    rule_files: Sequence[str | Path] = (),
    alertmanager_url: str | None = None,
    drop_labels: Sequence[str] = (),
) -> dict:
    """The ``prometheus.yml`` content as a dict; ``drop_labels`` are removed from every scraped sample.

    >>> prometheus_config(["127.0.0.1:8000"])["scrape_configs"][0]["static_configs"]
    [{'targets': ['127.0.0.1:8000']}]
    >>> prometheus_config([], drop_labels=["job", "instance"])["scrape_configs"][0]["metric_relabel_configs"]
    [{'action': 'labeldrop', 'regex': 'job|instance'}]
    """
    config: dict = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [
            {
                "job_name": SCRAPE_JOB,
                "honor_labels": True,
                "scrape_interval": scrape_interval,
                "static_configs": [{"targets": list(scrape_targets)}],
            }
        ],
    }
    if drop_labels:
        drop = {"action": "labeldrop", "regex": "|".join(drop_labels)}
        config["scrape_configs"][0]["metric_relabel_configs"] = [drop]
    if rule_files:
        config["rule_files"] = [str(Path(p).resolve()) for p in rule_files]
    if alertmanager_url:
        scheme, _, hostport = alertmanager_url.partition("://")
        config["alerting"] = {
            "alertmanagers": [{"scheme": scheme, "static_configs": [{"targets": [hostport.rstrip("/")]}]}]
        }
    return config


class RunningPrometheus(RunningServer):
    """A started Prometheus; :meth:`restart` keeps the port and the TSDB.

    Keeping both is what lets a test stop Prometheus mid-run and check that the
    detector rides out the gap and then reads the history written before it.
    """

    def __init__(self, process: ManagedProcess, port: int, config_path: Path, tsdb_path: Path) -> None:
        super().__init__(process, port)
        self.config_path = config_path
        self.tsdb_path = tsdb_path

    def reload(self, *, via_signal: bool = False) -> None:
        """Re-read ``config_path`` (edit it first): lifecycle endpoint, or SIGHUP.

        The endpoint is synchronous, so after it returns the new config is live; the
        signal is fire-and-forget, like ``kill -HUP`` in production.
        """
        if via_signal:
            os.kill(self.pid, signal.SIGHUP)
        else:
            http_post(f"{self.url}/-/reload")

    def write_config(self, config: dict) -> None:
        self.config_path.write_text(json.dumps(config, indent=2))


def start_prometheus(
    workdir: Path,
    scrape_targets: list[str],
    scrape_interval: str = "5s",
    *,
    tsdb_dir: Path | None = None,
    port: int | None = None,
    rule_files: Sequence[str | Path] = (),
    alertmanager_url: str | None = None,
    drop_labels: Sequence[str] = (),
    extra_args: Sequence[str] = (),
    ready_timeout_s: float = 30.0,
) -> RunningPrometheus:
    """Write ``workdir/prometheus.yml``, start Prometheus on 127.0.0.1 and wait until ready.

    Ready means the HTTP API answers, not that a scrape has happened: the first
    scrape lands up to one interval later, so callers poll for data.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    tsdb_path = Path(tsdb_dir) if tsdb_dir else workdir / "prometheus-data"
    config_path = workdir / "prometheus.yml"
    config_path.write_text(
        json.dumps(
            prometheus_config(scrape_targets, scrape_interval, rule_files, alertmanager_url, drop_labels),
            indent=2,
        )
    )
    args = [
        f"--config.file={config_path}",
        f"--storage.tsdb.path={tsdb_path}",
        "--storage.tsdb.retention.time=100y",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}",
        "--web.enable-lifecycle",
        *extra_args,
    ]
    running = RunningPrometheus(
        ManagedProcess(PROMETHEUS_BINARY, args, workdir, name="prometheus"), port, config_path, tsdb_path
    )
    try:
        running.start(ready_timeout_s)
    except BaseException:
        running.stop()
        raise
    return running
