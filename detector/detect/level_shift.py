"""The level-shift detector: a CUSUM on the robust residual that re-baselines once a shift is sure.

Why: a point test sees a moderate sustained shift (2-3 sigmas, a latency regression
after a deploy) either never or only on its noisiest points, and the EWMA level then
drifts into it. A two-sided CUSUM ``S = max(0, S + z - k)`` adds up the small evidence
and reaches ``h`` after roughly ``h / (z - k)`` points; once it has held for
``absorb_after`` points the level jumps to the new mean, so a real shift opens one
alarm early and then becomes the new normal instead of alarming for hours.

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(10, 1, 300)
>>> x[200:] += 3                                   # +3 sigma, for good
>>> s = LevelShift().score_series(np.arange(300) * 60.0, x)
>>> bool(s.score[200:215].max() >= 0.5), bool(s.score[260:].max() < 0.5)
(True, True)
"""

from __future__ import annotations

from detector.detect.baseline import BaselineDetector


class LevelShift(BaselineDetector):
    """:class:`BaselineDetector` with the CUSUM on (``cusum_k``, ``cusum_h`` in sigmas), no season."""

    def __init__(self, cusum_k: float = 1.0, cusum_h: float = 8.0, absorb_after: int = 5, grace: int = 20):
        super().__init__(cusum_k=cusum_k, cusum_h=cusum_h, absorb_after=absorb_after, grace=grace)
