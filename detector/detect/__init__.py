"""Detection: numba kernels, the robust EWMA detector, per-series state and events.

numpy + numba only, no I/O. ``kernels`` holds the compiled loops, ``robust_ewma``
the detector that validates input for them, ``bank`` the state of every watched
series, ``events`` the hysteresis that turns scores into incidents, and
``csv_score`` the univariate scorer behind ``meshpulse score`` and the JSON API.
``periods``/``kernels_seasonal``/``baseline`` add a detected season, a tail-calibrated
score and a CUSUM; ``seasonal``, ``level_shift`` and ``ensemble`` name configurations
of it, and ``registry`` maps those names (plus ``robust_ewma``) to factories.
"""

from detector.detect.bank import DetectionBank, ScoredBlock, default_params
from detector.detect.events import AnomalyEvent, EventChange, EventTracker
from detector.detect.robust_ewma import EWMAState, ParamArrays, RobustEWMA, Scores, SeriesParams

__all__ = [
    "AnomalyEvent",
    "DetectionBank",
    "EWMAState",
    "EventChange",
    "EventTracker",
    "ParamArrays",
    "RobustEWMA",
    "ScoredBlock",
    "Scores",
    "SeriesParams",
    "default_params",
]
