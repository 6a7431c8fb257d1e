"""Anomaly events: runs of high scores that open and close with hysteresis.

A score per point is too twitchy to page anyone on. An event opens after
``open_after`` consecutive points scoring ``≥ open_score`` and closes after
``close_after`` consecutive points scoring ``< close_score``; the gap between the two
thresholds stops a series hovering near 0.5 from flapping.

No data (a NaN score) is never evidence: it neither opens nor closes an event and does
not count toward a streak. It breaks an opening streak (the points were not
consecutive) but only pauses a closing one, so a gap in the data cannot end an
incident on its own, nor can it keep a recovered one open forever.

``started_at`` is the first point of the opening streak and ``ended_at`` the first
point of the closing streak: when the trouble started and stopped, not when we
became sure of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from detector.detect.scored import ScoredBlock
from detector.series import SeriesKey, Signal

Severity = Literal["warning", "critical"]
ChangeKind = Literal["opened", "updated", "closed"]


@dataclass
class AnomalyEvent:
    """One incident on one series; ``observed``…``upper`` describe its worst point.

    >>> key = SeriesKey("cartservice", "default", Signal.P99)
    >>> ev = AnomalyEvent(f"{key.id}@1795660260", key, 1795660260.0, 1795660260.0, "critical",
    ...                   0.97, 412.0, 38.0, 20.0, 61.0)
    >>> ev.explanation
    'p99 latency of cartservice is 412 ms, expected 38 ms (band 20–61 ms), since 2026-11-26T02:31:00Z'
    >>> AnomalyEvent.from_dict(ev.to_dict()) == ev
    True
    """

    id: str
    key: SeriesKey
    started_at: float
    last_seen: float
    severity: Severity
    peak_score: float
    observed: float
    expected: float
    lower: float
    upper: float
    ended_at: float | None = None

    @property
    def active(self) -> bool:
        return self.ended_at is None

    @property
    def explanation(self) -> str:
        """What was seen, what was expected, since when.

        >>> key = SeriesKey("cartservice", "default", Signal.LATENCY_SHAPE)
        >>> AnomalyEvent("x", key, 1795660260.0, 1795660260.0, "critical", 0.97,
        ...              0.34, 0.1, 0.046, 0.165).explanation  # doctest: +NORMALIZE_WHITESPACE
        "latency shape of cartservice is off: 34% of requests slower than the baseline's p90 bucket
        boundary, expected 10% (band 4.6–16.5%), since 2026-11-26T02:31:00Z"
        """
        name, mult, unit = _DESCRIBE[self.key.signal]
        verb, tail = (
            ("is", f"since {_iso(self.started_at)}")
            if self.active
            else ("was", f"from {_iso(self.started_at)} to {_iso(self.ended_at or self.last_seen)}")
        )
        # Every golden signal is non-negative, so a band below 0 is shown from 0.
        lo, hi = _num(max(self.lower, 0.0) * mult), _num(self.upper * mult)
        if self.key.signal is Signal.LATENCY_SHAPE:
            observed, expected = _num(self.observed * mult), _num(self.expected * mult)
            return (
                f"{name} of {self.key.subject} {verb} off: {observed}{unit} of requests slower than the "
                f"baseline's p90 bucket boundary, expected {expected}{unit} (band {lo}–{hi}{unit}), {tail}"
            )
        return (
            f"{name} of {self.key.subject} {verb} {_num(self.observed * mult)}{unit}, "
            f"expected {_num(self.expected * mult)}{unit} (band {lo}–{hi}{unit}), {tail}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; the key is stored as its id."""
        return {**asdict(self), "key": self.key.id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnomalyEvent:
        fields = dict(data)
        fields["key"] = SeriesKey.from_id(fields["key"])
        return cls(**fields)


@dataclass(frozen=True)
class EventChange:
    kind: ChangeKind
    event: AnomalyEvent


@dataclass
class _Track:
    """Per-series hysteresis state. ``streak`` counts toward opening while no event is
    open (its start and worst point kept in ``started_at``/``worst``) and toward
    closing while one is (start in ``started_at``)."""

    streak: int = 0
    started_at: float = 0.0
    worst: list[float] = field(default_factory=list)  # [t, score, observed, expected, lower, upper]
    event: AnomalyEvent | None = None


class EventTracker:
    """Turns :class:`ScoredBlock` scores into :class:`AnomalyEvent` changes.

    ``critical_score``: peak score from which an event is critical; 0.8 is a deviation
    of twice the detector's threshold. ``open_now_score``: a point this far out (0.9 is
    three times the threshold) opens an event at once instead of waiting for
    ``open_after`` points: a 30 % error burst should page one cycle earlier, while
    borderline points still need confirmation.
    """

    def __init__(
        self,
        open_score: float = 0.5,
        close_score: float = 0.3,
        open_after: int = 2,
        close_after: int = 3,
        critical_score: float = 0.8,
        open_now_score: float = 0.9,
    ):
        if not 0.0 <= close_score <= open_score <= 1.0:
            raise ValueError(f"need 0 <= close_score <= open_score <= 1, got {close_score}, {open_score}")
        if open_after < 1 or close_after < 1:
            raise ValueError(f"open_after and close_after must be >= 1, got {open_after}, {close_after}")
        self.open_score = open_score
        self.close_score = close_score
        self.open_after = open_after
        self.close_after = close_after
        self.critical_score = critical_score
        self.open_now_score = open_now_score
        self._tracks: dict[SeriesKey, _Track] = {}

    def active(self) -> list[AnomalyEvent]:
        return [t.event for t in self._tracks.values() if t.event is not None]

    def is_active(self, key: SeriesKey) -> bool:
        """Whether ``key`` has an open event (such a series must not be forgotten)."""
        track = self._tracks.get(key)
        return track is not None and track.event is not None

    def forget(self, keys: Iterable[SeriesKey]) -> None:
        """Drop streaks and open events of series that went away (without closing them)."""
        for key in keys:
            self._tracks.pop(key, None)

    def update(self, scored: ScoredBlock) -> list[EventChange]:
        """Advance every series through ``scored``; changes are in time order per series."""
        changes: list[EventChange] = []
        # Only series with a pending streak, an open event or a high score need the
        # per-point Python loop; a quiet mesh costs one vectorised comparison.
        with np.errstate(invalid="ignore"):
            hot = np.flatnonzero((scored.score >= self.open_score).any(axis=1))
        rows = {int(r) for r in hot} | {i for i, k in enumerate(scored.keys) if k in self._tracks}
        for row in sorted(rows):
            key = scored.keys[row]
            track = self._tracks.setdefault(key, _Track())
            dirty = False  # the open event changed since its last reported change
            for t in range(len(scored.timestamps)):
                change = self._step(key, track, scored, row, t)
                if change is not None:
                    changes.append(change)
                    dirty = False
                elif track.event is not None and not math.isnan(scored.score[row, t]):
                    dirty = True
            if dirty and track.event is not None:
                changes.append(EventChange("updated", track.event))
            if track.event is None and track.streak == 0:
                del self._tracks[key]
        return changes

    def _step(self, key: SeriesKey, track: _Track, s: ScoredBlock, row: int, t: int) -> EventChange | None:
        score = float(s.score[row, t])
        ts = float(s.timestamps[t])
        if math.isnan(score):
            if track.event is None:
                track.streak = 0
            return None
        point = [
            ts,
            score,
            float(s.values[row, t]),
            float(s.expected[row, t]),
            float(s.lower[row, t]),
            float(s.upper[row, t]),
        ]
        if track.event is None:
            if score < self.open_score:
                track.streak = 0
                return None
            if track.streak == 0:
                track.started_at, track.worst = ts, point
            elif score > track.worst[1]:
                track.worst = point
            track.streak += 1
            if track.streak < self.open_after and score < self.open_now_score:
                return None
            track.event = AnomalyEvent(
                f"{key.id}@{int(track.started_at)}",
                key,
                track.started_at,
                ts,
                "warning",
                0.0,
                *track.worst[2:],
            )
            self._worsen(track.event, track.worst)
            track.streak, track.worst = 0, []
            return EventChange("opened", track.event)
        event = track.event
        event.last_seen = ts
        self._worsen(event, point)
        if score >= self.close_score:
            track.streak = 0
            return None
        if track.streak == 0:
            track.started_at = ts
        track.streak += 1
        if track.streak < self.close_after:
            return None
        event.ended_at = track.started_at
        track.event, track.streak = None, 0
        return EventChange("closed", event)

    def _worsen(self, event: AnomalyEvent, point: list[float]) -> None:
        if point[1] > event.peak_score:
            event.peak_score = point[1]
            event.observed, event.expected, event.lower, event.upper = point[2:]
        if event.peak_score >= self.critical_score:
            event.severity = "critical"

    def export_state(self) -> dict[str, Any]:
        """JSON-able: ``{key.id: {"streak", "started_at", "worst", "event"}}``."""
        return {
            k.id: {
                "streak": t.streak,
                "started_at": t.started_at,
                "worst": list(t.worst),
                "event": t.event.to_dict() if t.event is not None else None,
            }
            for k, t in self._tracks.items()
        }

    def import_state(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace all tracking state with what :meth:`export_state` produced."""
        self._tracks = {
            SeriesKey.from_id(key_id): _Track(
                int(t["streak"]),
                float(t["started_at"]),
                [float(v) for v in t["worst"]],
                AnomalyEvent.from_dict(t["event"]) if t.get("event") else None,
            )
            for key_id, t in state.items()
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


# signal → (what a person calls it, multiplier, unit suffix)
_DESCRIBE: dict[Signal, tuple[str, float, str]] = {
    Signal.RATE: ("request rate", 1.0, " req/s"),
    Signal.ERROR_RATIO: ("5xx ratio", 100.0, "%"),
    Signal.P50: ("p50 latency", 1.0, " ms"),
    Signal.P90: ("p90 latency", 1.0, " ms"),
    Signal.P99: ("p99 latency", 1.0, " ms"),
    Signal.LATENCY_SHAPE: ("latency shape", 100.0, "%"),
}
