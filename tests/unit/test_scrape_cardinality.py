"""The series cap keeps services over breakdowns and busy entities over quiet ones."""

from __future__ import annotations

import time

import numpy as np
import pytest

from detector.scrape.cardinality import cap_series
from detector.series import Scope, SeriesBlock, SeriesKey, Signal

TS = np.arange(4) * 15.0


def block(keys: list[SeriesKey], rates: dict[SeriesKey, float] | None = None) -> SeriesBlock:
    rates = rates or {}
    values = np.vstack([np.full(len(TS), rates.get(k, 1.0)) for k in keys]) if keys else np.empty((0, 4))
    return SeriesBlock(keys, TS, values)


def entity(service: str, scope: Scope = Scope.SERVICE, **detail: str) -> list[SeriesKey]:
    return [SeriesKey(service, "ns", s, scope, **detail) for s in Signal]


def test_under_the_cap_is_untouched() -> None:
    b = block(entity("a"))
    out = cap_series(b, len(Signal))
    assert out.block is b and out.dropped == 0


def test_scope_priority_beats_traffic() -> None:
    pod = SeriesKey("a", "ns", Signal.RATE, Scope.POD, pod="a-1")
    edge = SeriesKey("a", "ns", Signal.RATE, Scope.EDGE, source="web")
    version = SeriesKey("a", "ns", Signal.RATE, Scope.VERSION, version="v1")
    service = SeriesKey("a", "ns", Signal.RATE)
    b = block([pod, edge, version, service], {pod: 1e6, edge: 1e5, version: 1e4, service: 1.0})
    for n, expected in [(1, {service}), (2, {service, version}), (3, {service, version, edge})]:
        out = cap_series(b, n)
        assert set(out.block.keys) == expected and out.dropped == 4 - n


def test_custom_priority_and_unlisted_scopes_go_last() -> None:
    pod = SeriesKey("a", "ns", Signal.RATE, Scope.POD, pod="a-1")
    service = SeriesKey("a", "ns", Signal.RATE)
    edge = SeriesKey("a", "ns", Signal.RATE, Scope.EDGE, source="web")
    out = cap_series(block([service, pod, edge]), 2, priority=(Scope.POD, Scope.SERVICE))
    assert set(out.block.keys) == {pod, service}


def test_busiest_pods_first_and_entities_kept_whole() -> None:
    keys = [k for i in range(4) for k in entity("cart", Scope.POD, pod=f"cart-{i}")]
    rates = {k: float(10 * int(k.pod[-1])) for k in keys}  # every signal carries its pod's rate
    out = cap_series(block(keys, rates), 2 * len(Signal))
    assert {k.pod for k in out.block.keys} == {"cart-3", "cart-2"}
    assert out.dropped == 2 * len(Signal)


def test_rows_keep_their_values_and_order() -> None:
    keys = entity("a") + entity("b", Scope.POD, pod="b-1")
    b = block(keys)
    b.values[:] = np.arange(len(keys))[:, None]
    n = len(Signal) + 1
    out = cap_series(b, n)
    assert out.block.keys == keys[:n]
    np.testing.assert_array_equal(out.block.values[:, 0], np.arange(n))
    np.testing.assert_array_equal(out.block.timestamps, TS)


def test_missing_rate_counts_as_no_traffic() -> None:
    quiet = SeriesKey("a", "ns", Signal.RATE, Scope.POD, pod="quiet")
    busy = SeriesKey("a", "ns", Signal.RATE, Scope.POD, pod="busy")
    b = block([quiet, busy], {busy: 5.0})
    b.values[0] = np.nan
    assert cap_series(b, 1).block.keys == [busy]


def test_zero_and_negative_caps() -> None:
    assert len(cap_series(block(entity("a")), 0).block) == 0
    assert cap_series(block([]), 0).dropped == 0
    with pytest.raises(ValueError, match="max_series"):
        cap_series(block(entity("a")), -1)


def test_cardinality_explosion_is_capped_quickly_and_services_survive() -> None:
    """A crash-looping deployment mints 20,000 pod names; every service must still be watched."""
    services = [k for i in range(50) for k in entity(f"svc-{i}")]
    rng = np.random.default_rng(0)
    pods = [SeriesKey(f"svc-{i % 50}", "ns", Signal.RATE, Scope.POD, pod=f"p-{i}") for i in range(20_000)]
    keys = services + pods
    b = SeriesBlock(keys, TS, rng.uniform(0, 100, size=(len(keys), len(TS))))
    started = time.perf_counter()
    out = cap_series(b, 1000)
    assert time.perf_counter() - started < 5.0
    assert len(out.block) == 1000 and out.dropped == len(keys) - 1000
    assert set(services) <= set(out.block.keys)
    kept = set(out.block.keys)
    means = b.values.mean(axis=1)
    is_pod = np.array([k.scope is Scope.POD for k in keys])
    is_kept = np.array([k in kept for k in keys])
    assert means[is_pod & ~is_kept].max() <= means[is_pod & is_kept].min()


def test_tracked_entities_keep_their_slots_so_the_kept_set_is_stable() -> None:
    """Near-equal pods must not swap places cycle after cycle (each swap is new detector state)."""
    pods = [entity("a", Scope.POD, pod=f"p{i}") for i in range(4)]
    service = entity("a")
    keys = service + [k for p in pods for k in p]
    busier_newcomers = {k: 9.0 for p in pods[2:] for k in p}
    out = cap_series(block(keys, busier_newcomers), 15, tracked=set(pods[0] + pods[1]))
    assert {k.pod for k in out.block.keys} == {"", "p0", "p1"}
    out = cap_series(
        block(service + [k for p in pods[1:] for k in p], busier_newcomers),
        15,
        tracked=set(pods[0] + pods[1]),
    )
    assert {k.pod for k in out.block.keys} == {"", "p1", "p2"}  # p0 vanished: a newcomer takes its slot
    out = cap_series(block(keys, busier_newcomers), 5, tracked=set(pods[0]))
    assert {k.scope for k in out.block.keys} == {Scope.SERVICE}  # the service itself still comes first
