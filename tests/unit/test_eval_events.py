"""Event metrics on hand-built series."""

from __future__ import annotations

import numpy as np
import pytest

from detector.evaluation.datasets import LabelledSeries
from detector.evaluation.events import best_f1_threshold, detections, event_metrics


def _series(
    n: int, windows: list[tuple[int, int]], name: str = "s", keys: list[str] | None = None, step: float = 60.0
) -> LabelledSeries:
    ts = np.arange(n, dtype=np.float64) * step
    labels = np.zeros(n, dtype=bool)
    for a, b in windows:
        labels[a : b + 1] = True
    meta = {"window_keys": keys} if keys else {}
    return LabelledSeries(
        name, "t", ts, np.zeros(n), labels, [(ts[a], ts[b]) for a, b in windows], step, meta
    )


def _alarms(n: int, *points: int) -> np.ndarray:
    x = np.zeros(n)
    x[list(points)] = 1.0
    return x


def test_detections_are_maximal_runs_and_nan_breaks_them() -> None:
    assert detections(np.array([1, 1, np.nan, 1, 0, 1.0]), 0.5) == [(0, 1), (3, 3), (5, 5)]
    assert detections(np.array([1, 1, 0, 1.0]), 0.5, start=1) == [(1, 1), (3, 3)]


def test_precision_recall_delay_and_false_alarms() -> None:
    n = 1440  # one day of minutes
    s = _series(n, [(100, 109), (500, 509)])
    # one early-in-window detection (delay 3), one false alarm, second window missed
    m = event_metrics([s], [_alarms(n, 103, 104, 900)], 0.5)
    assert (m.precision, m.recall) == (0.5, 0.5)
    assert m.f1 == pytest.approx(0.5)
    assert m.median_delay == 3.0
    assert m.false_alarms_per_day == pytest.approx(1.0)
    assert m.n_windows == 2 and m.n_detections == 2


def test_tolerance_credits_a_slightly_late_alarm_only() -> None:
    n = 200
    s = _series(n, [(100, 102)])
    assert event_metrics([s], [_alarms(n, 104)], 0.5, tolerance=2).recall == 1.0
    late = event_metrics([s], [_alarms(n, 105)], 0.5, tolerance=2)
    assert late.recall == 0.0 and late.precision == 0.0


def test_alarm_already_ringing_before_window_is_not_a_catch() -> None:
    n = 200
    s = _series(n, [(100, 102)])
    x = np.zeros(n)
    x[95:103] = 1.0
    m = event_metrics([s], [x], 0.5)
    # judged by its opening, as a page is: raised before the window, for something else
    assert m.recall == 0.0 and m.precision == 0.0 and m.n_detections == 1


def test_flicker_is_one_event_and_earns_one_true_positive() -> None:
    n = 1440
    s = _series(n, [(100, 119)])
    inside = _alarms(n, 101, 104, 107, 110)  # on/off every third point inside the window
    outside = _alarms(n, 600, 602, 604)  # the same flicker far from any window
    m = event_metrics([s], [inside + outside], 0.5)
    assert m.n_detections == 2 and m.precision == 0.5 and m.recall == 1.0
    assert m.false_alarms_per_day == pytest.approx(1.0)
    apart = event_metrics([s], [outside], 0.5, merge_gap=0)
    assert apart.n_detections == 3


def test_alarm_opening_in_the_tolerance_after_a_window_is_true_later_is_false() -> None:
    n = 200
    s = _series(n, [(100, 102)])
    m = event_metrics([s], [_alarms(n, 104, 110)], 0.5)
    assert (m.n_detections, m.precision, m.recall) == (2, 0.5, 1.0)


def test_shared_key_counts_a_fault_once_with_earliest_delay() -> None:
    n = 200
    a = _series(n, [(100, 102)], "a", ["fault-1"])
    b = _series(n, [(100, 102)], "b", ["fault-1"])
    m = event_metrics([a, b], [_alarms(n, 102), _alarms(n, 101)], 0.5)
    assert m.n_windows == 1 and m.recall == 1.0 and m.median_delay == 1.0


def test_probation_drops_early_windows_and_alarms() -> None:
    n = 100
    s = _series(n, [(5, 6), (50, 52)])
    m = event_metrics([s], [_alarms(n, 5, 51)], 0.5, probation=0.15)
    assert m.n_windows == 1 and m.recall == 1.0 and m.n_detections == 1


def test_no_detections_gives_zero_f1_and_nan_precision() -> None:
    s = _series(50, [(10, 12)])
    m = event_metrics([s], [np.zeros(50)], 0.5)
    assert np.isnan(m.precision) and m.recall == 0.0 and m.f1 == 0.0


def test_best_f1_threshold_prefers_the_separating_threshold() -> None:
    n = 300
    s = _series(n, [(100, 102), (200, 202)])
    x = np.full(n, 0.1)
    x[[100, 200]] = 0.9
    x[50] = 0.5
    thr, m = best_f1_threshold([s], [x], np.array([0.05, 0.3, 0.6, 0.95]))
    assert thr == 0.6 and m.f1 == 1.0
