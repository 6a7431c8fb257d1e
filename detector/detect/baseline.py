"""A streaming baseline detector: optional detected season, level, tail-calibrated score, CUSUM.

The kernel (:mod:`detector.detect.kernels_seasonal`) does the per-point work for many
series at once. This module validates input, and for one series re-checks its
seasonality at checkpoints (history spans of 3 days × 1.5ᵏ, k ≥ 1: the points before
the 3-day mark span less than the three cycles a daily season needs, so a check there
could find nothing): the period and profile are fitted on the points *before* the
checkpoint, so every score stays causal. Until a season is found the detector is the
plain level model.

:class:`~detector.detect.seasonal.Seasonal`, :class:`~detector.detect.level_shift.LevelShift`
and :class:`~detector.detect.ensemble.Ensemble` are this class with different parts on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.detect.kernels_seasonal import baseline_kernel
from detector.detect.periods import (
    DAY,
    detect_period,
    fit_profile,
    fit_profile_stl,
    median_step,
    phases,
    stl_bin_width,
)
from detector.detect.robust_ewma import SeriesParams

CHECK_GROWTH = 1.5
FIRST_CHECK_S = 3 * DAY * CHECK_GROWTH


OUTPUTS = ("score", "shift", "expected", "lower", "upper")
PROFILE_FITS = ("median", "stl")
"""How a season's profile is fitted: per-phase medians (:func:`~detector.detect.periods.fit_profile`,
the default) or statsmodels' robust STL (:func:`~detector.detect.periods.fit_profile_stl`)."""


@dataclass
class SeriesScores:
    """Per-point outputs for one series (1-D float64); ``shift`` is the CUSUM part of ``score``."""

    score: np.ndarray
    shift: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass
class _State:
    level: np.ndarray
    scale: np.ndarray
    tail: np.ndarray
    cusum: np.ndarray
    count: np.ndarray
    peaks: np.ndarray

    @classmethod
    def new(cls, n: int) -> _State:
        zeros = np.zeros
        return cls(np.full(n, np.nan), zeros(n), zeros(n), zeros((n, 5)), zeros(n, np.int64), zeros((n, 5)))


@dataclass(frozen=True)
class _Fixed:
    """What the kernel takes that stays the same for all of one series' chunks."""

    direction: np.ndarray
    abs_floor: np.ndarray
    rel_floor: np.ndarray
    hyper: np.ndarray


def confirmed(score: np.ndarray, points: int) -> np.ndarray:
    """Each score lowered to the smallest of the last ``points`` finite scores (NaN stays NaN).

    Why: one point over the line is most often a blip; a page should need the trouble to
    be seen twice, as an alert rule's ``for:`` asks. Taking the minimum keeps the score
    calibrated: it reaches 0.5 exactly when every one of the last ``points`` did. No data
    neither confirms nor breaks a streak (the finite points on either side are adjacent).

    >>> confirmed(np.array([0.1, 0.9, np.nan, 0.8, 0.2]), 2).tolist()
    [0.1, 0.1, nan, 0.8, 0.2]
    """
    out = np.array(score, dtype=np.float64, copy=True)
    if points <= 1:
        return out
    finite = np.isfinite(out)
    ok = None if finite.all() else np.flatnonzero(finite)
    v = out if ok is None else out[ok]
    low = v.copy()
    for lag in range(1, points):
        np.minimum(low[lag:], v[:-lag], out=low[lag:])
    if ok is None:
        return low
    out[ok] = low
    return out


class BaselineDetector:
    """Hyperparameters are stored as given; see the kernel for what each one does.

    ``threshold`` (sigmas) and ``tail_mult`` × the ``1 - tail_p`` quantile of the
    series' own past |z| set where the score crosses 0.5; with ``evt_risk > 0`` so does
    the level a normal point exceeds with probability ``evt_risk`` by the series' own
    extreme-value tail (see :mod:`detector.detect.evt`; ``evt_p0`` is the exceedance
    probability of the tail's base, ``evt_alpha`` the weight of the newest peak). ``cusum_h <= 0`` turns the
    level-shift part off; ``seasonal=False`` never looks for a season, ``profile_fit``
    says how a season found is fitted (one of :data:`PROFILE_FITS`). ``confirm``
    points in a row must reach the alarm before the score does (see :func:`confirmed`),
    unless the series' step is ``confirm_span_s`` or more: an hourly point is already an
    aggregate of many scrapes, so one such point is its own confirmation.
    """

    def __init__(
        self,
        alpha: float = 0.02,
        scale_alpha: float = 0.01,
        season_alpha: float = 0.05,
        threshold: float = 3.5,
        clip: float = 2.0,
        grace: int = 20,
        tail_p: float = 0.01,
        tail_step: float = 0.05,
        tail_mult: float = 0.0,
        cusum_k: float = 1.0,
        cusum_h: float = 0.0,
        cusum_clip: float = 4.0,
        absorb_after: int = 5,
        seasonal: bool = False,
        profile_fit: str = "median",
        confirm: int = 1,
        confirm_span_s: float = 3600.0,
        evt_risk: float = 0.0,
        evt_p0: float = 0.02,
        evt_alpha: float = 0.05,
    ):
        for name, step in (("alpha", alpha), ("scale_alpha", scale_alpha), ("season_alpha", season_alpha)):
            if not 0.0 < step <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {step!r}")
        if not (threshold > 0.0 and clip > 0.0 and 0.0 < tail_p < 1.0 and tail_step >= 0.0):
            raise ValueError("need threshold > 0, clip > 0, 0 < tail_p < 1 and tail_step >= 0")
        if not (0.0 <= evt_risk < evt_p0 < 1.0 and 0.0 < evt_alpha <= 1.0):
            raise ValueError(
                "need 0 <= evt_risk < evt_p0 < 1 and 0 < evt_alpha <= 1, "
                f"got {evt_risk!r}, {evt_p0!r}, {evt_alpha!r}"
            )
        if int(confirm) != confirm or confirm < 1:
            raise ValueError(f"confirm must be an integer >= 1, got {confirm!r}")
        if int(grace) != grace or grace < 0 or int(absorb_after) != absorb_after or absorb_after < 1:
            raise ValueError(
                f"grace must be >= 0 and absorb_after >= 1 (integers), got {grace!r}, {absorb_after!r}"
            )
        self.alpha, self.scale_alpha, self.season_alpha = alpha, scale_alpha, season_alpha
        self.threshold, self.clip, self.grace = threshold, clip, grace
        self.tail_p, self.tail_step, self.tail_mult = tail_p, tail_step, tail_mult
        self.cusum_k, self.cusum_h, self.cusum_clip = cusum_k, cusum_h, cusum_clip
        if profile_fit not in PROFILE_FITS:
            raise ValueError(f"profile_fit must be one of {', '.join(PROFILE_FITS)}, got {profile_fit!r}")
        self.absorb_after, self.seasonal, self.profile_fit = absorb_after, seasonal, profile_fit
        self.confirm, self.confirm_span_s = confirm, confirm_span_s
        self.evt_risk, self.evt_p0, self.evt_alpha = evt_risk, evt_p0, evt_alpha

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"

    def _hyper(self) -> np.ndarray:
        return np.array(
            [
                self.alpha,
                self.scale_alpha,
                self.season_alpha,
                self.threshold,
                self.clip,
                self.tail_p,
                self.tail_step,
                self.tail_mult,
                self.cusum_k,
                self.cusum_h,
                self.cusum_clip,
                self.evt_risk,
                self.evt_p0,
                self.evt_alpha,
            ],
            dtype=np.float64,
        )

    def score_series(
        self, timestamps: np.ndarray, values: np.ndarray, params: SeriesParams | None = None
    ) -> SeriesScores:
        """Score one series from a fresh state (causal: a score depends only on earlier points).

        >>> import numpy as np
        >>> x = np.r_[np.random.default_rng(0).normal(10, 1, 99), 30.0]
        >>> s = BaselineDetector(grace=10).score_series(np.arange(100) * 60.0, x)
        >>> bool(s.score[-1] > 0.9), bool(np.max(s.score[10:99]) < 0.5)
        (True, True)
        """
        ts = np.ascontiguousarray(timestamps, dtype=np.float64)
        x = np.ascontiguousarray(values, dtype=np.float64)
        if ts.ndim != 1 or ts.shape != x.shape:
            raise ValueError(f"timestamps and values must be 1-D and equally long, got {ts.shape}, {x.shape}")
        p = params or SeriesParams()
        fixed = _Fixed(
            np.array([p.direction], dtype=np.int8),
            np.array([p.abs_floor]),
            np.array([p.rel_floor]),
            self._hyper(),
        )
        out = SeriesScores(*(np.empty(len(x)) for _ in range(5)))
        state = _State.new(1)
        period, bin_s = 0.0, 0.0
        profile = np.zeros((1, 1))
        start, step = 0, median_step(ts)
        for cut in [*self._checkpoints(ts), len(x)]:
            if cut > start:
                ph = phases(ts[start:cut], period, bin_s).reshape(1, -1)
                self._run(state, x[start:cut].reshape(1, -1), ph, profile, fixed, out, slice(start, cut))
            start = cut
            if cut < len(x):
                period, bin_s, profile = self._refit(ts[:cut], x[:cut], median_step(ts[:cut]), state, period)
        out.score = confirmed(out.score, self._confirm_points(step))
        return out

    def _confirm_points(self, step: float) -> int:
        """``confirm`` points, or 1 when one point already spans ``confirm_span_s`` (an hourly rollup)."""
        return 1 if step >= self.confirm_span_s else int(self.confirm)

    def _checkpoints(self, ts: np.ndarray) -> list[int]:
        if not self.seasonal or len(ts) < 2:
            return []
        spans, span = [], FIRST_CHECK_S
        while span <= ts[-1] - ts[0]:
            spans.append(int(np.searchsorted(ts, ts[0] + span)))
            span *= CHECK_GROWTH
        return sorted(set(spans))

    def _refit(
        self, ts: np.ndarray, x: np.ndarray, step: float, state: _State, period: float
    ) -> tuple[float, float, np.ndarray]:
        new_period, bin_s = detect_period(ts, x, step)
        if new_period == 0.0:
            if period:  # the season faded: carry on with the level it was riding on
                state.level[0] = float(np.nanmedian(x[-20:]))
            return 0.0, 0.0, np.zeros((1, 1))
        if self.profile_fit == "stl":
            bin_s = stl_bin_width(new_period, bin_s)
            prof, level, scale = fit_profile_stl(ts, x, new_period, bin_s)
        else:
            prof, level, scale = fit_profile(ts, x, new_period, bin_s)
        if state.count[0] > 0 and np.isfinite(level):
            state.level[0] = level
            state.scale[0] = scale if scale > 0 else state.scale[0]
        return new_period, bin_s, prof.reshape(1, -1)

    def _run(
        self,
        state: _State,
        x: np.ndarray,
        ph: np.ndarray,
        profile: np.ndarray,
        fixed: _Fixed,
        out: SeriesScores,
        where: slice,
    ) -> None:
        # the kernel writes straight into this chunk of the outputs (row views, no copies)
        score, shift, expected, lower, upper = (getattr(out, name)[where].reshape(1, -1) for name in OUTPUTS)
        baseline_kernel(
            x,
            np.ascontiguousarray(ph, dtype=np.int64),
            profile,
            state.level,
            state.scale,
            state.tail,
            state.cusum,
            state.count,
            fixed.direction,
            fixed.abs_floor,
            fixed.rel_floor,
            fixed.hyper,
            int(self.grace),
            int(self.absorb_after),
            score,
            shift,
            expected,
            lower,
            upper,
            state.peaks,
        )
