"""Test doubles for the metric source and notifier: deterministic, no network."""

from __future__ import annotations

import zlib

import numpy as np

from detector.scrape.source import ScrapeError, grid
from detector.series import SeriesBlock, SeriesKey, Signal

SERVICES = ("cart", "web", "pay")


class FakeMesh:
    """Service-level series with seeded noise; ``faults[service] = (start, end, signal, value)``."""

    def __init__(self, seed: int = 1) -> None:
        self.seed = seed
        self.down = False
        self.faults: dict[str, tuple[float, float, Signal, float]] = {}
        self.calls: list[tuple[float, float]] = []
        self.services = list(SERVICES)

    def value(self, key: SeriesKey, t: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng([self.seed, zlib.crc32(key.id.encode()), *t.astype(np.int64)[:1]])
        base = {
            Signal.RATE: 100.0,
            Signal.ERROR_RATIO: 0.001,
            Signal.P50: 10.0,
            Signal.P90: 30.0,
            Signal.P99: 80.0,
        }[key.signal]
        out = base * (1 + 0.03 * rng.standard_normal(len(t)))
        fault = self.faults.get(key.service)
        if fault and fault[2] is key.signal:
            out = np.where((t >= fault[0]) & (t < fault[1]), fault[3], out)
        return out

    def fetch(self, start: float, end: float, step: float) -> SeriesBlock:
        self.calls.append((start, end))
        if self.down:
            raise ScrapeError("Prometheus at fake is unreachable")
        ts = grid(start, end, step)
        # one value a point per signal; the latency shape needs histograms, which this fake has none of
        signals = [sig for sig in Signal if sig is not Signal.LATENCY_SHAPE]
        keys = [SeriesKey(s, "default", sig) for s in self.services for sig in signals]
        return SeriesBlock(
            keys, ts, np.vstack([self.value(k, ts) for k in keys]) if len(ts) else np.empty((len(keys), 0))
        )


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: list = []
        self.fail = False

    def send(self, alerts: list) -> None:
        from detector.notify.alertmanager import NotifyError

        if self.fail:
            raise NotifyError("Alertmanager down")
        self.sent.extend(alerts)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t
