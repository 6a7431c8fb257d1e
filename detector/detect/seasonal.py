"""The seasonal detector: a per-phase profile on top of the level, when history shows a season.

Why a separate name for a configuration: operators choose detectors by what they
model. This one adds only the season (period detected from the series' own history by
:mod:`detector.detect.periods`, re-checked as history grows) to the robust level model,
and falls back to the plain level model while no season is found.

>>> import numpy as np
>>> ts = np.arange(0, 8 * 86400, 3600.0)
>>> x = 100 + 30 * np.sin(2 * np.pi * ts / 86400) + np.random.default_rng(1).normal(0, 1, ts.size)
>>> x[-5] += 25                                  # a dip-hour spike the level model hides in the swing
>>> s = Seasonal().score_series(ts, x)
>>> bool(s.score[-5] > 0.5), int((s.score[-48:] >= 0.5).sum())
(True, 1)
"""

from __future__ import annotations

from detector.detect.baseline import BaselineDetector


class Seasonal(BaselineDetector):
    """:class:`BaselineDetector` with season detection on, no CUSUM and no tail calibration."""

    def __init__(
        self, season_alpha: float = 0.05, threshold: float = 3.5, grace: int = 20, profile_fit: str = "median"
    ):
        super().__init__(
            season_alpha=season_alpha,
            threshold=threshold,
            grace=grace,
            seasonal=True,
            profile_fit=profile_fit,
        )


class SeasonalSTL(Seasonal):
    """:class:`Seasonal` with the profile fitted by statsmodels' robust STL instead of per-phase medians.

    For comparison, not the default: see :func:`~detector.detect.periods.fit_profile_stl`
    for what it does differently and what it costs.
    """

    def __init__(self, season_alpha: float = 0.05, threshold: float = 3.5, grace: int = 20):
        super().__init__(season_alpha=season_alpha, threshold=threshold, grace=grace, profile_fit="stl")
