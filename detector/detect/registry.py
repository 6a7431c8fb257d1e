"""Detectors by name, for ``meshpulse score --detector NAME`` and the evaluation harness.

Each factory builds a fresh detector with production defaults; every detector has
``score_series(timestamps, values, params)`` returning per-point scores in [0, 1],
0.5 at its alarm level.

>>> sorted(DETECTORS)
['ensemble', 'level_shift', 'robust_ewma', 'seasonal']
>>> type(make("seasonal")).__name__
'Seasonal'
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from detector.detect.baseline import BaselineDetector
from detector.detect.ensemble import Ensemble
from detector.detect.level_shift import LevelShift
from detector.detect.robust_ewma import RobustEWMA, SeriesParams
from detector.detect.seasonal import Seasonal

DETECTORS: dict[str, Callable[[], RobustEWMA | BaselineDetector]] = {
    "robust_ewma": RobustEWMA,
    "seasonal": Seasonal,
    "level_shift": LevelShift,
    "ensemble": Ensemble,
}
DEFAULT = "robust_ewma"


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
