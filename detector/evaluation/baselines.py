"""Causal peer detectors, scored in the same run so MeshPulse's numbers have context.

Every baseline is a plain ``score(timestamps, values) -> scores`` callable: a score at
``t`` uses only points up to ``t`` (models are fitted on a training prefix and then
applied point by point). Scores are unbounded; higher means more anomalous; NaN where
there is no data. None of them has a calibrated alarm level, so the report picks their
thresholds from the labels (see :func:`detector.evaluation.events.best_f1_threshold`).

* ``rolling_z``: |x − mean| / std of the previous ``window`` points, the textbook baseline.
* ``iforest``: scikit-learn IsolationForest on sliding windows of the last ``width``
  values (scaled by the prefix median and IQR), fitted on the first 15 %.
* ``stl``: statsmodels STL (robust) fitted on the prefix gives a seasonal profile per
  phase and a residual scale; then the deseasonalised series minus its causal rolling
  median, divided by that scale (floored at 1 % of the level, as MeshPulse's is). Daily
  period if the prefix holds two days, else hourly, else no season.
* ``hbos``: pyod's histogram-based outlier score on the same windows as ``iforest``;
  only registered when pyod imports.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
TRAIN_FRACTION = 0.15


def _filled(values: np.ndarray) -> np.ndarray:
    """Forward-filled copy (then back-filled for a leading gap) so window features exist everywhere."""
    return pd.Series(values).ffill().bfill().fillna(0.0).to_numpy(np.float64)


def _prefix(n: int, fraction: float = TRAIN_FRACTION, minimum: int = 20) -> int:
    return min(n, max(minimum, int(fraction * n)))


def rolling_z(timestamps: np.ndarray, values: np.ndarray, window: int = 100) -> np.ndarray:
    """|z| against the previous ``window`` points (at least 10 of them).

    >>> x = np.r_[np.zeros(50) + np.arange(50) % 2, 30.0]
    >>> bool(rolling_z(np.arange(51.0), x)[-1] > 10)
    True
    """
    x = pd.Series(np.asarray(values, dtype=np.float64))
    past = x.shift(1).rolling(window, min_periods=10)
    z = (x - past.mean()).abs() / past.std().clip(lower=1e-9)
    out = z.fillna(0.0).to_numpy(np.float64, copy=True)
    out[np.isnan(values)] = np.nan
    return out


def _window_features(values: np.ndarray, width: int, train: int) -> np.ndarray:
    x = _filled(values)
    med = np.median(x[:train])
    iqr = np.subtract(*np.percentile(x[:train], [75, 25])) or (np.std(x[:train]) or 1.0)
    z = (x - med) / iqr
    padded = np.concatenate([np.full(width - 1, z[0]), z])
    return np.lib.stride_tricks.sliding_window_view(padded, width)


def iforest(timestamps: np.ndarray, values: np.ndarray, width: int = 8, seed: int = 0) -> np.ndarray:
    from sklearn.ensemble import IsolationForest

    train = _prefix(len(values))
    feats = _window_features(values, width, train)
    model = IsolationForest(n_estimators=100, random_state=seed).fit(feats[:train])
    out = -model.score_samples(feats)
    out[np.isnan(values)] = np.nan
    return out


def hbos(timestamps: np.ndarray, values: np.ndarray, width: int = 8) -> np.ndarray:
    """pyod's HBOS; chosen over ECOD/COPOD because those re-fit on the data they score
    (their tails include the future), which a causal benchmark cannot allow."""
    from pyod.models.hbos import HBOS

    train = _prefix(len(values))
    feats = _window_features(values, width, train)
    model = HBOS().fit(feats[:train])
    out = np.asarray(model.decision_function(feats), dtype=np.float64)
    out[np.isnan(values)] = np.nan
    return out


def _period(step_s: float, train: int) -> int:
    for span in (86400.0, 3600.0):
        p = round(span / step_s) if step_s > 0 else 0
        if p >= 2 and train >= 2 * p:
            return int(p)
    return 0


def stl(timestamps: np.ndarray, values: np.ndarray, level_window: int = 24) -> np.ndarray:
    from statsmodels.tsa.seasonal import STL

    ts = np.asarray(timestamps, dtype=np.float64)
    step = float(np.median(np.diff(ts))) if len(ts) > 1 else 1.0
    train = _prefix(len(values))
    x = _filled(values)
    period = _period(step, train)
    seasonal = np.zeros(len(x))
    if period:
        fit = STL(x[:train], period=period, robust=True).fit()
        phase_train = np.rint((ts[:train] - ts[0]) / step).astype(np.int64) % period
        profile = pd.Series(fit.seasonal).groupby(phase_train).mean().reindex(range(period)).fillna(0.0)
        seasonal = profile.to_numpy()[np.rint((ts - ts[0]) / step).astype(np.int64) % period]
        resid = np.asarray(fit.resid)
    else:
        resid = x[:train] - np.median(x[:train])
    # The same 1 % relative floor MeshPulse's CSV scorer uses: a quantised series has a
    # residual MAD of 0 and would otherwise call every wobble 1e17 sigmas.
    mad = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    scale = max(mad, 0.01 * float(np.median(np.abs(x[:train]))), 1e-9)
    deseason = pd.Series(x - seasonal)
    level = deseason.shift(1).rolling(level_window, min_periods=1).median().fillna(deseason.iloc[0])
    out = np.abs((deseason - level).to_numpy()) / scale
    out[np.isnan(values)] = np.nan
    return out


def baselines() -> dict[str, Scorer]:
    """The baseline registry: name → scorer. ``hbos`` only if pyod is installed."""
    found: dict[str, Scorer] = {"rolling_z": rolling_z, "iforest": iforest, "stl": stl}
    try:
        import pyod.models.hbos  # noqa: F401
    except ImportError:
        return found
    found["hbos"] = hbos
    return found
