"""The latency-shape signal: :class:`DistributionShift` state for every latency histogram.

Each :attr:`Signal.LATENCY_SHAPE` row of a block (one per service, subset, pod and edge
with a duration histogram) is scored by the G-test of
:mod:`detector.detect.distribution_shift` against that series' own baseline
distribution. Its row values (the histogram's request rate) are only the mask: where
the gap settler, an outage or the cap made a point no data, its histogram is no data
too, and the state does not move. Fewer than ``min_requests`` requests in a step is
inconclusive (NaN score): neither an alarm nor a sign of health.

What people see is not the divergence in nats but one share they can check against the
histogram: of this step's requests, how many were slower than the baseline's p90 bucket
boundary (the first ``le`` at or above which the baseline has 90 % of its requests),
against the baseline's own share there (``expected``, ≤ 10 % by construction). The band
is where that share alone would reach the alarm level: a move of requests across that
one boundary by at least the band is always an alarm (the full histogram distance is
never smaller than its two-bucket summary), while a shift within the body can alarm
inside the band (the score is the judge; the share explains the tail).

>>> import numpy as np
>>> from detector.series import Histogram, SeriesBlock, SeriesKey, Signal
>>> key = SeriesKey("cart", "shop", Signal.LATENCY_SHAPE)
>>> bounds = np.array([10.0, 50.0, 100.0, np.inf])
>>> normal, slow = np.array([0.6, 0.9, 0.95, 1.0]), np.array([0.2, 0.5, 0.7, 1.0])
>>> rates = 20.0 * np.column_stack([normal] * 40 + [slow] * 3)     # 300 requests a step
>>> block = SeriesBlock([key], 15.0 * np.arange(43), rates[-1:], {key: Histogram(bounds, rates, 15.0)})
>>> out = ShapeBank().score(block)
>>> [round(float(v), 2) for v in (out.values[0, -1], out.expected[0, -1], out.score[0, -1])]
[0.5, 0.1, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from detector.detect.distribution_shift import DistributionShift, HistogramState, counts_from_rates
from detector.detect.scored import ScoredBlock
from detector.series import Histogram, SeriesBlock, SeriesKey

TAIL_Q = 0.9
"""The baseline quantile whose bucket boundary splits "slower" from the rest."""

Layout = tuple[float, ...]


class ShapeBank:
    """Per-series :class:`DistributionShift` state, keyed by :class:`SeriesKey`.

    Series are grouped by bucket layout (Istio's default gives one group), each scored in
    one kernel call per step. A series whose layout changes starts over.
    """

    def __init__(self, detector: DistributionShift | None = None) -> None:
        self.detector = detector if detector is not None else DistributionShift()
        self._layout: dict[SeriesKey, Layout] = {}
        self._pools: dict[Layout, _Pool] = {}

    def __len__(self) -> int:
        return len(self._layout)

    def __contains__(self, key: object) -> bool:
        return key in self._layout

    @property
    def keys(self) -> list[SeriesKey]:
        return list(self._layout)

    def score(self, block: SeriesBlock) -> ScoredBlock:
        """Score every row of ``block`` (all latency-shape rows) from its histogram.

        A row without a histogram, or whose value is NaN, is no data at that point: not scored,
        state untouched. ``values`` (the share of slow requests) are given wherever the
        histogram has data, trusted or not, as every series shows what was observed.
        """
        n, t = len(block.keys), len(block.timestamps)
        out = ScoredBlock(
            list(block.keys), block.timestamps.copy(), *(np.full((n, t), np.nan) for _ in range(5))
        )
        groups: dict[Layout, list[int]] = {}
        for i, key in enumerate(block.keys):
            hist = block.histograms.get(key)
            if hist is not None and hist.rates.shape == (len(hist.bounds), t):
                groups.setdefault(_layout(hist), []).append(i)
        for layout, rows in groups.items():
            hists = [block.histograms[block.keys[i]] for i in rows]
            raw = np.stack([counts_from_rates(h.rates, h.step_s) for h in hists])  # (N, T, B)
            trusted = np.where(np.isnan(block.values[rows])[:, :, None], np.nan, raw)
            self._score_group(layout, [block.keys[i] for i in rows], raw, trusted, out, rows)
        return out

    def forget(self, keys: Iterable[SeriesKey]) -> None:
        """Drop the state of ``keys`` (unknown keys are ignored)."""
        by_layout: dict[Layout, list[SeriesKey]] = {}
        for key in keys:
            if key in self._layout:
                by_layout.setdefault(self._layout.pop(key), []).append(key)
        for layout, gone in by_layout.items():
            self._pools[layout].drop(gone)
            if not len(self._pools[layout]):
                del self._pools[layout]

    def export_state(self) -> dict[str, dict[str, Any]]:
        """JSON-able: ``{key.id: {"bounds", "base", "spread", "count", "streak"}}``.

        ``bounds`` leave out the final +Inf (JSON has no infinity); series that never had a
        conclusive step are left out (nothing to resume).
        """
        out: dict[str, dict[str, Any]] = {}
        for key, layout in self._layout.items():
            pool = self._pools[layout]
            r = pool.rows[key]
            if pool.state.count[r] > 0:
                out[key.id] = {
                    "bounds": list(layout[:-1]),
                    "base": [float(v) for v in pool.state.base[r]],
                    "spread": float(pool.state.spread[r]),
                    "count": int(pool.state.count[r]),
                    "streak": int(pool.state.streak[r]),
                }
        return out

    def import_state(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        """Restore what :meth:`export_state` produced; known keys are overwritten."""
        by_layout: dict[Layout, dict[SeriesKey, tuple[Any, ...]]] = {}
        for key_id, entry in state.items():
            key, layout, row = _parse(key_id, entry)
            by_layout.setdefault(layout, {})[key] = row
        for layout, entries in by_layout.items():
            pool = self._admit(list(entries), layout)
            for key, row in entries.items():
                r = pool.rows[key]
                pool.state.base[r], pool.state.spread[r], pool.state.count[r], pool.state.streak[r] = row

    # internals --------------------------------------------------------------------------------
    def _admit(self, keys: list[SeriesKey], layout: Layout) -> _Pool:
        """Give ``keys`` rows of ``layout``; a key known under another layout starts over."""
        self.forget([k for k in keys if self._layout.get(k, layout) != layout])
        self._layout.update(dict.fromkeys(keys, layout))
        pool = self._pools.setdefault(layout, _Pool(len(layout)))
        pool.add(keys)
        return pool

    def _score_group(
        self,
        layout: Layout,
        keys: list[SeriesKey],
        raw: np.ndarray,
        counts: np.ndarray,
        out: ScoredBlock,
        rows: list[int],
    ) -> None:
        pool = self._admit(keys, layout)
        idx = np.fromiter((pool.rows[k] for k in keys), dtype=np.intp, count=len(keys))
        state = HistogramState(*(np.ascontiguousarray(a[idx]) for a in _arrays(pool.state)))
        alarm = np.empty(counts.shape[:2])
        # one step at a time: what a point is compared with is the baseline just before it
        for j in range(counts.shape[1]):
            learnt = state.count > 0
            # before a baseline exists, the step's own p90 boundary (the share is then shown,
            # never judged: a series is not "silent" while its first window settles)
            boundary, expected = tail_boundary(np.where(learnt[:, None], state.base, _shares(raw[:, j, :])))
            scores = self.detector.score(state, np.ascontiguousarray(counts[:, j : j + 1, :]))
            out.score[rows, j], alarm[:, j] = scores.score[:, 0], scores.alarm[:, 0]
            out.values[rows, j] = tail_share(raw[:, j, :], boundary)
            out.expected[rows, j] = np.where(learnt, expected, np.nan)
        out.lower[rows], out.upper[rows] = share_band(out.expected[rows], alarm)
        pool.put(idx, state)


class _Pool:
    """State arrays of every series of one bucket layout."""

    def __init__(self, buckets: int) -> None:
        self.buckets = buckets
        self.rows: dict[SeriesKey, int] = {}
        self.state = HistogramState.new(0, buckets)

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, keys: list[SeriesKey]) -> None:
        new = [k for k in keys if k not in self.rows]
        if not new:
            return
        start = len(self.rows)
        self.rows.update({k: start + i for i, k in enumerate(new)})
        fresh = HistogramState.new(len(new), self.buckets)
        self.state = HistogramState(
            *(np.concatenate([a, b]) for a, b in zip(_arrays(self.state), _arrays(fresh), strict=True))
        )

    def put(self, idx: np.ndarray, state: HistogramState) -> None:
        for mine, theirs in zip(_arrays(self.state), _arrays(state), strict=True):
            mine[idx] = theirs

    def drop(self, keys: list[SeriesKey]) -> None:
        gone = {self.rows[k] for k in keys if k in self.rows}
        keep = np.array([r for r in range(len(self.rows)) if r not in gone], dtype=np.intp)
        self.state = HistogramState(*(np.ascontiguousarray(a[keep]) for a in _arrays(self.state)))
        survivors = [k for k, r in sorted(self.rows.items(), key=lambda kv: kv[1]) if r not in gone]
        self.rows = {k: i for i, k in enumerate(survivors)}


def _arrays(state: HistogramState) -> tuple[np.ndarray, ...]:
    return state.base, state.spread, state.count, state.streak


def _layout(hist: Histogram) -> Layout:
    return tuple(float(b) for b in hist.bounds)


def _shares(counts: np.ndarray) -> np.ndarray:
    """Each row of bucket counts (N, B) as shares (0 where there are none)."""
    positive = np.nan_to_num(np.maximum(counts, 0.0))
    total = positive.sum(axis=1, keepdims=True)
    return np.divide(positive, total, out=np.zeros_like(positive), where=total > 0)


def tail_boundary(base: np.ndarray, q: float = TAIL_Q) -> tuple[np.ndarray, np.ndarray]:
    """Per row of bucket shares ``base`` (N, B), the bucket index of the ``q`` boundary and
    the share above it.

    The boundary is the first finite ``le`` whose cumulative share reaches ``q``
    (the last finite one if the +Inf bucket holds more than ``1 - q``).

    >>> index, above = tail_boundary(np.array([[0.5, 0.45, 0.04, 0.01]]))
    >>> index.tolist(), above.round(3).tolist()
    ([1], [0.05])
    """
    cum = np.cumsum(base, axis=1)
    finite = cum[:, :-1] >= q - 1e-9
    index = np.where(finite.any(axis=1), np.argmax(finite, axis=1), base.shape[1] - 2)
    above = 1.0 - cum[np.arange(len(index)), index]
    return index, np.clip(above, 0.0, 1.0)


def tail_share(counts: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """Share of each row's requests ``counts`` (N, B) in buckets above ``boundary`` (N,).

    >>> tail_share(np.array([[50.0, 30.0, 20.0]]), np.array([0])).tolist()
    [0.5]
    """
    positive = np.maximum(counts, 0.0)
    total = positive.sum(axis=1)
    upper = np.arange(counts.shape[1])[None, :] > boundary[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(upper, positive, 0.0).sum(axis=1) / total
    return np.where(total > 0, share, np.nan)


def binary_kl(s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """KL divergence (nats) of a two-bucket split ``s`` from ``e`` (shares of the slow bucket)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(s > 0, s * np.log(s / e), 0.0)
        b = np.where(s < 1, (1 - s) * np.log((1 - s) / (1 - e)), 0.0)
    return a + b


def share_band(
    expected: np.ndarray, alarm: np.ndarray, iterations: int = 24
) -> tuple[np.ndarray, np.ndarray]:
    """Shares around ``expected`` whose two-bucket divergence is the ``alarm`` level (nats).

    NaN where either is NaN (no baseline, no alarm level yet); 0 or 1 where even the
    extreme share would not reach the alarm level. Bisection: ``iterations`` halvings of
    [0, 1] are far finer than a chart or a percentage shows.

    >>> lo, hi = share_band(np.array([0.1]), np.array([0.02]))
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
    (0.046, 0.165)
    """
    expected = np.asarray(expected, dtype=np.float64)
    alarm = np.asarray(alarm, dtype=np.float64)
    lower, upper = np.full(expected.shape, np.nan), np.full(expected.shape, np.nan)
    valid = np.isfinite(expected) & np.isfinite(alarm)
    e, thr = np.clip(expected[valid], 1e-6, 1 - 1e-6), alarm[valid]
    lo_a, lo_b = np.zeros_like(e), e.copy()  # KL falls from s = 0 to s = e
    hi_a, hi_b = e.copy(), np.ones_like(e)  # and rises from s = e to s = 1
    for _ in range(iterations):
        mid = (lo_a + lo_b) / 2
        above = binary_kl(mid, e) > thr
        lo_a, lo_b = np.where(above, mid, lo_a), np.where(above, lo_b, mid)
        mid = (hi_a + hi_b) / 2
        above = binary_kl(mid, e) > thr
        hi_a, hi_b = np.where(above, hi_a, mid), np.where(above, mid, hi_b)
    lower[valid], upper[valid] = (lo_a + lo_b) / 2, (hi_a + hi_b) / 2
    return lower, upper


def _parse(key_id: str, entry: Mapping[str, Any]) -> tuple[SeriesKey, Layout, tuple[Any, ...]]:
    try:
        key = SeriesKey.from_id(key_id)
        layout = (*(float(b) for b in entry["bounds"]), math.inf)
        base = np.array([float(v) for v in entry["base"]])
        spread, count, streak = float(entry["spread"]), int(entry["count"]), int(entry["streak"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"latency-shape state for {key_id!r} is malformed: {entry!r}") from exc
    ok = (
        len(layout) >= 2
        and list(layout) == sorted(layout)
        and base.shape == (len(layout),)
        and bool(np.isfinite(base).all() and (base >= 0).all())
        and math.isfinite(spread)
        and spread >= 0
        and count >= 1
        and streak >= 0
    )
    if not ok:
        raise ValueError(f"latency-shape state for {key_id!r} is out of range: {entry!r}")
    return key, layout, (base, spread, count, streak)
