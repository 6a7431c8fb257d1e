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

Shards name the services they own in the matchers (:func:`owned_matchers`), so a shard's
queries touch only its share of the mesh. PromQL cannot hash a label, so the names are
spelled out as regex alternations (Prometheus turns a pure alternation of literals into set
lookups in its index), split into chunks that keep each query's URL under common proxy
limits (8 KiB request lines: nginx, most ingress controllers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import quote_plus

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


MAX_MATCHER_BYTES = 2_400
"""URL-encoded size of one chunk's matchers. The 5xx ratio repeats its selector three times,
so a query stays under 8 KiB (3 × 2,400 + the fixed text) when encoded into a GET URL."""

_REGEX_META = frozenset("\\.+*?()|[]{}^$")  # what Go's regexp.QuoteMeta escapes


def escape_regex(value: str) -> str:
    r"""``value`` as a literal inside a (RE2) regex: exactly Go's ``regexp.QuoteMeta``.

    Escaping no more than that matters: Prometheus only turns ``a|b|c`` into set lookups when
    every escape is of a metacharacter.

    >>> escape_regex("a.b+c-d")
    'a\\.b\\+c-d'
    """
    return "".join("\\" + c if c in _REGEX_META else c for c in value)


def quote(value: str) -> str:
    r"""``value`` as the inside of a PromQL double-quoted string.

    >>> quote('a\\b"c')
    'a\\\\b\\"c'
    """
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _regex(values: Iterable[str]) -> str:
    """A PromQL string matching exactly ``values`` (a regex matcher is anchored at both ends)."""
    return "|".join(quote(escape_regex(v)) for v in values)


def selector(
    scope: Scope, namespaces: Sequence[str] = (), services: Sequence[str] = (), extra: str = ""
) -> str:
    """The label matchers shared by every query of a scope.

    >>> selector(Scope.EDGE, services=["cart"])
    '{reporter="source",destination_service_name=~"cart"}'
    """
    return "{" + ",".join([f'reporter="{REPORTER[scope]}"', *_restrict(namespaces, services, extra)]) + "}"


def _restrict(namespaces: Sequence[str], services: Sequence[str], extra: str = "") -> list[str]:
    parts = []
    if namespaces:
        parts.append(f'destination_service_namespace=~"{_regex(namespaces)}"')
    if services:
        parts.append(f'destination_service_name=~"{_regex(services)}"')
    if extra:
        parts.append(extra)
    return parts


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
    recorded: bool = False,
) -> Iterator[Query]:
    """All queries of one scrape cycle: rate, 5xx ratio and the latency histogram at every scope.

    ``recorded`` reads the histograms from the shipped recording rules (:func:`recording_rules`).
    """
    for scope in scopes:
        yield from _scope_queries(scope, window, _restrict(namespaces, services), recorded)


def _scope_queries(scope: Scope, window: str, matchers: list[str], recorded: bool) -> Iterator[Query]:
    sel = "{" + ",".join([f'reporter="{REPORTER[scope]}"', *matchers]) + "}"
    yield Query(Signal.RATE, scope, request_rate(scope, window, sel))
    yield Query(Signal.ERROR_RATIO, scope, error_ratio(scope, window, sel))
    if recorded:
        yield Query(None, scope, recorded_histogram(scope, ",".join(matchers)))
    else:
        yield Query(None, scope, latency_histogram(scope, window, sel))


def inventory(namespaces: Sequence[str] = (), services: Sequence[str] = ()) -> str:
    """One series per watched ``(namespace, service)``, from either reporter: what shards split.

    >>> inventory(services=["cart"]).split(") (")[1]
    'istio_requests_total{destination_service_name=~"cart"})'
    """
    matchers = ",".join(_restrict(namespaces, services))
    return f"group by ({', '.join(_SERVICE_LABELS)}) ({REQUESTS}{{{matchers}}})"


def _matcher(namespaces: Iterable[str], names: Iterable[str]) -> str:
    return (
        f'destination_service_namespace=~"{_regex(sorted(namespaces))}",'
        f'destination_service_name=~"{_regex(sorted(names))}"'
    )


def owned_matchers(identities: Iterable[tuple[str, str]], max_bytes: int = MAX_MATCHER_BYTES) -> list[str]:
    """Matchers covering every ``(namespace, service)``, each at most ``max_bytes`` URL-encoded.

    A chunk names its namespaces and its services separately, so it may also match a service
    of the same name in another of its namespaces: callers keep only what they asked for. Sorting
    by namespace keeps that rare (and most chunks to one namespace). A single name longer than
    the budget still gets a chunk of its own.

    >>> owned_matchers([("shop", "cart"), ("shop", "ads")])
    ['destination_service_namespace=~"shop",destination_service_name=~"ads|cart"']
    >>> len(owned_matchers([("shop", f"svc-{i}") for i in range(1000)], max_bytes=2400))
    5
    """
    chunks: list[str] = []
    namespaces: set[str] = set()
    names: set[str] = set()
    size = _FIXED
    for ns, name in sorted(set(identities)):
        # the encoded bytes this pair adds: its name, its namespace if new, each with a "|" (%7C)
        grow = _encoded(name) + (0 if ns in namespaces else _encoded(ns))
        if names and size + grow > max_bytes:
            chunks.append(_matcher(namespaces, names))
            namespaces, names, size = set(), set(), _FIXED
            grow = _encoded(name) + _encoded(ns)
        size += grow
        namespaces.add(ns)
        names.add(name)
    if names:
        chunks.append(_matcher(namespaces, names))
    return chunks


def _encoded(value: str) -> int:
    """URL-encoded bytes of ``value`` in a matcher, with its ``|`` separator."""
    return len(quote_plus(quote(escape_regex(value)))) + 3


# an empty chunk's bytes; the first namespace and the first name have no "|" before them
_FIXED = len(quote_plus(_matcher((), ()))) - 2 * 3


def owned_queries(
    window: str,
    identities: Iterable[tuple[str, str]],
    scopes: Sequence[Scope] = tuple(Scope),
    max_bytes: int = MAX_MATCHER_BYTES,
    recorded: bool = False,
) -> Iterator[Query]:
    """:func:`cycle_queries` restricted to ``identities``, one set of queries per matcher chunk."""
    for chunk in owned_matchers(identities, max_bytes):
        for scope in scopes:
            yield from _scope_queries(scope, window, [chunk], recorded)


RECORDED_WINDOW = "1m"
"""The ``rate()`` window of the shipped recording rules (``deploy/prometheus/meshpulse-rules.yml``)."""


def recorded_name(scope: Scope) -> str:
    """The recorded per-scope bucket rate, named ``level:metric:operations`` as Prometheus advises.

    >>> recorded_name(Scope.POD)
    'meshpulse_pod:istio_request_duration_milliseconds_bucket:rate1m'
    """
    return f"meshpulse_{scope.value}:{BUCKETS}:rate{RECORDED_WINDOW}"


def recording_rules() -> list[dict[str, str]]:
    """The recording rules, generated from the same templates the queries use."""
    return [
        {"record": recorded_name(scope), "expr": latency_histogram(scope, RECORDED_WINDOW, selector(scope))}
        for scope in Scope
    ]


def recorded_histogram(scope: Scope, matchers: str = "") -> str:
    """:func:`latency_histogram` read from its recording rule: no ``rate()``, no raw buckets.

    The recorded series keep the group-by labels (not ``reporter``), so shard matchers apply as is.

    >>> recorded_histogram(Scope.SERVICE, 'destination_service_name=~"cart"')
    'meshpulse_service:istio_request_duration_milliseconds_bucket:rate1m{destination_service_name=~"cart"}'
    """
    return f"{recorded_name(scope)}{{{matchers}}}"
