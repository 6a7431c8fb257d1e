"""Mesh dynamics: monotone counters, seasonality, fan-out and how each fault kind shows up."""

import time

import numpy as np
import pytest

from detector.simulate.faults import FaultSchedule
from detector.simulate.topology import Topology
from detector.simulate.traffic import TROUGH, Mesh, seasonality

TOPO = Topology.online_boutique(seed=0)
# 2023-11-14 00:00 UTC, a day boundary, so hours below are UTC hours.
DAY = 1_699_920_000.0


def run(
    faults: FaultSchedule | None = None, start: float = DAY + 15 * 3600, minutes: int = 20, seed: int = 7
) -> Mesh:
    mesh = Mesh(TOPO, seed=seed, start=start, faults=faults)
    for k in range(1, minutes * 4 + 1):
        mesh.advance(start + 15 * k)
    return mesh


def fault(kind: str, service: str, **kw: object) -> FaultSchedule:
    sched = FaultSchedule()
    sched.add(TOPO, kind, service, start=0, duration_s=1e12, **kw)  # type: ignore[arg-type]
    return sched


def test_counters_never_decrease_and_are_deterministic() -> None:
    mesh = Mesh(TOPO, seed=1, start=DAY)
    prev = mesh.snapshot()[1]
    steps = (DAY + 15, DAY + 30, DAY + 29, DAY + 400)  # includes a step backwards
    for t in steps:
        mesh.advance(t)
        cur = mesh.snapshot()[1]
        for a, b in ((prev.requests, cur.requests), (prev.bins, cur.bins), (prev.sum_ms, cur.sum_ms)):
            assert (b >= a).all()
        prev = cur
    assert mesh.t == DAY + 400
    assert prev.requests.sum() > 0
    again = Mesh(TOPO, seed=1, start=DAY)
    for t in steps:
        again.advance(t)
    assert np.array_equal(again.counters.bins, prev.bins)
    other_seed = Mesh(TOPO, seed=2, start=DAY)
    other_seed.advance(DAY + 400)
    assert not np.array_equal(other_seed.counters.bins, prev.bins)


def test_rate_follows_daily_seasonality() -> None:
    peak = run(start=DAY + 15 * 3600).totals("destination_service_name")["frontend"].requests
    trough = run(start=DAY + 3 * 3600).totals("destination_service_name")["frontend"].requests
    assert trough / peak == pytest.approx(TROUGH, rel=0.1)
    assert seasonality(DAY + 15 * 3600) == pytest.approx(1.0)


def test_fan_out_sets_callee_rates_and_reporters_agree() -> None:
    by_svc = run().totals("destination_service_name")
    expected_cart = by_svc["frontend"].requests * 0.6 + by_svc["checkoutservice"].requests * 2.0
    assert by_svc["cartservice"].requests == pytest.approx(expected_cart, rel=0.05)
    assert by_svc["redis-cart"].requests == pytest.approx(by_svc["cartservice"].requests * 1.5, rel=0.05)
    src = run().totals("destination_service_name", reporter="source")
    assert src["cartservice"].requests == by_svc["cartservice"].requests


def test_latency_spike_on_callee_slows_its_callers() -> None:
    base = run().totals("destination_service_name")
    spiked = run(fault("latency_spike", "cartservice", magnitude=20)).totals("destination_service_name")
    assert spiked["cartservice"].mean_latency_ms > 10 * base["cartservice"].mean_latency_ms
    assert spiked["frontend"].mean_latency_ms > 1.3 * base["frontend"].mean_latency_ms
    assert spiked["adservice"].mean_latency_ms == pytest.approx(base["adservice"].mean_latency_ms, rel=0.1)


def test_error_burst_raises_errors_and_partly_propagates() -> None:
    by_svc = run(fault("error_burst", "paymentservice", magnitude=0.4)).totals("destination_service_name")
    assert by_svc["paymentservice"].error_ratio == pytest.approx(0.4, abs=0.05)
    assert 0.05 < by_svc["checkoutservice"].error_ratio < 0.4
    assert by_svc["adservice"].error_ratio < 0.01


def test_bad_pod_only_hurts_that_pod() -> None:
    bad, good = TOPO.workload("cartservice").pods["v1"]
    by_pod = run(fault("bad_pod", "cartservice", pod=bad)).totals("pod")
    assert by_pod[bad].error_ratio > 0.2
    assert by_pod[good].error_ratio < 0.02
    assert by_pod[bad].mean_latency_ms > 3 * by_pod[good].mean_latency_ms


def test_canary_regression_only_hurts_v2() -> None:
    mesh = run(fault("canary_regression", "productcatalogservice"))
    by_workload = mesh.totals("destination_workload")
    v1, v2 = by_workload["productcatalogservice-v1"], by_workload["productcatalogservice-v2"]
    assert v2.error_ratio > 0.1 > 0.01 > v1.error_ratio
    assert v2.mean_latency_ms > 2.5 * v1.mean_latency_ms


def test_traffic_drop_lowers_the_service_and_its_callees() -> None:
    base = run().totals("destination_service_name")
    dropped = run(fault("traffic_drop", "cartservice")).totals("destination_service_name")
    assert dropped["cartservice"].requests == pytest.approx(0.2 * base["cartservice"].requests, rel=0.1)
    assert dropped["redis-cart"].requests == pytest.approx(0.2 * base["redis-cart"].requests, rel=0.1)
    assert dropped["frontend"].requests == pytest.approx(base["frontend"].requests, rel=0.05)


def test_slow_degradation_ramps_up() -> None:
    sched = FaultSchedule()
    sched.add(TOPO, "slow_degradation", "currencyservice", start=DAY, duration_s=3600, magnitude=10)
    mesh = Mesh(TOPO, seed=3, start=DAY, faults=sched)
    means = []
    for t in (DAY + 600, DAY + 1200, DAY + 3000, DAY + 3600):
        before = mesh.totals("destination_service_name")["currencyservice"]
        mesh.advance(t)
        after = mesh.totals("destination_service_name")["currencyservice"]
        means.append((after.latency_sum_ms - before.latency_sum_ms) / (after.requests - before.requests))
    assert means == sorted(means)
    assert means[-1] > 5 * means[0]


def test_thousand_services_step_fast_enough() -> None:
    mesh = Mesh(Topology.synthetic(1000, seed=0), seed=0, start=DAY)
    began = time.perf_counter()
    for k in range(1, 21):
        mesh.advance(DAY + 15 * k)
    assert (time.perf_counter() - began) / 20 < 0.25  # ~0.05 s/step measured; generous for CI
    assert mesh.counters.requests.sum() > 0
