"""History written by the simulator loads into a real Prometheus via the real promtool."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from detector.simulate.history import backfill, write_history
from detector.simulate.topology import Topology

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (Path(PROMETHEUS).exists() and Path(PROMTOOL).exists()), reason="needs prometheus and promtool"
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/-/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError("prometheus not ready")


def test_three_hours_of_history_are_queryable(tmp_path: Path) -> None:
    end = time.time() // 60 * 60 - 600
    start = end - 3 * 3600
    files = write_history(Topology.online_boutique(), start, end, 60, tmp_path / "om", seed=3)
    tsdb = tmp_path / "tsdb"
    backfill(files, tsdb, promtool=PROMTOOL)
    for f in files:
        f.unlink()  # the files are large; the blocks are what matter now
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {}\n")
    port = free_port()
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--storage.tsdb.path={tsdb}",
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=100y",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc)
        at = start + 90 * 60
        resp = httpx.get(
            f"{base}/api/v1/query",
            timeout=30,
            params={"query": 'sum(rate(istio_requests_total{reporter="destination"}[5m]))', "time": at},
        )
        result = resp.json()["data"]["result"]
        assert result and float(result[0]["value"][1]) > 0
        p99_query = (
            "histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket"
            '{reporter="destination",destination_service_name="frontend"}[5m])))'
        )
        p99 = httpx.get(f"{base}/api/v1/query", timeout=30, params={"query": p99_query, "time": at}).json()
        assert 1 < float(p99["data"]["result"][0]["value"][1]) < 1000
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
