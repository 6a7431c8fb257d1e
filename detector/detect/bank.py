"""Detector state for every watched series, scored in one kernel call per cycle.

The bank maps :class:`SeriesKey` → a row of state arrays. Series come and go (pods
are rescheduled), so rows are added on first sight and dropped by :meth:`forget`;
the scrape stage decides what is stale. State exports as plain floats keyed by
``SeriesKey.id`` so the store can persist it and a restart resumes warm.

>>> import numpy as np
>>> from detector.series import Scope, SeriesBlock, SeriesKey, Signal
>>> key = SeriesKey("cart", "default", Signal.P99)
>>> bank = DetectionBank(RobustEWMA(grace=5))
>>> block = SeriesBlock([key], np.arange(30) * 15.0, np.r_[np.full(29, 40.0), 400.0])
>>> bool(bank.score(block).score[0, -1] > 0.9)
True
>>> sorted(bank.export_state()[key.id])
['count', 'level', 'scale']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from detector.detect.latency_shape import ShapeBank
from detector.detect.robust_ewma import EWMAState, ParamArrays, RobustEWMA, SeriesParams
from detector.detect.scored import ScoredBlock
from detector.series import Scope, SeriesBlock, SeriesKey, Signal

__all__ = ["DetectionBank", "ScoredBlock", "default_params", "observed_values"]

# Why these floors (sigma floors; the score reaches 0.5 at `threshold` (3.5) of them):
# * rate: traffic is bursty and diurnal; a change under ~35 % is not worth a look,
#   and below ~0.2 req/s everything is noise. Both a surge and a drop matter.
# * error ratio: only rises matter; a flat 0 % must not make one stray 5xx an
#   incident, so a rise must reach ~2 percentage points above the usual level.
# * latency (ms, as in istio_request_duration_milliseconds): only rises matter, and
#   never less than ~7 ms (sub-ms jitter of a fast service is noise). Quantiles are
#   interpolated inside Istio's coarse buckets (…25, 50, 100, 250… ms), and a pod's p99
#   over a short window rests on a few dozen requests, so the higher the quantile the
#   wider the floor: ~50 % slower for p50, ~90 % for p90, ~2.2x for p99 before a
#   point alone crosses the band. Real incidents are far beyond (and last).
_DEFAULTS: dict[Signal, SeriesParams] = {
    Signal.RATE: SeriesParams(direction=0, abs_floor=0.05, rel_floor=0.1),
    Signal.ERROR_RATIO: SeriesParams(direction=1, abs_floor=0.005, rel_floor=0.1),
    Signal.P50: SeriesParams(direction=1, abs_floor=2.0, rel_floor=0.15),
    Signal.P90: SeriesParams(direction=1, abs_floor=2.0, rel_floor=0.25),
    Signal.P99: SeriesParams(direction=1, abs_floor=2.0, rel_floor=0.35),
}


def default_params(key: SeriesKey, floors: Mapping[Signal, SeriesParams] | None = None) -> SeriesParams:
    """What an SRE would call anomalous for this kind of series.

    >>> default_params(SeriesKey("a", "ns", Signal.ERROR_RATIO)).direction
    1
    """
    if key.signal is Signal.LATENCY_SHAPE:
        raise ValueError("latency_shape is scored by the distribution-shift detector and has no floors")
    params = (floors or _DEFAULTS).get(key.signal) or _DEFAULTS[key.signal]
    if key.scope is Scope.POD and key.signal is Signal.RATE:
        # One pod's share falls whenever the workload scales out or a rollout drains it;
        # only a pod taking far more than its share (imbalance, a hot key) is news.
        return dataclasses.replace(params, direction=1)
    return params


class DetectionBank:
    """Per-series detector state, keyed by :class:`SeriesKey`.

    Latency-shape series (whole histograms, not one value a point) are handed to ``shapes``;
    the bank scores, forgets, exports and imports them with the rest.
    """

    def __init__(
        self,
        detector: RobustEWMA | None = None,
        params_for: Callable[[SeriesKey], SeriesParams] = default_params,
        shapes: ShapeBank | None = None,
    ):
        self.detector = detector if detector is not None else RobustEWMA()
        self.params_for = params_for
        self.shapes = shapes if shapes is not None else ShapeBank()
        self._rows: dict[SeriesKey, int] = {}
        self._state = self.detector.new_state(0)
        self._params = ParamArrays.from_params([])

    def __len__(self) -> int:
        return len(self._rows) + len(self.shapes)

    def __contains__(self, key: object) -> bool:
        return key in self._rows or key in self.shapes

    @property
    def keys(self) -> list[SeriesKey]:
        return list(self._rows) + self.shapes.keys

    def score(self, block: SeriesBlock) -> ScoredBlock:
        """Score every series of ``block``, advancing their state: the one-value series in one
        kernel call, the latency-shape series in :attr:`shapes`; rows stay in ``block``'s order."""
        if len(set(block.keys)) != len(block.keys):
            raise ValueError("block has duplicate series keys; each series must appear once")
        shape = np.array([k.signal is Signal.LATENCY_SHAPE for k in block.keys], dtype=bool)
        if not shape.any():
            return self._score_levels(block)
        parts = [
            self._score_levels(block.rows(np.flatnonzero(~shape))),
            self.shapes.score(block.rows(np.flatnonzero(shape))),
        ]
        order = np.argsort(np.r_[np.flatnonzero(~shape), np.flatnonzero(shape)], kind="stable")
        arrays = {
            name: np.vstack([getattr(p, name) for p in parts])[order]
            for name in ("values", "score", "expected", "lower", "upper")
        }
        return ScoredBlock(list(block.keys), block.timestamps.copy(), **arrays)

    def _score_levels(self, block: SeriesBlock) -> ScoredBlock:
        self._add([k for k in block.keys if k not in self._rows])
        rows = np.fromiter((self._rows[k] for k in block.keys), dtype=np.intp, count=len(block.keys))
        state = EWMAState(self._state.level[rows], self._state.scale[rows], self._state.count[rows])
        params = ParamArrays(
            self._params.direction[rows], self._params.abs_floor[rows], self._params.rel_floor[rows]
        )
        out = self.detector.score(state, block.values, params)
        self._state.level[rows], self._state.scale[rows], self._state.count[rows] = (
            state.level,
            state.scale,
            state.count,
        )
        return ScoredBlock(
            list(block.keys),
            block.timestamps.copy(),
            block.values.copy(),
            out.score,
            out.expected,
            out.lower,
            out.upper,
        )

    def forget(self, keys: Iterable[SeriesKey]) -> None:
        """Drop the state of ``keys`` (unknown keys are ignored)."""
        keys = list(keys)
        self.shapes.forget(keys)
        drop = {self._rows[k] for k in keys if k in self._rows}
        if not drop:
            return
        keep = np.array([r for r in range(len(self._rows)) if r not in drop], dtype=np.intp)
        self._state = EWMAState(self._state.level[keep], self._state.scale[keep], self._state.count[keep])
        self._params = ParamArrays(
            self._params.direction[keep], self._params.abs_floor[keep], self._params.rel_floor[keep]
        )
        survivors = [k for k, r in sorted(self._rows.items(), key=lambda kv: kv[1]) if r not in drop]
        self._rows = {k: i for i, k in enumerate(survivors)}

    def export_state(self) -> dict[str, dict[str, Any]]:
        """JSON-able state: ``{key.id: {"level", "scale", "count"}}``, and the latency-shape
        series' (:meth:`ShapeBank.export_state`) by their own ids.

        Series that have never seen a finite point are left out: they have nothing
        to resume, and leaving them out keeps NaN out of the JSON.
        """
        out: dict[str, dict[str, Any]] = self.shapes.export_state()
        for key, row in self._rows.items():
            if self._state.count[row] > 0:
                out[key.id] = {
                    "level": float(self._state.level[row]),
                    "scale": float(self._state.scale[row]),
                    "count": float(self._state.count[row]),
                }
        return out

    def import_state(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        """Restore what :meth:`export_state` produced; known keys are overwritten.

        Parameters come from ``params_for``, not the export, so a changed default
        applies on restart.
        """
        keys = {key_id: SeriesKey.from_id(key_id) for key_id in state}
        shape = {k: v for k, v in state.items() if keys[k].signal is Signal.LATENCY_SHAPE}
        self.shapes.import_state(shape)
        parsed = {
            keys[key_id]: _parse_row(key_id, row) for key_id, row in state.items() if key_id not in shape
        }
        self._add([k for k in parsed if k not in self._rows])
        for key, (level, scale, count) in parsed.items():
            row = self._rows[key]
            self._state.level[row], self._state.scale[row], self._state.count[row] = level, scale, count

    def _add(self, keys: list[SeriesKey]) -> None:
        if not keys:
            return
        start = len(self._rows)
        self._rows.update({k: start + i for i, k in enumerate(keys)})
        fresh = self.detector.new_state(len(keys))
        self._state = EWMAState(
            *(np.concatenate([getattr(self._state, f), getattr(fresh, f)]) for f in EWMAState.FIELDS)
        )
        new_params = ParamArrays.from_params([self.params_for(k) for k in keys])
        self._params = ParamArrays(
            np.concatenate([self._params.direction, new_params.direction]),
            np.concatenate([self._params.abs_floor, new_params.abs_floor]),
            np.concatenate([self._params.rel_floor, new_params.rel_floor]),
        )


def _parse_row(key_id: str, row: Mapping[str, float]) -> tuple[float, float, int]:
    try:
        level, scale, count = float(row["level"]), float(row["scale"]), int(row["count"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"detector state for {key_id!r} is malformed: {row!r}") from exc
    if count < 1 or not (np.isfinite(level) and np.isfinite(scale)) or scale < 0:
        raise ValueError(f"detector state for {key_id!r} is out of range: {row!r}")
    return level, scale, count


def observed_values(block: SeriesBlock, scored: ScoredBlock) -> np.ndarray:
    """What was observed, for the recent window: ``block``'s values (untrusted points too),
    except latency-shape rows, whose block values are only the request rate carrying their
    mask: they show the share of slow requests (also where it was not trusted to score)."""
    shape = np.array([k.signal is Signal.LATENCY_SHAPE for k in block.keys], dtype=bool)
    if not shape.any():
        return block.values
    return np.where(shape[:, None], scored.values, block.values)
