"""The records that flow through ``scrape → detect → decide → notify → serve``.

Every stage speaks in terms of :class:`SeriesKey` (which series) and
:class:`SeriesBlock` (values of many series on one shared time grid). A shared
grid is what lets the detector score every series of a cycle in one batched
kernel call instead of a Python loop per series.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class Signal(StrEnum):
    """The golden signals MeshPulse watches per series."""

    RATE = "rate"
    ERROR_RATIO = "error_ratio"
    P50 = "p50"
    P90 = "p90"
    P99 = "p99"
    LATENCY_SHAPE = "latency_shape"
    """The whole latency histogram against its baseline (:mod:`detector.detect.latency_shape`)."""


class Scope(StrEnum):
    """How finely a signal is broken down."""

    SERVICE = "service"
    VERSION = "version"
    POD = "pod"
    EDGE = "edge"


@dataclass(frozen=True, order=True)
class SeriesKey:
    """Identity of one watched series.

    ``service`` is the destination service's short name (``destination_service_name``);
    ``version``, ``pod`` and ``source`` are set only for the matching scope.

    >>> SeriesKey("cartservice", "default", Signal.P99, Scope.POD, pod="cartservice-1").id
    'default/cartservice/p99/pod=cartservice-1'
    """

    service: str
    namespace: str
    signal: Signal
    scope: Scope = Scope.SERVICE
    version: str = ""
    pod: str = ""
    source: str = ""

    @property
    def id(self) -> str:
        """A stable, human-readable identity, used as the primary key in the store."""
        base = f"{self.namespace}/{self.service}/{self.signal.value}"
        detail = {
            Scope.VERSION: f"version={self.version}",
            Scope.POD: f"pod={self.pod}",
            Scope.EDGE: f"source={self.source}",
        }.get(self.scope)
        return f"{base}/{detail}" if detail else base

    @property
    def subject(self) -> str:
        """What a person would call the thing this series measures."""
        return {
            Scope.SERVICE: self.service,
            Scope.VERSION: f"{self.service} {self.version}",
            Scope.POD: f"pod {self.pod}",
            Scope.EDGE: f"{self.source} → {self.service}",
        }[self.scope]

    @classmethod
    def from_id(cls, key_id: str) -> SeriesKey:
        """Inverse of :attr:`id`.

        >>> k = SeriesKey("a", "ns", Signal.RATE, Scope.EDGE, source="b")
        >>> SeriesKey.from_id(k.id) == k
        True
        """
        parts = key_id.split("/")
        namespace, service, signal = parts[0], parts[1], Signal(parts[2])
        if len(parts) == 3:
            return cls(service, namespace, signal)
        name, _, value = parts[3].partition("=")
        scope = {"version": Scope.VERSION, "pod": Scope.POD, "source": Scope.EDGE}[name]
        return cls(service, namespace, signal, scope, **{name: value})


@dataclass(frozen=True)
class Histogram:
    """One series' latency histogram on a block's grid, as Prometheus gives it.

    ``rates[b, j]`` is the cumulative request rate (req/s) of bucket ``le = bounds[b]`` at
    step ``j``; ``bounds`` ascend and end with +Inf; ``step_s`` turns rates into per-step
    request counts. NaN is no data.
    """

    bounds: np.ndarray
    rates: np.ndarray = field(repr=False)
    step_s: float


@dataclass
class SeriesBlock:
    """Values of many series on one shared, regular time grid.

    ``values[i, j]`` is series ``keys[i]`` at ``timestamps[j]`` (Unix seconds);
    NaN means "no data" for that point, never zero.

    ``histograms`` holds the latency histogram of each :attr:`Signal.LATENCY_SHAPE` row,
    whose own values are the histogram's request rate. That row is what the gap, outage
    and cap masking act on: where it is no data, so is its histogram. Blocks derived
    from this one share the mapping (extra entries are harmless).
    """

    keys: list[SeriesKey]
    timestamps: np.ndarray
    values: np.ndarray = field(repr=False)
    histograms: dict[SeriesKey, Histogram] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64)
        self.values = np.asarray(self.values, dtype=np.float64).reshape(len(self.keys), len(self.timestamps))

    @classmethod
    def empty(cls) -> SeriesBlock:
        return cls([], np.empty(0), np.empty((0, 0)))

    def __len__(self) -> int:
        return len(self.keys)

    def masked_until(self, t: float) -> SeriesBlock:
        """The same block with every point at or before ``t`` turned into no data.

        >>> b = SeriesBlock([SeriesKey("a", "n", Signal.RATE)], [10, 20], [[1.0, 2.0]])
        >>> b.masked_until(10).values.tolist()
        [[nan, 2.0]]
        """
        if len(self.timestamps) == 0 or self.timestamps[0] > t:
            return self
        return SeriesBlock(
            self.keys,
            self.timestamps,
            np.where(self.timestamps[None, :] <= t, np.nan, self.values),
            self.histograms,
        )

    def rows(self, rows: list[int] | np.ndarray) -> SeriesBlock:
        """The sub-block of ``rows`` (in that order), grid and histograms unchanged."""
        index = np.asarray(rows, dtype=np.intp)
        return SeriesBlock(
            [self.keys[i] for i in index], self.timestamps, self.values[index], self.histograms
        )
