"""A real Alertmanager that routes every alert to one webhook.

Run standalone (``--cluster.listen-address=`` empty) so parallel instances do not
fight over the gossip port 9094, and with a fixed ``--storage.path`` so a restart
keeps silences and the notification log, as a production restart would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from detector.devstack.ports import free_port
from detector.devstack.processes import ManagedProcess
from detector.devstack.running import RunningServer

ALERTMANAGER_BINARY = os.environ.get("MESHPULSE_ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager")


def alertmanager_config(
    webhook_url: str | None,
    resolve_timeout: str = "5m",
    group_wait: str = "1s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
    group_by: Sequence[str] = ("alertname", "namespace", "service"),
    bearer_token: str | None = None,
) -> dict:
    """The ``alertmanager.yml`` content; without a webhook, alerts are kept but sent nowhere.

    >>> alertmanager_config("http://127.0.0.1:1/hook")["receivers"][0]["webhook_configs"][0]["send_resolved"]
    True
    """
    receiver: dict = {"name": "webhook"}
    if webhook_url:
        hook: dict = {"url": webhook_url, "send_resolved": True}
        if bearer_token:  # how a receiver such as MeshPulse's own webhook authenticates Alertmanager
            hook["http_config"] = {"authorization": {"type": "Bearer", "credentials": bearer_token}}
        receiver["webhook_configs"] = [hook]
    return {
        "global": {"resolve_timeout": resolve_timeout},
        "route": {
            "receiver": "webhook",
            "group_by": list(group_by),
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [receiver],
    }


class RunningAlertmanager(RunningServer):
    """A started Alertmanager; :meth:`restart` keeps the port and ``--storage.path``."""

    def __init__(self, process: ManagedProcess, port: int, config_path: Path, storage_path: Path) -> None:
        super().__init__(process, port)
        self.config_path = config_path
        self.storage_path = storage_path


def start_alertmanager(
    workdir: Path,
    webhook_url: str | None,
    port: int | None = None,
    resolve_timeout: str = "5m",
    group_wait: str = "1s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
    *,
    group_by: Sequence[str] = ("alertname", "namespace", "service"),
    bearer_token: str | None = None,
    ready_timeout_s: float = 30.0,
) -> RunningAlertmanager:
    """Write ``workdir/alertmanager.yml``, start Alertmanager on 127.0.0.1 and wait until ready."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config_path = workdir / "alertmanager.yml"
    storage_path = workdir / "alertmanager-data"
    config_path.write_text(
        json.dumps(
            alertmanager_config(
                webhook_url,
                resolve_timeout,
                group_wait,
                group_interval,
                repeat_interval,
                group_by,
                bearer_token,
            ),
            indent=2,
        )
    )
    args = [
        f"--config.file={config_path}",
        f"--storage.path={storage_path}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    running = RunningAlertmanager(
        ManagedProcess(ALERTMANAGER_BINARY, args, workdir, name="alertmanager"),
        port,
        config_path,
        storage_path,
    )
    try:
        running.start(ready_timeout_s)
    except BaseException:
        running.stop()
        raise
    return running
