"""Where metrics come from: a tiny interface, and Prometheus behind it.

This module is the only importer of the Prometheus client library. Anything that
answers Prometheus's HTTP query API (Prometheus, Thanos Query, Mimir,
VictoriaMetrics) works through :class:`PrometheusSource`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from detector.scrape import promql
from detector.scrape.histogram import parse_le, quantiles
from detector.series import Histogram, Scope, SeriesBlock, SeriesKey, Signal

if TYPE_CHECKING:
    import requests

MAX_POINTS = 10_000
INVENTORY_STEP_S = 240.0
"""Step of the service-inventory query: under Prometheus's 5 min lookback, so no service that
had a sample anywhere in the fetched range is missed between two evaluations."""


class ScrapeError(RuntimeError):
    """The metrics backend could not give a usable answer; the cycle must not pretend it did."""


class MetricSource(Protocol):
    def fetch(self, start: float, end: float, step: float) -> SeriesBlock:
        """Every watched series on the grid ``start, start+step, …, end`` (inclusive)."""
        ...


Identity = tuple[str, str]
"""``(namespace, service)``: the unit shards split."""


@runtime_checkable
class ServiceScopedSource(Protocol):
    """A source that can list the watched services and fetch only some of them."""

    def services(self, start: float, end: float, step: float) -> list[Identity]:
        """Every watched ``(namespace, service)`` with data in ``[start, end]``, sorted."""
        ...

    def fetch_services(
        self, start: float, end: float, step: float, identities: Sequence[Identity]
    ) -> SeriesBlock:
        """:meth:`MetricSource.fetch`, exactly the series of ``identities``."""
        ...


def grid(start: float, end: float, step: float) -> np.ndarray:
    """The evaluation timestamps Prometheus uses for a range query.

    >>> grid(30, 60, 15).tolist()
    [30.0, 45.0, 60.0]
    """
    n = math.floor((end - start) / step + 1e-9) + 1
    return start + step * np.arange(max(n, 0), dtype=np.float64)


def key_from_labels(
    query: promql.Query, labels: dict[str, str], signal: Signal | None = None
) -> SeriesKey | None:
    """Map a result's labels to the series it measures; None for results we cannot place."""
    signal = signal or query.signal
    if signal is None:
        return None
    service = labels.get("destination_service_name", "")
    namespace = labels.get("destination_service_namespace", "")
    if not service or service == "unknown":
        return None
    extra = {
        Scope.SERVICE: {},
        Scope.VERSION: {"version": labels.get("destination_version", "")},
        Scope.POD: {"pod": labels.get("pod", "")},
        Scope.EDGE: {"source": labels.get("source_workload", "")},
    }[query.scope]
    if any(not v or v == "unknown" for v in extra.values()):
        return None
    return SeriesKey(service, namespace, signal, query.scope, **extra)


def _grid_index(t: object, ts: np.ndarray) -> int:
    return round((float(t) - ts[0]) / (ts[1] - ts[0])) if len(ts) > 1 else 0  # type: ignore[arg-type]


def place(
    result: Sequence[dict[str, Any]], query: promql.Query, ts: np.ndarray, rows: dict[SeriesKey, np.ndarray]
) -> None:
    """Write one query's matrix result onto the shared grid (missing points stay NaN)."""
    for item in result:
        key = key_from_labels(query, item.get("metric", {}))
        if key is None:
            continue
        row = rows.setdefault(key, np.full(len(ts), np.nan))
        for t, v in item.get("values", []):
            j = _grid_index(t, ts)
            if 0 <= j < len(ts):
                row[j] = _number(v)


Buckets = dict[SeriesKey, dict[float, np.ndarray]]


def collect_buckets(
    result: Sequence[dict[str, Any]], query: promql.Query, ts: np.ndarray, hist: Buckets
) -> None:
    """Gather a histogram query's bucket rates per series (keyed by its p50 identity) and ``le``."""
    for item in result:
        labels = item.get("metric", {})
        key = key_from_labels(query, labels, Signal.P50)
        if key is None or "le" not in labels:
            continue
        row = hist.setdefault(key, {}).setdefault(parse_le(labels["le"]), np.full(len(ts), np.nan))
        for t, v in item.get("values", []):
            j = _grid_index(t, ts)
            if 0 <= j < len(ts):
                row[j] = _number(v)


def add_quantiles(hist: Buckets, rows: dict[SeriesKey, np.ndarray]) -> None:
    """p50/p90/p99 rows from the gathered buckets, as PromQL's ``histogram_quantile`` would give."""
    signals = tuple(promql.QUANTILES)
    for key, buckets in hist.items():
        bounds = np.array(sorted(buckets))
        values = quantiles(bounds, np.vstack([buckets[b] for b in bounds]), tuple(promql.QUANTILES.values()))
        for signal, row in zip(signals, values, strict=True):
            rows[dataclasses.replace(key, signal=signal)] = row


def add_histograms(
    hist: Buckets, rows: dict[SeriesKey, np.ndarray], step: float
) -> dict[SeriesKey, Histogram]:
    """The gathered buckets as latency-shape series: each row is the histogram's request rate
    (NaN where any bucket is missing, so masking the row masks the histogram), and the
    histogram itself is returned by the same key. Layouts PromQL could not use are left out."""
    out: dict[SeriesKey, Histogram] = {}
    for key, buckets in hist.items():
        bounds = np.array(sorted(buckets))
        if len(bounds) < 2 or not math.isinf(bounds[-1]):
            continue
        rates = np.vstack([buckets[b] for b in bounds])
        shape = dataclasses.replace(key, signal=Signal.LATENCY_SHAPE)
        rows[shape] = np.where(np.isnan(rates).any(axis=0), np.nan, rates[-1])
        out[shape] = Histogram(bounds, rates, step)
    return out


def _number(v: object) -> float:
    """A sample value; non-finite values are no data, unparsable ones a broken backend."""
    try:
        value = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ScrapeError(f"the metrics backend returned a non-numeric sample {v!r}") from exc
    return value if math.isfinite(value) else np.nan


def only_services(block: SeriesBlock, identities: set[Identity]) -> SeriesBlock:
    """The rows of ``block`` whose ``(namespace, service)`` is in ``identities``, grid unchanged."""
    rows = [i for i, k in enumerate(block.keys) if (k.namespace, k.service) in identities]
    return block.rows(rows)


class PrometheusSource:
    """Runs :func:`promql.cycle_queries` as range queries against a Prometheus-compatible API.

    ``session`` is the HTTP session the client uses (a fresh one by default); benchmarks pass
    one that asks Prometheus for query statistics. ``recorded`` reads the latency histograms from
    the shipped recording rules (``deploy/prometheus/meshpulse-rules.yml``) instead of summing raw
    buckets every cycle; it needs the rules' 1m rate window.
    """

    def __init__(
        self,
        url: str,
        *,
        window: str = "1m",
        namespaces: Sequence[str] = (),
        services: Sequence[str] = (),
        timeout_s: float = 10.0,
        scopes: Sequence[Scope] = tuple(Scope),
        session: requests.Session | None = None,
        max_matcher_bytes: int = promql.MAX_MATCHER_BYTES,
        recorded: bool = False,
    ) -> None:
        if recorded and window != promql.RECORDED_WINDOW:
            raise ValueError(f"the recording rules use a {promql.RECORDED_WINDOW} rate window, not {window}")
        self.url = url
        self.max_matcher_bytes, self.recorded = max_matcher_bytes, recorded
        self.window, self.scopes = window, tuple(scopes)
        self.queries = list(promql.cycle_queries(window, namespaces, services, scopes, recorded))
        self.inventory = promql.inventory(namespaces, services)
        self.timeout_s = timeout_s
        # No retries inside a cycle: a failed query fails the cycle fast, and the next cycle
        # catches up on what this one missed.
        self._client = PrometheusConnect(
            url=url,
            disable_ssl=True,
            retry=Retry(total=0, raise_on_status=False),
            timeout=int(timeout_s),
            session=session,
        )

    def fetch(self, start: float, end: float, step: float) -> SeriesBlock:
        return self._fetch(self.queries, start, end, step)

    def services(self, start: float, end: float, step: float) -> list[Identity]:
        # evaluated backwards from ``end``, so the newest services are always seen
        inv_step = max(step, INVENTORY_STEP_S)
        first = end - math.floor(max(end - start, 0.0) / inv_step) * inv_step
        found: set[Identity] = set()
        for item in self._range(self.inventory, first, end, inv_step):
            labels = item.get("metric", {})
            name = labels.get("destination_service_name", "")
            if name and name != "unknown":
                found.add((labels.get("destination_service_namespace", ""), name))
        return sorted(found)

    def fetch_services(
        self, start: float, end: float, step: float, identities: Sequence[Identity]
    ) -> SeriesBlock:
        queries = promql.owned_queries(
            self.window, identities, self.scopes, self.max_matcher_bytes, self.recorded
        )
        return only_services(self._fetch(queries, start, end, step), set(identities))

    def _fetch(self, queries: Iterable[promql.Query], start: float, end: float, step: float) -> SeriesBlock:
        ts = grid(start, end, step)
        if len(ts) == 0:
            return SeriesBlock.empty()
        rows: dict[SeriesKey, np.ndarray] = {}
        hist: Buckets = {}
        for query in queries:
            for first in range(0, len(ts), MAX_POINTS):  # Prometheus refuses > 11,000 points a series
                chunk = ts[first : first + MAX_POINTS]
                result = self._range(query.expr, chunk[0], chunk[-1], step)
                try:
                    if query.signal is None:
                        collect_buckets(result, query, ts, hist)
                    else:
                        place(result, query, ts, rows)
                except (TypeError, ValueError, AttributeError) as exc:
                    raise ScrapeError(f"Prometheus at {self.url} returned a malformed matrix: {exc}") from exc
        add_quantiles(hist, rows)
        histograms = add_histograms(hist, rows, step)
        keys = sorted(rows)
        values = np.vstack([rows[k] for k in keys]) if keys else np.empty((0, len(ts)))
        return SeriesBlock(keys, ts, values, histograms)

    def _range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        try:
            result = self._client.custom_query_range(
                expr,
                start_time=datetime.fromtimestamp(start, UTC),
                end_time=datetime.fromtimestamp(end, UTC),
                step=f"{step:g}s",
                timeout=int(self.timeout_s),
            )
        except PrometheusApiClientException as exc:
            raise ScrapeError(f"Prometheus at {self.url} rejected a query: {exc}") from exc
        except Exception as exc:  # connection refused, timeout, non-JSON body …
            raise ScrapeError(f"Prometheus at {self.url} is unreachable or broken: {exc}") from exc
        if not isinstance(result, list) or any(not isinstance(r, dict) for r in result):
            raise ScrapeError(f"Prometheus at {self.url} returned an unexpected payload for a range query")
        return result
