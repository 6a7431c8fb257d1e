"""The baseline kernel's blocked layout against its per-series loop, bit for bit.

``baseline_kernel`` steps ``LANES`` series × ``TILE`` points at a time (time-major tiles,
a vectorised step with the profile writes, re-baselines and extreme-value fits in a
scalar pass) and falls back to the per-series loop for warm-ups, first points, thin
blocks and short calls. Whatever the shape, the state and the options, it must give
exactly what ``baseline_kernel_serial`` gives; ``test_detect_seasonal`` holds the
per-series loop to the plain-Python twin.
"""

from __future__ import annotations

import numpy as np
import pytest

from detector.detect.ensemble import Ensemble
from detector.detect.kernels import LANES, MIN_BLOCKED_POINTS, TILE
from detector.detect.kernels_seasonal import MIN_BLOCKED_SERIES, baseline_kernel, baseline_kernel_serial
from detector.detect.level_shift import LevelShift
from detector.detect.seasonal import Seasonal

BINS = 7
HYPERS = {
    "ensemble": Ensemble()._hyper(),
    "level_shift": LevelShift()._hyper(),
    "seasonal": Seasonal()._hyper(),
    # quick to alarm, shift and re-baseline, with a short tail: every rare branch taken often
    "twitchy": np.array([0.2, 0.1, 0.3, 1.5, 1.0, 0.05, 0.2, 1.0, 0.5, 3.0, 3.0, 1e-2, 0.2, 0.3]),
}
STATE = ("level", "scale", "tail", "cusum", "count", "peaks", "profile")


def _messy(n: int, t: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_t(3, (n, t)) * rng.uniform(0.1, 10, (n, 1)) + rng.uniform(-50, 50, (n, 1))
    x[:, t // 2 :] += rng.choice([0.0, 30.0, -30.0], (n, 1))  # level shifts for the CUSUM
    for bad in (np.nan, np.inf, -np.inf):
        x[rng.random(x.shape) < 0.02] = bad
    x[::5] = np.nan  # series that never start
    x[1::5, : t // 2] = np.nan  # and series that start mid-way, inside a later tile
    x[2::5] = 3.25  # constant: sigma 0 where the floors are 0
    return x


def _state(n: int, seed: int, warm: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    count = np.full(n, 500, np.int64) if warm else np.zeros(n, np.int64)
    if warm:
        count[::5] = 0  # never seen: a stale level must be kept as it is
        count[3::7] = rng.choice(np.array([1, 3, -1]), count[3::7].size)  # warming up, and a corrupt count
    peaks = np.zeros((n, 5))
    if warm:
        peaks[:] = np.c_[
            rng.uniform(1, 3, n), rng.integers(0, 40, n), rng.uniform(0.2, 1, n), np.ones(n), np.ones(n)
        ]
    return {
        "level": np.where(count != 0, rng.normal(0, 20, n), np.nan) if warm else np.full(n, np.nan),
        "scale": np.abs(rng.normal(2, 1, n)) * warm,
        "tail": np.abs(rng.normal(1, 0.5, n)) * warm,
        "cusum": np.c_[np.abs(rng.normal(0, 3, (n, 4))), rng.integers(0, 3, n)] * warm,
        "count": count,
        "peaks": peaks,
        "profile": rng.normal(0, 5, (n, BINS)),
    }


def _run(
    kernel: object, values: np.ndarray, state: dict[str, np.ndarray], hyper: np.ndarray, peaks: bool
) -> list[np.ndarray]:
    n, t = values.shape
    s = {k: v.copy() for k, v in state.items()}
    # a season on most rows (phases drifting between them), none on every third
    phase = (np.arange(t)[None, :] + np.arange(n)[:, None]) % BINS
    phase = np.where(np.arange(n)[:, None] % 3 == 2, -1, phase).astype(np.int64)
    direction = (np.arange(n) % 3 - 1).astype(np.int8)
    abs_floor = np.where(np.arange(n) % 2 == 0, 0.0, 0.05)
    rel_floor = np.where(np.arange(n) % 4 < 2, 0.0, 0.01)
    outs = [np.full(values.shape, -1.0) for _ in range(5)]
    kernel(  # type: ignore[operator]
        values, phase, s["profile"], s["level"], s["scale"], s["tail"], s["cusum"], s["count"], direction,
        abs_floor, rel_floor, hyper, 10, 5, *outs, *([s["peaks"]] if peaks else []),
    )  # fmt: skip
    return [*outs, *(s[k] for k in STATE)]


def _assert_bitwise(
    values: np.ndarray, state: dict[str, np.ndarray], hyper: np.ndarray, peaks: bool = True
) -> None:
    blocked = _run(baseline_kernel, values, state, hyper, peaks)
    serial = _run(baseline_kernel_serial, values, state, hyper, peaks)
    names = ("score", "shift", "expected", "lower", "upper", *STATE)
    for name, got, want in zip(names, blocked, serial, strict=True):
        # NaN included: compare the bits, not the values
        np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64), err_msg=name)


@pytest.mark.parametrize(
    "n", [1, MIN_BLOCKED_SERIES - 1, MIN_BLOCKED_SERIES, LANES, LANES + 1, 2 * LANES + 9]
)
@pytest.mark.parametrize("t", [0, 1, MIN_BLOCKED_POINTS, TILE - 1, 2 * TILE + 3])
def test_blocked_equals_serial_from_a_fresh_state(n: int, t: int) -> None:
    _assert_bitwise(_messy(n, t, seed=n + t), _state(n, 1, warm=False), HYPERS["ensemble"])


@pytest.mark.parametrize("name", sorted(HYPERS))
@pytest.mark.parametrize("t", [MIN_BLOCKED_POINTS + 1, TILE + 5, 3 * TILE])
def test_blocked_equals_serial_when_resuming(name: str, t: int) -> None:
    # warm from the first tile (the vectorised step at once), except the blocks holding a
    # series still warming up, never seen, or with a corrupt count
    n = 3 * LANES + 2
    _assert_bitwise(_messy(n, t, seed=t), _state(n, 2, warm=True), HYPERS[name])


def test_blocked_equals_serial_without_the_tail_state() -> None:
    n = 2 * LANES
    _assert_bitwise(_messy(n, 2 * TILE, seed=3), _state(n, 3, warm=True), HYPERS["ensemble"], peaks=False)


def test_blocked_equals_serial_on_views_that_are_not_row_contiguous() -> None:
    # a column-strided view (no 4×4 shuffles), a row-sliced one (shuffles, offset rows), rows backwards
    x = _messy(2 * LANES + 2, 2 * TILE, seed=13)
    for view in (x[:, ::2], x[3:, 5:], x[::-1]):
        _assert_bitwise(view, _state(len(view), 4, warm=True), HYPERS["twitchy"])


def test_the_rare_branches_are_taken() -> None:
    """The bitwise tests mean something only if re-baselines, peaks and alarms happen in the tiles."""
    n, t = 2 * LANES, 3 * TILE
    state = _state(n, 2, warm=True)
    out = _run(baseline_kernel, _messy(n, t, seed=5), state, HYPERS["twitchy"], True)
    score, shift, peaks = out[0][:, TILE:], out[1][:, TILE:], out[5 + STATE.index("peaks")]
    assert (score >= 0.5).sum() > 50
    assert (shift >= 0.5).sum() > 10
    assert (peaks[:, 1] > state["peaks"][:, 1] + 20).sum() > LANES
