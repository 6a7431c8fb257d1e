"""The ensemble: season + level + CUSUM, scored against the series' own tail, as one number.

What the score means: ``score = z² / (z² + thr²)``, where ``z`` is the deviation from
the (seasonal) baseline in robust sigmas and ``thr = max(threshold, tail_mult · q)``
with ``q`` the series' own running ``1 - tail_p`` quantile of ``|z|``. So 0.5 is the
alarm level, reached only by a point both ``threshold`` sigmas out *and* ``tail_mult``
times beyond what this series' normal residuals reach about once in ``1/tail_p``
points; 0.8 is twice that. The CUSUM part maps its sum the same way (0.5 at ``h``) and
the larger of the two wins. Why the tail: real metrics are heavy-tailed, and a
Gaussian threshold on a heavy-tailed series is most of a detector's false alarms.

Anomalous points (score ≥ 0.5) do not update the baseline; sustained shifts are
absorbed by the CUSUM re-baseline instead (see :mod:`detector.detect.kernels_seasonal`).
:meth:`Ensemble.drivers` says which part drove each score.

>>> import numpy as np
>>> from detector.detect.robust_ewma import RobustEWMA
>>> x = np.random.default_rng(0).laplace(50, 1, 2000)      # heavy-tailed, but normal
>>> x[1500] += 40
>>> s = Ensemble().score_series(np.arange(2000) * 60.0, x)
>>> int((s.score[200:] >= 0.5).sum()), int((RobustEWMA().score_series(x).score[200:] >= 0.5).sum())
(5, 40)
>>> bool(s.score[1500] > 0.9)
True
>>> Ensemble.drivers(s)[1500]
'point'
"""

from __future__ import annotations

import numpy as np

from detector.detect.baseline import BaselineDetector, SeriesScores

DRIVERS = ("none", "point", "shift")


class Ensemble(BaselineDetector):
    """Every part on; defaults chosen on mesh-like data for precision at the 0.5 alarm."""

    def __init__(
        self,
        threshold: float = 3.5,
        tail_mult: float = 2.0,
        tail_p: float = 0.01,
        cusum_k: float = 2.0,
        cusum_h: float = 20.0,
        grace: int = 20,
    ):
        super().__init__(
            threshold=threshold,
            tail_mult=tail_mult,
            tail_p=tail_p,
            cusum_k=cusum_k,
            cusum_h=cusum_h,
            grace=grace,
            seasonal=True,
        )

    @staticmethod
    def drivers(scores: SeriesScores) -> np.ndarray:
        """Per point: ``"none"`` below the alarm, else ``"shift"`` if the CUSUM set it, else ``"point"``."""
        alarm = np.nan_to_num(scores.score) >= 0.5
        by_shift = alarm & (np.nan_to_num(scores.shift) >= np.nan_to_num(scores.score))
        return np.array(DRIVERS, dtype=object)[alarm.astype(int) + by_shift.astype(int)]
