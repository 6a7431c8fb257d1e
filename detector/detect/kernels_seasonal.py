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
  Once ``S ≥ h`` has lasted ``absorb_after`` points, the level jumps by the run's mean
  deviation and the sums restart: the shift is reported for those points, then it is the
  new normal. (Absorbing at the first point at ``h`` reported it once at most, never two
  points in a row as the ensemble's confirmation needs: a 5-sigma step was never seen.) The jump is
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

Layout: as :func:`~detector.detect.kernels.robust_ewma_kernel`, ``LANES`` series at a time
in time-major tiles (:mod:`detector.detect.tiles`) once every one of them is warm: each
series holds its current season term, the step is vectorised across the series (one
reciprocal of sigma serves z and the CUSUM's z: divisions bound it), and the rare parts
(a re-baseline, a new peak's GPD fit) run in a scalar pass only in a step that has one.
The per-series loop, which the blocked one matches bit for bit, takes everything else.

The season re-check's kernels follow (binning, strength, trend and profile, level and
scale): see :mod:`detector.detect.periods`.

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
from detector.detect.tiles import LANES, MIN_BLOCKED_POINTS, TILE, all_warm, from_tile, to_tile

# Lane state: one flat array, ``LANES`` values of each state variable (and of the tile
# loop's per-step scratch) after another, so the tile loop reads and writes each variable
# as one contiguous vector. One array at constant offsets, not one per variable: LLVM
# then sees that the variables cannot overlap, where two dozen separate arrays would need
# more run-time overlap checks than it is willing to emit, and it would not vectorise.
_LVL, _MAD, _Q, _SP, _SN, _RSUM, _RLEN, _HELD, _U, _NPK, _M1, _M2, _EX, _SEAS, _ON, _OVER, _FLAG = (
    k * LANES for k in range(17)
)
_LANE_VALUES = 17 * LANES
_PEAK, _ABSORB = 1, 2  # the flags the tile loop leaves for its scalar pass

MIN_BLOCKED_SERIES = 8
"""Fewer series side by side than this take the per-series loop: the vectorised step
runs 4 or 8 series per instruction, and a lone series (``Ensemble.score_series``) would
pay the tile loop's selects and scalar passes for nothing (~1.4× slower)."""

# The tile: values in, then the five outputs, each ``TILE × LANES`` time-major.
_IN, _SCORE, _SHIFT, _EXP, _LOW, _UP = (k * TILE * LANES for k in range(6))


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
    ``cusum[i]`` = [S⁺, S⁻, run sum, run length, points the sum has been at ``h``].
    ``peaks[i]`` = [u, peaks seen, m1, m2, excess quantile] (the EVT tail; without it, or
    with ``evt_risk`` 0, no EVT).
    ``score`` is the combined score, ``shift`` the CUSUM part of it.

    Laid out like :func:`~detector.detect.kernels.robust_ewma_kernel`: from
    ``MIN_BLOCKED_POINTS`` points on, ``LANES`` series × ``TILE`` steps at a time, a tile
    where every series is past its warm-up (or has no data throughout) runs
    :func:`_tile` across the series, any other tile the per-series loop :func:`_span`.
    Both do the same IEEE operations in the same order, so the result is bit-identical
    to :func:`baseline_kernel_serial`.
    """
    n_series, n_points = values.shape
    if n_points < MIN_BLOCKED_POINTS or n_series < MIN_BLOCKED_SERIES:
        baseline_kernel_serial(
            values, phase, profile, level, scale, tail, cusum, count, direction, abs_floor, rel_floor, hyper,
            grace, absorb_after, score, shift, expected, lower, upper, peaks,
        )  # fmt: skip
        return
    lanes = np.zeros(_LANE_VALUES)
    nn = np.empty(LANES, dtype=np.int64)
    sg = np.empty(LANES, dtype=np.int8)
    fa = np.empty(LANES)
    fr = np.empty(LANES)
    ph = np.empty(LANES, dtype=np.int64)
    tiles = np.empty(6 * TILE * LANES)
    for a in range(0, n_series, LANES):
        m = min(LANES, n_series - a)
        for j in range(m):
            _load(a + j, j, level, scale, tail, cusum, count, peaks, lanes, nn)
            # a series with no data yet carries a NaN level through the tile loop, so its
            # band comes out NaN without a branch; its stored level is kept
            if nn[j] == 0:
                lanes[_LVL + j] = np.nan
            sg[j], fa[j], fr[j] = direction[a + j], abs_floor[a + j], rel_floor[a + j]
        for t0 in range(0, n_points, TILE):
            t1 = min(t0 + TILE, n_points)
            if m >= MIN_BLOCKED_SERIES and all_warm(values, a, m, t0, t1, nn, grace):
                to_tile(values, a, m, t0, t1, tiles[_IN : _IN + TILE * LANES])
                _tile(tiles, phase, profile, a, m, t0, t1, lanes, nn, sg, fa, fr, hyper, peaks is not None,
                      absorb_after, ph)  # fmt: skip
                from_tile(tiles[_SCORE : _SCORE + TILE * LANES], a, m, t0, t1, score)
                from_tile(tiles[_SHIFT : _SHIFT + TILE * LANES], a, m, t0, t1, shift)
                from_tile(tiles[_EXP : _EXP + TILE * LANES], a, m, t0, t1, expected)
                from_tile(tiles[_LOW : _LOW + TILE * LANES], a, m, t0, t1, lower)
                from_tile(tiles[_UP : _UP + TILE * LANES], a, m, t0, t1, upper)
            else:
                for j in range(m):
                    _span(values, phase, profile, a + j, t0, t1, lanes, nn, j, sg[j], fa[j], fr[j], hyper,
                          peaks is not None, grace, absorb_after, score, shift, expected, lower,
                          upper)  # fmt: skip
        for j in range(m):
            _store(a + j, j, lanes, nn, level, scale, tail, cusum, count, peaks)


@kernel
def baseline_kernel_serial(
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
    """:func:`baseline_kernel` one series at a time, one point after another: the reference
    the blocked layout must match bit for bit, and the path for calls of a few points."""
    lanes = np.zeros(_LANE_VALUES)
    nn = np.empty(1, dtype=np.int64)
    for i in range(values.shape[0]):
        _load(i, 0, level, scale, tail, cusum, count, peaks, lanes, nn)
        _span(values, phase, profile, i, 0, values.shape[1], lanes, nn, 0, direction[i], abs_floor[i],
              rel_floor[i], hyper, peaks is not None, grace, absorb_after, score, shift, expected, lower,
              upper)  # fmt: skip
        _store(i, 0, lanes, nn, level, scale, tail, cusum, count, peaks)


@kernel
def _load(
    i: int,
    j: int,
    level: np.ndarray,
    scale: np.ndarray,
    tail: np.ndarray,
    cusum: np.ndarray,
    count: np.ndarray,
    peaks: np.ndarray | None,
    lanes: np.ndarray,
    nn: np.ndarray,
) -> None:
    """Series ``i``'s state into lane ``j``."""
    lanes[_LVL + j], lanes[_MAD + j], lanes[_Q + j] = level[i], scale[i], tail[i]
    for k in range(5):
        lanes[_SP + k * LANES + j] = cusum[i, k]
    for k in range(5):
        lanes[_U + k * LANES + j] = peaks[i, k] if peaks is not None else 0.0
    nn[j] = count[i]


@kernel
def _store(
    i: int,
    j: int,
    lanes: np.ndarray,
    nn: np.ndarray,
    level: np.ndarray,
    scale: np.ndarray,
    tail: np.ndarray,
    cusum: np.ndarray,
    count: np.ndarray,
    peaks: np.ndarray | None,
) -> None:
    """Lane ``j``'s state back into series ``i`` (a series still without data keeps its level)."""
    if nn[j] != 0:
        level[i] = lanes[_LVL + j]
    scale[i], tail[i], count[i] = lanes[_MAD + j], lanes[_Q + j], nn[j]
    for k in range(5):
        cusum[i, k] = lanes[_SP + k * LANES + j]
    if peaks is not None:
        for k in range(5):
            peaks[i, k] = lanes[_U + k * LANES + j]


@kernel
def _settings(hyper: np.ndarray) -> tuple[float, float, float, float, float, float, float, float]:
    """alpha, scale_alpha, season_alpha, threshold, clip, tail_p, tail_step, tail_mult."""
    return hyper[0], hyper[1], hyper[2], hyper[3], hyper[4], hyper[5], hyper[6], hyper[7]


@kernel
def _cusum_evt_settings(hyper: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """cusum_k, cusum_h, cusum_clip, then evt_risk, evt_p0, evt_alpha (0, 1, 1 when absent: no EVT)."""
    if hyper.shape[0] >= 14:
        return hyper[8], hyper[9], hyper[10], hyper[11], hyper[12], hyper[13]
    return hyper[8], hyper[9], hyper[10], 0.0, 1.0, 1.0


@kernel
def _span(
    values: np.ndarray,
    phase: np.ndarray,
    profile: np.ndarray,
    i: int,
    t0: int,
    t1: int,
    lanes: np.ndarray,
    nn: np.ndarray,
    j: int,
    sign: int,
    abs_floor: float,
    rel_floor: float,
    hyper: np.ndarray,
    with_peaks: bool,
    grace: int,
    absorb_after: int,
    score: np.ndarray,
    shift: np.ndarray,
    expected: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> None:
    """Series ``i``, points ``t0:t1``, state in lane ``j``: every case, one point after another."""
    alpha, scale_alpha, season_alpha, threshold, clip, tail_p, tail_step, tail_mult = _settings(hyper)
    k, h, zclip, risk, p0, peak_alpha = _cusum_evt_settings(hyper)
    evt_on = with_peaks and risk > 0.0
    lvl, mad, q, n = lanes[_LVL + j], lanes[_MAD + j], lanes[_Q + j], nn[j]
    sp, sn, rsum, rlen, held = (
        lanes[_SP + j],
        lanes[_SN + j],
        lanes[_RSUM + j],
        lanes[_RLEN + j],
        lanes[_HELD + j],
    )
    u, n_peaks, m1, m2, excess = (
        lanes[_U + j],
        lanes[_NPK + j],
        lanes[_M1 + j],
        lanes[_M2 + j],
        lanes[_EX + j],
    )
    for t in range(t0, t1):
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
        sigma = max(SIGMA_PER_MAD * mad, abs_floor + rel_floor * abs(base))
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
        inv = 1.0 / sigma  # one division for z and the CUSUM's z: divisions bound this loop
        za = max(d, 0.0) * inv if sigma > 0.0 else (math.inf if d > 0.0 else 0.0)
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
        zc = min(za, 1e150)  # z² / (z² + thr²) with one division; an infinite z scores 1, not NaN
        point = zc * zc / (zc * zc + thr * thr)
        s_shift = 0.0
        absorbed = False
        if h > 0.0 and sigma > 0.0:
            zs = min(max(dev * inv, -zclip), zclip)
            sp = max(0.0, sp + zs - k)
            sn = max(0.0, sn - zs - k)
            if sp > 0.0 or sn > 0.0:
                rsum += dev
                rlen += 1.0
            else:
                rsum, rlen = 0.0, 0.0
            s = sp if sign > 0 else (sn if sign < 0 else max(sp, sn))
            s_shift = s * s / (s * s + h * h)
            held = held + 1.0 if max(sp, sn) >= h else 0.0
            if held >= absorb_after:
                if (rsum > 0.0) == (sp >= sn):  # a spike up must not carry a shift down up
                    lvl += rsum / rlen
                sp, sn, rsum, rlen, held = 0.0, 0.0, 0.0, 0.0, 0.0
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
    lanes[_LVL + j], lanes[_MAD + j], lanes[_Q + j], nn[j] = lvl, mad, q, n
    lanes[_SP + j], lanes[_SN + j], lanes[_RSUM + j], lanes[_RLEN + j], lanes[_HELD + j] = (
        sp,
        sn,
        rsum,
        rlen,
        held,
    )
    lanes[_U + j], lanes[_NPK + j], lanes[_M1 + j], lanes[_M2 + j], lanes[_EX + j] = (
        u,
        n_peaks,
        m1,
        m2,
        excess,
    )


@kernel
def _tile(
    tiles: np.ndarray,
    phase: np.ndarray,
    profile: np.ndarray,
    a: int,
    m: int,
    t0: int,
    t1: int,
    lanes: np.ndarray,
    nn: np.ndarray,
    sg: np.ndarray,
    fa: np.ndarray,
    fr: np.ndarray,
    hyper: np.ndarray,
    with_peaks: bool,
    absorb_after: int,
    ph: np.ndarray,
) -> None:
    """The post-warm-up part of :func:`_span` for series ``a : a + m`` on a time-major tile.

    ``tiles[_IN + t * LANES + j]`` holds the values; score, shift, expected, lower and
    upper go to the same layout at their offsets. Each step is up to three loops over the series:

    1. the season term: each series holds its current profile value in ``_SEAS`` and,
       only when its phase moves on, writes it back and reads the next one
       (``profile[a + j, phase]``: a different column per series, so a scalar loop,
       which keeps the next loop free of gathers and scatters);
    2. everything else, branch-free (a select for each ``if`` of :func:`_span`, a mask
       for "no data"), so LLVM vectorises it across the series: the same values in the
       same order as :func:`_span`, the profile step included (on ``_SEAS``);
    3. only in a step where some series has one: the rare parts, a re-baseline and, for
       a new peak, the GPD quantile (:func:`~detector.detect.evt.gpd_excess_quantile`, a
       ``log`` or ``pow``), which only the next step reads.

    The held season terms go back to ``profile`` at the end of the tile.
    """
    alpha, scale_alpha, season_alpha, threshold, clip, tail_p, tail_step, tail_mult = _settings(hyper)
    k, h, zclip, risk, p0, peak_alpha = _cusum_evt_settings(hyper)
    evt_on = with_peaks and risk > 0.0
    cusum_on = h > 0.0
    v = lanes
    for j in range(m):
        ph[j], v[_SEAS + j], v[_ON + j] = -1, 0.0, 0.0
    for t in range(t1 - t0):
        for j in range(m):
            p = phase[a + j, t0 + t]
            if p != ph[j]:
                if ph[j] >= 0:
                    profile[a + j, ph[j]] = v[_SEAS + j]
                ph[j] = p
                v[_SEAS + j] = profile[a + j, p] if p >= 0 else 0.0
                v[_ON + j] = 1.0 if p >= 0 else 0.0
        rare = 0
        o = t * LANES
        for j in range(m):
            x = tiles[_IN + o + j]
            lvl, mad, q, n_peaks, excess, u = (
                v[_LVL + j],
                v[_MAD + j],
                v[_Q + j],
                v[_NPK + j],
                v[_EX + j],
                v[_U + j],
            )
            sign = sg[j]
            seas = v[_SEAS + j]
            base = lvl + seas
            sigma = max(SIGMA_PER_MAD * mad, fa[j] + fr[j] * abs(base))
            thr = max(threshold, tail_mult * q)
            thr = max(thr, u + excess) if evt_on and n_peaks >= MIN_PEAKS and excess > 0.0 else thr
            tiles[_EXP + o + j] = base
            tiles[_LOW + o + j] = base - thr * sigma
            tiles[_UP + o + j] = base + thr * sigma
            ok = math.isfinite(x)
            dev = x - base
            d = dev if sign > 0 else (-dev if sign < 0 else abs(dev))
            inv = 1.0 / sigma
            za = max(d, 0.0) * inv if sigma > 0.0 else (math.inf if d > 0.0 else 0.0)
            v[_Q + j] = q + tail_step * ((1.0 - tail_p) if za > q else -tail_p) if ok else q
            over = za - u
            v[_U + j] = u + tail_step * ((1.0 - p0) if za > u else -p0) if ok and evt_on else u
            zc = min(za, 1e150)
            point = zc * zc / (zc * zc + thr * thr)
            # the CUSUM and its run; a re-baseline (rare) is left to the scalar pass
            sp, sn, rsum, rlen = v[_SP + j], v[_SN + j], v[_RSUM + j], v[_RLEN + j]
            on = ok and cusum_on and sigma > 0.0
            zs = min(max(dev * inv, -zclip), zclip)
            sp2 = max(0.0, sp + zs - k)
            sn2 = max(0.0, sn - zs - k)
            run = sp2 > 0.0 or sn2 > 0.0
            rsum2 = rsum + dev if run else 0.0
            rlen2 = rlen + 1.0 if run else 0.0
            s = sp2 if sign > 0 else (sn2 if sign < 0 else max(sp2, sn2))
            s_shift = s * s / (s * s + h * h) if on else 0.0
            held = v[_HELD + j]
            held2 = held + 1.0 if max(sp2, sn2) >= h else 0.0
            absorbed = on and held2 >= absorb_after
            v[_HELD + j] = held2 if on else held
            v[_SP + j] = sp2 if on else sp
            v[_SN + j] = sn2 if on else sn
            v[_RSUM + j] = rsum2 if on else rsum
            v[_RLEN + j] = rlen2 if on else rlen
            tiles[_SHIFT + o + j] = s_shift if ok else np.nan
            # a normal point beyond u is a peak (its moments and quantile: the scalar pass)
            peak = ok and evt_on and over > 0.0 and point < 0.5 and math.isfinite(over)
            v[_OVER + j] = over
            combined = max(point, s_shift)
            tiles[_SCORE + o + j] = combined if ok else np.nan
            # what the point teaches: the clipped step, unless absorbed (or anomalous, for the level)
            bound = clip * sigma
            dc = min(max(dev, -bound), bound)
            clipped = ok and not absorbed and sigma > 0.0
            learn = clipped and (combined < 0.5 or h <= 0.0)
            flat = ok and not absorbed and sigma == 0.0
            v[_LVL + j] = lvl + alpha * dc if learn else (lvl + alpha * dev if flat else lvl)
            v[_MAD + j] = (
                mad + scale_alpha * (abs(dc) - mad)
                if clipped
                else (mad + scale_alpha * (abs(dev) - mad) if flat else mad)
            )
            v[_SEAS + j] = seas + season_alpha * dc if learn and v[_ON + j] > 0.0 else seas
            flags = (_PEAK if peak else 0) + (_ABSORB if absorbed else 0)
            v[_FLAG + j] = flags
            rare += flags
            nn[j] += ok
        if rare == 0:
            continue
        for j in range(m):
            flags = int(v[_FLAG + j])
            if flags & _ABSORB:  # as in _span: the level moves by the run's mean, the sums restart
                if (v[_RSUM + j] > 0.0) == (v[_SP + j] >= v[_SN + j]):
                    v[_LVL + j] += v[_RSUM + j] / v[_RLEN + j]
                v[_SP + j] = v[_SN + j] = v[_RSUM + j] = v[_RLEN + j] = v[_HELD + j] = 0.0
            if flags & _PEAK:
                n_peaks = v[_NPK + j] + 1.0
                w = max(1.0 / n_peaks, peak_alpha)
                over = v[_OVER + j]
                v[_NPK + j] = n_peaks
                v[_M1 + j] += w * (over - v[_M1 + j])
                v[_M2 + j] += w * (over * over - v[_M2 + j])
                v[_EX + j] = gpd_excess_quantile(v[_M1 + j], v[_M2 + j], p0, risk)
    for j in range(m):
        if ph[j] >= 0:
            profile[a + j, ph[j]] = v[_SEAS + j]


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
def season_strength_kernel(y: np.ndarray, lead: int, bins: int) -> float:
    """Out-of-sample season strength of consecutive bin means ``y`` (finite; phase of ``y[0]`` is ``lead``).

    Detrend by the centred mean of one cycle (shortened at the ends), take the per-phase
    median profile of all but the last cycle, and return ``1 - (MAD of the last cycle
    after the profile / its MAD before)²``; -1 if the last cycle has no spread. One
    call instead of a dozen numpy steps: a season check runs on every series.
    """
    n = y.shape[0]
    c = np.empty(n + 1)
    c[0] = 0.0
    for i in range(n):
        c[i + 1] = c[i] + y[i]
    d = np.empty(n)
    half = bins // 2
    for i in range(n):
        lo = max(i - half, 0)
        hi = min(i - half + bins, n)
        d[i] = y[i] - (c[hi] - c[lo]) / (hi - lo)
    cut = n - bins
    prof = np.empty(bins)
    phase_median_kernel(d[:cut], lead, prof)
    last = d[cut:]
    spread = np.median(np.abs(last - np.median(last)))
    if not spread > 0.0:
        return -1.0
    r = np.empty(bins)
    for j in range(bins):
        r[j] = last[j] - prof[(lead + cut + j) % bins]
    ratio = np.median(np.abs(r - np.median(r))) / spread
    return 1.0 - ratio * ratio


@kernel
def trend_profile_kernel(
    y: np.ndarray, lead: int, bins: int, stride: int, trend: np.ndarray, prof: np.ndarray
) -> None:
    """The one-cycle rolling median of bin means ``y`` into ``trend``, and the per-phase median of
    ``y - trend`` into ``prof`` (0 for a phase never seen); ``y`` finite, phase of ``y[0]`` ``lead``.

    The rolling median is taken every ``stride`` points (and at the last), over the cycle
    around each (the first or last full cycle near the ends), and interpolated linearly in
    between as ``np.interp`` does; a series shorter than a cycle gets its overall median.
    """
    n = y.shape[0]
    if n <= bins:
        m = np.median(y) if n > 0 else np.nan
        for i in range(n):
            trend[i] = m
    else:
        step = max(1, stride)
        knots = (n + step - 2) // step + 1  # 0, step, 2·step, …, and n - 1 last
        at = np.empty(knots, dtype=np.int64)
        med = np.empty(knots)
        for k in range(knots):
            at[k] = min(k * step, n - 1)
            s = min(max(at[k] - bins // 2, 0), n - bins)
            med[k] = np.median(y[s : s + bins])
        for k in range(knots - 1):
            x0, x1 = at[k], at[k + 1]
            slope = (med[k + 1] - med[k]) / (x1 - x0)
            for i in range(x0, x1):
                trend[i] = slope * (i - x0) + med[k]
        trend[n - 1] = med[knots - 1]
    d = np.empty(n)
    for i in range(n):
        d[i] = y[i] - trend[i]
    phase_median_kernel(d, lead, prof)
    for p in range(bins):
        if not math.isfinite(prof[p]):
            prof[p] = 0.0


@kernel
def level_scale_kernel(
    ts: np.ndarray,
    x: np.ndarray,
    bin_s: float,
    prof: np.ndarray,
    trend: np.ndarray,
    first_bin: int,
    recent_from: int,
    pick_step: int,
) -> tuple[float, float]:
    """``(level, scale)`` of raw points against a fitted season.

    ``level``: the median of the finite ``x[i] - prof[bin(i) mod bins]`` from ``recent_from``
    on (NaN if none); ``scale``: 1.18 × the MAD of ``x[i] - prof[…] - trend[bin(i) - first_bin]``
    over every ``pick_step``-th point (0 if none is finite), ``bin(i) = floor(ts[i] / bin_s)``.
    """
    bins = prof.shape[0]
    n = x.shape[0]
    buf = np.empty(max(n - recent_from, 0))
    k = 0
    for i in range(recent_from, n):
        v = x[i] - prof[math.floor(ts[i] / bin_s) % bins]
        if math.isfinite(v):
            buf[k] = v
            k += 1
    level = np.median(buf[:k]) if k > 0 else np.nan
    res = np.empty((n + pick_step - 1) // pick_step)
    k = 0
    for i in range(0, n, pick_step):
        b = math.floor(ts[i] / bin_s)
        v = x[i] - prof[b % bins] - trend[b - first_bin]
        if math.isfinite(v):
            res[k] = v
            k += 1
    if k == 0:
        return level, 0.0
    r = res[:k]
    return level, 1.18 * np.median(np.abs(r - np.median(r)))
