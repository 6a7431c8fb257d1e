"""The service graph: who calls whom, how that traffic is doing, and which services are unwell.

Edges come from the edge-scope series (``source`` = caller workload, ``service`` =
callee), so the graph is exactly what the detectors watch: no topology has to be
configured. A caller workload such as ``recommendationservice-v2`` is drawn as its
service when one of that name is known, so canary versions do not split a node.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, Field

from detector.api.deps import RuntimeDep
from detector.api.routes.services import list_services
from detector.api.schemas import ServiceHealth
from detector.recent import RecentWindow
from detector.series import Scope, SeriesKey, Signal

router = APIRouter(prefix="/api/v1", tags=["graph"])

EDGE_SIGNALS = (Signal.RATE, Signal.ERROR_RATIO, Signal.P99)


class GraphNode(BaseModel):
    id: str = Field(description="Service name, or the caller workload when no such service is watched")
    namespace: str
    health: str = Field(description="healthy, degraded, failing, no_data, or external (a caller only)")
    active_anomalies: int = 0


class GraphEdge(BaseModel):
    source: str
    destination: str
    namespace: str
    source_workloads: list[str]
    rate: float | None = Field(None, description="Requests per second, newest point")
    error_ratio: float | None = Field(None, description="Share of 5xx responses in [0, 1]")
    p99_ms: float | None = Field(None, description="Worst p99 latency of the callers' workloads, ms")
    anomalous: bool


class ServiceGraph(BaseModel):
    nodes: list[GraphNode]
    edges: list[GraphEdge]


@router.get("/graph", response_model=ServiceGraph)
def service_graph(rt: RuntimeDep) -> ServiceGraph:
    """Nodes coloured by health, edges with their newest rate, 5xx ratio and p99."""
    p = rt.pipeline
    return build_graph(p.recent, [e.key for e in p.tracker.active()], list_services(rt))


@dataclass
class _Edge:
    """One caller service → callee, summed over the caller's workloads (versions)."""

    workloads: set[str] = field(default_factory=set)
    rate: float = 0.0
    errors: float = 0.0
    p99: float = -math.inf
    seen: bool = False
    anomalous: bool = False


def build_graph(
    recent: RecentWindow, active: Sequence[SeriesKey], services: Sequence[ServiceHealth]
) -> ServiceGraph:
    """Aggregate edge series into caller-service → callee edges; pure, so tests need no app."""
    known = {s.service for s in services}
    anomalous = {(k.source, k.service, k.namespace) for k in active if k.scope is Scope.EDGE}
    edges: dict[tuple[str, str, str], _Edge] = {}
    keys = [k for k in recent.series() if k.scope is Scope.EDGE and k.signal is Signal.RATE]
    for key in keys:
        caller = caller_service(key.source, known)
        edge = edges.setdefault((caller, key.service, key.namespace), _Edge())
        _add(edge, recent, key)
        edge.anomalous |= (key.source, key.service, key.namespace) in anomalous
    nodes = [
        GraphNode(id=s.service, namespace=s.namespace, health=s.health, active_anomalies=s.active_anomalies)
        for s in services
    ]
    nodes += [
        GraphNode(id=caller, namespace=ns, health="external")
        for caller, ns in sorted({(c, ns) for c, _, ns in edges if c not in known})
    ]
    return ServiceGraph(nodes=nodes, edges=[_edge_out(k, e) for k, e in sorted(edges.items())])


def caller_service(workload: str, services: Iterable[str]) -> str:
    """The service a caller workload belongs to: itself, or the longest ``<service>-`` prefix.

    >>> caller_service("recommendationservice-v2", ["recommendationservice", "redis-cart"])
    'recommendationservice'
    >>> caller_service("istio-ingressgateway", ["frontend"])
    'istio-ingressgateway'
    """
    names = set(services)
    if workload in names:
        return workload
    prefixes = [s for s in names if workload.startswith(s + "-")]
    return max(prefixes, key=len) if prefixes else workload


def _latest(recent: RecentWindow, key: SeriesKey) -> float:
    view = recent.view(key)
    if view is None:
        return math.nan
    finite = view.values[np.isfinite(view.values)]
    return float(finite[-1]) if len(finite) else math.nan


def _add(edge: _Edge, recent: RecentWindow, rate_key: SeriesKey) -> None:
    """Fold one caller workload's newest points into the edge (errors weighted by rate)."""
    edge.workloads.add(rate_key.source)
    rate, ratio, p99 = (_latest(recent, _with_signal(rate_key, s)) for s in EDGE_SIGNALS)
    if math.isfinite(rate):
        edge.seen = True
        edge.rate += rate
        if math.isfinite(ratio):
            edge.errors += ratio * rate
    if math.isfinite(p99):
        edge.p99 = max(edge.p99, p99)


def _with_signal(key: SeriesKey, signal: Signal) -> SeriesKey:
    return SeriesKey(key.service, key.namespace, signal, key.scope, source=key.source)


def _edge_out(k: tuple[str, str, str], e: _Edge) -> GraphEdge:
    return GraphEdge(
        source=k[0],
        destination=k[1],
        namespace=k[2],
        source_workloads=sorted(e.workloads),
        rate=e.rate if e.seen else None,
        error_ratio=e.errors / e.rate if e.seen and e.rate > 0 else None,
        p99_ms=e.p99 if math.isfinite(e.p99) else None,
        anomalous=e.anomalous,
    )
