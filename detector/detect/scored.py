"""What detection hands to events, alerts and the API: a block with its verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detector.series import SeriesKey


@dataclass
class ScoredBlock:
    """A :class:`~detector.series.SeriesBlock` with the detector's verdict; arrays are (N, T) float64.

    ``score`` is NaN where there was no data; ``expected``/``lower``/``upper`` are the
    baseline and the band where the score crosses 0.5 (NaN before a series' first point).
    """

    keys: list[SeriesKey]
    timestamps: np.ndarray
    values: np.ndarray = field(repr=False)
    score: np.ndarray = field(repr=False)
    expected: np.ndarray = field(repr=False)
    lower: np.ndarray = field(repr=False)
    upper: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.keys)
