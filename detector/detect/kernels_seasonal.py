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
) -> None:
    """Score ``values`` (N, T); update ``profile`` (N, B), ``cusum`` (N, 4) and the (N,) state.

    ``hyper`` = [alpha, scale_alpha, season_alpha, threshold, clip, tail_p, tail_step,
    tail_mult, cusum_k, cusum_h, cusum_clip]. ``cusum[i]`` = [S⁺, S⁻, run sum, run length].
    ``score`` is the combined score, ``shift`` the CUSUM part of it.
    """
    alpha, scale_alpha, season_alpha, threshold, clip = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4]
    tail_p, tail_step, tail_mult = hyper[5], hyper[6], hyper[7]
    k, h, zclip = hyper[8], hyper[9], hyper[10]
    n_series, n_points = values.shape
    for i in range(n_series):
        lvl, mad, q, n, sign = level[i], scale[i], tail[i], count[i], direction[i]
        sp, sn, rsum, rlen = cusum[i, 0], cusum[i, 1], cusum[i, 2], cusum[i, 3]
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
