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
import pandas as pd

DAY = 86400.0
WEEK = 7 * DAY
MAX_BINS = 288
MIN_CYCLES = 3  # two to fit a profile, one to test it on
MIN_STRENGTH = 0.3
WEEK_MARGIN = 0.1


def bin_width(period_s: float, step_s: float) -> float:
    """Seconds per profile bin: the step, unless that makes more than :data:`MAX_BINS` bins."""
    return period_s / min(MAX_BINS, max(1, round(period_s / step_s)))


def phases(timestamps: np.ndarray, period_s: float, bin_s: float) -> np.ndarray:
    """Absolute phase (bin index within the cycle) of each timestamp; -1 everywhere if no period."""
    ts = np.asarray(timestamps, dtype=np.float64)
    if period_s <= 0:
        return np.full(ts.shape, -1, dtype=np.int64)
    bins = round(period_s / bin_s)
    return (np.floor(ts / bin_s).astype(np.int64) % bins).astype(np.int64)


def _binned(ts: np.ndarray, x: np.ndarray, bin_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean per absolute bin (gaps forward-filled) and each bin's absolute index."""
    idx = np.floor(ts / bin_s).astype(np.int64)
    ok = np.isfinite(x)
    first = idx[0]
    sums = np.bincount(idx[ok] - first, weights=x[ok], minlength=idx[-1] - first + 1)
    cnt = np.bincount(idx[ok] - first, minlength=idx[-1] - first + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cnt > 0, sums / np.maximum(cnt, 1), np.nan)
    return pd.Series(mean).ffill().bfill().to_numpy(), np.arange(first, idx[-1] + 1)


def _mad(x: np.ndarray) -> float:
    return float(np.nanmedian(np.abs(x - np.nanmedian(x))))


def season_strength(ts: np.ndarray, x: np.ndarray, period_s: float, bin_s: float) -> float:
    """Out-of-sample share of the (robust) variance the profile explains on the last cycle.

    ≤ 0 for noise; near 1 for a clean season. NaN-safe; -1 if there is too little history.
    """
    y, absidx = _binned(ts, x, bin_s)
    bins = round(period_s / bin_s)
    if len(y) < MIN_CYCLES * bins or not np.isfinite(y).all():
        return -1.0
    trend = pd.Series(y).rolling(bins, center=True, min_periods=bins // 2 + 1).mean().to_numpy()
    d = y - trend
    ph = absidx % bins
    fit, test = slice(0, len(y) - bins), slice(len(y) - bins, len(y))
    prof = pd.Series(d[fit]).groupby(ph[fit]).median().reindex(range(bins)).to_numpy()
    spread = _mad(d[test])
    if not spread > 0:
        return -1.0
    return 1.0 - (_mad(d[test] - prof[ph[test]]) / spread) ** 2


def detect_period(timestamps: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """``(period_s, bin_s)`` of the strongest season in the history, ``(0.0, 0.0)`` if none."""
    ts = np.asarray(timestamps, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    if len(ts) < 8 or np.isfinite(x).sum() < 8:
        return 0.0, 0.0
    step = float(np.median(np.diff(ts)))
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

    ``profile`` (bins,) is the median deviation per phase from a centred one-cycle rolling
    median; ``level`` the recent deseasonalised median; ``scale`` the residuals' mean
    absolute deviation (from their median one, ×1.18 for Gaussian noise), what the kernel
    keeps as ``scale``.
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    keep = ts >= ts[-1] - cycles * period_s
    ts, x = ts[keep], x[keep]
    bins = round(period_s / bin_s)
    per_cycle = max(1, int(np.sum(ts >= ts[-1] - period_s)))
    roll = pd.Series(x).rolling(per_cycle, center=True, min_periods=1).median().to_numpy()
    ph = phases(ts, period_s, bin_s)
    prof = pd.Series(x - roll).groupby(ph).median().reindex(range(bins)).fillna(0.0).to_numpy()
    deseason = x - prof[ph]
    recent = deseason[-max(8, per_cycle // 8) :]
    level = float(np.nanmedian(recent))
    resid = deseason - roll
    scale = 1.18 * float(np.nanmedian(np.abs(resid - np.nanmedian(resid))))
    return np.array(prof, dtype=np.float64), level, scale  # a writeable copy: the kernel updates it
