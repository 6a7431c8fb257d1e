"""Client-side quantiles must equal PromQL's histogram_quantile on the same data, point for point."""

from __future__ import annotations

import math
import time

import httpx
import numpy as np

from detector.scrape import promql
from detector.scrape.source import PrometheusSource
from detector.series import Scope
from detector.simulate.faults import FaultSchedule
from detector.simulate.server import SimulatorServer
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh


def test_quantiles_equal_promql(prometheus_factory) -> None:
    sim = SimulatorServer(Mesh(Topology.online_boutique(seed=5), seed=5, faults=FaultSchedule())).start()
    try:
        prom = prometheus_factory([f"127.0.0.1:{sim.port}"], scrape_interval="1s")
        time.sleep(12)
        end = math.floor(time.time() - 2)
        start = end - 6
        block = PrometheusSource(prom.url, window="5s", scopes=(Scope.SERVICE, Scope.POD)).fetch(
            start, end, 2
        )
        compared = 0
        for scope in (Scope.SERVICE, Scope.POD):
            for signal, q in promql.QUANTILES.items():
                expr = promql.latency_quantile(q, scope, "5s", promql.selector(scope))
                r = httpx.get(
                    f"{prom.url}/api/v1/query_range",
                    params={"query": expr, "start": start, "end": end, "step": 2},
                    timeout=10,
                )
                for item in r.json()["data"]["result"]:
                    m = item["metric"]
                    idx = [
                        i
                        for i, k in enumerate(block.keys)
                        if k.signal is signal
                        and k.scope is scope
                        and k.service == m["destination_service_name"]
                        and k.pod == m.get("pod", "")
                    ]
                    assert len(idx) == 1, m
                    theirs = np.array([float(v) for _, v in item["values"]])
                    ours = block.values[idx[0], -len(theirs) :]
                    np.testing.assert_allclose(
                        ours, np.where(np.isfinite(theirs), theirs, np.nan), rtol=1e-9, equal_nan=True
                    )
                    compared += 1
        assert compared > 50
    finally:
        sim.stop()
