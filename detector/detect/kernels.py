"""Numba kernels. Arrays and scalars in, arrays out; validation lives in the callers.

The robust EWMA kernel scores a whole cycle (N series × T points) in one call and
updates the per-series state in place, so the service pays the Python overhead once
per cycle rather than once per series.

Layout: one series alone is a chain (every point's update needs the previous point's
level and scale, ~25 cycles of dependent arithmetic), so a series-outer loop is bound by
latency at ~10 ns a point. :func:`robust_ewma_kernel` instead takes ``LANES`` series at
a time, copies a tile of ``TILE`` steps of them to a time-major buffer, and steps all of
them together (each step is one vector operation across the series), then copies the
outputs back to the row-major ``(N, T)`` arrays (:mod:`detector.detect.tiles`). The copies cost more than the
arithmetic; the five output-sized streams (``values`` in; ``score``, ``expected``,
``lower``, ``upper`` out) are what bounds it now. The band is still written per point
because its readers want it per point (event explanations, the volume gate, the
dashboard, backtests); recomputing it from the state in every one of them would save
the kernel a stream and cost each of them a pass.

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
from detector.detect.tiles import LANES, MIN_BLOCKED_POINTS, TILE, all_warm, from_tile, to_tile

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

    From ``MIN_BLOCKED_POINTS`` points on, ``LANES`` series × ``TILE`` steps at a time:
    a tile where every series is past its warm-up (or has no data yet and gets none) is
    transposed to time-major and run by :func:`_tile_warm` across the series; any other
    tile (a warm-up, a first point, a corrupt count) runs the plain per-series loop
    :func:`_span`, as do calls with fewer points. Both do the
    same IEEE operations in the same order, so the result is bit-identical to
    :func:`robust_ewma_kernel_serial`.
    """
    n_series, n_points = values.shape
    if n_points < MIN_BLOCKED_POINTS:
        robust_ewma_kernel_serial(
            values, level, scale, count, direction, abs_floor, rel_floor, alpha, scale_alpha, threshold,
            clip, grace, score, expected, lower, upper,
        )  # fmt: skip
        return
    lv = np.empty(LANES)
    md = np.empty(LANES)
    nn = np.empty(LANES, dtype=np.int64)
    sg = np.empty(LANES, dtype=np.int8)
    fa = np.empty(LANES)
    fr = np.empty(LANES)
    xt = np.empty(TILE * LANES)
    st = np.empty(TILE * LANES)
    et = np.empty(TILE * LANES)
    lt = np.empty(TILE * LANES)
    ut = np.empty(TILE * LANES)
    for a in range(0, n_series, LANES):
        m = min(LANES, n_series - a)
        for j in range(m):
            i = a + j
            # A series with no data yet carries NaN as its level in the tile loop, so the
            # band it reports comes out NaN without a branch; its stored level is kept.
            lv[j] = level[i] if count[i] != 0 else np.nan
            md[j] = scale[i]
            nn[j] = count[i]
            sg[j] = direction[i]
            fa[j] = abs_floor[i]
            fr[j] = rel_floor[i]
        for t0 in range(0, n_points, TILE):
            t1 = min(t0 + TILE, n_points)
            if all_warm(values, a, m, t0, t1, nn, grace):
                to_tile(values, a, m, t0, t1, xt)
                _tile_warm(xt, m, t1 - t0, lv, md, nn, sg, fa, fr, alpha, scale_alpha, threshold, clip,
                           st, et, lt, ut)  # fmt: skip
                from_tile(st, a, m, t0, t1, score)
                from_tile(et, a, m, t0, t1, expected)
                from_tile(lt, a, m, t0, t1, lower)
                from_tile(ut, a, m, t0, t1, upper)
            else:
                for j in range(m):
                    _span(values, a + j, t0, t1, lv, md, nn, j, sg[j], fa[j], fr[j], alpha, scale_alpha,
                          threshold, clip, grace, score, expected, lower, upper)  # fmt: skip
        for j in range(m):
            i = a + j
            if nn[j] != 0:
                level[i] = lv[j]
            scale[i] = md[j]
            count[i] = nn[j]


@kernel
def robust_ewma_kernel_serial(
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
    """:func:`robust_ewma_kernel` one series at a time, one point after another.

    The reference the blocked kernel must match bit for bit (tests compare the two);
    about a third as fast on long series, since each point waits for the previous
    point's update, and the kernel itself for calls of fewer than ``MIN_BLOCKED_POINTS``.
    """
    n_points = values.shape[1]
    for i in range(values.shape[0]):
        _span(values, i, 0, n_points, level, scale, count, i, direction[i], abs_floor[i], rel_floor[i],
              alpha, scale_alpha, threshold, clip, grace, score, expected, lower, upper)  # fmt: skip


@kernel
def _span(
    values: np.ndarray,
    i: int,
    t0: int,
    t1: int,
    lv: np.ndarray,
    md: np.ndarray,
    nn: np.ndarray,
    j: int,
    sign: int,
    fa: float,
    fr: float,
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
    """Series ``i``, points ``t0:t1``, state in ``lv[j]``/``md[j]``/``nn[j]``: every case."""
    lvl = lv[j]
    mad = md[j]
    n = nn[j]
    for t in range(t0, t1):
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
    lv[j] = lvl
    md[j] = mad
    nn[j] = n


@kernel
def _tile_warm(
    xt: np.ndarray,
    m: int,
    tn: int,
    lv: np.ndarray,
    md: np.ndarray,
    nn: np.ndarray,
    sg: np.ndarray,
    fa: np.ndarray,
    fr: np.ndarray,
    alpha: float,
    scale_alpha: float,
    threshold: float,
    clip: float,
    st: np.ndarray,
    et: np.ndarray,
    lt: np.ndarray,
    ut: np.ndarray,
) -> None:
    """The post-warm-up branch of :func:`_span` on a time-major tile (``xt[t * LANES + j]``).

    Time outer, series inner: the series are independent, so LLVM vectorises the inner
    loop and a vector of series shares each step's latency. It is branch-free (a select
    replaces each ``if``, which is why "no data" takes a mask rather than a ``continue``),
    computing the same values in the same order as :func:`_span`, so the results are
    identical. A series with no data yet has ``lv`` NaN here (see the caller), so its
    band is NaN; its score is NaN and its state unchanged like any no-data point.
    """
    for t in range(tn):
        o = t * LANES
        for j in range(m):
            x = xt[o + j]
            lvl = lv[j]
            mad = md[j]
            sigma = max(SIGMA_PER_MAD * mad, fa[j] + fr[j] * abs(lvl))
            half = threshold * sigma
            et[o + j] = lvl
            lt[o + j] = lvl - half
            ut[o + j] = lvl + half
            dev = x - lvl
            sign = sg[j]
            d = dev if sign > 0 else (-dev if sign < 0 else abs(dev))
            r = (half + 1e-300) / max(d, 0.0)
            ok = math.isfinite(x)
            st[o + j] = 1.0 / (1.0 + r * r) if ok else np.nan
            bound = clip * sigma
            clipped = min(max(dev, -bound), bound)
            dev = clipped if sigma > 0.0 else dev
            lv[j] = lvl + alpha * dev if ok else lvl
            md[j] = mad + scale_alpha * (abs(dev) - mad) if ok else mad
            nn[j] += ok
