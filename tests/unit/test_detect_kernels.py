"""The robust EWMA kernel against its plain-Python twin in tests/naive.py and its per-series loop."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from detector.detect.kernels import (
    LANES,
    MIN_BLOCKED_POINTS,
    TILE,
    robust_ewma_kernel,
    robust_ewma_kernel_serial,
)
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


# ---------------------------------------------------------------- the blocked layout
# robust_ewma_kernel steps LANES series × TILE points at a time (time-major tiles), and
# falls back to the per-series loop for warm-ups, first points and calls of fewer than
# MIN_BLOCKED_POINTS points. It must give exactly (bit for bit) what the per-series loop
# gives, whatever the shape's remainder.


def _kernel_outputs(
    kernel: Callable[..., None], det: RobustEWMA, values: np.ndarray, state: EWMAState
) -> list[np.ndarray]:
    n = values.shape[0]
    state = EWMAState(state.level.copy(), state.scale.copy(), state.count.copy())
    params = _params(n)
    outs = [np.full(values.shape, -1.0) for _ in range(4)]
    kernel(
        values, state.level, state.scale, state.count, params.direction, params.abs_floor,
        params.rel_floor, det.alpha, det.scale_alpha, det.threshold, det.clip, det.grace, *outs,
    )  # fmt: skip
    return [*outs, state.level, state.scale, state.count]


def _assert_bitwise(
    values: np.ndarray, state: EWMAState | None = None, det: RobustEWMA | None = None
) -> None:
    det = det or RobustEWMA()
    state = state or det.new_state(values.shape[0])
    blocked = _kernel_outputs(robust_ewma_kernel, det, values, state)
    serial = _kernel_outputs(robust_ewma_kernel_serial, det, values, state)
    names = ("score", "expected", "lower", "upper", "level", "scale", "count")
    for name, got, want in zip(names, blocked, serial, strict=True):
        # NaN included: compare the bits, not the values
        np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64), err_msg=name)


def _warm_state(n: int, seed: int = 15) -> EWMAState:
    """Every series past its warm-up, except rows ``::5`` (no data in ``_messy``), never seen."""
    rng = np.random.default_rng(seed)
    state = EWMAState(rng.normal(50, 5, n), np.abs(rng.normal(2, 1, n)), np.full(n, 500, dtype=np.int64))
    state.count[::5] = 0  # their stale level must be kept as it is
    return state


def _messy(n: int, t: int, seed: int = 7) -> np.ndarray:
    x = _random(seed, n, t)
    rng = np.random.default_rng(seed)
    for bad in (np.nan, np.inf, -np.inf):
        x[rng.random(x.shape) < 0.03] = bad
    x[::5] = np.nan  # series that never start
    x[1::5, : t // 2] = np.nan  # and series that start mid-way, inside a later tile
    x[2::5] = 3.25  # constant
    return x


@pytest.mark.parametrize("n", [1, 3, LANES - 1, LANES, LANES + 1, 2 * LANES + 5])
@pytest.mark.parametrize("t", [0, 1, 3, TILE - 1, TILE + 5, 2 * TILE + 3])
def test_blocked_equals_serial_bitwise(n: int, t: int) -> None:
    _assert_bitwise(_messy(n, t))


@pytest.mark.parametrize("n", [1, 2, LANES + 3])
@pytest.mark.parametrize("t", [MIN_BLOCKED_POINTS, MIN_BLOCKED_POINTS + 1, 7, 9])
def test_blocked_equals_serial_from_the_first_tile(n: int, t: int) -> None:
    # every series warm, or without data throughout: the vectorised tile runs at once,
    # on a block that does not fill the lanes and a tile that is not a multiple of 4
    state = _warm_state(n)
    if n > LANES + 1:
        state.count[LANES + 1] = 0  # but this one gets its first point: that block goes per series
    _assert_bitwise(_messy(n, t, seed=15), state)


@pytest.mark.parametrize("det", DETECTORS, ids=repr)
def test_blocked_equals_serial_when_resuming(det: RobustEWMA) -> None:
    n = LANES + 3
    rng = np.random.default_rng(11)
    # warm (the fast path from the first tile), still warming up, never seen, and a
    # corrupt negative count (the per-series loop's behaviour, whatever it is)
    count = rng.choice(np.array([0, 1, 2, 50, 10_000, -1]), size=n).astype(np.int64)
    level = np.where(count != 0, rng.normal(50, 5, n), np.nan)
    level[0] = 4.0  # a stale level with count 0 is ignored, and kept
    count[0] = 0
    state = EWMAState(level, np.abs(rng.normal(2, 1, n)), count)
    _assert_bitwise(_messy(n, 2 * TILE + 1, seed=12), state, det)


def test_blocked_equals_serial_on_views_that_are_not_row_contiguous() -> None:
    # a column-strided view (no 4×4 shuffles), a row-sliced one (shuffles, offset rows)
    x = _messy(2 * LANES + 2, 2 * TILE, seed=13)
    _assert_bitwise(x[:, ::2], _warm_state(len(x)))
    _assert_bitwise(x[3:, 5:], _warm_state(len(x) - 3))
    _assert_bitwise(x[::-1], _warm_state(len(x)))  # rows backwards: a negative row stride


@pytest.mark.parametrize("shape", [(1, 0), (1, 1), (LANES + 1, 1), (1, 2 * TILE + 1)])
def test_blocked_layout_against_twin_on_edges(shape: tuple[int, int]) -> None:
    _check(RobustEWMA(grace=3), _messy(*shape, seed=14) if shape[1] else np.ones(shape))
