"""The seasonal/level-shift/ensemble kernel against its twin; period detection; the registry contract."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from detector.detect.csv_score import InputError, score_csv, score_points
from detector.detect.kernels_seasonal import baseline_kernel
from detector.detect.periods import DAY, WEEK, detect_period, phases
from detector.detect.registry import DETECTORS, make

try:
    import naive
except ImportError:  # until pytest's `pythonpath` includes tests/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import naive

HYPERS = [
    [0.02, 0.01, 0.05, 3.5, 2.0, 0.01, 0.05, 2.0, 2.0, 20.0, 4.0],
    [0.2, 0.1, 0.3, 2.0, 1.0, 0.05, 0.2, 1.0, 0.5, 3.0, 3.0],
    [0.05, 0.05, 0.1, 3.0, 2.0, 0.01, 0.05, 0.0, 1.0, 0.0, 4.0],
]


def _check(values: np.ndarray, hyper: list[float], grace: int = 5, bins: int = 4) -> None:
    n, t = values.shape
    phase = np.where(np.arange(n)[:, None] % 2 == 0, np.arange(t)[None, :] % bins, -1).astype(np.int64)
    profile = np.random.default_rng(1).normal(0, 1, (n, bins))
    direction = (np.arange(n) % 3 - 1).astype(np.int8)
    abs_floor, rel_floor = np.full(n, 0.01) * (np.arange(n) % 2), np.full(n, 0.01)
    state = {
        "level": np.full(n, np.nan),
        "scale": np.zeros(n),
        "tail": np.zeros(n),
        "cusum": np.zeros((n, 4)),
        "count": np.zeros(n, np.int64),
    }
    twin_state = {k: v.copy() for k, v in state.items()}
    twin_profile = profile.copy()
    got = {k: np.empty(values.shape) for k in ("score", "shift", "expected", "lower", "upper")}
    baseline_kernel(
        values, phase, profile, state["level"], state["scale"], state["tail"], state["cusum"], state["count"],
        direction, abs_floor, rel_floor, np.array(hyper), grace, 3, *got.values(),
    )  # fmt: skip
    want = naive.baseline(
        values, phase, twin_profile, twin_state, direction, abs_floor, rel_floor, hyper, grace, 3
    )
    for name in got:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=name)
    for name in state:
        np.testing.assert_allclose(state[name], twin_state[name], rtol=1e-9, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(profile, twin_profile, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("hyper", HYPERS)
def test_kernel_matches_twin(hyper: list[float]) -> None:
    rng = np.random.default_rng(0)
    fixed = np.array([[1.0, 2.0, 1.5, 9.0, 1.0, 1.2, 1.1, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 1.0]] * 3)
    noisy = rng.normal(10, 2, (6, 300))
    noisy[:, 150:] += 8  # a shift for the CUSUM
    noisy[:, 220] += 40  # a spike
    holes = noisy.copy()
    holes[rng.random(holes.shape) < 0.1] = np.nan
    holes[0, 5], holes[1, 7], holes[2, :3] = np.inf, -np.inf, np.nan
    flat_start = np.tile(
        np.r_[np.zeros(30), 5.0, np.zeros(40), -3.0, np.zeros(20)], (4, 1)
    )  # sigma 0 at first
    for values in (
        fixed,
        noisy,
        holes,
        flat_start,
        np.full((3, 50), 7.0),
        np.full((2, 2), 1.0),
        np.empty((2, 0)),
    ):
        _check(np.ascontiguousarray(values), hyper)


def test_a_flat_start_does_not_alarm_forever() -> None:
    """A series flat through its warm-up has scale 0; its first blip must not freeze it in alarm."""
    from detector.detect.ensemble import Ensemble

    x = np.r_[np.zeros(40), 80.0, np.zeros(300)]
    x[100::37] = 1.0  # later, small blips of a low-volume count
    score = Ensemble().score_series(np.arange(x.size) * 3600.0, x).score
    assert (score[60:] < 0.5).mean() > 0.95


def test_detects_daily_and_weekly_and_not_noise() -> None:
    rng = np.random.default_rng(0)
    ts = np.arange(0, 28 * DAY, 3600.0)
    daily = 10 * np.sin(2 * np.pi * ts / DAY)
    weekly = 10 * (((ts // DAY) % 7) >= 5)  # quiet weekends
    assert detect_period(ts, 100 + daily + rng.normal(0, 1, ts.size))[0] == DAY
    assert detect_period(ts, 100 + weekly + daily / 5 + rng.normal(0, 1, ts.size))[0] == WEEK
    assert detect_period(ts, rng.normal(0, 1, ts.size)) == (0.0, 0.0)
    assert detect_period(ts[:48], daily[:48]) == (0.0, 0.0)  # two days: too short to tell
    assert (phases(ts[:3], 0.0, 0.0) == -1).all()


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_contract(name: str) -> None:
    """Same input, same invariants: scores in [0, 1], NaN for no data, causal, a 2-point burst flagged."""
    rng = np.random.default_rng(3)
    ts = np.arange(0, 5 * DAY, 600.0)
    x = 50 + 10 * np.sin(2 * np.pi * ts / DAY) + rng.normal(0, 1, ts.size)
    x[300:302] += 60  # two points: a detector may ask for confirmation before it alarms
    x[100] = np.nan
    full = score_points(ts, x, name)
    assert np.isnan(full[100]) and np.nanmin(full) >= 0 and np.nanmax(full) <= 1 and full[301] >= 0.5
    assert (full[: getattr(make(name), "grace", 0)] == 0).all()  # grace period
    for cut in (1, 19, 301, 500):
        np.testing.assert_array_equal(score_points(ts[:cut], x[:cut], name), full[:cut])


def test_score_csv_by_name() -> None:
    text = "timestamp,value\n" + "\n".join(f"{i * 60},{v}" for i, v in enumerate([1.0] * 30 + [50.0] * 2))
    assert score_csv(text, detector="ensemble")[-1].is_anomaly == 1
    with pytest.raises(InputError, match="unknown detector 'nope'"):
        score_csv(text, detector="nope")
    assert type(make("level_shift")).__name__ == "LevelShift"


def test_confirmation_needs_two_points_below_an_hourly_step_and_one_above() -> None:
    from detector.detect.baseline import confirmed
    from detector.detect.ensemble import Ensemble

    got = confirmed(np.array([0.9, 0.2, 0.9, 0.8, np.nan, 0.7]), 2)
    np.testing.assert_array_equal(got, [0.9, 0.2, 0.2, 0.8, np.nan, 0.7])
    x = np.r_[np.random.default_rng(0).normal(10, 1, 200), 40.0, 10.0]
    for step, alarmed in ((60.0, False), (3600.0, True)):
        score = Ensemble().score_series(np.arange(x.size) * step, x).score
        assert bool(score[200] >= 0.5) is alarmed
