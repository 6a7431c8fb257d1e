"""``GET /api/v1/graph``: edges from edge-scope series, callers folded into their service."""

from __future__ import annotations

import numpy as np

from detector.api.routes.graph import build_graph
from detector.api.schemas import ServiceHealth
from detector.recent import RecentWindow
from detector.series import Scope, SeriesKey, Signal

T = np.array([0.0, 15.0, 30.0])


def edge(source: str, dest: str, signal: Signal) -> SeriesKey:
    return SeriesKey(dest, "default", signal, Scope.EDGE, source=source)


def window(points: dict[SeriesKey, list[float]]) -> RecentWindow:
    recent = RecentWindow()
    keys = list(points)
    values = np.array([points[k] for k in keys])
    nan = np.full_like(values, np.nan)
    recent.add(keys, T, values=values, expected=nan, lower=nan, upper=nan, score=nan)
    return recent


def health(name: str, state: str = "healthy", active: int = 0) -> ServiceHealth:
    return ServiceHealth(
        service=name, namespace="default", health=state, active_anomalies=active, last_data_at=30.0, scores={}
    )


def test_caller_versions_fold_into_one_edge_with_rate_weighted_errors() -> None:
    recent = window(
        {
            edge("reco-v1", "catalog", Signal.RATE): [1.0, 10.0, 30.0],
            edge("reco-v1", "catalog", Signal.ERROR_RATIO): [0.0, 0.0, 0.0],
            edge("reco-v1", "catalog", Signal.P99): [5.0, 5.0, 5.0],
            edge("reco-v2", "catalog", Signal.RATE): [1.0, 10.0, 10.0],
            edge("reco-v2", "catalog", Signal.ERROR_RATIO): [0.0, 0.2, 0.4],
            edge("reco-v2", "catalog", Signal.P99): [9.0, 90.0, np.nan],
        }
    )
    graph = build_graph(recent, [], [health("reco"), health("catalog")])
    (e,) = graph.edges
    assert (e.source, e.destination, e.source_workloads) == ("reco", "catalog", ["reco-v1", "reco-v2"])
    assert e.rate == 40.0
    assert e.error_ratio == 0.1  # 0.4 * 10 / 40: the busy healthy version dilutes the canary
    assert e.p99_ms == 90.0  # newest finite point per workload, worst of them
    assert not e.anomalous


def test_an_active_edge_event_marks_its_edge_and_unknown_callers_are_external() -> None:
    recent = window(
        {
            edge("istio-ingressgateway", "web", Signal.RATE): [5.0, 5.0, 5.0],
            edge("web-v1", "pay", Signal.RATE): [2.0, 2.0, np.nan],
        }
    )
    active = [edge("web-v1", "pay", Signal.ERROR_RATIO), SeriesKey("web", "default", Signal.P99)]
    graph = build_graph(recent, active, [health("web"), health("pay", "degraded", 1)])
    nodes = {n.id: n.health for n in graph.nodes}
    assert nodes == {"web": "healthy", "pay": "degraded", "istio-ingressgateway": "external"}
    by_pair = {(e.source, e.destination): e for e in graph.edges}
    assert by_pair[("web", "pay")].anomalous and by_pair[("web", "pay")].rate == 2.0
    assert not by_pair[("istio-ingressgateway", "web")].anomalous


def test_an_edge_with_no_data_yet_has_null_numbers_not_zero() -> None:
    recent = window({edge("a-v1", "b", Signal.RATE): [np.nan, np.nan, np.nan]})
    (e,) = build_graph(recent, [], [health("a"), health("b")]).edges
    assert (e.rate, e.error_ratio, e.p99_ms) == (None, None, None)
