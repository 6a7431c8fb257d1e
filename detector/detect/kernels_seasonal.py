"""The baseline kernel behind the seasonal, level-shift and ensemble detectors.

One fused loop, because the parts feed each other point by point: the seasonal
profile and the level form the baseline, the residual against it feeds both the
point score and a CUSUM, and a CUSUM that confirms a sustained shift moves the level
(re-baselines) so the shift is reported once instead of alarming for hours.

Per point, with ``base = level + profile[phase]`` (``phase < 0``: no season):

* ``sigma = max(SIGMA_PER_MAD * scale, abs_floor + rel_floor * |base|)``;
* ``thr = max(threshold, tail_mult * tail)`` where ``tail`` is a streaming estimate of
  the ``1 - tail_p`` quantile of the series' own past ``|z|`` (the "frugal" quantile
  step: up by ``tail_step·(1 - tail_p)`` on an exceedance, down by ``tail_step·tail_p``
  otherwise). A series whose normal residuals are heavy-tailed must beat its own
  history, not a Gaussian one: that is where most false alarms on real data come from;
* with the ``peaks`` state and ``evt_risk > 0``, also ``thr ≥ u + excess``: ``u`` is a
  frugal ``1 - evt_p0`` quantile of ``|z|`` (same step), and ``excess`` the GPD quantile
  (:func:`~detector.detect.evt.gpd_excess_quantile`) of the exponentially weighted
  moments (weight ``max(1/peaks, evt_alpha)``) of the excesses ``|z| - u`` of points
  *not* alarming, once :data:`~detector.detect.evt.MIN_PEAKS` have been seen;
* ``point = d² / (d² + (thr·sigma)²)`` (``d`` the deviation in the anomalous
  direction, floored at 0): 0.5 exactly at ``thr`` sigmas, as in :mod:`kernels`;
* CUSUM on the signed, clipped ``z``: ``S⁺ = max(0, S⁺ + z - k)``, ``S⁻`` alike;
  ``shift = S² / (S² + h²)`` for the direction(s) that matter, 0.5 at ``S = h``.
  Once ``S ≥ h`` has lasted ``absorb_after`` points of the run, the level jumps by the
  run's mean deviation and the sums restart: the shift is the new normal. The jump is
  skipped when that mean points against the side that fired (a spike up followed by a
  drop): moving the level the wrong way would only deepen the alarm;
* ``score = max(point, shift)``. Baseline updates are Huber-clipped to ``±clip·sigma``
  and, when the CUSUM is on (it re-baselines real shifts), the level and profile skip
  points scoring ``≥ 0.5``, so an anomaly does not teach the expected value. The scale
  still learns from them, clipped: it measures how noisy the series is now, and a scale
  frozen during alarms could never grow out of an alarm that a too-small scale caused
  (on the labelled data, learning it through alarms cut false alarms on all three sets).
  While ``sigma`` is 0 (a series flat through its warm-up, with no floor) level and
  scale learn every point unclipped: otherwise the first change after a flat start would
  make every later point infinitely anomalous, for good.

``cusum_h <= 0`` disables the CUSUM (shift stays 0). Non-finite values are no data:
NaN scores, state untouched. While ``count < grace`` scores are 0 and level/scale are
running means (step ``max(alpha, 1/(count+1))``).
"""

from __future__ import annotations

import math

import numpy as np

from detector.detect.evt import MIN_PEAKS, gpd_excess_quantile
from detector.detect.jit import kernel
from detector.detect.kernels import SIGMA_PER_MAD


@kernel
def baseline_kernel(
    values: np.ndarray,
    phase: np.ndarray,
    profile: np.ndarray,
    level: np.ndarray,
    scale: np.ndarray,
    tail: np.ndarray,
    cusum: np.ndarray,
    count: np.ndarray,
    direction: np.ndarray,
    abs_floor: np.ndarray,
    rel_floor: np.ndarray,
    hyper: np.ndarray,
    grace: int,
    absorb_after: int,
    score: np.ndarray,
    shift: np.ndarray,
    expected: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    peaks: np.ndarray | None = None,
) -> None:
    """Score ``values`` (N, T); update ``profile`` (N, B), ``cusum`` (N, 4) and the (N,) state.

    ``hyper`` = [alpha, scale_alpha, season_alpha, threshold, clip, tail_p, tail_step,
    tail_mult, cusum_k, cusum_h, cusum_clip] and optionally [evt_risk, evt_p0, evt_alpha].
    ``cusum[i]`` = [S⁺, S⁻, run sum, run length]. ``peaks[i]`` = [u, peaks seen, m1, m2,
    excess quantile] (the EVT tail; without it, or with ``evt_risk`` 0, no EVT).
    ``score`` is the combined score, ``shift`` the CUSUM part of it.
    """
    alpha, scale_alpha, season_alpha, threshold, clip = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4]
    tail_p, tail_step, tail_mult = hyper[5], hyper[6], hyper[7]
    k, h, zclip = hyper[8], hyper[9], hyper[10]
    risk, p0, peak_alpha = 0.0, 1.0, 1.0
    if hyper.shape[0] >= 14:
        risk, p0, peak_alpha = hyper[11], hyper[12], hyper[13]
    evt_on = False
    if peaks is not None:
        evt_on = risk > 0.0
    n_series, n_points = values.shape
    for i in range(n_series):
        lvl, mad, q, n, sign = level[i], scale[i], tail[i], count[i], direction[i]
        sp, sn, rsum, rlen = cusum[i, 0], cusum[i, 1], cusum[i, 2], cusum[i, 3]
        u, n_peaks, m1, m2, excess = 0.0, 0.0, 0.0, 0.0, 0.0
        if peaks is not None:
            u, n_peaks, m1, m2, excess = peaks[i, 0], peaks[i, 1], peaks[i, 2], peaks[i, 3], peaks[i, 4]
        for t in range(n_points):
            x = values[i, t]
            ph = phase[i, t]
            if n == 0:
                expected[i, t] = lower[i, t] = upper[i, t] = np.nan
                shift[i, t] = np.nan
                score[i, t] = np.nan
                if math.isfinite(x):
                    lvl = x - (profile[i, ph] if ph >= 0 else 0.0)
                    mad, n = 0.0, 1
                    score[i, t] = shift[i, t] = 0.0
                continue
            seas = profile[i, ph] if ph >= 0 else 0.0
            base = lvl + seas
            sigma = max(SIGMA_PER_MAD * mad, abs_floor[i] + rel_floor[i] * abs(base))
            thr = max(threshold, tail_mult * q)
            if evt_on and n_peaks >= MIN_PEAKS and excess > 0.0:
                thr = max(thr, u + excess)
            expected[i, t] = base
            lower[i, t] = base - thr * sigma
            upper[i, t] = base + thr * sigma
            if not math.isfinite(x):
                score[i, t] = shift[i, t] = np.nan
                continue
            dev = x - base
            d = dev if sign > 0 else (-dev if sign < 0 else abs(dev))
            za = max(d, 0.0) / sigma if sigma > 0.0 else (math.inf if d > 0.0 else 0.0)
            q += tail_step * ((1.0 - tail_p) if za > q else -tail_p)
            over = za - u
            if evt_on:
                u += tail_step * ((1.0 - p0) if za > u else -p0)
            if n < grace:
                score[i, t] = shift[i, t] = 0.0
                warm = 1.0 / (n + 1)
                lvl += max(alpha, warm) * dev
                mad += max(scale_alpha, warm) * (abs(dev) - mad)
                n += 1
                continue
            r = (thr * sigma + 1e-300) / max(d, 0.0)
            point = 1.0 / (1.0 + r * r)
            s_shift = 0.0
            absorbed = False
            if h > 0.0 and sigma > 0.0:
                zs = min(max(dev / sigma, -zclip), zclip)
                sp = max(0.0, sp + zs - k)
                sn = max(0.0, sn - zs - k)
                if sp > 0.0 or sn > 0.0:
                    rsum += dev
                    rlen += 1.0
                else:
                    rsum, rlen = 0.0, 0.0
                s = sp if sign > 0 else (sn if sign < 0 else max(sp, sn))
                s_shift = s * s / (s * s + h * h)
                if max(sp, sn) >= h and rlen >= absorb_after:
                    if (rsum > 0.0) == (sp >= sn):  # a spike up must not carry a shift down up
                        lvl += rsum / rlen
                    sp, sn, rsum, rlen = 0.0, 0.0, 0.0, 0.0
                    absorbed = True
            shift[i, t] = s_shift
            if evt_on and over > 0.0 and point < 0.5 and math.isfinite(over):
                # a normal point beyond u is a peak; alarms stay out of the tail they are judged by
                n_peaks += 1.0
                w = max(1.0 / n_peaks, peak_alpha)
                m1 += w * (over - m1)
                m2 += w * (over * over - m2)
                excess = gpd_excess_quantile(m1, m2, p0, risk)
            combined = max(point, s_shift)
            score[i, t] = combined
            if not absorbed and sigma > 0.0:
                bound = clip * sigma
                dc = min(max(dev, -bound), bound)
                if combined < 0.5 or h <= 0.0:
                    lvl += alpha * dc
                    if ph >= 0:
                        profile[i, ph] += season_alpha * dc
                mad += scale_alpha * (abs(dc) - mad)
            elif sigma == 0.0:
                lvl += alpha * dev
                mad += scale_alpha * (abs(dev) - mad)
            n += 1
        level[i], scale[i], tail[i], count[i] = lvl, mad, q, n
        cusum[i, 0], cusum[i, 1], cusum[i, 2], cusum[i, 3] = sp, sn, rsum, rlen
        if peaks is not None:
            peaks[i, 0], peaks[i, 1], peaks[i, 2], peaks[i, 3], peaks[i, 4] = u, n_peaks, m1, m2, excess


@kernel
def bin_means_kernel(ts: np.ndarray, x: np.ndarray, bin_s: float, first: int, means: np.ndarray) -> None:
    """Mean of the finite ``x`` per absolute bin ``floor(ts / bin_s) - first`` into ``means``.

    A bin without data takes the last mean before it (the first one after, at the start;
    NaN everywhere if no bin has data). One pass over the raw points: this is the only
    part of a season re-check that touches every point, so it is a kernel.
    """
    n_bins = means.shape[0]
    sums = np.zeros(n_bins)
    cnt = np.zeros(n_bins, dtype=np.int64)
    for i in range(ts.shape[0]):
        v = x[i]
        if math.isfinite(v):
            b = math.floor(ts[i] / bin_s) - first
            if 0 <= b < n_bins:
                sums[b] += v
                cnt[b] += 1
    last = np.nan
    lead = -1
    for b in range(n_bins):
        if cnt[b] > 0:
            last = sums[b] / cnt[b]
            if lead < 0:
                lead = b
        means[b] = last
    for b in range(max(lead, 0)):
        means[b] = means[lead] if lead >= 0 else np.nan


@kernel
def phase_median_kernel(d: np.ndarray, lead: int, out: np.ndarray) -> None:
    """Median of ``d[j]`` per phase ``(lead + j) mod bins`` into ``out`` (``bins`` long), NaN values
    left out, NaN for a phase with none: the per-phase profile of consecutive bins.
    """
    bins = out.shape[0]
    buf = np.empty(d.shape[0] // bins + 1)
    for p in range(bins):
        k = 0
        for j in range((p - lead) % bins, d.shape[0], bins):
            v = d[j]
            if math.isfinite(v):  # insertion sort: a phase has one value per cycle, a handful
                m = k
                while m > 0 and buf[m - 1] > v:
                    buf[m] = buf[m - 1]
                    m -= 1
                buf[m] = v
                k += 1
        out[p] = 0.5 * (buf[(k - 1) // 2] + buf[k // 2]) if k > 0 else np.nan


@kernel
def window_median_kernel(y: np.ndarray, starts: np.ndarray, width: int, out: np.ndarray) -> None:
    """Median of each window ``y[s : s + width]`` for ``s`` in ``starts`` (``y`` finite)."""
    for w in range(starts.shape[0]):
        out[w] = np.median(y[starts[w] : starts[w] + width])
