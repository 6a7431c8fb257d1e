"""The shipped recording rules: generated from the query templates, valid, and summing as promised."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from detector.scrape import promql
from detector.series import Scope

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "meshpulse-rules.yml"
BUCKET = "istio_request_duration_milliseconds_bucket"
CART = 'destination_service_namespace="shop",destination_service_name="cart"'


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60, check=False)


def test_shipped_rules_are_the_query_templates() -> None:
    (group,) = yaml.safe_load(RULES.read_text())["groups"]
    assert group["rules"] == promql.recording_rules()


def test_shipped_rules_pass_promtool_check() -> None:
    proc = run("promtool", "check", "rules", RULES)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def expect(scope: Scope, extra: str, value: float) -> dict[str, object]:
    return {"labels": f'{promql.recorded_name(scope)}{{{CART},{extra}le="10"}}', "value": value}


def test_recorded_buckets_sum_per_scope(tmp_path: Path) -> None:
    """Two pods at 1 req/s each (destination reporter), one caller at 2 req/s (source reporter)."""
    dest = f'{CART},destination_version="v1"'
    series = [
        {"series": f'{BUCKET}{{reporter="destination",{dest},pod="cart-{p}",le="10"}}', "values": "0+15x20"}
        for p in (1, 2)
    ]
    series.append(
        {"series": f'{BUCKET}{{reporter="source",{dest},source_workload="web",le="10"}}', "values": "0+30x20"}
    )
    expected = {
        Scope.SERVICE: [expect(Scope.SERVICE, "", 2)],
        Scope.VERSION: [expect(Scope.VERSION, 'destination_version="v1",', 2)],
        Scope.POD: [expect(Scope.POD, f'pod="cart-{p}",', 1) for p in (1, 2)],
        Scope.EDGE: [expect(Scope.EDGE, 'source_workload="web",', 2)],
    }
    spec = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": series,
                "promql_expr_test": [
                    {"expr": promql.recorded_histogram(scope), "eval_time": "3m", "exp_samples": samples}
                    for scope, samples in expected.items()
                ],
            }
        ],
    }
    (tmp_path / "rules.test.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    proc = run("promtool", "test", "rules", tmp_path / "rules.test.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
