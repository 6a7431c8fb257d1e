"""Multivariate per service: an Isolation Forest over robustly scaled golden signals.

Why: some incidents show in no single signal. A service answering *fewer* requests
*faster* with a few more errors (callers giving up, a dependency short-circuiting)
keeps each of rate, 5xx ratio and p99 inside its own band; only the combination is
new. An Isolation Forest isolates such points in few random splits, needs no
distributional assumption, and its cost is fixed by the number of trees, not by the
history.

Features are scaled robustly at refit time, ``(x - median) / (IQR / 1.349)``, with a
floor of ``rel_floor · |median|`` (and an absolute ``1e-9``) on the scale so a feature
that was flat in the history (a zero 5xx ratio) does not make its first wobble
infinitely far away; then rotated onto the principal axes of the history's bulk, each
axis scaled by its own robust sigma (see :func:`_principal_axes`: a plain forest is
blind to exactly the off-correlation points this detector is for). The forest is
refitted on a schedule, on history only (:meth:`MultivariateForest.refit`); scoring
(:meth:`MultivariateForest.score`) never learns, so scores are causal between refits.

Two raw scores per point, both higher-is-stranger: the forest's ``-score_samples``,
and the Euclidean norm on those scaled axes (a robust Mahalanobis distance). Why
both: the forest only splits inside the range of its sample, so every point beyond
the history's edge scores like the edge itself, however far out; the distance grows
without bound but is blind to shapes the forest sees (two normal operating modes and
the gap between them). Calibration, per raw score: at refit, ``mid`` is the median
over the history and ``alarm`` its ``alarm_quantile`` quantile (default 0.995: the
history's own 1-in-200 point); ``r = max(raw - mid, 0) / (alarm - mid)``, the larger
``r`` of the two wins, and ``score = r² / (r² + 1)``: 0 for a typical point, 0.5 at the
history's alarm quantile (so ≤ 1% of the history's own points reach it), →1 beyond,
like every detector.
Until the first refit with at least ``min_history`` complete rows the score is 0 (grace);
a point with a non-finite feature is no data (NaN).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> rate = rng.normal(100, 10, 2000)
>>> p99 = 200 + 2 * (rate - 100) + rng.normal(0, 5, 2000)   # latency follows load
>>> det = MultivariateForest(seed=0).refit(np.c_[rate, p99])
>>> odd = np.array([[120.0, 160.0]])   # high load, low latency: each value is ordinary alone
>>> bool(det.score(odd)[0] > 0.5), bool(det.score(np.array([[100.0, 200.0]]))[0] < 0.1)
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from detector.series import Scope, SeriesBlock, Signal

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest

SIGNALS = (Signal.RATE, Signal.ERROR_RATIO, Signal.P50, Signal.P99)
"""Default features of a service: load, errors, the body and the tail of latency."""

IQR_PER_SIGMA = 1.349
"""Interquartile range of a standard normal: IQR / 1.349 estimates sigma."""
MIN_AXIS_SIGMA = 0.05
"""Smallest sigma of a principal axis, in robust sigmas of the scaled features."""


class MultivariateForest:
    """``refit(history)`` on a schedule, ``score(points)`` in between; rows are points, columns features.

    ``trees`` and ``max_samples`` size the forest (100 × 256 is the original paper's
    choice, enough for a few features); ``seed`` makes refits reproducible.
    Hyperparameters are stored as given.
    """

    def __init__(
        self,
        trees: int = 100,
        max_samples: int = 256,
        alarm_quantile: float = 0.995,
        min_history: int = 64,
        rel_floor: float = 0.01,
        seed: int = 0,
    ):
        if not (0.5 < alarm_quantile < 1.0):
            raise ValueError(f"alarm_quantile must be in (0.5, 1), got {alarm_quantile!r}")
        if min(trees, max_samples, min_history) < 1 or rel_floor < 0:
            raise ValueError("trees, max_samples and min_history must be >= 1 and rel_floor >= 0")
        self.trees, self.max_samples, self.alarm_quantile = trees, max_samples, alarm_quantile
        self.min_history, self.rel_floor, self.seed = min_history, rel_floor, seed
        self._forest: IsolationForest | None = None
        self._center = self._scale = self._spread = np.empty(0)
        self._rotation = np.empty((0, 0))
        self._mid = self._alarm = np.zeros(2)

    def __repr__(self) -> str:
        public = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return f"MultivariateForest({', '.join(f'{k}={v!r}' for k, v in public.items())})"

    @property
    def fitted(self) -> bool:
        return self._forest is not None

    def refit(self, history: np.ndarray) -> MultivariateForest:
        """Fit scaling, forest and calibration on ``history`` (T × F); rows with NaN are dropped.

        With fewer than ``min_history`` complete rows the previous fit is kept (or none).
        """
        from sklearn.ensemble import IsolationForest  # imported on first refit: it takes ~1 s

        x = _as_rows(history)
        x = x[np.isfinite(x).all(axis=1)]
        if len(x) < self.min_history:
            return self
        center = np.median(x, axis=0)
        q75, q25 = np.percentile(x, [75, 25], axis=0)
        scale = np.maximum((q75 - q25) / IQR_PER_SIGMA, np.maximum(self.rel_floor * np.abs(center), 1e-9))
        z = (x - center) / scale
        rotation, spread = _principal_axes(z)
        z = z @ rotation / spread
        forest = IsolationForest(
            n_estimators=self.trees, max_samples=min(self.max_samples, len(z)), random_state=self.seed
        ).fit(z)
        raws = np.c_[-forest.score_samples(z), np.linalg.norm(z, axis=1)]
        mid, alarm = np.quantile(raws, [0.5, self.alarm_quantile], axis=0)
        self._forest, self._center, self._scale = forest, center, scale
        self._rotation, self._spread = rotation, spread
        self._mid, self._alarm = mid, np.maximum(alarm, mid + 1e-9)
        return self

    def score(self, points: np.ndarray) -> np.ndarray:
        """Scores in [0, 1] of ``points`` (M × F, or one point F), 0.5 at the alarm quantile."""
        x = _as_rows(points)
        out = np.full(len(x), np.nan)
        ok = np.isfinite(x).all(axis=1)
        if self._forest is None:
            out[ok] = 0.0
            return out
        if x.shape[1] != len(self._center):
            raise ValueError(
                f"points have {x.shape[1]} features, the forest was fitted on {len(self._center)}"
            )
        if ok.any():
            z = (x[ok] - self._center) / self._scale @ self._rotation / self._spread
            raws = np.c_[-self._forest.score_samples(z), np.linalg.norm(z, axis=1)]
            r = (np.maximum(raws - self._mid, 0.0) / (self._alarm - self._mid)).max(axis=1)
            out[ok] = r * r / (r * r + 1.0)
        return out

    def score_stream(self, values: np.ndarray, refit_every: int = 240, window: int = 5760) -> np.ndarray:
        """Score ``values`` (T × F) in time order, refitting every ``refit_every`` rows on the
        ``window`` rows before (never on the rows being scored): what the service does live.

        >>> x = np.random.default_rng(1).normal(0, 1, (400, 3))
        >>> s = MultivariateForest(min_history=100).score_stream(x, refit_every=100)
        >>> bool((s[:100] == 0).all()), bool(np.nanmax(s) <= 1)
        (True, True)
        """
        x = _as_rows(values)
        if refit_every < 1 or window < 1:
            raise ValueError("refit_every and window must be >= 1")
        out = np.empty(len(x))
        for start in range(0, len(x), refit_every):
            if start:
                self.refit(x[max(0, start - window) : start])
            out[start : start + refit_every] = self.score(x[start : start + refit_every])
        return out


def service_features(
    block: SeriesBlock, service: str, namespace: str, signals: Sequence[Signal] = SIGNALS
) -> np.ndarray:
    """One service's service-scope ``signals`` from a scraped block, as rows (T × F).

    A signal the block lacks is a column of NaN (no data), so those rows are neither
    fitted nor scored rather than silently scored on fewer features.

    >>> from detector.series import SeriesKey
    >>> keys = [SeriesKey("cart", "shop", Signal.RATE), SeriesKey("cart", "shop", Signal.P99)]
    >>> b = SeriesBlock(keys, [0.0, 15.0], [[10.0, 11.0], [80.0, 90.0]])
    >>> service_features(b, "cart", "shop", (Signal.RATE, Signal.P99)).tolist()
    [[10.0, 80.0], [11.0, 90.0]]
    """
    rows = {
        k.signal: i
        for i, k in enumerate(block.keys)
        if k.scope == Scope.SERVICE and k.service == service and k.namespace == namespace
    }
    out = np.full((len(block.timestamps), len(signals)), np.nan)
    for j, signal in enumerate(signals):
        if signal in rows:
            out[:, j] = block.values[rows[signal]]
    return out


def _principal_axes(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation onto the principal axes of the bulk of ``z`` and each axis' robust sigma.

    Why: the forest splits one feature at a time, so a point off a correlation
    (load up, latency down) but inside each marginal range takes many splits to
    isolate. On principal axes that point is far out on a minor axis. Axes come from
    the covariance of rows within 5 robust sigmas (outliers in the history must not
    tilt them); each axis is then scaled by its own IQR sigma, floored at
    :data:`MIN_AXIS_SIGMA` so a perfectly collinear pair does not divide by zero.
    """
    bulk = z[(np.abs(z) <= 5.0).all(axis=1)]
    if len(bulk) <= z.shape[1]:
        return np.eye(z.shape[1]), np.ones(z.shape[1])
    _, rotation = np.linalg.eigh(np.cov(bulk, rowvar=False).reshape(z.shape[1], z.shape[1]))
    q75, q25 = np.percentile(z @ rotation, [75, 25], axis=0)
    return rotation, np.maximum((q75 - q25) / IQR_PER_SIGMA, MIN_AXIS_SIGMA)


def _as_rows(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"expected rows of features (points × features), got shape {arr.shape}")
    return arr
