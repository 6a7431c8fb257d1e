"""The last hour or so of every scored series, in memory, for the API and health.

Detector state is what must survive a restart (it lives in the store); these
points can always be pulled again from Prometheus, so they are not persisted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from detector.series import SeriesKey

FIELDS = ("values", "expected", "lower", "upper", "score")


@dataclass
class SeriesView:
    timestamps: np.ndarray
    values: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    score: np.ndarray


class RecentWindow:
    """A bounded ring of recent points per series, safe to read while a cycle writes."""

    def __init__(self, max_points: int = 480) -> None:
        self.max_points = max_points
        self._rows: dict[SeriesKey, dict[str, np.ndarray]] = {}
        self._last_data: dict[SeriesKey, float] = {}
        self._lock = threading.Lock()

    def add(self, keys: list[SeriesKey], timestamps: np.ndarray, **columns: np.ndarray) -> None:
        """Append a cycle's points; ``columns`` are (N, T) arrays named as :data:`FIELDS`."""
        with self._lock:
            for i, key in enumerate(keys):
                row = self._rows.get(key)
                new = {"timestamps": timestamps, **{f: columns[f][i] for f in FIELDS}}
                if row is not None:
                    keep = row["timestamps"] < timestamps[0] if len(timestamps) else slice(None)
                    new = {f: np.concatenate([row[f][keep], new[f]]) for f in new}
                self._rows[key] = {f: v[-self.max_points :] for f, v in new.items()}
                seen = timestamps[np.isfinite(columns["values"][i])]
                if len(seen):
                    self._last_data[key] = float(seen[-1])

    def view(self, key: SeriesKey, since: float | None = None) -> SeriesView | None:
        with self._lock:
            row = self._rows.get(key)
        if row is None:
            return None
        sel = row["timestamps"] >= since if since is not None else slice(None)
        return SeriesView(**{f: row[f][sel] for f in ("timestamps", *FIELDS)})

    def series(self) -> list[SeriesKey]:
        with self._lock:
            return list(self._rows)

    def last_data_at(self, key: SeriesKey) -> float | None:
        with self._lock:
            return self._last_data.get(key)

    def latest_score(self, key: SeriesKey) -> float:
        """The newest non-NaN score, NaN when there is none."""
        with self._lock:
            row = self._rows.get(key)
        if row is None:
            return float("nan")
        finite = row["score"][np.isfinite(row["score"])]
        return float(finite[-1]) if len(finite) else float("nan")

    def forget(self, keys: list[SeriesKey]) -> None:
        with self._lock:
            for key in keys:
                self._rows.pop(key, None)
                self._last_data.pop(key, None)
