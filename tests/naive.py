"""Slow, obvious twins of the numba kernels in :mod:`detector.detect.kernels`.

Written for reading, not speed: one Python loop per point, no state shared with
the kernels beyond the documented formulas. Tests assert kernel == twin.
"""

from __future__ import annotations

import math

import numpy as np

SIGMA_PER_MAD = math.sqrt(math.pi / 2.0)


def robust_ewma(
    values: np.ndarray,
    level: np.ndarray,
    scale: np.ndarray,
    count: np.ndarray,
    direction: np.ndarray,
    abs_floor: np.ndarray,
    rel_floor: np.ndarray,
    alpha: float,
    scale_alpha: float,
    threshold: float,
    clip: float,
    grace: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (score, expected, lower, upper); updates level/scale/count in place."""
    values = np.asarray(values, dtype=float)
    score = np.full(values.shape, np.nan)
    expected = np.full(values.shape, np.nan)
    lower = np.full(values.shape, np.nan)
    upper = np.full(values.shape, np.nan)
    for i in range(values.shape[0]):
        for t in range(values.shape[1]):
            x = float(values[i, t])
            seen = int(count[i])
            if seen > 0:
                sigma = max(SIGMA_PER_MAD * scale[i], abs_floor[i] + rel_floor[i] * abs(level[i]))
                expected[i, t] = level[i]
                lower[i, t] = level[i] - threshold * sigma
                upper[i, t] = level[i] + threshold * sigma
            if not math.isfinite(x):
                continue  # no data: score stays NaN, state untouched
            if seen == 0:
                level[i], scale[i], count[i] = x, 0.0, 1
                score[i, t] = 0.0
                continue
            deviation = x - level[i]
            if seen < grace:
                score[i, t] = 0.0
                level[i] += max(alpha, 1 / (seen + 1)) * deviation
                scale[i] += max(scale_alpha, 1 / (seen + 1)) * (abs(deviation) - scale[i])
            else:
                toward = {1: deviation, -1: -deviation, 0: abs(deviation)}[int(direction[i])]
                if toward <= 0:
                    score[i, t] = 0.0
                elif sigma == 0:
                    score[i, t] = 1.0
                else:
                    z = toward / sigma
                    score[i, t] = z * z / (z * z + threshold * threshold)
                if sigma > 0:
                    deviation = float(np.clip(deviation, -clip * sigma, clip * sigma))
                level[i] += alpha * deviation
                scale[i] += scale_alpha * (abs(deviation) - scale[i])
            count[i] += 1
    return score, expected, lower, upper


def baseline(
    values: np.ndarray,
    phase: np.ndarray,
    profile: np.ndarray,
    state: dict[str, np.ndarray],
    direction: np.ndarray,
    abs_floor: np.ndarray,
    rel_floor: np.ndarray,
    hyper: list[float],
    grace: int,
    absorb_after: int,
) -> dict[str, np.ndarray]:
    """Twin of ``kernels_seasonal.baseline_kernel``; ``state`` holds level/scale/tail/cusum/count
    and, for the extreme-value tail, ``peaks`` (used when ``hyper`` has evt_risk/evt_p0/evt_alpha)."""
    alpha, scale_alpha, season_alpha, threshold, clip, tail_p, tail_step, tail_mult, k, h, zclip = hyper[:11]
    risk, p0, peak_alpha = hyper[11:14] if len(hyper) >= 14 else (0.0, 1.0, 1.0)
    evt = "peaks" in state and risk > 0
    out = {name: np.full(values.shape, np.nan) for name in ("score", "shift", "expected", "lower", "upper")}
    for i in range(values.shape[0]):
        for t in range(values.shape[1]):
            x, ph = float(values[i, t]), int(phase[i, t])
            seasonal = profile[i, ph] if ph >= 0 else 0.0
            if state["count"][i] == 0:
                if math.isfinite(x):
                    state["level"][i], state["scale"][i], state["count"][i] = x - seasonal, 0.0, 1
                    out["score"][i, t] = out["shift"][i, t] = 0.0
                continue
            base = state["level"][i] + seasonal
            sigma = max(SIGMA_PER_MAD * state["scale"][i], abs_floor[i] + rel_floor[i] * abs(base))
            thr = max(threshold, tail_mult * state["tail"][i])
            tail_base, n_peaks, _, _, excess = state["peaks"][i] if evt else (0.0, 0.0, 0.0, 0.0, 0.0)
            if evt and n_peaks >= 10 and excess > 0:
                thr = max(thr, tail_base + excess)  # the risk level of the series' own GPD tail
            out["expected"][i, t], out["lower"][i, t], out["upper"][i, t] = (
                base,
                base - thr * sigma,
                base + thr * sigma,
            )
            if not math.isfinite(x):
                continue
            dev = x - base
            toward = {1: dev, -1: -dev, 0: abs(dev)}[int(direction[i])]
            za = max(toward, 0.0) / sigma if sigma > 0 else (math.inf if toward > 0 else 0.0)
            state["tail"][i] += tail_step * ((1 - tail_p) if za > state["tail"][i] else -tail_p)
            over = za - tail_base
            if evt:
                state["peaks"][i][0] += tail_step * ((1 - p0) if za > tail_base else -p0)
            n = state["count"][i]
            if n < grace:
                out["score"][i, t] = out["shift"][i, t] = 0.0
                state["level"][i] += max(alpha, 1 / (n + 1)) * dev
                state["scale"][i] += max(scale_alpha, 1 / (n + 1)) * (abs(dev) - state["scale"][i])
                state["count"][i] += 1
                continue
            if toward <= 0:
                point = 0.0
            elif sigma == 0:
                point = 1.0
            else:
                point = za * za / (za * za + thr * thr)
            shift, absorbed = 0.0, False
            c = state["cusum"][i]
            if h > 0 and sigma > 0:
                z = float(np.clip(dev / sigma, -zclip, zclip))
                c[0], c[1] = max(0.0, c[0] + z - k), max(0.0, c[1] - z - k)
                c[2], c[3] = (c[2] + dev, c[3] + 1) if (c[0] > 0 or c[1] > 0) else (0.0, 0.0)
                s = {1: c[0], -1: c[1], 0: max(c[0], c[1])}[int(direction[i])]
                shift = s * s / (s * s + h * h)
                c[4] = c[4] + 1 if max(c[0], c[1]) >= h else 0.0  # points the sum has held at h
                if c[4] >= absorb_after:
                    if (c[2] > 0) == (c[0] >= c[1]):  # the run's mean agrees with the side that fired
                        state["level"][i] += c[2] / c[3]
                    c[:] = 0.0
                    absorbed = True
            out["shift"][i, t] = shift
            if evt and 0 < over < math.inf and point < 0.5:  # a normal point over the base: a peak
                pk = state["peaks"][i]
                pk[1] += 1
                w = max(1 / pk[1], peak_alpha)
                pk[2] += w * (over - pk[2])
                pk[3] += w * (over * over - pk[3])
                pk[4] = gpd_excess_quantile(pk[2], pk[3], p0, risk)
            out["score"][i, t] = combined = max(point, shift)
            if not absorbed and sigma > 0:
                dc = float(np.clip(dev, -clip * sigma, clip * sigma))
                if combined < 0.5 or h <= 0:  # anomalies never teach the expected value...
                    state["level"][i] += alpha * dc
                    if ph >= 0:
                        profile[i, ph] += season_alpha * dc
                state["scale"][i] += scale_alpha * (abs(dc) - state["scale"][i])  # ...but do the noise
            elif sigma == 0:
                state["level"][i] += alpha * dev
                state["scale"][i] += scale_alpha * (abs(dev) - state["scale"][i])
            state["count"][i] += 1
    return out


def distribution_shift(
    counts: np.ndarray,
    state: dict[str, np.ndarray],
    hyper: list[float],
    grace: int,
    relearn_after: int,
) -> dict[str, np.ndarray]:
    """Twin of ``distribution_shift.distribution_shift_kernel``; ``state`` holds base/spread/count/streak."""
    alpha, spread_alpha, eps, crit, spread_mult, min_effect, min_requests = hyper
    n_series, n_points, n_buckets = counts.shape
    out = {name: np.full((n_series, n_points), np.nan) for name in ("score", "divergence", "alarm")}
    for i in range(n_series):
        for t in range(n_points):
            step = np.asarray(counts[i, t], dtype=float)
            if not np.isfinite(step.sum()):
                continue  # no data
            step = np.clip(step, 0.0, None)
            n = step.sum()
            if n < min_requests:
                continue  # inconclusive
            q = step / n
            if state["count"][i] == 0:
                state["base"][i] = q
                state["spread"][i], state["count"][i] = 0.0, 1
                out["score"][i, t] = out["divergence"][i, t] = 0.0
                continue
            p = (state["base"][i] + eps) / (1.0 + n_buckets * eps)
            seen = q > 0
            d = float(np.sum(q[seen] * np.log(q[seen] / p[seen])))
            thr = max(crit / (2.0 * n), spread_mult * state["spread"][i], min_effect)
            out["divergence"][i, t], out["alarm"][i, t] = d, thr
            k = state["count"][i]
            warming = k < grace
            s = 0.0 if warming else d * d / (d * d + thr * thr)
            out["score"][i, t] = s
            a = max(alpha, 1.0 / (k + 1)) if warming else alpha
            if s >= 0.5:
                state["streak"][i] += 1
                if state["streak"][i] < relearn_after:
                    continue
                a, state["streak"][i] = 1.0, 0
            else:
                state["streak"][i] = 0
                sa = max(spread_alpha, 1.0 / (k + 1)) if warming else spread_alpha
                state["spread"][i] += sa * (d - state["spread"][i])
            state["base"][i] += a * (q - state["base"][i])
            state["count"][i] += 1
    return out


def gpd_excess_quantile(m1: float, m2: float, p0: float, q: float) -> float:
    """Twin of ``evt.gpd_excess_quantile``: the method-of-moments GPD, probability-``q`` excess."""
    if not (m1 > 0 and 0 < q < p0):
        return 0.0
    var = m2 - m1 * m1
    shape, sigma = (0.5 * (1 - m1 * m1 / var), 0.5 * m1 * (1 + m1 * m1 / var)) if var > 0 else (0.0, m1)
    shape = float(np.clip(shape, -0.5, 0.5))
    if abs(shape) < 1e-6:
        return sigma * math.log(p0 / q)
    return sigma / shape * ((q / p0) ** (-shape) - 1)


def bin_means(ts: np.ndarray, x: np.ndarray, bin_s: float, first: int, n_bins: int) -> np.ndarray:
    """Twin of ``kernels_seasonal.bin_means_kernel``: mean per bin, gaps carried forward (then back)."""
    groups: dict[int, list[float]] = {}
    for t, v in zip(ts, x, strict=True):
        b = math.floor(t / bin_s) - first
        if math.isfinite(v) and 0 <= b < n_bins:
            groups.setdefault(b, []).append(float(v))
    means = [float(np.mean(groups[b])) if b in groups else math.nan for b in range(n_bins)]
    seen = [m for m in means if math.isfinite(m)]
    last = seen[0] if seen else math.nan  # a leading gap takes the first mean after it
    for b, m in enumerate(means):
        last = m if math.isfinite(m) else last
        means[b] = last
    return np.array(means)


def phase_median(d: np.ndarray, lead: int, bins: int) -> np.ndarray:
    """Twin of ``kernels_seasonal.phase_median_kernel``: median of the finite values of each phase."""
    phase = (lead + np.arange(len(d))) % bins
    out = np.full(bins, math.nan)
    for p in range(bins):
        v = d[(phase == p) & np.isfinite(d)]
        if len(v):
            out[p] = float(np.median(v))
    return out


def season_strength(y: np.ndarray, lead: int, bins: int) -> float:
    """Twin of ``kernels_seasonal.season_strength_kernel``."""
    n = len(y)
    c = np.concatenate([[0.0], np.cumsum(y)])
    i = np.arange(n)
    lo, hi = np.maximum(i - bins // 2, 0), np.minimum(i - bins // 2 + bins, n)
    d = y - (c[hi] - c[lo]) / (hi - lo)
    ph = (lead + i) % bins
    cut = n - bins
    prof = phase_median(d[:cut], lead, bins)
    spread = float(np.median(np.abs(d[cut:] - np.median(d[cut:]))))
    if not spread > 0:
        return -1.0
    r = d[cut:] - prof[ph[cut:]]
    return 1.0 - (float(np.median(np.abs(r - np.median(r)))) / spread) ** 2


def trend_profile(y: np.ndarray, lead: int, bins: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Twin of ``kernels_seasonal.trend_profile_kernel``: ``(trend, profile)``."""
    n = len(y)
    if n <= bins:
        trend = np.full(n, float(np.median(y)) if n else math.nan)
    else:
        centres = np.arange(0, n + stride - 1, max(1, stride))
        centres[-1] = n - 1
        starts = np.clip(centres - bins // 2, 0, n - bins)
        med = np.array([float(np.median(y[s : s + bins])) for s in starts])
        trend = np.interp(np.arange(n), centres, med)
    return trend, np.nan_to_num(phase_median(y - trend, lead, bins), nan=0.0)


def level_scale(
    ts: np.ndarray,
    x: np.ndarray,
    bin_s: float,
    prof: np.ndarray,
    trend: np.ndarray,
    first_bin: int,
    recent_from: int,
    pick_step: int,
) -> tuple[float, float]:
    """Twin of ``kernels_seasonal.level_scale_kernel``."""
    b = np.floor(ts / bin_s).astype(np.int64)
    deseasoned = x - prof[b % len(prof)]
    recent = deseasoned[recent_from:]
    recent = recent[np.isfinite(recent)]
    level = float(np.median(recent)) if len(recent) else math.nan
    pick = np.arange(0, len(x), pick_step)
    r = deseasoned[pick] - trend[b[pick] - first_bin]
    r = r[np.isfinite(r)]
    if not len(r):
        return level, 0.0
    return level, 1.18 * float(np.median(np.abs(r - np.median(r))))
