"""A shard's scoped fetch, against a real Prometheus, is exactly its owned part of the whole fetch.

Service names carry regex metacharacters (``a.b`` next to ``axb``, ``f|g`` next to ``f`` and ``g``)
and services live in two namespaces, so a wrongly escaped or over-broad matcher shows up as an
extra or a missing series. A tiny matcher budget forces many chunks per query.
"""

from __future__ import annotations

import math
import time

import numpy as np

from detector.devstack.polling import wait_until
from detector.scrape.source import PrometheusSource
from detector.series import SeriesBlock, SeriesKey
from detector.shard.ownership import identity, owner
from detector.simulate.faults import FaultSchedule
from detector.simulate.server import SimulatorServer
from detector.simulate.topology import Edge, Topology, Workload
from detector.simulate.traffic import Mesh

NAMES = ["a.b", "axb", "c+d", "ccd", "(e)", "e", "f|g", "f", "g", "h*", "hh"]
SHARDS = ["s0", "s1", "s2"]


def topology() -> Topology:
    pairs = [("shop", n) for n in NAMES] + [("other", "cart")]
    workloads = [Workload(n, ns, entry_share=1 / len(pairs), protocol="http") for ns, n in pairs]
    return Topology(workloads, [Edge("a.b", "axb", 0.5), Edge("f|g", "f", 0.5)], ingress_rps=300.0, seed=4)


def rows(block: SeriesBlock) -> dict[SeriesKey, np.ndarray]:
    assert len(set(block.keys)) == len(block.keys)
    return {k: block.values[i] for i, k in enumerate(block.keys)}


def test_scoped_fetch_returns_exactly_the_owned_subset(prometheus_factory) -> None:
    sim = SimulatorServer(Mesh(topology(), seed=4, faults=FaultSchedule())).start()
    try:
        prom = prometheus_factory([f"127.0.0.1:{sim.port}"], scrape_interval="1s")
        source = PrometheusSource(prom.url, window="5s", max_matcher_bytes=60)
        expected = sorted([("shop", n) for n in NAMES] + [("other", "cart")])
        now = lambda: math.floor(time.time()) - 3  # noqa: E731 - scrapes up to here have landed
        wait_until(lambda: source.services(now() - 10, now(), 2) == expected, timeout_s=60)
        time.sleep(8)  # a full rate window behind every point
        end = now()
        start = end - 6
        listed = source.services(start, end, 2)
        whole = rows(source.fetch(start, end, 2))
        assert listed == expected
        assert {(k.namespace, k.service) for k in whole} == set(expected)
        seen: dict[SeriesKey, np.ndarray] = {}
        for shard in SHARDS:
            mine = [pair for pair in listed if owner(identity(*pair), SHARDS) == shard]
            part = rows(source.fetch_services(start, end, 2, mine))
            owned = {k for k in whole if (k.namespace, k.service) in mine}
            assert set(part) == owned, shard
            for i in part:
                np.testing.assert_array_equal(part[i], whole[i])
            seen.update(part)
        assert set(seen) == set(whole)
        # one chunk over two namespaces brings back exactly the two services asked for
        pairs = [("other", "cart"), ("shop", "a.b")]
        both = rows(source.fetch_services(start, end, 2, pairs))
        assert {(k.namespace, k.service) for k in both} == set(pairs)
    finally:
        sim.stop()
