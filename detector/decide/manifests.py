"""Istio ``networking.istio.io/v1`` objects, rendered from decisions.

Only the fields MeshPulse decides are set; everything is a plain dict so the same value
is stored, shown as YAML, validated against the CRD schema in tests and sent to the
API server. Labels mark the object as written by MeshPulse so a person can find it.
"""

from __future__ import annotations

from typing import Any

import yaml

API_VERSION = "networking.istio.io/v1"
MANAGED_BY = {"app.kubernetes.io/managed-by": "meshpulse"}


def _metadata(name: str, namespace: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)}


def destination_rule(
    service: str, namespace: str, host: str, traffic_policy: dict[str, Any], subsets: list[str] | None = None
) -> dict[str, Any]:
    """A DestinationRule named after the service (Istio merges poorly when two rules share a host).

    >>> dr = destination_rule("cart", "default", "cart.default.svc.cluster.local", {}, ["v1"])
    >>> dr["spec"]["subsets"]
    [{'name': 'v1', 'labels': {'version': 'v1'}}]
    """
    spec: dict[str, Any] = {"host": host, "trafficPolicy": traffic_policy}
    if subsets:
        spec["subsets"] = [{"name": s, "labels": {"version": s}} for s in subsets]
    return {
        "apiVersion": API_VERSION,
        "kind": "DestinationRule",
        "metadata": _metadata(service, namespace),
        "spec": spec,
    }


def virtual_service(service: str, namespace: str, host: str, weights: dict[str, int]) -> dict[str, Any]:
    """A VirtualService with one HTTP route splitting ``host`` across subsets by ``weights``.

    The applier edits weights in the live object's matching route instead of replacing
    it, so match rules, retries and timeouts a person set there survive.

    >>> vs = virtual_service("cart", "default", "cart", {"v1": 90, "v2": 10})
    >>> [d["weight"] for d in vs["spec"]["http"][0]["route"]]
    [90, 10]
    """
    route = [
        {"destination": {"host": host, "subset": s}, "weight": int(w)} for s, w in sorted(weights.items())
    ]
    return {
        "apiVersion": API_VERSION,
        "kind": "VirtualService",
        "metadata": _metadata(service, namespace),
        "spec": {"hosts": [host], "http": [{"route": route}]},
    }


def route_weights(vs: dict[str, Any], host: str) -> dict[str, int] | None:
    """Weights per subset of the first HTTP route whose destinations are all ``host`` subsets.

    Short names and FQDNs of the same service count as the same host. ``None`` when no
    such route exists (then there is nothing we may safely change).

    >>> vs = virtual_service("cart", "ns", "cart.ns.svc.cluster.local", {"v1": 60, "v2": 40})
    >>> route_weights(vs, "cart")
    {'v1': 60, 'v2': 40}
    """
    for route in _weighted_routes(vs, host):
        return {d["destination"]["subset"]: int(d.get("weight", 0)) for d in route}
    return None


def with_weights(vs: dict[str, Any], host: str, weights: dict[str, int]) -> dict[str, Any]:
    """A copy of ``vs`` with the matching route's weights replaced (nothing else touched)."""
    out = yaml.safe_load(yaml.safe_dump(vs))
    for route in _weighted_routes(out, host):
        for d in route:
            d["weight"] = int(weights[d["destination"]["subset"]])
        return out
    raise KeyError(f"no weighted route to {host} in {vs.get('metadata', {}).get('name')}")


def _weighted_routes(vs: dict[str, Any], host: str) -> list[list[dict[str, Any]]]:
    short = host.split(".")[0]
    found = []
    for http in vs.get("spec", {}).get("http", []) or []:
        route = http.get("route") or []
        dests = [d.get("destination", {}) for d in route]
        if (
            len(route) >= 2
            and all(d.get("subset") for d in dests)
            and all(d.get("host", "").split(".")[0] == short for d in dests)
        ):
            found.append(route)
    return found


def to_yaml(manifest: dict[str, Any]) -> str:
    """Stable formatting: key order as built, block style, so GitOps diffs stay small."""
    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False, width=110)
