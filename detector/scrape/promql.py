"""Every PromQL query MeshPulse runs, as named templates in one place.

Reporter choice, deliberately:

* service, version and pod series use ``reporter="destination"``: the server-side
  sidecar sees every request that reached the workload (from inside or outside the
  mesh) and is the only reporter that knows the destination *pod*;
* edge series use ``reporter="source"``: the client-side sidecar also counts requests
  that never reached the destination (connection failures, ``UF``/``UH`` 503s) and
  includes the network in latency, which is what a caller experiences.

Counter resets are handled by ``rate()``. The 5xx ratio is written so that a
service with traffic but no 5xx series yet gives ``0``, not "no data".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from detector.series import Scope, Signal

REQUESTS = "istio_requests_total"
BUCKETS = "istio_request_duration_milliseconds_bucket"

_SERVICE_LABELS = ("destination_service_namespace", "destination_service_name")
GROUP_BY: dict[Scope, tuple[str, ...]] = {
    Scope.SERVICE: _SERVICE_LABELS,
    Scope.VERSION: (*_SERVICE_LABELS, "destination_version"),
    Scope.POD: (*_SERVICE_LABELS, "pod"),
    Scope.EDGE: (*_SERVICE_LABELS, "source_workload"),
}
REPORTER: dict[Scope, str] = {
    Scope.SERVICE: "destination",
    Scope.VERSION: "destination",
    Scope.POD: "destination",
    Scope.EDGE: "source",
}
QUANTILES: dict[Signal, float] = {Signal.P50: 0.5, Signal.P90: 0.9, Signal.P99: 0.99}


@dataclass(frozen=True)
class Query:
    """One PromQL expression and the series identity its result labels map to.

    ``signal`` is None for a histogram query: its bucket rates yield every latency
    quantile in :data:`QUANTILES` (see :mod:`detector.scrape.histogram`).
    """

    signal: Signal | None
    scope: Scope
    expr: str


def _regex(values: Sequence[str]) -> str:
    return "|".join(v.replace("\\", "\\\\").replace('"', '\\"').replace(".", "\\\\.") for v in values)


def selector(
    scope: Scope, namespaces: Sequence[str] = (), services: Sequence[str] = (), extra: str = ""
) -> str:
    """The label matchers shared by every query of a scope.

    >>> selector(Scope.EDGE, services=["cart"])
    '{reporter="source",destination_service_name=~"cart"}'
    """
    parts = [f'reporter="{REPORTER[scope]}"']
    if namespaces:
        parts.append(f'destination_service_namespace=~"{_regex(namespaces)}"')
    if services:
        parts.append(f'destination_service_name=~"{_regex(services)}"')
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}"


def request_rate(scope: Scope, window: str, sel: str) -> str:
    """Requests per second."""
    by = ", ".join(GROUP_BY[scope])
    return f"sum by ({by}) (rate({REQUESTS}{sel}[{window}]))"


def error_ratio(scope: Scope, window: str, sel: str) -> str:
    """Fraction of requests answered 5xx; 0 (not absent) when there were none."""
    by = ", ".join(GROUP_BY[scope])
    errors_sel = sel[:-1] + ',response_code=~"5.."}'
    total = f"sum by ({by}) (rate({REQUESTS}{sel}[{window}]))"
    errors = f"sum by ({by}) (rate({REQUESTS}{errors_sel}[{window}]))"
    return f"({errors} or {total} * 0) / {total}"


def latency_quantile(q: float, scope: Scope, window: str, sel: str) -> str:
    """A latency quantile (ms) interpolated from Istio's duration histogram."""
    by = ", ".join((*GROUP_BY[scope], "le"))
    return f"histogram_quantile({q}, sum by ({by}) (rate({BUCKETS}{sel}[{window}])))"


def latency_histogram(scope: Scope, window: str, sel: str) -> str:
    """Per-bucket request rate: the histogram itself, for distribution-shift detectors."""
    by = ", ".join((*GROUP_BY[scope], "le"))
    return f"sum by ({by}) (rate({BUCKETS}{sel}[{window}]))"


def cycle_queries(
    window: str,
    namespaces: Sequence[str] = (),
    services: Sequence[str] = (),
    scopes: Sequence[Scope] = tuple(Scope),
) -> Iterator[Query]:
    """All queries of one scrape cycle: rate, 5xx ratio and the latency histogram at every scope."""
    for scope in scopes:
        sel = selector(scope, namespaces, services)
        yield Query(Signal.RATE, scope, request_rate(scope, window, sel))
        yield Query(Signal.ERROR_RATIO, scope, error_ratio(scope, window, sel))
        yield Query(None, scope, latency_histogram(scope, window, sel))
