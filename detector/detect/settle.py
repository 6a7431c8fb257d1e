"""After a gap, a series is not trusted until its ``rate()`` window is whole again.

PromQL's ``rate()`` divides the increase it sees by the full window but only
extrapolates half a scrape interval past the first sample, so for one window after
a gap (Prometheus restarted, a scrape target came back, a pod started) every rate
reads far too low: with a 10 s window and 1 s scrapes, about a fifth of the truth.
Left alone, each restart of Prometheus pages a "traffic drop" on every service.
The same holds the other way round: a point whose window runs into the hole
(Prometheus stopped a few seconds after it) rests on the samples before the hole
only. So points less than one window after, or (within one fetch, where the hole is
visible) less than one window before, a series' missing points are treated as no
data: neither healthy nor anomalous.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from detector.series import SeriesBlock, SeriesKey


class GapSettler:
    """Masks the first ``window_s`` of every series after each of its gaps (and its start).

    >>> from detector.series import Signal
    >>> k = SeriesKey("a", "n", Signal.RATE)
    >>> s = GapSettler(window_s=30)
    >>> s.apply(SeriesBlock([k], [0, 15, 30, 45, 60], [[1, 2, np.nan, 4, 5]])).values.tolist()
    [[nan, nan, nan, nan, 5.0]]
    >>> s.apply(SeriesBlock([k], [75, 90, 105], [[6, 7, 8]])).values.tolist()
    [[6.0, 7.0, 8.0]]
    >>> s.apply(SeriesBlock([k], [120, 135, 150, 165], [[9, 10, 11, np.nan]])).values.tolist()
    [[9.0, 10.0, nan, nan]]
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._last_gap: dict[SeriesKey, float] = {}

    def apply(self, block: SeriesBlock) -> SeriesBlock:
        ts = block.timestamps
        if len(block) == 0 or len(ts) == 0:
            return block
        # a series seen for the first time starts here: its first window is partial too
        last = np.array([self._last_gap.get(k, ts[0]) for k in block.keys])
        gaps = np.where(np.isfinite(block.values), -np.inf, ts[None, :])
        latest_gap = np.maximum(np.maximum.accumulate(gaps, axis=1), last[:, None])
        next_gap = np.minimum.accumulate(np.where(gaps > -np.inf, ts[None, :], np.inf)[:, ::-1], axis=1)[
            :, ::-1
        ]
        unsettled = (ts[None, :] - latest_gap < self.window_s) | (next_gap - ts[None, :] < self.window_s)
        for key, gap in zip(block.keys, latest_gap[:, -1], strict=True):
            self._last_gap[key] = float(gap)
        return SeriesBlock(block.keys, ts, np.where(unsettled, np.nan, block.values), block.histograms)

    def resume(self, keys: Iterable[SeriesKey]) -> None:
        """``keys`` go on from detector state saved by a shard that died or a process that restarted.

        Prometheus kept their samples while nobody scored them, so their first points here are
        no new series' half-empty window. Masking them would blind the heir of a killed shard
        for one window in the middle of the incident it took over.
        """
        for key in keys:
            self._last_gap[key] = -math.inf

    def forget(self, keys: list[SeriesKey]) -> None:
        for key in keys:
            self._last_gap.pop(key, None)
