"""Circuit-breaker math: false-ejection and time-to-eject against simulation, Little's law, schema."""

from __future__ import annotations

import functools
import math
import random
from pathlib import Path

import jsonschema
import pytest
import yaml

from detector.decide import stats
from detector.decide.circuit import choose_consecutive, connection_pool, ejection_limits, recommend
from detector.decide.records import CircuitConfig
from detector.decide.snapshot import PodStats, ServiceSnapshot, Traffic

ISTIO = Path(__file__).parents[1] / "data" / "istio"


@functools.cache
def _validator(kind: str, version: str) -> jsonschema.Draft7Validator:
    plural = {"DestinationRule": "destinationrules", "VirtualService": "virtualservices"}[kind]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((ISTIO / f"{plural}.networking.istio.io.yaml").read_text(), Loader=loader)
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == version)["schema"]["openAPIV3Schema"]
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def istio_validate(manifest: dict) -> None:
    """Validate against the copied CRD schema of the manifest's kind and version."""
    group, ver = manifest["apiVersion"].split("/")
    assert group == "networking.istio.io"
    assert manifest["metadata"]["name"] and manifest["metadata"]["namespace"]
    _validator(manifest["kind"], ver).validate(manifest)


def _svc(pods: int = 3, rate: float = 50.0, p: float = 0.001, worst: float = 0.5) -> ServiceSnapshot:
    t = Traffic(rate, p, 40.0, rate * 300, p, busy_rate=rate * 1.5, busy_p99_ms=80.0)
    return ServiceSnapshot(
        "default",
        "cart",
        Traffic(rate * pods, p, 40.0, rate * pods * 300, p, rate * pods * 1.5, 80.0),
        {"v1": t},
        tuple(PodStats(f"cart-v1-{i}", "v1", t) for i in range(pods)),
        worst_error_ratio=worst,
    )


def test_runs_formula_matches_simulation():
    rng = random.Random(1)
    n, p, k, trials = 2000, 0.2, 3, 300
    counts = []
    for _ in range(trials):
        run = runs = 0
        for _ in range(n):
            if rng.random() < p:
                run += 1
                runs += run == k
            else:
                run = 0
        counts.append(runs)
    assert sum(counts) / trials == pytest.approx(stats.expected_runs(n, p, k), rel=0.1)


def test_waiting_time_matches_simulation():
    rng = random.Random(2)
    q, k, waits = 0.6, 4, []
    for _ in range(3000):
        run = n = 0
        while run < k:
            n += 1
            run = run + 1 if rng.random() < q else 0
        waits.append(n)
    assert sum(waits) / len(waits) == pytest.approx(stats.requests_to_eject(q, k), rel=0.08)


def test_chosen_k_is_smallest_meeting_target():
    cfg = CircuitConfig()
    for rate, p in [(1.0, 0.0001), (100.0, 0.001), (1000.0, 0.01), (50.0, 0.05)]:
        k = choose_consecutive(rate, p, cfg)
        pe = max(p, cfg.floor_error_ratio)
        assert stats.false_ejection_probability(rate, pe, k) <= cfg.max_false_ejections_per_day
        if k > cfg.min_consecutive:
            assert stats.false_ejection_probability(rate, pe, k - 1) > cfg.max_false_ejections_per_day


def test_higher_baseline_or_rate_needs_longer_runs():
    cfg = CircuitConfig()
    assert choose_consecutive(10.0, 0.01, cfg) < choose_consecutive(10.0, 0.05, cfg)
    assert choose_consecutive(1.0, 0.01, cfg) <= choose_consecutive(1000.0, 0.01, cfg)


@pytest.mark.parametrize("n", range(1, 25))
def test_ejection_limits_consistent_with_replicas(n):
    budget, max_pct, min_health = ejection_limits(n, CircuitConfig())
    assert budget >= 1
    assert math.floor(n * max_pct / 100 + 1e-9) >= budget  # the budget fits
    assert 100 * (budget + 1) / n > max_pct or budget + 1 > n  # one more does not
    assert 100 * (n - budget) / n >= min_health  # still enabled at full budget
    if n >= 2:
        assert budget < n


def test_littles_law_pool():
    pool = connection_pool(400.0, 250.0, 0.01, CircuitConfig(headroom=2.0, min_pool=1))
    assert pool["http"]["http2MaxRequests"] == 200  # 400/s × 0.25 s = 100 in flight, × 2
    assert pool["tcp"]["maxConnections"] == 200
    assert pool["http"]["http1MaxPendingRequests"] == 100
    assert pool["http"]["maxRetries"] == 3  # 100 × 1 % × 2 = 2 → floor 3
    assert connection_pool(1.0, 10.0, 0.0, CircuitConfig())["http"]["http2MaxRequests"] == 16


def test_recommendation_has_evidence_and_valid_manifest():
    rec = recommend(_svc(), CircuitConfig(), 1000.0, 300.0)
    assert rec is not None and rec.manifest is not None
    istio_validate(rec.manifest)
    od = rec.manifest["spec"]["trafficPolicy"]["outlierDetection"]
    e = rec.evidence
    assert od["consecutive5xxErrors"] == e["consecutive_errors"]
    assert e["false_ejection_probability_per_pod_day"] <= 0.001
    assert e["time_to_eject_s"] < 1.0  # 50 req/s at 50 % errors: a handful of requests
    assert od["maxEjectionPercent"] == 34 and od["minHealthPercent"] == 66
    assert "Little's law" in rec.rationale and "false ejection" in rec.rationale


def test_single_pod_gets_no_outlier_detection_and_no_data_gives_nothing():
    rec = recommend(_svc(pods=1), CircuitConfig(), 0.0, 300.0)
    assert rec is not None and rec.manifest is not None
    assert "outlierDetection" not in rec.manifest["spec"]["trafficPolicy"]
    istio_validate(rec.manifest)
    assert recommend(_svc(rate=math.nan), CircuitConfig(), 0.0, 300.0) is None


def test_gateway_error_kind_and_slow_ejection_warning():
    cfg = CircuitConfig(error_kind="gateway")
    rec = recommend(_svc(rate=0.5, worst=0.05), cfg, 0.0, 300.0)
    assert rec is not None and rec.manifest is not None
    assert "consecutiveGatewayErrors" in rec.manifest["spec"]["trafficPolicy"]["outlierDetection"]
    assert rec.evidence["time_to_eject_s"] > 10 and "slower than" in rec.rationale
    istio_validate(rec.manifest)
