"""NAB scorer: hand-built cases and a point-by-point twin of the vectorised sweep."""

from __future__ import annotations

import numpy as np
import pytest

from detector.evaluation.datasets import LabelledSeries
from detector.evaluation.nab import (
    PROFILES,
    nab_scores,
    nab_windows,
    point_weights,
    scaled_sigmoid,
    series_curves,
)


def _series(n: int = 200, label_runs: tuple[tuple[int, int], ...] = ((100, 104),)) -> LabelledSeries:
    ts = np.arange(n, dtype=np.float64) * 60.0
    labels = np.zeros(n, dtype=bool)
    for a, b in label_runs:
        labels[a : b + 1] = True
    windows = [(ts[a], ts[b]) for a, b in label_runs]
    return LabelledSeries("s", "t", ts, np.zeros(n), labels, windows, 60.0)


def _naive_total(scores: np.ndarray, windows: list[tuple[int, int]], thr: float, a_tp, a_fp, a_fn) -> float:
    """The rules read literally, one point at a time."""
    total, prev = 0.0, None
    done = set()
    for i, s in enumerate(scores):
        win = next((k for k, (a, b) in enumerate(windows) if a <= i <= b), None)
        if win is not None:
            a, b = windows[win]
            if s >= thr and win not in done:
                done.add(win)
                total += a_tp * float(scaled_sigmoid(-(b - i + 1) / (b - a + 1)) / scaled_sigmoid(-1.0))
            prev = (a, b)
        elif s >= thr:
            cost = -1.0 if prev is None else float(scaled_sigmoid((i - prev[1]) / max(prev[1] - prev[0], 1)))
            total += a_fp * cost
    return total - a_fn * (len(windows) - len(done))


def test_window_size_is_ten_percent_split_over_labels() -> None:
    assert nab_windows(1000, [(100, 100), (500, 500)]) == [(75, 125), (475, 525)]
    assert nab_windows(100, [(10, 40)]) == [(10, 40)]  # never shorter than the label run
    assert nab_windows(100, [(10, 10), (14, 14)]) == [(7, 17)]  # overlapping windows merge


def test_perfect_detector_scores_100_and_null_scores_0() -> None:
    s = _series()
    ((a, _b),) = nab_windows(200, [(100, 104)])
    perfect = np.zeros(200)
    perfect[a] = 1.0
    assert [r.score for r in nab_scores([s], [perfect])] == pytest.approx([100.0] * 3)
    assert [r.score for r in nab_scores([s], [np.full(200, np.nan)])] == pytest.approx([0.0] * 3)


def test_early_detection_beats_late_detection() -> None:
    ((a, b),) = wins = nab_windows(200, [(100, 104)])
    thr = np.array([0.5])

    def tp_at(i: int) -> float:
        x = np.zeros(200)
        x[i] = 1.0
        return float(series_curves(x, wins, 0, thr)[1][0])

    assert tp_at(a + 1) > tp_at(b - 1) > 0.0
    assert tp_at(b) == pytest.approx(float(scaled_sigmoid(-1 / (b - a + 1)) / scaled_sigmoid(-1.0)))
    assert tp_at(a) == pytest.approx(1.0)  # NAB: a detection at the window start earns exactly A_TP


def test_false_positive_before_any_window_costs_a_fp() -> None:
    s = _series()
    ((a, _),) = nab_windows(200, [(100, 104)])
    x = np.zeros(200)
    x[a] = 1.0
    with_fp = x.copy()
    with_fp[10] = 1.0
    for prof, clean, noisy in zip(
        PROFILES,
        nab_scores([s], [x], np.array([0.5])),
        nab_scores([s], [with_fp], np.array([0.5])),
        strict=True,
    ):
        assert clean.raw - noisy.raw == pytest.approx(prof.a_fp)


def test_false_positive_just_after_a_window_is_cheaper_than_far_after() -> None:
    _, fp = point_weights(200, [(90, 110)])
    assert -1.0 < fp[111] < 0 and fp[111] > fp[150] and fp[199] == -1.0
    assert np.isnan(fp[100]) and fp[0] == -1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_sweep_matches_naive_twin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    wins = nab_windows(n, [(60, 62), (150, 170), (260, 261)])
    x = rng.random(n)
    x[rng.random(n) < 0.05] = np.nan
    thresholds = np.array([0.5, 0.9, 0.97, 0.999, np.inf])
    fp, tp, missed, n_win = series_curves(x, wins, 0, thresholds)
    for prof in PROFILES:
        fast = prof.a_fp * fp + prof.a_tp * tp - prof.a_fn * missed
        slow = [
            _naive_total(np.nan_to_num(x, nan=-1), wins, t, prof.a_tp, prof.a_fp, prof.a_fn)
            for t in thresholds
        ]
        assert fast == pytest.approx(slow)
    assert n_win == 3


def test_probation_points_never_detect() -> None:
    wins = nab_windows(200, [(100, 104)])
    x = np.ones(200)
    fp, _tp, _missed, _ = series_curves(x, wins, 150, np.array([0.5]))
    assert fp[0] == pytest.approx(float(np.sum(point_weights(200, wins)[1][150:])))


def test_probation_is_nabs_fifteen_percent_capped_at_750_points() -> None:
    from detector.evaluation.events import judged_from

    assert judged_from(_series(1000), 0.15) == 150
    assert judged_from(_series(20000), 0.15) == 750
