"""Detectors by name, for ``meshpulse score --detector NAME`` and the evaluation harness.

Each factory builds a fresh detector with production defaults; every score is in
[0, 1], 0.5 at the detector's alarm level, NaN for no data. Detectors are grouped by
what one point *is*, because a contract test can only feed them the same input if
they take the same kind of input:

* :data:`DETECTORS`: one number per point (``score_series(timestamps, values, params)``);
  these are what ``meshpulse score`` and the JSON API offer;
* :data:`HISTOGRAM_DETECTORS`: one latency histogram per point, ``score_series(counts)``
  with per-step bucket counts (T × B);
* :data:`MULTIVARIATE_DETECTORS`: one row of several signals of a service per point,
  ``refit(history)`` on a schedule and ``score(points)`` in between (T × F).

>>> sorted(DETECTORS)
['ensemble', 'level_shift', 'robust_ewma', 'seasonal', 'seasonal_stl']
>>> sorted(HISTOGRAM_DETECTORS), sorted(MULTIVARIATE_DETECTORS)
(['distribution_shift'], ['multivariate'])
>>> type(make("seasonal")).__name__
'Seasonal'
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from detector.detect.baseline import BaselineDetector
from detector.detect.distribution_shift import DistributionShift
from detector.detect.ensemble import Ensemble
from detector.detect.level_shift import LevelShift
from detector.detect.multivariate import MultivariateForest
from detector.detect.robust_ewma import RobustEWMA, SeriesParams
from detector.detect.seasonal import Seasonal, SeasonalSTL

DETECTORS: dict[str, Callable[[], RobustEWMA | BaselineDetector]] = {
    "robust_ewma": RobustEWMA,
    "seasonal": Seasonal,
    "seasonal_stl": SeasonalSTL,
    "level_shift": LevelShift,
    "ensemble": Ensemble,
}
DEFAULT = "robust_ewma"
HISTOGRAM_DETECTORS: dict[str, Callable[[], DistributionShift]] = {"distribution_shift": DistributionShift}
MULTIVARIATE_DETECTORS: dict[str, Callable[[], MultivariateForest]] = {"multivariate": MultivariateForest}


def make(name: str) -> RobustEWMA | BaselineDetector:
    """A fresh detector; unknown names raise ``ValueError`` listing the known ones."""
    try:
        return DETECTORS[name]()
    except KeyError:
        raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(sorted(DETECTORS))}") from None


def score_with(
    detector: RobustEWMA | BaselineDetector, timestamps: np.ndarray, values: np.ndarray, params: SeriesParams
) -> np.ndarray:
    """Scores of one series: RobustEWMA ignores time, the others need it for the season."""
    if isinstance(detector, RobustEWMA):
        return detector.score_series(values, params).score
    return detector.score_series(timestamps, values, params).score
