"""The devstack starts REAL Prometheus / Alertmanager and cleans up after itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from detector.devstack import ManagedProcess, ProcessError, RunningPrometheus, WebhookSink, start_prometheus
from detector.devstack.prometheus import PROMETHEUS_BINARY, prometheus_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which(PROMETHEUS_BINARY), reason="Prometheus binary not installed"),
]

REPO = Path(__file__).resolve().parents[2]
EXPOSITION = (
    b"# TYPE istio_requests_total counter\n"
    b'istio_requests_total{namespace="shop",pod="cart-1",destination_service_name="cart"} 42\n'
)


@pytest.fixture
def metrics_target() -> Iterator[str]:
    """A tiny /metrics endpoint whose labels clash with Prometheus' own target labels."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(EXPOSITION)))
            self.end_headers()
            self.wfile.write(EXPOSITION)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def query(prom: RunningPrometheus, promql: str, at: float | None = None) -> list[dict[str, Any]]:
    params = {"query": promql, **({"time": str(at)} if at is not None else {})}
    response = httpx.get(f"{prom.url}/api/v1/query", params=params, timeout=5.0)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def poll(prom: RunningPrometheus, promql: str, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    """Prometheus' first scrape lands ~5 s after start, whatever the interval."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := query(prom, promql):
            return result
        time.sleep(0.25)
    raise AssertionError(f"no data for {promql!r} within {timeout_s}s; log:\n{prom.process.log_tail()}")


def test_prometheus_scrapes_keeps_labels_and_survives_restart(tmp_path: Path, metrics_target: str) -> None:
    with start_prometheus(tmp_path, [metrics_target], scrape_interval="1s") as prom:
        [sample] = poll(prom, "istio_requests_total")
        assert sample["metric"]["namespace"] == "shop" and sample["metric"]["pod"] == "cart-1"  # honor_labels
        assert sample["metric"]["job"] == "istio-mesh"
        scraped_at = float(sample["value"][0])
        port, pid = prom.port, prom.pid

        prom.stop()
        with pytest.raises(httpx.ConnectError):
            query(prom, "up")
        prom.start()
        assert (prom.port, prom.tsdb_path) == (port, tmp_path / "prometheus-data") and prom.pid != pid
        [before] = query(prom, "istio_requests_total", at=scraped_at)  # written before the restart
        assert before["value"][1] == "42"


def loaded_config(prom: RunningPrometheus) -> str:
    response = httpx.get(f"{prom.url}/api/v1/status/config", timeout=5.0)
    response.raise_for_status()
    yaml_text: str = response.json()["data"]["yaml"]
    return yaml_text


def test_reload_by_endpoint_and_by_signal(tmp_path: Path) -> None:
    """Checked on the loaded config rather than by scraping, which would wait ~5 s per reload."""
    with start_prometheus(tmp_path, [], scrape_interval="1s") as prom:
        prom.write_config(prometheus_config(["127.0.0.1:1111"], "1s"))
        prom.reload()  # synchronous: live on return
        assert "127.0.0.1:1111" in loaded_config(prom)
        prom.write_config(prometheus_config(["127.0.0.1:2222"], "1s"))
        prom.reload(via_signal=True)
        deadline = time.monotonic() + 10
        while "127.0.0.1:2222" not in loaded_config(prom):
            assert time.monotonic() < deadline, prom.process.log_tail()
            time.sleep(0.05)


def test_generated_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(
        __import__("json").dumps(
            prometheus_config(["127.0.0.1:9999"], "5s", alertmanager_url="http://127.0.0.1:9093")
        )
    )
    check = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.skipif(not shutil.which("amtool"), reason="amtool not installed")
def test_example_alertmanager_config_is_valid() -> None:
    check = subprocess.run(
        ["amtool", "check-config", str(REPO / "alerts" / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "1 templates" in check.stdout


def test_process_that_dies_reports_its_log_tail(tmp_path: Path) -> None:
    process = ManagedProcess(PROMETHEUS_BINARY, ["--no-such-flag"], tmp_path, name="broken")
    with process, pytest.raises(ProcessError, match=r"(?s)broken \(exit code \d+\).*no-such-flag"):
        process.wait_ready("http://127.0.0.1:1/-/ready", timeout_s=10)
    assert not process.running


def test_process_that_never_gets_ready_is_stopped_by_pid(tmp_path: Path) -> None:
    process = ManagedProcess(
        sys.executable,
        ["-c", "import time; print('sleeping', flush=True); time.sleep(60)"],
        tmp_path,
        name="sleeper",
    )
    with process:
        pid = process.pid
        with pytest.raises(ProcessError, match=r"(?s)not ready.*sleeping"):
            process.wait_ready("http://127.0.0.1:1/", timeout_s=0.5)
    assert not process.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); "
        "time.sleep(60)"
    )
    process = ManagedProcess(sys.executable, ["-c", script], tmp_path, stop_timeout_s=0.5).start()
    deadline = time.monotonic() + 5
    while "up" not in process.log_tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    process.stop()
    assert not process.running and time.monotonic() - started < 3


def test_webhook_sink_records_posts_and_times_out_clearly() -> None:
    with WebhookSink() as sink:
        httpx.post(sink.url, json={"status": "firing", "alerts": []}, timeout=5)
        assert sink.wait_for(lambda p: p["status"] == "firing", timeout=2) == {
            "status": "firing",
            "alerts": [],
        }
        with pytest.raises(TimeoutError, match="received"):
            sink.wait_for(lambda p: p["status"] == "resolved", timeout=0.2)
