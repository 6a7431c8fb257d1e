"""Seasonality found in a series' own history: which period, and the per-phase profile.

Why detect instead of assume: mesh traffic is often diurnal (and weekly for business
services), but a batch job, a synthetic probe or an error ratio is not, and a profile
fitted to a series without a season only adds noise to the baseline. So the period is
chosen from the history seen so far (never the future): candidates are a day and a
week; each is judged *out of sample* (the profile fitted on all earlier cycles must
explain the last cycle) so pure noise, which a fitted profile always "explains" in
sample, scores below zero. A week wins only if it explains clearly more than a day.

Phases are absolute (``floor(epoch / bin_s) mod bins``), so a profile stays aligned
across restarts and checkpoints. Cycles are cut into at most :data:`MAX_BINS` bins: a
1-min series gets a 5-min daily profile, averaging out per-minute noise.

Cost: a re-check runs on every series as its history grows, so it must cost a small
fraction of scoring. Only the binning (a kernel) touches every raw point; the rest works
on at most ``cycles × MAX_BINS`` bin means, and the noise scale on a sample of raw
points. The one-cycle rolling median is computed every few hours and interpolated. The
binning, the season check, the trend and profile, and the level and scale are one kernel
call each (:mod:`detector.detect.kernels_seasonal`): as a dozen numpy steps each, a
season check cost 2× and a fit 1.6× as much, and together they were two thirds of the
ensemble's time end to end at a 1-min step.

Why not statsmodels' STL/MSTL for the profile: a robust STL fit costs ~400× this one at
48 bins a cycle and ~14,000× at 288 (``bench/profile_fit.py``), and on the labelled data
it did not detect better; :func:`fit_profile_stl` keeps it available for comparison.

>>> import numpy as np
>>> ts = np.arange(0, 10 * 86400, 3600.0)
>>> x = 100 + 30 * np.sin(2 * np.pi * ts / 86400) + np.random.default_rng(0).normal(0, 2, ts.size)
>>> detect_period(ts, x)
(86400.0, 3600.0)
>>> detect_period(ts, np.random.default_rng(0).normal(0, 2, ts.size))
(0.0, 0.0)
"""

from __future__ import annotations

import numpy as np

from detector.detect.kernels_seasonal import (
    bin_means_kernel,
    level_scale_kernel,
    phase_median_kernel,
    season_strength_kernel,
    trend_profile_kernel,
)

DAY = 86400.0
WEEK = 7 * DAY
MAX_BINS = 288
MIN_CYCLES = 3  # two to fit a profile, one to test it on
MIN_STRENGTH = 0.3
WEEK_MARGIN = 0.1
TREND_POINTS_PER_CYCLE = 4  # rolling-median knots per cycle: every 6 h for a day
SCALE_SAMPLE = 1024
STL_MAX_BINS = 48  # bins per cycle for the statsmodels fit: STL's cost grows with the period


def bin_width(period_s: float, step_s: float) -> float:
    """Seconds per profile bin: the step, unless that makes more than :data:`MAX_BINS` bins."""
    return period_s / min(MAX_BINS, max(1, round(period_s / step_s)))


def phases(timestamps: np.ndarray, period_s: float, bin_s: float) -> np.ndarray:
    """Absolute phase (bin index within the cycle) of each timestamp; -1 everywhere if no period."""
    ts = np.asarray(timestamps, dtype=np.float64)
    if period_s <= 0:
        return np.full(ts.shape, -1, dtype=np.int64)
    bins = round(period_s / bin_s)
    out = np.floor(ts / bin_s).astype(np.int64)
    np.remainder(out, bins, out=out)  # in place: integer ``%`` on a new array costs twice as much
    return out


def _binned(ts: np.ndarray, x: np.ndarray, bin_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean per absolute bin (gaps forward-filled, a leading gap back-filled) and each bin's index."""
    first, last = int(np.floor(ts[0] / bin_s)), int(np.floor(ts[-1] / bin_s))
    means = np.empty(last - first + 1)
    ts, x = np.ascontiguousarray(ts, dtype=np.float64), np.ascontiguousarray(x, dtype=np.float64)
    bin_means_kernel(ts, x, bin_s, first, means)
    return means, np.arange(first, last + 1)


def _phase_median(d: np.ndarray, ph: np.ndarray, bins: int) -> np.ndarray:
    """Median of ``d`` per phase ``0..bins-1`` (NaN for a phase never seen).

    ``ph`` must count up by one per element, wrapping at ``bins`` (consecutive absolute bins).
    """
    out = np.empty(bins)
    phase_median_kernel(np.ascontiguousarray(d, dtype=np.float64), int(ph[0]) if len(ph) else 0, out)
    return out


def _median(v: np.ndarray) -> float:
    """Median of the finite values (NaN if none), by partition: ``np.median`` costs several times more."""
    finite = np.isfinite(v)
    if not finite.all():
        v = v[finite]
    n = len(v)
    if n == 0:
        return float("nan")
    h = n // 2
    p = np.partition(v, h)
    return float(p[h]) if n % 2 else 0.5 * float(p[h] + p[:h].max())


def season_strength(ts: np.ndarray, x: np.ndarray, period_s: float, bin_s: float) -> float:
    """Out-of-sample share of the (robust) variance the profile explains on the last cycle.

    ≤ 0 for noise; near 1 for a clean season. NaN-safe; -1 if there is too little history.
    """
    y, absidx = _binned(ts, x, bin_s)
    bins = round(period_s / bin_s)
    if len(y) < MIN_CYCLES * bins or not np.isfinite(y).all():
        return -1.0
    return float(season_strength_kernel(y, int(absidx[0] % bins), bins))


def median_step(ts: np.ndarray, sample: int = 256) -> float:
    """The usual gap between points: the median of (at most ``sample``, evenly spread) gaps.

    A sample, because this runs once per series per call and a full median of a long
    series' gaps costs as much as scoring it; a step is the same all along a scrape.
    """
    if len(ts) < 2:
        return 0.0
    if len(ts) <= 2 * sample:
        return _median(np.diff(ts))
    at = np.arange(0, len(ts) - 1, (len(ts) - 1) // sample)
    return _median(ts[at + 1] - ts[at])


def detect_period(
    timestamps: np.ndarray, values: np.ndarray, step_s: float | None = None
) -> tuple[float, float]:
    """``(period_s, bin_s)`` of the strongest season in the history, ``(0.0, 0.0)`` if none.

    ``step_s``: the series' usual step, if the caller knows it (else the median gap).
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    if len(ts) < 8 or np.isfinite(x).sum() < 8:
        return 0.0, 0.0
    step = median_step(ts) if step_s is None else float(step_s)
    found = {}
    for period in (DAY, WEEK):
        if step > 0 and period / step >= 4 and ts[-1] - ts[0] >= MIN_CYCLES * period:
            found[period] = season_strength(ts, x, period, bin_width(period, step))
    day, week = found.get(DAY, -1.0), found.get(WEEK, -1.0)
    if week >= MIN_STRENGTH and week > day + WEEK_MARGIN:
        return WEEK, bin_width(WEEK, step)
    if day >= MIN_STRENGTH:
        return DAY, bin_width(DAY, step)
    return 0.0, 0.0


def fit_profile(
    timestamps: np.ndarray, values: np.ndarray, period_s: float, bin_s: float, cycles: int = 8
) -> tuple[np.ndarray, float, float]:
    """``(profile, level, scale)`` from the last ``cycles`` cycles of history.

    ``profile`` (bins,) is the median over cycles, per phase, of each bin's mean
    deviation from the one-cycle rolling median (``trend_profile_kernel``, on bin means:
    a 1-min series is profiled at 5-min bins anyway); ``level`` the recent
    deseasonalised median; ``scale`` the residuals' mean absolute deviation (from their
    median one, ×1.18 for Gaussian noise), what the kernel keeps as ``scale``.
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    first = int(np.searchsorted(ts, ts[-1] - cycles * period_s, side="left"))
    ts, x = ts[first:], x[first:]
    bins = round(period_s / bin_s)
    y, absidx = _binned(ts, x, bin_s)
    if not np.isfinite(y).all():
        return np.zeros(bins), float("nan"), 0.0
    roll, prof = np.empty(len(y)), np.empty(bins)
    trend_profile_kernel(y, int(absidx[0] % bins), bins, max(1, bins // TREND_POINTS_PER_CYCLE), roll, prof)
    return prof, *_level_and_scale(ts, x, period_s, bin_s, prof, roll, int(absidx[0]))


def _level_and_scale(
    ts: np.ndarray,
    x: np.ndarray,
    period_s: float,
    bin_s: float,
    prof: np.ndarray,
    trend: np.ndarray,
    first_bin: int,
) -> tuple[float, float]:
    """The recent deseasonalised median, and 1.18 × the MAD of the raw residuals from trend + profile.

    ``trend`` holds one value per bin from absolute bin ``first_bin`` on. Raw points only
    where needed: the recent ones (the last eighth of a cycle) for the level, and at most
    :data:`SCALE_SAMPLE`, evenly spread, for the noise scale (a median costs O(n)).
    """
    per_cycle = max(1, len(ts) - int(np.searchsorted(ts, ts[-1] - period_s, side="left")))
    recent_from = len(x) - min(len(x), max(8, per_cycle // 8))
    level, scale = level_scale_kernel(
        np.ascontiguousarray(ts, dtype=np.float64), np.ascontiguousarray(x, dtype=np.float64), bin_s,
        np.ascontiguousarray(prof, dtype=np.float64), np.ascontiguousarray(trend, dtype=np.float64),
        first_bin, recent_from, max(1, len(x) // SCALE_SAMPLE),
    )  # fmt: skip
    return float(level), float(scale)


def stl_bin_width(period_s: float, bin_s: float) -> float:
    """The bin width :func:`fit_profile_stl` fits at: ``bin_s``, or coarser if that makes more than
    :data:`STL_MAX_BINS` bins a cycle."""
    return max(bin_s, period_s / STL_MAX_BINS)


def fit_profile_stl(
    timestamps: np.ndarray, values: np.ndarray, period_s: float, bin_s: float, cycles: int = 8
) -> tuple[np.ndarray, float, float]:
    """:func:`fit_profile`'s contract, with the profile from statsmodels' robust STL.

    STL (Cleveland et al. 1990, LOESS seasonal and trend smoothers, robustness weights
    against outliers) runs on the bin means of the last ``cycles`` cycles, at
    ``stl_bin_width(period_s, bin_s)``: the caller must phase points with that width.
    The profile is the per-phase median of STL's seasonal component over the last three
    cycles (the season as it is now; the median fit takes all ``cycles``); level and scale are
    taken from the raw points as in :func:`fit_profile`.

    Why this is not the default: its cost. STL's smoothers span ``period`` points, so a
    fit costs ~60 ms at 48 bins a cycle and ~2 s at a 1-min series' 288, where the
    median fit costs ~0.14 ms whatever the period; a season is re-checked on every series
    as its history grows. ``bench/eval.py`` scores both (``meshpulse-seasonal_stl``) and
    ``bench/throughput.py`` times both end to end.
    """
    from statsmodels.tsa.seasonal import STL  # only this fit needs it: import when used

    ts = np.asarray(timestamps, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    width = stl_bin_width(period_s, bin_s)
    bins = round(period_s / width)
    first = int(np.searchsorted(ts, ts[-1] - cycles * period_s, side="left"))
    ts, x = ts[first:], x[first:]
    y, absidx = _binned(ts, x, width)
    if not np.isfinite(y).all() or len(y) < 2 * bins:
        return np.zeros(bins), float("nan"), 0.0
    fit = STL(y, period=bins, robust=True).fit()
    seasonal, trend = np.asarray(fit.seasonal), np.asarray(fit.trend)
    # the season as it is now: the median, per phase, of STL's seasonal over the last 3 cycles
    # (one cycle alone carries any outlier its robustness weights missed, at the series' end)
    recent_bins = min(len(y), 3 * bins)
    prof = _phase_median(seasonal[-recent_bins:], absidx[-recent_bins:] % bins, bins)
    return prof, *_level_and_scale(ts, x, period_s, width, prof, trend, int(absidx[0]))
