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
    # with the extreme-value tail: evt_risk, evt_p0, evt_alpha
    [0.02, 0.01, 0.05, 3.5, 2.0, 0.01, 0.1, 2.0, 2.0, 40.0, 4.0, 1e-4, 0.02, 0.05],
    [0.1, 0.05, 0.1, 1.0, 2.0, 0.05, 0.2, 0.0, 1.0, 0.0, 4.0, 1e-2, 0.2, 0.3],
]


def _check(values: np.ndarray, hyper: list[float], grace: int = 5, bins: int = 4, peaks: bool = True) -> None:
    n, t = values.shape
    phase = np.where(np.arange(n)[:, None] % 2 == 0, np.arange(t)[None, :] % bins, -1).astype(np.int64)
    profile = np.random.default_rng(1).normal(0, 1, (n, bins))
    direction = (np.arange(n) % 3 - 1).astype(np.int8)
    abs_floor, rel_floor = np.full(n, 0.01) * (np.arange(n) % 2), np.full(n, 0.01)
    state = {
        "level": np.full(n, np.nan),
        "scale": np.zeros(n),
        "tail": np.zeros(n),
        "cusum": np.zeros((n, 5)),
        "count": np.zeros(n, np.int64),
    }
    if peaks:
        state["peaks"] = np.zeros((n, 5))
    twin_state = {k: v.copy() for k, v in state.items()}
    twin_profile = profile.copy()
    got = {k: np.empty(values.shape) for k in ("score", "shift", "expected", "lower", "upper")}
    baseline_kernel(
        values, phase, profile, state["level"], state["scale"], state["tail"], state["cusum"], state["count"],
        direction, abs_floor, rel_floor, np.array(hyper), grace, 3, *got.values(),
        *([state["peaks"]] if peaks else []),
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
        rng.standard_t(2, (3, 1500)),  # heavy tails: enough peaks for the extreme-value fit
    ):
        _check(np.ascontiguousarray(values), hyper)
    _check(np.ascontiguousarray(noisy), hyper, peaks=False)  # the call without the tail state


def test_a_flat_start_does_not_alarm_forever() -> None:
    """A series flat through its warm-up has scale 0; its first blip must not freeze it in alarm."""
    from detector.detect.ensemble import Ensemble

    x = np.r_[np.zeros(40), 80.0, np.zeros(300)]
    x[100::37] = 1.0  # later, small blips of a low-volume count
    score = Ensemble().score_series(np.arange(x.size) * 3600.0, x).score
    assert (score[60:] < 0.5).mean() > 0.95


@pytest.mark.parametrize("size", [5.0, 10.0, 30.0])
def test_a_sustained_shift_is_reported_then_becomes_the_new_normal(size: float) -> None:
    """A step of a few sigmas (a deploy that slows every request) must page once, then stop.

    A 5-sigma step is under the ensemble's point threshold (3.5 sigmas, and twice the
    series' own 99th-percentile residual); only the CUSUM sees it. It must hold the alarm
    long enough to be confirmed, then re-baseline so the new level stops alarming.
    """
    from detector.detect.ensemble import Ensemble

    x = np.random.default_rng(0).normal(100, 1, 3000)
    x[1500:] += size
    score = Ensemble().score_series(np.arange(x.size) * 60.0, x).score
    alarm = np.flatnonzero(score[1500:] >= 0.5)
    assert alarm.size >= 2 and alarm[0] <= 40  # reported, within 40 points (the CUSUM needs ~20)
    assert alarm[-1] - alarm[0] < 60  # and then absorbed
    assert (score[1500 + 100 :] < 0.5).all()
    assert (score[100:1500] < 0.5).mean() > 0.999


def test_stl_profile_fit_recovers_the_season_like_the_median_fit() -> None:
    from detector.detect.periods import STL_MAX_BINS, fit_profile, fit_profile_stl, stl_bin_width

    rng = np.random.default_rng(2)
    ts = np.arange(0, 8 * DAY, 300.0)  # 288 bins a day for the median fit, 48 for STL
    x = 100 + 30 * np.sin(2 * np.pi * ts / DAY) + rng.normal(0, 2, ts.size)
    x[rng.random(ts.size) < 0.01] += 200  # outliers: both fits are robust to them
    for fit, width in ((fit_profile, 300.0), (fit_profile_stl, stl_bin_width(DAY, 300.0))):
        prof, level, scale = fit(ts, x, DAY, 300.0)
        assert len(prof) == round(DAY / width)
        truth = 30 * np.sin(2 * np.pi * (np.arange(len(prof)) + 0.5) * width / DAY)
        assert np.sqrt(np.mean((prof - prof.mean() - truth) ** 2)) < 2.0, fit.__name__
        assert abs(level - 100) < 3 and 1.0 < scale < 4.0, (fit.__name__, level, scale)
    assert round(DAY / stl_bin_width(DAY, 300.0)) == STL_MAX_BINS


def test_profile_fit_is_checked() -> None:
    from detector.detect.seasonal import Seasonal

    with pytest.raises(ValueError, match="profile_fit"):
        Seasonal(profile_fit="fourier")


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


def test_extreme_value_tail_matches_twin_and_exponential_limit() -> None:
    from detector.detect.evt import gpd_excess_quantile

    cases = ((1.0, 2.0, 0.02, 1e-4), (1.0, 1.5, 0.05, 1e-3), (2.0, 20.0, 0.02, 1e-5), (0.0, 0.0, 0.02, 1e-4))
    for m1, m2, p0, q in cases:
        assert gpd_excess_quantile(m1, m2, p0, q) == pytest.approx(naive.gpd_excess_quantile(m1, m2, p0, q))
    # exponential excesses (m2 = 2·m1²) have shape 0: the quantile is m1·ln(p0/q)
    assert gpd_excess_quantile(1.0, 2.0, 0.02, 1e-4) == pytest.approx(np.log(200.0))
    assert gpd_excess_quantile(1.0, 2.0, 0.02, 0.5) == 0.0  # risk above p0: no tail level


def test_extreme_value_tail_keeps_heavy_tailed_noise_quiet() -> None:
    """Student-t (3) noise: the tail fit cuts a 3.5-sigma rule's alarms tenfold (2.5 % to 0.24 %).

    Not to the nominal 1e-4: alarms are kept out of the peaks (or an incident would
    teach the tail to expect it), and that trims the tail the fit sees.
    """
    from detector.detect.baseline import BaselineDetector

    rng = np.random.default_rng(4)
    x = 100 + rng.standard_t(3, 20000)
    ts = np.arange(x.size) * 3600.0  # hourly: no confirmation, the calibration alone
    evt = BaselineDetector(evt_risk=1e-4, tail_step=0.1).score_series(ts, x).score[2000:]
    plain = BaselineDetector().score_series(ts, x).score[2000:]
    assert (evt >= 0.5).mean() < 0.005 < 0.02 < (plain >= 0.5).mean()


def test_bin_means_kernel_matches_twin() -> None:
    from detector.detect.kernels_seasonal import bin_means_kernel

    rng = np.random.default_rng(2)
    ts = np.sort(rng.uniform(1000.0, 5000.0, 400))
    x = rng.normal(0, 1, ts.size)
    x[rng.random(ts.size) < 0.2] = np.nan
    x[:30] = np.nan  # a leading gap
    for bin_s in (7.0, 60.0, 10000.0):
        first = int(np.floor(ts[0] / bin_s))
        n_bins = int(np.floor(ts[-1] / bin_s)) - first + 1
        got = np.empty(n_bins)
        bin_means_kernel(ts, x, bin_s, first, got)
        np.testing.assert_allclose(got, naive.bin_means(ts, x, bin_s, first, n_bins), rtol=1e-12)
    got = np.empty(3)
    bin_means_kernel(ts[:3], np.full(3, np.nan), 1.0, int(ts[0]), got)
    assert np.isnan(got).all()


def test_period_helpers_match_plain_numpy() -> None:
    from detector.detect import periods

    rng = np.random.default_rng(5)
    y = rng.normal(0, 1, 1000)
    ph = (np.arange(y.size) + 7) % 24
    want = np.array([np.median(y[ph == p]) for p in range(24)])
    np.testing.assert_allclose(periods._phase_median(y, ph, 24), want)
    assert np.isnan(periods._phase_median(y[:10], ph[:10], 24)[:7]).all()  # phases never seen
    for v in (y, y[:7], np.r_[y[:5], np.nan]):
        assert periods._median(v) == pytest.approx(np.nanmedian(v))
    trend, _ = naive.trend_profile(y, 0, 100, 1)
    assert trend[500] == pytest.approx(np.median(y[450:550]))
    assert trend[0] == pytest.approx(np.median(y[:100]))  # the first full cycle at the start
    ts = np.r_[np.arange(0.0, 600.0, 60.0), 700.0, np.arange(760.0, 60000.0, 60.0)]
    assert periods.median_step(ts) == 60.0 and periods.median_step(ts[:2]) == 60.0


@pytest.mark.parametrize("lead", [0, 5])
def test_profile_kernels_match_twins(lead: int) -> None:
    from detector.detect.kernels_seasonal import (
        level_scale_kernel,
        phase_median_kernel,
        season_strength_kernel,
        trend_profile_kernel,
    )

    rng = np.random.default_rng(6)
    holes = rng.normal(0, 1, 200)
    holes[::7], holes[3], holes[4] = np.nan, np.inf, -np.inf
    for d in (rng.normal(0, 1, 200), holes, np.full(50, 3.0), np.array([1.0]), np.empty(0)):
        for bins in (1, 4, 24):
            got = np.empty(bins)
            phase_median_kernel(d, lead, got)
            np.testing.assert_allclose(got, naive.phase_median(d, lead, bins), equal_nan=True)
    seasonal = 5 * np.sin(np.arange(400) * 2 * np.pi / 24) + rng.normal(0, 1, 400)
    for y in (seasonal, rng.normal(0, 1, 300), np.full(96, 2.0), rng.normal(0, 1, 24), rng.normal(0, 1, 7)):
        for bins, stride in ((24, 6), (24, 1), (7, 3), (24, 1000)):
            trend, prof = np.empty(len(y)), np.empty(bins)
            trend_profile_kernel(y, lead, bins, stride, trend, prof)
            want_trend, want_prof = naive.trend_profile(y, lead, bins, stride)
            np.testing.assert_allclose(trend, want_trend, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(prof, want_prof, rtol=1e-12, atol=1e-12)
            if len(y) >= 3 * bins:
                got_s = season_strength_kernel(y, lead, bins)
                assert got_s == pytest.approx(naive.season_strength(y, lead, bins), rel=1e-12, abs=1e-12)
    noise = rng.normal(0, 1, 400)
    assert season_strength_kernel(seasonal, lead, 24) > 0.8 and season_strength_kernel(noise, lead, 24) < 0.0
    ts = np.arange(0, 3000.0, 10.0)
    x = np.sin(ts / 300.0) + rng.normal(0, 0.1, ts.size)
    x[::17] = np.nan
    prof, trend = rng.normal(0, 1, 30), rng.normal(0, 0.1, 20)
    for recent_from, step in ((250, 7), (0, 1), (300, 50)):
        got = level_scale_kernel(ts, x, 150.0, prof, trend, 0, recent_from, step)
        want = naive.level_scale(ts, x, 150.0, prof, trend, 0, recent_from, step)
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    assert level_scale_kernel(ts, np.full(ts.size, np.nan), 150.0, prof, trend, 0, 250, 7)[1] == 0.0
