"""The shape of the simulated mesh: which workloads exist and who calls whom.

A topology is pure data. It is kept apart from :mod:`.traffic` so the same shape can
drive the live server, the history writer and benchmarks, and so a fault can be
validated against it without building a mesh.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

# Kubernetes' "safe" alphabet for generated name suffixes (no vowels, no look-alikes).
_K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True)
class Workload:
    """One service and its deployments (one per version/subset).

    ``entry_share`` is the fraction of ingress requests that hit this service directly;
    ``latency_ms``/``latency_sigma`` are the median and log-space spread of the
    service's *own* work, before adding time spent waiting on its callees.
    """

    service: str
    namespace: str = "default"
    versions: tuple[str, ...] = ("v1",)
    weights: tuple[float, ...] = (1.0,)
    pods_per_version: int = 2
    entry_share: float = 0.0
    latency_ms: float = 5.0
    latency_sigma: float = 0.5
    error_ratio: float = 0.0005
    protocol: str = "grpc"
    pods: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)

    def workload_name(self, version: str) -> str:
        """Deployment name; one deployment per version, as Istio subsets expect.

        Unversioned workloads (the gateway, version ``unknown``) keep the bare name.
        """
        return self.service if version == "unknown" else f"{self.service}-{version}"

    def fqdn(self) -> str:
        return f"{self.service}.{self.namespace}.svc.cluster.local"


@dataclass(frozen=True)
class Edge:
    """``caller`` sends ``calls_per_request`` requests to ``callee`` per request it serves."""

    caller: str
    callee: str
    calls_per_request: float = 1.0


@dataclass(frozen=True)
class PodTable:
    """Every mesh pod (ingress excluded) as parallel arrays, for vectorised fault masks."""

    service: np.ndarray
    version: np.ndarray
    name: np.ndarray


@dataclass
class Topology:
    """Workloads, the calls between them, and the ingress gateway in front.

    The ingress is a :class:`Workload` too, so it gets pods and reports
    ``reporter="source"`` metrics like a real gateway, but it is never a destination.
    """

    workloads: list[Workload]
    edges: list[Edge]
    ingress_rps: float = 100.0
    seed: int = 0
    ingress: Workload = field(
        default_factory=lambda: Workload(
            "istio-ingressgateway", "istio-system", ("unknown",), (1.0,), 2, protocol="http"
        )
    )

    def __post_init__(self) -> None:
        self.workloads = [_with_pods(w, self.seed) for w in self.workloads]
        self.ingress = _with_pods(self.ingress, self.seed)
        names = {w.service for w in self.workloads}
        for e in self.edges:
            if e.caller not in names or e.callee not in names:
                raise ValueError(f"edge {e.caller} -> {e.callee} names an unknown service")

    def workload(self, service: str) -> Workload:
        for w in self.workloads:
            if w.service == service:
                return w
        raise KeyError(service)

    def services(self) -> list[str]:
        return [w.service for w in self.workloads]

    def pod_table(self) -> PodTable:
        rows = [(w.service, v, p) for w in self.workloads for v in w.versions for p in w.pods[v]]
        svc, ver, pod = zip(*rows, strict=True)
        return PodTable(np.array(svc), np.array(ver), np.array(pod))

    def to_json(self) -> dict[str, object]:
        """What ``GET /topology`` returns: enough to draw the mesh and aim faults."""
        return {
            "ingress": {
                "workload": self.ingress.service,
                "namespace": self.ingress.namespace,
                "pods": list(self.ingress.pods[self.ingress.versions[0]]),
            },
            "services": [
                {
                    "service": w.service,
                    "namespace": w.namespace,
                    "protocol": w.protocol,
                    "subsets": [
                        {"version": v, "weight": wt, "workload": w.workload_name(v), "pods": list(w.pods[v])}
                        for v, wt in zip(w.versions, w.weights, strict=True)
                    ],
                }
                for w in self.workloads
            ],
            "edges": [
                {"caller": self.ingress.service, "callee": w.service, "calls_per_request": w.entry_share}
                for w in self.workloads
                if w.entry_share > 0
            ]
            + [
                {"caller": e.caller, "callee": e.callee, "calls_per_request": e.calls_per_request}
                for e in self.edges
            ],
        }

    @classmethod
    def online_boutique(cls, seed: int = 0, ingress_rps: float = 100.0) -> Topology:
        """Google's Online Boutique demo, with canaries on productcatalog and recommendation."""
        two = {"versions": ("v1", "v2"), "weights": (0.5, 0.5)}
        workloads = [
            Workload("frontend", entry_share=1.0, latency_ms=8, protocol="http", error_ratio=0.001),
            Workload("cartservice", latency_ms=3),
            Workload("productcatalogservice", latency_ms=2, **two),  # type: ignore[arg-type]
            Workload("currencyservice", latency_ms=1.5, latency_sigma=0.4),
            Workload("paymentservice", latency_ms=6, error_ratio=0.002),
            Workload("shippingservice", latency_ms=3),
            Workload("emailservice", latency_ms=10, latency_sigma=0.6),
            Workload("checkoutservice", latency_ms=12),
            Workload("recommendationservice", latency_ms=6, **two),  # type: ignore[arg-type]
            Workload("adservice", latency_ms=4),
            Workload("redis-cart", latency_ms=0.8, latency_sigma=0.3, error_ratio=0.0, protocol="http"),
        ]
        calls = {
            "frontend": {
                "adservice": 0.8,
                "cartservice": 0.6,
                "currencyservice": 2.0,
                "productcatalogservice": 3.0,
                "recommendationservice": 0.5,
                "shippingservice": 0.2,
                "checkoutservice": 0.05,
            },
            "checkoutservice": {
                "cartservice": 2.0,
                "currencyservice": 3.0,
                "emailservice": 1.0,
                "paymentservice": 1.0,
                "productcatalogservice": 2.0,
                "shippingservice": 2.0,
            },
            "recommendationservice": {"productcatalogservice": 1.0},
            "cartservice": {"redis-cart": 1.5},
        }
        edges = [Edge(a, b, c) for a, callees in calls.items() for b, c in callees.items()]
        return cls(workloads, edges, ingress_rps=ingress_rps, seed=seed)

    @classmethod
    def synthetic(cls, n_services: int, seed: int = 0, ingress_rps: float = 200.0) -> Topology:
        """A layered random DAG of ``n_services`` for benchmarks; same structure as the demo.

        Layers make it acyclic by construction; every service has at least one caller
        in an earlier layer so nothing is idle.
        """
        rng = random.Random(f"synthetic-{seed}-{n_services}")
        n_layers = max(2, min(6, round(np.log2(max(n_services, 2)) / 1.5)))
        layers: list[list[str]] = [[] for _ in range(n_layers)]
        names = [f"svc-{i:04d}" for i in range(n_services)]
        n_entry = max(1, n_services // 50)
        for i, name in enumerate(names):
            layers[
                0 if i < n_entry else 1 + (i - n_entry) * (n_layers - 1) // max(1, n_services - n_entry)
            ].append(name)
        workloads, edges = [], []
        for depth, layer in enumerate(layers):
            for name in layer:
                canary = rng.random() < 0.15
                workloads.append(
                    Workload(
                        name,
                        versions=("v1", "v2") if canary else ("v1",),
                        weights=(0.8, 0.2) if canary else (1.0,),
                        pods_per_version=rng.choice((2, 2, 3)),
                        entry_share=1.0 / n_entry if depth == 0 else 0.0,
                        latency_ms=rng.uniform(1, 20),
                        latency_sigma=rng.uniform(0.3, 0.7),
                        error_ratio=0.001 if rng.random() < 0.2 else 0.0,
                        protocol="http" if depth == 0 else "grpc",
                    )
                )
                if depth:
                    earlier = [s for lay in layers[:depth] for s in lay]
                    for caller in rng.sample(earlier, k=min(len(earlier), rng.choice((1, 1, 2, 3)))):
                        edges.append(Edge(caller, name, round(rng.uniform(0.2, 1.0), 2)))
        return cls(workloads, edges, ingress_rps=ingress_rps, seed=seed)


def _with_pods(w: Workload, seed: int) -> Workload:
    """Fill in stable pod names (``cartservice-v1-7d9f-abcde``) derived from the seed."""
    if w.pods:
        return w
    rng = random.Random(f"pods-{seed}-{w.namespace}-{w.service}")
    pods: dict[str, tuple[str, ...]] = {}
    for v in w.versions:
        deploy = w.workload_name(v)
        template = "".join(rng.choice("0123456789abcdef") for _ in range(4))
        pods[v] = tuple(
            f"{deploy}-{template}-{''.join(rng.choice(_K8S_ALPHABET) for _ in range(5))}"
            for _ in range(w.pods_per_version)
        )
    return Workload(
        w.service,
        w.namespace,
        w.versions,
        w.weights,
        w.pods_per_version,
        w.entry_share,
        w.latency_ms,
        w.latency_sigma,
        w.error_ratio,
        w.protocol,
        pods,
    )
