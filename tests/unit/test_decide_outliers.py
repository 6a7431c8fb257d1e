"""Pod outliers (success rate and latency, volume-aware) and the snapshot builder."""

from __future__ import annotations

import numpy as np

from detector.decide import build_snapshot
from detector.decide.outliers import find
from detector.decide.records import OutlierConfig
from detector.decide.snapshot import PodStats, ServiceSnapshot, Traffic
from detector.recent import RecentWindow
from detector.series import Scope, SeriesKey, Signal


def _svc(pods: list[tuple[float, float, float]]) -> ServiceSnapshot:
    """pods: (requests, error ratio, p99 ms)."""
    stats = tuple(
        PodStats(f"cart-v1-{i}", "v1", Traffic(n / 300, e, p99, n)) for i, (n, e, p99) in enumerate(pods)
    )
    return ServiceSnapshot("default", "cart", Traffic(1, 0, 1, 1), {}, stats)


def test_failing_pod_is_named_with_evidence():
    [rec] = find(_svc([(6000, 0.001, 20), (6000, 0.002, 22), (6000, 0.08, 21)]), OutlierConfig(), 0, 300)
    assert rec.kind == "pod-outlier" and rec.evidence["pod"] == "cart-v1-2"
    assert rec.evidence["signal"] == "success_rate" and rec.evidence["siblings"] == 2
    assert "cart-v1-2" in rec.rationale


def test_envoy_style_mean_including_self_would_miss_it_but_leave_one_out_does_not():
    pods = [(6000, 0.0, 20)] * 4 + [(6000, 0.3, 20)]
    [rec] = find(_svc(pods), OutlierConfig(), 0, 300)
    assert rec.evidence["pod"] == "cart-v1-4"


def test_low_volume_and_healthy_pods_are_not_flagged():
    assert find(_svc([(6000, 0.001, 20), (6000, 0.001, 20), (40, 0.5, 20)]), OutlierConfig(), 0, 300) == []
    assert find(_svc([(300, 0.0, 20), (300, 0.0, 20), (300, 1 / 300, 20)]), OutlierConfig(), 0, 300) == []
    assert (
        find(_svc([(6000, 0.001, 20), (6000, 0.0015, 21), (6000, 0.0012, 19)]), OutlierConfig(), 0, 300) == []
    )


def test_slow_pod_is_a_latency_outlier():
    [rec] = find(_svc([(6000, 0.001, 20), (6000, 0.001, 24), (6000, 0.001, 300)]), OutlierConfig(), 0, 300)
    assert rec.evidence["signal"] == "p99" and rec.evidence["pod"] == "cart-v1-2"


def test_no_data_is_not_judged():
    assert find(_svc([(6000, 0.001, 20), (float("nan"), 0.5, 20)]), OutlierConfig(), 0, 300) == []


def test_build_snapshot_from_recent_window():
    recent = RecentWindow()
    ts = np.arange(0.0, 600.0, 15.0)
    rows = {
        SeriesKey("cart", "default", Signal.RATE): np.full(len(ts), 40.0),
        SeriesKey("cart", "default", Signal.ERROR_RATIO): np.full(len(ts), 0.01),
        SeriesKey("cart", "default", Signal.P99): np.full(len(ts), 50.0),
        SeriesKey("cart", "default", Signal.RATE, Scope.VERSION, version="v1"): np.full(len(ts), 40.0),
        SeriesKey("cart", "default", Signal.ERROR_RATIO, Scope.VERSION, version="v1"): np.full(len(ts), 0.01),
        SeriesKey("cart", "default", Signal.RATE, Scope.POD, pod="cart-v1-abc-1"): np.full(len(ts), 20.0),
        SeriesKey("cart", "default", Signal.ERROR_RATIO, Scope.POD, pod="cart-v1-abc-1"): np.full(
            len(ts), 0.02
        ),
    }
    rows[SeriesKey("cart", "default", Signal.RATE)][-25] = 100.0  # the busy point, before the window
    keys = list(rows)
    values = np.stack([rows[k] for k in keys])
    expected = np.full_like(values, 0.001)
    recent.add(keys, ts, values=values, expected=expected, lower=values, upper=values, score=values * 0)
    snap = build_snapshot(recent, now=600.0, window_s=300.0, weights={"default/cart": {"v1": 100}})
    [svc] = snap.services
    assert svc.traffic.rate == 40.0 and abs(svc.traffic.requests - 40 * 15 * 20) < 1e-6
    assert abs(svc.traffic.error_ratio - 0.01) < 1e-12 and svc.traffic.p99_ms == 50.0
    assert svc.traffic.busy_rate == 100.0 and svc.traffic.busy_p99_ms == 50.0
    assert svc.traffic.baseline_error_ratio == 0.001
    assert set(svc.subsets) == {"v1"} and svc.pods[0].subset == "v1" and svc.weights == {"v1": 100}
    assert np.isnan(svc.subsets["v1"].p99_ms)  # no p99 series: NaN, never 0


def test_a_series_with_one_point_counts_one_step_of_requests_not_the_whole_window():
    """The first cycle after a restart (or a new pod) has one point: one stray error in it is
    one step's worth, so it cannot make a pod a credible outlier."""
    recent = RecentWindow()
    pods = {f"cart-v1-abc-{i}": (0.0111 if i == 0 else 0.0) for i in range(4)}
    keys, rows = [], []
    for pod, ratio in pods.items():
        keys += [
            SeriesKey("cart", "default", Signal.RATE, Scope.POD, pod=pod),
            SeriesKey("cart", "default", Signal.ERROR_RATIO, Scope.POD, pod=pod),
        ]
        rows += [[10.0], [ratio]]
    keys += [SeriesKey("cart", "default", Signal.RATE), SeriesKey("cart", "default", Signal.ERROR_RATIO)]
    rows += [[40.0], [0.0028]]
    values = np.array(rows)
    recent.add(
        keys, np.array([600.0]), values=values, expected=values, lower=values, upper=values, score=values * 0
    )
    snap = build_snapshot(recent, now=600.0, window_s=300.0, step_s=3.0)
    [svc] = snap.services
    assert svc.traffic.requests == 120.0 and {p.traffic.requests for p in svc.pods} == {30.0}
    assert find(svc, OutlierConfig(), 600.0, 300.0) == []
    assert find(build_snapshot(recent, now=600.0, window_s=300.0).services[0], OutlierConfig(), 600.0, 300.0)
