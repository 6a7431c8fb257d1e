"""The robust EWMA kernel against its plain-Python twin in tests/naive.py."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from detector.detect.robust_ewma import EWMAState, ParamArrays, RobustEWMA, SeriesParams

try:
    import naive
except ImportError:  # until pytest's `pythonpath` includes tests/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import naive

DETECTORS = [
    RobustEWMA(),
    RobustEWMA(alpha=0.1, threshold=2.0, grace=0, clip=1.0, scale_alpha=0.3),
    RobustEWMA(grace=3),
]
PARAMS = [SeriesParams(0), SeriesParams(1, 2.0, 0.1), SeriesParams(-1, 0.0, 0.05), SeriesParams(1, 0.01, 0.0)]


def _params(n: int) -> ParamArrays:
    return ParamArrays.from_params([PARAMS[i % len(PARAMS)] for i in range(n)])


def _check(det: RobustEWMA, values: np.ndarray, state: EWMAState | None = None) -> None:
    n = values.shape[0]
    state = state or det.new_state(n)
    twin_state = EWMAState(state.level.copy(), state.scale.copy(), state.count.copy())
    params = _params(n)
    got = det.score(state, values, params)
    want = naive.robust_ewma(
        values,
        twin_state.level,
        twin_state.scale,
        twin_state.count,
        params.direction,
        params.abs_floor,
        params.rel_floor,
        det.alpha,
        det.scale_alpha,
        det.threshold,
        det.clip,
        det.grace,
    )
    for name, w in zip(("score", "expected", "lower", "upper"), want, strict=True):
        np.testing.assert_allclose(
            getattr(got, name), w, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=name
        )
    np.testing.assert_allclose(state.level, twin_state.level, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(state.scale, twin_state.scale, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(state.count, twin_state.count)


def _random(seed: int, n: int = 6, t: int = 300) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(50, 5, size=(n, t)) * rng.uniform(0.1, 10, size=(n, 1))
    x[rng.random(x.shape) < 0.02] *= 8  # spikes
    return x


@pytest.mark.parametrize("det", DETECTORS, ids=repr)
def test_fixed(det: RobustEWMA) -> None:
    _check(
        det,
        np.array(
            [
                [1.0, 2, 3, 2, 1, 2, 3, 40, 2, 1, 0, -30, 2, 2, 2],
                [0.0, 0, 0, 0, 0, 0, 0, 0.02, 0, 0, 0, 0, 0, 0.5, 0],
            ]
        ),
    )


@pytest.mark.parametrize("det", DETECTORS, ids=repr)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random(det: RobustEWMA, seed: int) -> None:
    _check(det, _random(seed))


@pytest.mark.parametrize("det", DETECTORS, ids=repr)
def test_nan_and_inf(det: RobustEWMA) -> None:
    x = _random(3)
    rng = np.random.default_rng(3)
    for bad in (np.nan, np.inf, -np.inf):
        x[rng.random(x.shape) < 0.05] = bad
    x[0, :40] = np.nan  # a series that starts late
    x[1, :] = np.nan  # and one that never starts
    _check(det, x)


@pytest.mark.parametrize("det", DETECTORS, ids=repr)
@pytest.mark.parametrize("level", [0.0, 7.5, -3.0])
def test_constant(det: RobustEWMA, level: float) -> None:
    _check(det, np.full((4, 50), level))


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (3, 0), (1, 1), (4, 1)])
def test_too_short(shape: tuple[int, int]) -> None:
    _check(RobustEWMA(), np.ones(shape))


def test_resumes_from_given_state() -> None:
    det = RobustEWMA(grace=5)
    state = EWMAState(
        np.array([10.0, np.nan, 3.0, 0.0]),
        np.array([1.0, 0.0, 0.0, 0.5]),
        np.array([100, 0, 2, 7], dtype=np.int64),
    )
    _check(det, _random(4, n=4, t=60), state)


@pytest.mark.parametrize("det", DETECTORS, ids=repr)
@pytest.mark.parametrize("cuts", [[1], [17, 18, 150], [0, 299], list(range(0, 300, 7))])
def test_chunks_equal_one_call(det: RobustEWMA, cuts: list[int]) -> None:
    x = _random(5)
    x[2, 100:130] = np.nan
    params = _params(len(x))
    whole_state = det.new_state(len(x))
    whole = det.score(whole_state, x, params)
    state = det.new_state(len(x))
    parts = [det.score(state, chunk, params) for chunk in np.split(x, cuts, axis=1)]
    for name in ("score", "expected", "lower", "upper"):
        joined = np.concatenate([getattr(p, name) for p in parts], axis=1)
        np.testing.assert_array_equal(joined, getattr(whole, name), err_msg=name)
    for name in EWMAState.FIELDS:
        np.testing.assert_array_equal(getattr(state, name), getattr(whole_state, name))
