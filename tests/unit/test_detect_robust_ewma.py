"""Behaviour of the RobustEWMA detector: what it flags, what it ignores, how it adapts."""

from __future__ import annotations

import numpy as np
import pytest

from detector.detect.robust_ewma import EWMAState, ParamArrays, RobustEWMA, SeriesParams


def _noise(seed: int = 0, n: int = 1000, mean: float = 100.0, sd: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, sd, n)


def test_hyperparameters_stored_as_given() -> None:
    det = RobustEWMA(alpha=0.05, threshold=4, grace=7, clip=1.5, scale_alpha=0.02)
    assert (det.alpha, det.threshold, det.grace, det.clip, det.scale_alpha) == (0.05, 4, 7, 1.5, 0.02)
    assert "threshold=4" in repr(det)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 0},
        {"alpha": 1.5},
        {"scale_alpha": -1},
        {"threshold": 0},
        {"clip": -1},
        {"grace": -1},
        {"grace": 2.5},
    ],
)
def test_rejects_bad_hyperparameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RobustEWMA(**kwargs)  # type: ignore[arg-type]


def test_spike_scores_high_and_barely_moves_the_level() -> None:
    x = _noise()
    x[500] = 130.0
    out = RobustEWMA().score_series(x)
    assert out.score[500] >= 0.9
    assert abs(out.expected[501] - out.expected[500]) < 0.2


@pytest.mark.parametrize("seed", range(3))
def test_false_positive_rate_on_gaussian_noise(seed: int) -> None:
    out = RobustEWMA().score_series(_noise(seed, n=20000))
    scores = out.score[20:]
    assert (scores >= 0.5).mean() < 0.003  # Gaussian tail at 3.5 sigma is 0.05 %; estimation noise adds some
    assert np.median(scores) < 0.05


def test_level_shift_is_flagged_then_absorbed() -> None:
    x = _noise(1, n=2000)
    x[1000:] += 10.0  # 10 sigma
    out = RobustEWMA().score_series(x)
    assert (out.score[1000:1020] >= 0.5).all()  # flagged for a while, not instantly absorbed
    assert (out.score[1500:] >= 0.5).mean() < 0.01  # then it is the new normal
    assert out.expected[-1] == pytest.approx(110.0, abs=1.0)


@pytest.mark.parametrize(("direction", "flagged"), [(1, "rise"), (-1, "drop"), (0, "both")])
def test_direction(direction: int, flagged: str) -> None:
    x = _noise(2)
    x[300], x[600] = 130.0, 70.0
    out = RobustEWMA().score_series(x, SeriesParams(direction))
    assert (out.score[300] >= 0.5) == (flagged in ("rise", "both"))
    assert (out.score[600] >= 0.5) == (flagged in ("drop", "both"))
    assert out.score[300 if flagged == "drop" else 600] == 0.0 or flagged == "both"


def test_grace_period_scores_zero() -> None:
    x = np.r_[1.0, 100.0, -50.0, np.nan, 1e6, np.ones(10)]
    out = RobustEWMA(grace=5).score_series(x)
    np.testing.assert_array_equal(out.score[:6], [0, 0, 0, np.nan, 0, 0])
    assert np.isnan(out.expected[0]) and np.isnan(out.lower[0]) and np.isnan(out.upper[0])
    assert out.expected[1] == 1.0


def test_no_data_is_nan_and_leaves_state_alone() -> None:
    det = RobustEWMA(grace=3)
    state = det.new_state(1)
    params = ParamArrays.from_params([SeriesParams()])
    det.score(state, _noise(3, n=50).reshape(1, -1), params)
    before = (state.level.copy(), state.scale.copy(), state.count.copy())
    out = det.score(state, np.array([[np.nan, np.inf, -np.inf]]), params)
    assert np.isnan(out.score).all() and np.isfinite(out.expected).all()
    for a, b in zip(before, (state.level, state.scale, state.count), strict=True):
        np.testing.assert_array_equal(a, b)


def test_scores_in_unit_interval_and_band_is_the_half_point() -> None:
    det = RobustEWMA(grace=5)
    out = det.score_series(_noise(4, n=300) * np.linspace(1, 3, 300))
    finite = out.score[np.isfinite(out.score)]
    assert ((finite >= 0) & (finite <= 1)).all()
    # A no-data point reports the band without moving the state, so it can be probed.
    state = det.new_state(1)
    params = ParamArrays.from_params([SeriesParams()])
    det.score(state, _noise(5, n=100).reshape(1, -1), params)
    band = det.score(state, np.array([[np.nan]]), params)
    for edge in (band.upper[0, 0], band.lower[0, 0]):
        probe = EWMAState(state.level.copy(), state.scale.copy(), state.count.copy())
        assert det.score(probe, np.array([[edge]]), params).score[0, 0] == pytest.approx(0.5)


def test_floor_keeps_a_flat_zero_series_calm() -> None:
    x = np.zeros(200)
    x[150] = 0.004  # one stray error in a few hundred requests
    x[180] = 0.05  # 5 % errors
    out = RobustEWMA().score_series(x, SeriesParams(1, abs_floor=0.005, rel_floor=0.1))
    assert out.score[150] < 0.1
    assert out.score[180] > 0.8


@pytest.mark.parametrize(
    "bad",
    [
        EWMAState(np.zeros(2), np.zeros(2), np.zeros(2, dtype=np.int64)),  # wrong length
        EWMAState(np.zeros(1), np.zeros(1), np.zeros(1)),  # count must be int64
    ],
)
def test_rejects_state_it_could_not_update_in_place(bad: EWMAState) -> None:
    with pytest.raises(ValueError, match="new_state"):
        RobustEWMA().score(bad, np.ones((1, 3)), ParamArrays.from_params([SeriesParams()]))


def test_non_contiguous_state_is_refused() -> None:
    bad = EWMAState(np.zeros(4)[::2], np.zeros(2), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="new_state"):
        RobustEWMA().score(bad, np.ones((2, 3)), ParamArrays.from_params([SeriesParams()] * 2))


def test_rejects_bad_shapes_and_params() -> None:
    det = RobustEWMA()
    with pytest.raises(ValueError, match="2-D"):
        det.score(det.new_state(1), np.ones(3), ParamArrays.from_params([SeriesParams()]))
    with pytest.raises(ValueError, match="params"):
        det.score(det.new_state(2), np.ones((2, 3)), ParamArrays.from_params([SeriesParams()]))
    with pytest.raises(ValueError):
        SeriesParams(direction=2)
    with pytest.raises(ValueError):
        SeriesParams(abs_floor=-1)
