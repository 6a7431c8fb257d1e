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
