"""A streaming, robust level-and-spread detector, scored many series at a time.

Why an EWMA and not a model per series: a mesh has thousands of series scored every
15 s, most of them noisy but stationary over minutes. An exponentially weighted level
with a mean-absolute-deviation scale costs a few flops per point, needs three numbers
of state per series (so a restart resumes from SQLite), and is robust when the update
is clipped: an outlier moves the baseline by at most ``alpha · clip · sigma``.

The score is calibrated in sigmas (see :mod:`detector.detect.kernels`):
``score = z² / (z² + threshold²)``, 0.5 exactly at ``z = threshold``.

>>> import numpy as np
>>> det = RobustEWMA(grace=10)
>>> rng = np.random.default_rng(0)
>>> x = 100 + rng.normal(0, 1, size=(1, 200))
>>> x[0, 150] = 120.0                              # a 20-sigma spike
>>> out = det.score(det.new_state(1), x, ParamArrays.from_params([SeriesParams()]))
>>> float(out.score[0, 150]) > 0.9, float(np.median(out.score[0, 10:150])) < 0.1
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from detector.detect.kernels import robust_ewma_kernel


@dataclass(frozen=True)
class SeriesParams:
    """What counts as anomalous for one series.

    ``direction``: +1 only rises are anomalous (latency, error ratio), -1 only drops,
    0 both (request rate). ``abs_floor + rel_floor·|level|`` is the smallest sigma the
    detector will believe: without it a series that has been exactly flat (a zero
    error ratio) would call its first tiny wobble infinitely anomalous.
    """

    direction: int = 0
    abs_floor: float = 0.0
    rel_floor: float = 0.0

    def __post_init__(self) -> None:
        if self.direction not in (-1, 0, 1):
            raise ValueError(f"direction must be -1, 0 or +1, got {self.direction!r}")
        if (
            not (np.isfinite(self.abs_floor) and np.isfinite(self.rel_floor))
            or min(self.abs_floor, self.rel_floor) < 0
        ):
            raise ValueError(f"floors must be finite and >= 0, got {self.abs_floor!r}, {self.rel_floor!r}")


@dataclass
class ParamArrays:
    """:class:`SeriesParams` of N series laid out as the kernel wants them."""

    direction: np.ndarray  # (N,) int8
    abs_floor: np.ndarray  # (N,) float64
    rel_floor: np.ndarray  # (N,) float64

    @classmethod
    def from_params(cls, params: Sequence[SeriesParams]) -> ParamArrays:
        return cls(
            np.array([p.direction for p in params], dtype=np.int8),
            np.array([p.abs_floor for p in params], dtype=np.float64),
            np.array([p.rel_floor for p in params], dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.direction)


@dataclass
class EWMAState:
    """Per-series state, updated in place by :meth:`RobustEWMA.score`.

    ``level`` is NaN until a series has seen a finite point; ``scale`` is the EWMA of
    absolute deviations (not yet a sigma); ``count`` the number of finite points seen.
    """

    level: np.ndarray  # (N,) float64
    scale: np.ndarray  # (N,) float64
    count: np.ndarray  # (N,) int64

    FIELDS: ClassVar[tuple[str, ...]] = ("level", "scale", "count")

    @classmethod
    def new(cls, n: int) -> EWMAState:
        return cls(np.full(n, np.nan), np.zeros(n), np.zeros(n, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.level)


@dataclass
class Scores:
    """Kernel outputs, each (N, T) float64. See :mod:`detector.detect.kernels`."""

    score: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


class RobustEWMA:
    """EWMA level + EWMA absolute deviation, with Huber-clipped updates.

    ``alpha``: smoothing step; 0.02 is a half-life of ~34 points (8.5 min at a 15 s
    step, ~34 min at 1 min), long enough to ignore a burst, short enough to follow
    diurnal drift. ``threshold``: sigmas at which the score reaches 0.5; 3.5 keeps
    Gaussian noise below one point in 2000 while the floors stop flat series from
    alerting on trivia. ``grace``: finite points scored 0 while the level and scale
    are still a plain mean. ``clip``: update deviations are clipped to
    ``±clip·sigma``, so anomalies barely corrupt the baseline. ``scale_alpha``: the
    spread's step, slower than the level's because a sustained shift is absorbed
    mostly by the clipped deviations inflating the spread (by a factor
    ``1 + scale_alpha·(1.25·clip - 1)`` per point); at 0.01 a 10-sigma shift stays
    flagged for ~50 points (~13 min at 15 s) before it becomes the new normal.
    Hyperparameters are stored as given.
    """

    def __init__(
        self,
        alpha: float = 0.02,
        threshold: float = 3.5,
        grace: int = 20,
        clip: float = 2.0,
        scale_alpha: float = 0.01,
    ):
        for name, step in (("alpha", alpha), ("scale_alpha", scale_alpha)):
            if not 0.0 < step <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {step!r}")
        if not threshold > 0.0 or not clip > 0.0:
            raise ValueError(f"threshold and clip must be > 0, got {threshold!r}, {clip!r}")
        if int(grace) != grace or grace < 0:
            raise ValueError(f"grace must be a non-negative integer, got {grace!r}")
        self.alpha = alpha
        self.threshold = threshold
        self.grace = grace
        self.clip = clip
        self.scale_alpha = scale_alpha

    def __repr__(self) -> str:
        return (
            f"RobustEWMA(alpha={self.alpha!r}, threshold={self.threshold!r}, "
            f"grace={self.grace!r}, clip={self.clip!r}, scale_alpha={self.scale_alpha!r})"
        )

    def new_state(self, n: int) -> EWMAState:
        return EWMAState.new(n)

    def score(self, state: EWMAState, values: np.ndarray, params: ParamArrays) -> Scores:
        """Score ``values`` (N series × T points, NaN = no data), advancing ``state``.

        Scoring a block in one call or in consecutive chunks gives the same scores and
        the same final state.
        """
        values = np.ascontiguousarray(values, dtype=np.float64)
        if values.ndim != 2:
            raise ValueError(f"values must be 2-D (series × points), got shape {values.shape}")
        n = values.shape[0]
        _check_state(state, n)
        direction = np.ascontiguousarray(params.direction, dtype=np.int8)
        abs_floor = np.ascontiguousarray(params.abs_floor, dtype=np.float64)
        rel_floor = np.ascontiguousarray(params.rel_floor, dtype=np.float64)
        if not (len(direction) == len(abs_floor) == len(rel_floor) == n):
            raise ValueError(f"params describe {len(direction)} series but values has {n}")
        out = Scores(*(np.empty(values.shape) for _ in range(4)))
        robust_ewma_kernel(
            values,
            state.level,
            state.scale,
            state.count,
            direction,
            abs_floor,
            rel_floor,
            float(self.alpha),
            float(self.scale_alpha),
            float(self.threshold),
            float(self.clip),
            int(self.grace),
            out.score,
            out.expected,
            out.lower,
            out.upper,
        )
        return out

    def score_series(self, values: np.ndarray, params: SeriesParams | None = None) -> Scores:
        """Score one series from a fresh state; outputs are 1-D.

        >>> RobustEWMA(grace=2).score_series([1.0, 1.0, 1.0, 9.0]).score.tolist()
        [0.0, 0.0, 0.0, 1.0]

        With no floor, an exactly flat series has sigma 0, so any change scores 1:
        that is what ``SeriesParams.abs_floor``/``rel_floor`` are for.
        """
        row = np.asarray(values, dtype=np.float64).reshape(1, -1)
        out = self.score(self.new_state(1), row, ParamArrays.from_params([params or SeriesParams()]))
        return Scores(out.score[0], out.expected[0], out.lower[0], out.upper[0])


def _check_state(state: EWMAState, n: int) -> None:
    # The kernel writes the state in place, so a silently converted copy would lose
    # the update: refuse anything that is not exactly what the kernel mutates.
    for name, dtype in (("level", np.float64), ("scale", np.float64), ("count", np.int64)):
        arr = getattr(state, name)
        if (
            not isinstance(arr, np.ndarray)
            or arr.dtype != dtype
            or arr.shape != (n,)
            or not (arr.flags.c_contiguous and arr.flags.writeable)
        ):
            raise ValueError(
                f"state.{name} must be a writeable contiguous {np.dtype(dtype).name} array of shape ({n},); "
                "create it with RobustEWMA.new_state(n)"
            )
