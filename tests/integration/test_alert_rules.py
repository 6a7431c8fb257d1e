"""The shipped Prometheus rules and Alertmanager config, checked by the real tools.

``promtool check`` catches syntax, ``promtool test rules`` proves each alert fires
on the situation its name promises (and not on a healthy MeshPulse), and a real
Prometheus scraping a real MeshPulse registry shows the rules load and evaluate.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import start_http_server

from detector.devstack import start_prometheus
from detector.telemetry import Telemetry

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCORE = "meshpulse_anomaly_score"
RULES = sorted((REPO / "alerts" / "rules").glob("*.yml"))


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60, check=False)


def test_rule_files_pass_promtool_check() -> None:
    assert {p.name for p in RULES} >= {"meshpulse-health.yml", "meshpulse-anomaly-score.yml"}
    proc = run("promtool", "check", "rules", *RULES)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_alertmanager_config_passes_amtool() -> None:
    proc = run("amtool", "check-config", REPO / "alerts" / "alertmanager.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _alerts(at: str, name: str, *labelsets: dict[str, str]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": name, "exp_alerts": [{"exp_labels": ls} for ls in labelsets]}


UNIT_TESTS: list[dict[str, Any]] = [
    {  # MeshPulse broken: every cycle fails from minute 5, no success after, alerts undeliverable
        "interval": "1m",
        "input_series": [
            {"series": 'up{job="meshpulse",instance="mp:8000"}', "values": "1x5 0x30"},
            {"series": 'meshpulse_cycles_total{instance="mp:8000",outcome="ok"}', "values": "0+4x5 20x30"},
            {"series": 'meshpulse_cycles_total{instance="mp:8000",outcome="failed"}', "values": "0x5 0+4x30"},
            {
                "series": 'meshpulse_last_successful_cycle_timestamp_seconds{instance="mp:8000"}',
                "values": "300x35",
            },
            {"series": 'meshpulse_alert_send_failures_total{instance="mp:8000"}', "values": "0x5 0+4x30"},
        ],
        "alert_rule_test": [
            _alerts("4m", "MeshPulseDown"),
            _alerts(
                "12m", "MeshPulseDown", {"job": "meshpulse", "instance": "mp:8000", "severity": "critical"}
            ),
            _alerts("4m", "MeshPulseCyclesFailing"),
            _alerts("25m", "MeshPulseCyclesFailing", {"instance": "mp:8000", "severity": "warning"}),
            _alerts("10m", "MeshPulseNoSuccessfulCycle"),
            _alerts("30m", "MeshPulseNoSuccessfulCycle", {"instance": "mp:8000", "severity": "critical"}),
            _alerts("25m", "MeshPulseAlertSendsFailing", {"instance": "mp:8000", "severity": "critical"}),
        ],
    },
    {  # a healthy MeshPulse raises nothing
        "interval": "1m",
        "input_series": [
            {"series": 'up{job="meshpulse",instance="mp:8000"}', "values": "1x40"},
            {"series": 'meshpulse_cycles_total{instance="mp:8000",outcome="ok"}', "values": "0+4x40"},
            {"series": 'meshpulse_cycles_total{instance="mp:8000",outcome="failed"}', "values": "0x40"},
            {"series": 'meshpulse_alert_send_failures_total{instance="mp:8000"}', "values": "0x40"},
            {
                "series": 'meshpulse_cycle_duration_seconds_sum{instance="mp:8000",stage="query"}',
                "values": "0+2x40",
            },
        ],
        "alert_rule_test": [
            _alerts("35m", name)
            for name in (
                "MeshPulseDown",
                "MeshPulseCyclesFailing",
                "MeshPulseAlertSendsFailing",
                "MeshPulseCyclesSlow",
            )
        ],
    },
    {  # the score path: 0.6 is a warning after 2 minutes, 0.95 critical after 1, 0.1 nothing
        "interval": "30s",
        "input_series": [
            {
                "series": SCORE + '{service="pay",namespace="ns",signal="error_ratio"}',
                "values": "0.1x4 0.6x8 0.95x8",
            },
            {
                "series": SCORE + '{service="cart",namespace="ns",signal="p99"}',
                "values": "0.1x20",
            },
        ],
        "alert_rule_test": [
            _alerts("1m", "MeshAnomalyScore"),
            _alerts(
                "5m",
                "MeshAnomalyScore",
                {"service": "pay", "namespace": "ns", "signal": "error_ratio", "severity": "warning"},
            ),
            _alerts(
                "9m30s",
                "MeshAnomalyScore",
                {"service": "pay", "namespace": "ns", "signal": "error_ratio", "severity": "critical"},
            ),
        ],
    },
]


def _without_annotations(rules: Path, out: Path) -> Path:
    """promtool compares annotations verbatim; their templates are checked by ``check rules`` instead."""
    doc = yaml.safe_load(rules.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def test_rules_fire_on_what_their_names_promise(tmp_path: Path) -> None:
    files = [str(_without_annotations(p, tmp_path / p.name)) for p in RULES]
    spec = {"rule_files": files, "evaluation_interval": "30s", "tests": UNIT_TESTS}
    (tmp_path / "rules.test.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    proc = run("promtool", "test", "rules", tmp_path / "rules.test.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def meshpulse_metrics() -> Iterator[str]:
    """MeshPulse's real registry on a port, with one service far out of its band."""
    telemetry = Telemetry()
    telemetry.anomaly_score.labels("paymentservice", "default", "error_ratio").set(0.95)
    telemetry.cycles.labels("ok").inc()
    telemetry.last_success.set(time.time())
    server, thread = start_http_server(0, addr="127.0.0.1", registry=telemetry.registry)
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)["data"]


def test_real_prometheus_loads_and_evaluates_the_rules(tmp_path: Path, meshpulse_metrics: str) -> None:
    with start_prometheus(tmp_path / "prom", [meshpulse_metrics], "1s", rule_files=RULES) as prom:
        groups = _get(f"{prom.url}/api/v1/rules")["groups"]
        loaded = {(g["name"], r["name"]) for g in groups for r in g["rules"]}
        assert {g for g, _ in loaded} == {"meshpulse.health", "meshpulse.anomaly-score"}
        assert {r for _, r in loaded} >= {
            "MeshPulseDown",
            "MeshPulseCyclesFailing",
            "MeshPulseNoSuccessfulCycle",
            "MeshPulseAlertSendsFailing",
            "MeshAnomalyScore",
        }
        deadline = time.monotonic() + 20
        pending: list[dict[str, Any]] = []
        while not pending and time.monotonic() < deadline:
            time.sleep(0.5)
            pending = [
                a
                for a in _get(f"{prom.url}/api/v1/alerts")["alerts"]
                if a["labels"]["alertname"] == "MeshAnomalyScore"
            ]
        assert pending, "MeshAnomalyScore never became pending on a score of 0.95"
        assert pending[0]["labels"]["service"] == "paymentservice"
        assert pending[0]["labels"]["severity"] == "critical"
        bad = [r for g in groups for r in g["rules"] if r.get("health") == "err"]
        assert not bad, bad


def test_shipped_alertmanager_config_loads_into_a_real_alertmanager(tmp_path: Path) -> None:
    """The example route and receivers, with the MeshPulse template, as a real Alertmanager reads them."""
    from detector.devstack import free_port
    from detector.devstack.alertmanager import ALERTMANAGER_BINARY
    from detector.devstack.processes import ManagedProcess

    config = yaml.safe_load((REPO / "alerts" / "alertmanager.yml").read_text())
    config["templates"] = [str(REPO / "alerts" / "templates" / "*.tmpl")]
    (tmp_path / "am.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    args = [
        f"--config.file={tmp_path / 'am.yml'}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with ManagedProcess(ALERTMANAGER_BINARY, args, tmp_path, name="alertmanager").start() as am:
        am.wait_ready(f"http://127.0.0.1:{port}/-/ready", 30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/status", timeout=5) as r:
            status = json.load(r)
    loaded = yaml.safe_load(status["config"]["original"])
    receivers = {r["name"] for r in loaded["receivers"]}
    assert loaded["route"]["receiver"] in receivers and len(receivers) >= 2
    assert any("meshpulse" in json.dumps(route) for route in loaded["route"].get("routes", []))
