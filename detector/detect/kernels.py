"""Numba kernels. Arrays and scalars in, arrays out; validation lives in the callers.

The robust EWMA kernel scores a whole cycle (N series × T points) in one call and
updates the per-series state in place, so the service pays the Python overhead once
per cycle rather than once per series. The loop is series-outer, time-inner because
``values`` is row-major: each series is then a contiguous stream.

Score calibration (shared with the docs of :class:`~detector.detect.robust_ewma.RobustEWMA`):

* ``sigma = max(SIGMA_PER_MAD * scale, abs_floor + rel_floor * |level|)`` where ``scale``
  is an EWMA of absolute deviations (a mean-absolute-deviation estimate; for Gaussian
  noise ``sigma ≈ 1.2533 * MAD``).
* ``d`` = deviation from the level in the anomalous direction (``x - level`` for
  ``direction=+1``, ``level - x`` for ``-1``, ``|x - level|`` for ``0``), floored at 0.
* ``score = d² / (d² + (threshold * sigma)²)`` = ``z² / (z² + threshold²)`` with
  ``z = d / sigma``: 0 at the level, 0.5 at ``threshold`` sigmas, 0.8 at twice that,
  →1 far away. ``lower``/``upper`` = ``level ∓ threshold * sigma`` are where it crosses 0.5.
"""

from __future__ import annotations

import math

import numpy as np

from detector.detect.jit import kernel

SIGMA_PER_MAD = math.sqrt(math.pi / 2.0)
"""Gaussian sigma per unit of mean absolute deviation (≈1.2533)."""


@kernel
def robust_ewma_kernel(
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
    score: np.ndarray,
    expected: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> None:
    """Score ``values`` (N, T) and update ``level``/``scale``/``count`` (N,) in place.

    Non-finite points are "no data": score NaN, state untouched. The first finite point
    seeds the level. While ``count < grace`` the score is 0 and the level/scale are a
    plain running mean / mean absolute deviation (step ``max(alpha, 1/(count+1))``, same
    for ``scale_alpha``), so the warm-up is not biased towards the first point. After that, the deviation fed
    to the update is clipped to ``±clip·sigma`` (Huber-style) so a spike barely moves
    the baseline and a sustained shift is absorbed gradually (the clipped deviations
    inflate ``scale`` geometrically until the shift fits inside the band).
    """
    n_series, n_points = values.shape
    for i in range(n_series):
        lvl = level[i]
        mad = scale[i]
        n = count[i]
        sign = direction[i]
        fa = abs_floor[i]
        fr = rel_floor[i]
        for t in range(n_points):
            x = values[i, t]
            if n == 0:
                expected[i, t] = np.nan
                lower[i, t] = np.nan
                upper[i, t] = np.nan
                if math.isfinite(x):
                    lvl = x
                    mad = 0.0
                    n = 1
                    score[i, t] = 0.0
                else:
                    score[i, t] = np.nan
                continue
            sigma = max(SIGMA_PER_MAD * mad, fa + fr * abs(lvl))
            half = threshold * sigma
            expected[i, t] = lvl
            lower[i, t] = lvl - half
            upper[i, t] = lvl + half
            if not math.isfinite(x):
                score[i, t] = np.nan
                continue
            dev = x - lvl
            if n < grace:
                score[i, t] = 0.0
                warm = 1.0 / (n + 1)
                lvl += max(alpha, warm) * dev
                mad += max(scale_alpha, warm) * (abs(dev) - mad)
            else:
                d = dev if sign > 0 else (-dev if sign < 0 else abs(dev))
                # 1 / (1 + (threshold/z)²), branch-free (a coin-flip branch on the sign of
                # the deviation costs more than the division): d <= 0 gives r = inf,
                # score 0; sigma = 0 < d gives r ≈ 0, score 1; no inf/inf overflow.
                r = (half + 1e-300) / max(d, 0.0)
                score[i, t] = 1.0 / (1.0 + r * r)
                if sigma > 0.0:
                    bound = clip * sigma
                    dev = min(max(dev, -bound), bound)
                lvl += alpha * dev
                mad += scale_alpha * (abs(dev) - mad)
            n += 1
        level[i] = lvl
        scale[i] = mad
        count[i] = n
