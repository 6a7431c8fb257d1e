"""The series the mesh reports, with Istio's standard names and labels, and their text formats.

Which series exist (:class:`Layout`) and how they are written live together because
both follow from one question: what would a real Istio proxy, scraped by a
Kubernetes-pods Prometheus job, expose? Keeping that answer in one module is what
lets MeshPulse's PromQL run unchanged against the simulator and a real mesh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

import numpy as np

from detector.simulate.topology import Topology, Workload

# Envoy's default histogram bounds, which Istio uses for istio_request_duration_milliseconds.
BUCKETS_MS = (
    0.5,
    1,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
    300000,
    600000,
    1800000,
    3600000,
)
# (response_code, response_flags) pairs every series set is broken down by.
CODES = (("200", "-"), ("500", "-"), ("503", "-"), ("503", "UF"))


@dataclass(frozen=True)
class Unit:
    """One (workload, version): the thing Istio calls a workload and a subset routes to."""

    workload: Workload
    version: str
    weight: float
    pods: tuple[int, ...]


class Layout:
    """Index arrays compiled once from a topology; the mesh's hot loop only does array maths."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.workloads = [*topology.workloads, topology.ingress]
        self.ingress = len(self.workloads) - 1
        self.svc_index = sidx = {w.service: i for i, w in enumerate(self.workloads)}
        self.pod_names: list[str] = []
        self.units: list[Unit] = []
        self.svc_units: list[list[int]] = [[] for _ in self.workloads]
        for si, w in enumerate(self.workloads):
            for v, wt in zip(w.versions, w.weights, strict=True):
                first = len(self.pod_names)
                self.pod_names.extend(w.pods[v])
                self.svc_units[si].append(len(self.units))
                self.units.append(Unit(w, v, wt, tuple(range(first, len(self.pod_names)))))
        self.n_mesh_pods = len(topology.pod_table().name)
        self.pod_unit = np.array([u for u, unit in enumerate(self.units) for _ in unit.pods])
        self.pod_svc = np.array([sidx[self.units[u].workload.service] for u in self.pod_unit])
        self.pod_share = np.array([self.units[u].weight / len(self.units[u].pods) for u in self.pod_unit])
        self.pod_median = np.array([self.units[u].workload.latency_ms for u in self.pod_unit], dtype=float)
        self.pod_sigma = np.array([self.units[u].workload.latency_sigma for u in self.pod_unit], dtype=float)
        self.pod_error = np.array([self.units[u].workload.error_ratio for u in self.pod_unit], dtype=float)
        edges = [
            (self.ingress, sidx[w.service], w.entry_share) for w in topology.workloads if w.entry_share > 0
        ]
        edges += [(sidx[e.caller], sidx[e.callee], e.calls_per_request) for e in topology.edges]
        self.e_caller, self.e_callee = (np.array([e[i] for e in edges], dtype=int) for i in (0, 1))
        self.e_cpr = np.array([e[2] for e in edges], dtype=float)
        self.depth = _depths(len(self.workloads), self.ingress, edges)
        self._build_cells(edges)

    def _build_cells(self, edges: list[tuple[int, int, float]]) -> None:
        """Cells ordered (edge, src unit, dst unit, dst pod, src pod): destination groups are runs.

        Source groups are the same cells regrouped by src pod, via ``src_perm``.
        """
        cell_edge: list[int] = []
        cell_dst: list[int] = []
        cell_frac: list[float] = []
        d_starts: list[int] = []
        d_groups: list[tuple[int, int, int]] = []
        s_keys: list[tuple[int, int, int, int]] = []  # (src unit, dst unit, src pod, cell)
        for ei, (caller, callee, _) in enumerate(edges):
            for su in self.svc_units[caller]:
                for du in self.svc_units[callee]:
                    src_pods, dst_pods = self.units[su].pods, self.units[du].pods
                    frac = self.units[su].weight * self.units[du].weight / len(src_pods) / len(dst_pods)
                    for dp in dst_pods:
                        d_starts.append(len(cell_edge))
                        d_groups.append((su, du, dp))
                        for sp in src_pods:
                            s_keys.append((su, du, sp, len(cell_edge)))
                            cell_edge.append(ei)
                            cell_dst.append(dp)
                            cell_frac.append(frac)
        self.cell_edge, self.cell_dst = np.array(cell_edge, dtype=int), np.array(cell_dst, dtype=int)
        self.cell_frac = np.array(cell_frac)
        self.dest_starts = np.array(d_starts, dtype=int)
        s_keys.sort()
        self.src_perm = np.array([k[3] for k in s_keys], dtype=int)
        s_groups: list[tuple[int, int, int]] = []
        s_starts: list[int] = []
        for i, (su, du, sp, _) in enumerate(s_keys):
            if not s_groups or s_groups[-1] != (su, du, sp):
                s_groups.append((su, du, sp))
                s_starts.append(i)
        self.src_starts = np.array(s_starts, dtype=int)
        # (reporter, src unit, dst unit, reporting pod)
        self.groups = [("destination", *g) for g in d_groups] + [("source", *g) for g in s_groups]

    def group_labels(self, g: int) -> dict[str, str]:
        """Istio standard labels (plus pod/namespace from scrape relabelling) of group ``g``."""
        reporter, su, du, reporting_pod = self.groups[g]
        src, dst = self.units[su], self.units[du]
        proxy = dst if reporter == "destination" else src
        return {
            "reporter": reporter,
            "source_workload": src.workload.workload_name(src.version),
            "source_workload_namespace": src.workload.namespace,
            "source_app": src.workload.service,
            "source_version": src.version,
            "destination_service": dst.workload.fqdn(),
            "destination_service_name": dst.workload.service,
            "destination_service_namespace": dst.workload.namespace,
            "destination_workload": dst.workload.workload_name(dst.version),
            "destination_workload_namespace": dst.workload.namespace,
            "destination_app": dst.workload.service,
            "destination_version": dst.version,
            "request_protocol": dst.workload.protocol,
            "connection_security_policy": "mutual_tls" if reporter == "destination" else "unknown",
            "pod": self.pod_names[reporting_pod],
            "namespace": proxy.workload.namespace,
        }


def _depths(n: int, root: int, edges: list[tuple[int, int, float]]) -> np.ndarray:
    """Longest-path depth from the ingress; raises on cycles because fan-out needs a DAG."""
    depth = np.zeros(n, dtype=int)
    for _ in range(n + 1):
        changed = False
        for a, b, _ in edges:
            if depth[b] < depth[a] + 1:
                depth[b], changed = depth[a] + 1, True
        if not changed:
            return depth
    raise ValueError("call graph has a cycle")


@dataclass
class Counters:
    """Cumulative values per (group, code): requests, per-bin (non-cumulative) latency counts, sum."""

    requests: np.ndarray
    bins: np.ndarray
    sum_ms: np.ndarray

    @classmethod
    def zeros(cls, n_groups: int) -> Counters:
        return cls(
            np.zeros((n_groups, len(CODES))),
            np.zeros((n_groups, len(CODES), len(BUCKETS_MS) + 1)),
            np.zeros((n_groups, len(CODES))),
        )

    def copy(self) -> Counters:
        return Counters(self.requests.copy(), self.bins.copy(), self.sum_ms.copy())


REQUESTS = "istio_requests"
DURATION = "istio_request_duration_milliseconds"
_HELP = {REQUESTS: "Total requests.", DURATION: "Request duration in milliseconds."}
# Envoy writes bounds with "%.32g" (le="0.5", le="1", le="3600000"); history must match live
# scrapes byte for byte or a rate() across the boundary would see two different series.
_LE = [f'le="{b:.32g}"' for b in BUCKETS_MS] + ['le="+Inf"']


class Renderer:
    """Writes a mesh's counters; label strings are built once per layout, not per scrape.

    Only series that have seen a request are written, as a real proxy creates a
    series lazily on its first request; that keeps rare error codes from
    multiplying cardinality.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.labels = [
            [
                _label_text({**layout.group_labels(g), "response_code": code, "response_flags": flags})
                for code, flags in CODES
            ]
            for g in range(len(layout.groups))
        ]

    def text(self, counters: Counters) -> str:
        """Prometheus text exposition format 0.0.4, as ``GET /metrics`` serves it."""
        live = list(zip(*np.nonzero(counters.requests > 0), strict=True))
        out = [f"# HELP {REQUESTS}_total {_HELP[REQUESTS]}", f"# TYPE {REQUESTS}_total counter"]
        out += [f"{REQUESTS}_total{{{self.labels[g][k]}}} {counters.requests[g, k]:.0f}" for g, k in live]
        out += [f"# HELP {DURATION} {_HELP[DURATION]}", f"# TYPE {DURATION} histogram"]
        cum = np.cumsum(counters.bins, axis=2)
        for g, k in live:
            lbl = self.labels[g][k]
            out += [f"{DURATION}_bucket{{{lbl},{le}}} {v:.0f}" for le, v in zip(_LE, cum[g, k], strict=True)]
            out.append(f"{DURATION}_sum{{{lbl}}} {counters.sum_ms[g, k]:.3f}")
            out.append(f"{DURATION}_count{{{lbl}}} {counters.requests[g, k]:.0f}")
        return "\n".join(out) + "\n"

    def openmetrics(self, frames: list[tuple[float, Counters]], out: TextIO) -> None:
        """OpenMetrics text with explicit timestamps, for ``promtool tsdb create-blocks-from openmetrics``.

        Samples are grouped family → series → time, the order OpenMetrics requires;
        a series starts at its first non-zero frame, like the live exposition.
        """
        ts = [f"{t:.3f}" for t, _ in frames]
        req = np.stack([c.requests for _, c in frames])
        live = list(zip(*np.nonzero(req[-1] > 0), strict=True)) if frames else []
        first = {(g, k): int(np.argmax(req[:, g, k] > 0)) for g, k in live}
        out.write(f"# TYPE {REQUESTS} counter\n# HELP {REQUESTS} {_HELP[REQUESTS]}\n")
        for g, k in live:
            name = f"{REQUESTS}_total{{{self.labels[g][k]}}}"
            out.writelines(f"{name} {req[i, g, k]:.0f} {ts[i]}\n" for i in range(first[g, k], len(frames)))
        out.write(f"# TYPE {DURATION} histogram\n# HELP {DURATION} {_HELP[DURATION]}\n")
        cum = np.stack([np.cumsum(c.bins, axis=2) for _, c in frames])
        sums = np.stack([c.sum_ms for _, c in frames])
        for g, k in live:
            lbl = self.labels[g][k]
            buckets = [f"{DURATION}_bucket{{{lbl},{le}}}" for le in _LE]
            for i in range(first[g, k], len(frames)):
                out.writelines(f"{b} {v:.0f} {ts[i]}\n" for b, v in zip(buckets, cum[i, g, k], strict=True))
                out.write(f"{DURATION}_count{{{lbl}}} {req[i, g, k]:.0f} {ts[i]}\n")
                out.write(f"{DURATION}_sum{{{lbl}}} {sums[i, g, k]:.3f} {ts[i]}\n")
        out.write("# EOF\n")


def _label_text(labels: dict[str, str]) -> str:
    """Label pairs in exposition syntax; values here never need more escaping than quotes."""
    return ",".join(f'{k}="{v}"' for k, v in labels.items())
