"""The console script as a user runs it: real processes, real ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx

from detector.devstack import free_port

MESHPULSE = [sys.executable, "-m", "detector"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MESHPULSE, *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_score_csv_round_trip(tmp_path):
    rows = ["timestamp,value"] + [f"{1_700_000_000 + 60 * i},{10 + (i % 3)}" for i in range(80)]
    # the ensemble confirms an alarm on two points in a row at sub-hourly steps: a jump that
    # holds is flagged on its second point (row 91), a lone spike (row 80) is not
    rows.append(f"{1_700_000_000 + 60 * 80},400")
    rows += [f"{1_700_000_000 + 60 * i},{10 + (i % 3)}" for i in range(81, 90)]
    rows += [f"{1_700_000_000 + 60 * i},400" for i in (90, 91)]
    path = tmp_path / "in.csv"
    path.write_text("\n".join(rows) + "\n")
    out = run("score", "--input", str(path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "timestamp,value,anomaly_score,is_anomaly"
    assert len(lines) == 93
    flagged = [i for i, line in enumerate(lines[1:]) if line.endswith(",1")]
    assert flagged == [91]


def test_score_bad_input_is_one_clear_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,value\n2024-01-01T00:00:00Z,abc\n")
    out = run("score", "--input", str(path))
    assert out.returncode == 2
    assert "line 2" in out.stderr and "Traceback" not in out.stderr
    missing = run("score", "--input", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_openapi_prints_the_schema():
    out = run("openapi")
    assert out.returncode == 0, out.stderr
    assert "/api/v1/anomalies" in json.loads(out.stdout)["paths"]


def test_serve_answers_healthz_with_prometheus_and_alertmanager_down(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "MESHPULSE_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
        "MESHPULSE_ALERTMANAGER_URL": f"http://127.0.0.1:{free_port()}",
        "MESHPULSE_STATE_PATH": str(tmp_path / "s.sqlite"),
        "MESHPULSE_SCRAPE_INTERVAL_S": "1",
    }
    proc = subprocess.Popen(
        [*MESHPULSE, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        assert httpx.get(f"{base}/healthz", timeout=2).json() == {"status": "ok"}
        time.sleep(2)
        ready = httpx.get(f"{base}/readyz", timeout=2)
        assert ready.status_code == 503
        assert "unreachable" in ready.json()["metrics_source"]["error"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_bad_config_is_refused_clearly(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("scrape_intervall_s: 3\n")
    out = run("openapi", "--config", str(cfg))
    assert out.returncode == 2 and "scrape_intervall_s" in out.stderr and "Traceback" not in out.stderr


def test_list_detectors_and_pick_one(tmp_path):
    listed = run("score", "--list-detectors")
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert {"robust_ewma", "ensemble"} <= set(names) and "ensemble  (default)" in listed.stdout
    path = tmp_path / "in.csv"
    path.write_text("timestamp,value\n" + "".join(f"{i * 60},{5 + i % 2}\n" for i in range(50)))
    for name in names:
        out = run("score", "--input", str(path), "--detector", name)
        assert out.returncode == 0 and len(out.stdout.splitlines()) == 51, (name, out.stderr)
    bad = run("score", "--input", str(path), "--detector", "nope")
    assert bad.returncode == 2 and "robust_ewma" in bad.stderr
