"""The simulated mesh: cumulative Istio counters that evolve over simulated time.

Requests are modelled per *cell* (one source pod → one destination pod of one call
edge) and summed into the series each proxy would report. Drawing at cell level and
aggregating two ways is what keeps ``reporter="source"`` and ``reporter="destination"``
consistent with each other, as they are in a real mesh. Everything is numpy arrays
indexed by cell/pod/service so 1,000 services cost a handful of vector ops per step.
"""

from __future__ import annotations

import math
import threading
import time
from typing import NamedTuple

import numpy as np

from detector.simulate.exposition import BUCKETS_MS, CODES, Counters, Layout
from detector.simulate.faults import FaultSchedule
from detector.simulate.topology import Topology

# How errors split over the non-200 entries of CODES.
_ERROR_SPLIT = np.array([0.7, 0.15, 0.15])
TROUGH = 0.3  # daily minimum as a fraction of the peak
PEAK_HOUR_UTC = 15.0
_PARALLELISM = 0.6  # a callee's latency only partly adds to the caller's: calls overlap
_ERROR_PROPAGATION = 0.5  # share of callee failures the caller turns into its own 5xx
_MAX_CHUNK_S = 60.0  # long gaps are integrated in chunks so seasonality/faults stay visible
_CLIENT_OVERHEAD_MS = 0.3


def seasonality(t: np.ndarray | float) -> np.ndarray | float:
    """Daily shape of ingress traffic: 1.0 at PEAK_HOUR_UTC, TROUGH twelve hours later."""
    hour = (np.asarray(t) % 86400.0) / 3600.0
    return TROUGH + (1 - TROUGH) * (1 + np.cos(2 * np.pi * (hour - PEAK_HOUR_UTC) / 24.0)) / 2


def _phi(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF (Abramowitz–Stegun 7.1.26, |err| < 1.5e-7); keeps scipy out."""
    z = np.abs(x) / math.sqrt(2.0)
    k = 1.0 / (1.0 + 0.3275911 * z)
    poly = k * (0.254829592 + k * (-0.284496736 + k * (1.421413741 + k * (-1.453152027 + k * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


def bucket_probabilities(median: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin probability and conditional mean (ms) of a lognormal, for each row.

    Bins are ``(prev bound, bound]`` plus a final ``+Inf`` bin. The conditional mean
    lets ``_sum`` agree with the bucket counts instead of being drawn separately.
    """
    mu, s = np.log(median)[:, None], sigma[:, None]
    logb = np.log(np.asarray(BUCKETS_MS, dtype=float))[None, :]
    cdf = np.concatenate([np.zeros_like(mu), _phi((logb - mu) / s), np.ones_like(mu)], axis=1)
    part = np.concatenate([np.zeros_like(mu), _phi((logb - mu - s * s) / s), np.ones_like(mu)], axis=1)
    p = np.clip(np.diff(cdf, axis=1), 0.0, None)
    partial = np.exp(mu + s * s / 2) * np.clip(np.diff(part, axis=1), 0.0, None)
    edges = np.concatenate([[0.0], BUCKETS_MS, [2.0 * BUCKETS_MS[-1]]])
    fallback = np.broadcast_to((edges[:-1] + edges[1:]) / 2, p.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(p > 1e-12, partial / p, fallback)
    return p / p.sum(axis=1, keepdims=True), mean


def _segment_sums(rows: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of consecutive row runs beginning at ``starts``; much faster than ``np.add.reduceat`` on 2-D.

    Counts stay exact (integers far below 2**53); latency sums pick up only rounding noise.
    """
    csum = np.concatenate([np.zeros((1, rows.shape[1])), np.cumsum(rows, axis=0)])
    ends = np.append(starts[1:], len(rows))
    return csum[ends] - csum[starts]


class Totals(NamedTuple):
    requests: float
    errors: float
    latency_sum_ms: float

    @property
    def error_ratio(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def mean_latency_ms(self) -> float:
        return self.latency_sum_ms / self.requests if self.requests else 0.0


class Mesh:
    """A deterministic simulated mesh at simulated time :attr:`t`.

    Same topology + seed + start + faults + sequence of ``advance`` calls gives the
    same counters, which is what lets history and the live server be one mesh.
    """

    def __init__(
        self,
        topology: Topology,
        seed: int = 0,
        start: float | None = None,
        faults: FaultSchedule | None = None,
    ) -> None:
        self.topology = topology
        self.layout = Layout(topology)
        self.faults = faults if faults is not None else FaultSchedule()
        self.t = float(time.time() if start is None else start)
        self.counters = Counters.zeros(len(self.layout.groups))
        self.lock = threading.RLock()
        self._rng = np.random.default_rng(seed)
        self._pods = topology.pod_table()

    def advance(self, t: float) -> None:
        """Integrate traffic from :attr:`t` to ``t``; moving backwards is a no-op (counters never drop)."""
        with self.lock:
            while self.t < t:
                dt = min(_MAX_CHUNK_S, t - self.t)
                self._step(self.t + dt / 2, dt)
                self.t += dt

    def snapshot(self) -> tuple[float, Counters]:
        with self.lock:
            return self.t, self.counters.copy()

    def totals(self, by: str, reporter: str = "destination") -> dict[str, Totals]:
        """Counters summed by one label, for quick checks without a Prometheus in the loop."""
        out: dict[str, Totals] = {}
        with self.lock:
            for g in range(len(self.layout.groups)):
                labels = self.layout.group_labels(g)
                if labels["reporter"] != reporter:
                    continue
                prev = out.get(labels[by], Totals(0.0, 0.0, 0.0))
                req = self.counters.requests[g]
                out[labels[by]] = Totals(
                    prev.requests + req.sum(),
                    prev.errors + req[1:].sum(),
                    prev.latency_sum_ms + self.counters.sum_ms[g].sum(),
                )
        return out

    def ingress_rate(self, t: float) -> float:
        return float(self.topology.ingress_rps * seasonality(t))

    def _step(self, t_mid: float, dt: float) -> None:
        lay = self.layout
        effects = self.faults.effects(t_mid, self._pods)
        rate_mult = np.ones(len(lay.workloads))
        for service, mult in effects.rate_mult.items():
            rate_mult[lay.svc_index[service]] = mult
        noise = math.exp(self._rng.normal(0.0, 0.05))
        edge_rate = self._edge_rates(self.ingress_rate(t_mid) * noise, rate_mult)
        median, error = self._pod_health(effects.latency_mult, effects.error_floor)
        p_bin, mean_bin = bucket_probabilities(median, lay.pod_sigma)
        code_p = np.concatenate([(1 - error)[:, None], error[:, None] * _ERROR_SPLIT[None, :]], axis=1)
        lam_cell = edge_rate[lay.cell_edge] * lay.cell_frac * dt
        used = np.flatnonzero(p_bin.max(axis=0) * lam_cell.max(initial=0.0) > 1e-6)
        # A contiguous bin range (lognormals are unimodal) keeps the hot path to slices.
        active = slice(int(used.min()), int(used.max()) + 1) if len(used) else slice(0, 1)
        dst = lay.cell_dst
        lam = lam_cell[:, None, None] * code_p[dst][:, :, None] * p_bin[dst][:, None, active]
        drawn = self._rng.poisson(lam).astype(float)
        cell_sum = (drawn * mean_bin[lay.cell_dst][:, None, active]).sum(axis=2)
        self._accumulate(drawn.reshape(len(lam_cell), -1), cell_sum, active)

    def _accumulate(self, drawn: np.ndarray, cell_sum: np.ndarray, active: slice) -> None:
        """Fold cell draws (cells × codes·active bins) into destination- and source-side series."""
        lay, c = self.layout, self.counters
        n_dest, n_codes = len(lay.dest_starts), len(CODES)
        both = np.concatenate([drawn, cell_sum], axis=1)
        dest = _segment_sums(both, lay.dest_starts)
        src = _segment_sums(both[lay.src_perm], lay.src_starts)
        for rows, agg, overhead in ((slice(None, n_dest), dest, 0.0), (slice(n_dest, None), src, 1.0)):
            bins = agg[:, :-n_codes].reshape(len(agg), n_codes, active.stop - active.start)
            c.bins[rows, :, active] += bins
            n = bins.sum(axis=2)
            c.requests[rows] += n
            c.sum_ms[rows] += agg[:, -n_codes:] + n * overhead * _CLIENT_OVERHEAD_MS

    def _edge_rates(self, ingress_rps: float, rate_mult: np.ndarray) -> np.ndarray:
        """Requests/s on each call edge: fan-out applied layer by layer from the ingress."""
        lay = self.layout
        rate = np.zeros(len(lay.workloads))
        rate[lay.ingress] = ingress_rps
        callee_depth = lay.depth[lay.e_callee]
        for d in range(1, int(lay.depth.max()) + 1):
            sel = np.flatnonzero(callee_depth == d)
            np.add.at(rate, lay.e_callee[sel], rate[lay.e_caller[sel]] * lay.e_cpr[sel])
            at_d = lay.depth == d
            rate[at_d] *= rate_mult[at_d]
        return rate[lay.e_caller] * lay.e_cpr * rate_mult[lay.e_callee]

    def _pod_health(self, latency_mult: np.ndarray, error_floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Median latency and error ratio per pod, including what its callees add.

        Walks the DAG deepest-first so a callee's state is final before its callers use it.
        """
        lay = self.layout
        n_pods, n_svc = len(lay.pod_names), len(lay.workloads)
        own_med, own_err = lay.pod_median.copy(), lay.pod_error.copy()
        own_med[: lay.n_mesh_pods] *= latency_mult
        own_err[: lay.n_mesh_pods] = np.maximum(own_err[: lay.n_mesh_pods], error_floor)
        median, error = np.zeros(n_pods), np.zeros(n_pods)
        svc_mean, svc_err = np.zeros(n_svc), np.zeros(n_svc)
        caller_depth, pod_depth = lay.depth[lay.e_caller], lay.depth[lay.pod_svc]
        mean_factor = np.exp(lay.pod_sigma**2 / 2)
        for d in range(int(lay.depth.max()), -1, -1):
            sel = np.flatnonzero(caller_depth == d)
            wait, survive = np.zeros(n_svc), np.zeros(n_svc)
            np.add.at(wait, lay.e_caller[sel], lay.e_cpr[sel] * svc_mean[lay.e_callee[sel]] * _PARALLELISM)
            passed_on = _ERROR_PROPAGATION * np.minimum(lay.e_cpr[sel], 1) * svc_err[lay.e_callee[sel]]
            np.add.at(survive, lay.e_caller[sel], np.log1p(-passed_on))
            pods = np.flatnonzero(pod_depth == d)
            median[pods] = own_med[pods] + wait[lay.pod_svc[pods]]
            error[pods] = 1 - (1 - own_err[pods]) * np.exp(survive[lay.pod_svc[pods]])
            np.add.at(svc_mean, lay.pod_svc[pods], lay.pod_share[pods] * median[pods] * mean_factor[pods])
            np.add.at(svc_err, lay.pod_svc[pods], lay.pod_share[pods] * error[pods])
        return median, np.clip(error, 0.0, 1.0)
