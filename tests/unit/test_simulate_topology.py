"""The demo topology has the shape the brief and the detector's demos rely on."""

import re

import pytest

from detector.simulate.exposition import Layout
from detector.simulate.topology import Edge, Topology, Workload


def test_online_boutique_shape() -> None:
    topo = Topology.online_boutique()
    assert len(topo.workloads) >= 10
    assert {"frontend", "cartservice", "redis-cart", "checkoutservice"} <= set(topo.services())
    canaries = [w.service for w in topo.workloads if w.versions == ("v1", "v2")]
    assert len(canaries) >= 2
    assert all(len(pods) >= 2 for w in topo.workloads for pods in w.pods.values())
    edges = {(e.caller, e.callee) for e in topo.edges}
    assert ("checkoutservice", "paymentservice") in edges
    assert ("cartservice", "redis-cart") in edges
    assert ("recommendationservice", "productcatalogservice") in edges
    assert topo.ingress.namespace == "istio-system"


def test_pod_names_look_like_kubernetes_and_are_stable_per_seed() -> None:
    a, b = Topology.online_boutique(seed=1), Topology.online_boutique(seed=1)
    c = Topology.online_boutique(seed=2)
    pods_a = list(a.pod_table().name)
    assert pods_a == list(b.pod_table().name)
    assert pods_a != list(c.pod_table().name)
    assert len(set(pods_a)) == len(pods_a)
    assert all(
        re.fullmatch(r"cartservice-v1-[0-9a-f]{4}-[a-z0-9]{5}", p)
        for p in a.workload("cartservice").pods["v1"]
    )


def test_synthetic_is_a_reachable_dag_of_n_services() -> None:
    topo = Topology.synthetic(100, seed=3)
    assert len(topo.workloads) == 100
    layout = Layout(topo)  # raises on cycles
    callees = {e.callee for e in topo.edges} | {w.service for w in topo.workloads if w.entry_share > 0}
    assert callees == set(topo.services())
    assert layout.depth.max() >= 2
    assert Topology.synthetic(100, seed=3).edges == topo.edges


def test_cycles_and_unknown_services_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown service"):
        Topology([Workload("a", entry_share=1)], [Edge("a", "b")])
    cyclic = Topology([Workload("a", entry_share=1), Workload("b")], [Edge("a", "b"), Edge("b", "a")])
    with pytest.raises(ValueError, match="cycle"):
        Layout(cyclic)


def test_topology_json_lists_subsets_pods_and_ingress_edge() -> None:
    data = Topology.online_boutique().to_json()
    pc = next(s for s in data["services"] if s["service"] == "productcatalogservice")  # type: ignore[union-attr]
    assert [sub["version"] for sub in pc["subsets"]] == ["v1", "v2"]
    assert {"caller": "istio-ingressgateway", "callee": "frontend", "calls_per_request": 1.0} in data["edges"]
