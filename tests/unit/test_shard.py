"""Ownership (rendezvous hashing), leases with a fake clock, and the owned-source filter."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from detector.scrape.source import ScrapeError
from detector.series import Scope, SeriesBlock, SeriesKey, Signal
from detector.shard.filter import OwnedSource, keep_services
from detector.shard.leases import LeaseError, Leases
from detector.shard.ownership import assign, identity, owner
from detector.store.base import Store
from detector.store.sqlite import StateStore

SERVICES = [identity(f"ns{i % 7}", f"svc-{i}") for i in range(1000)]


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FixedSource:
    def __init__(self, block: SeriesBlock) -> None:
        self.block = block

    def fetch(self, start: float, end: float, step: float) -> SeriesBlock:
        return self.block


def shards(n: int) -> list[str]:
    return [f"meshpulse-{i}" for i in range(n)]


# ownership ------------------------------------------------------------------------------------
def test_balance_within_20_percent_for_1000_services_over_4_shards() -> None:
    counts = Counter(assign(SERVICES, shards(4)).values())
    assert set(counts) == set(shards(4))
    assert all(abs(c - 250) <= 50 for c in counts.values()), counts


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_adding_a_shard_moves_only_what_the_new_shard_wins(n: int) -> None:
    before, after = assign(SERVICES, shards(n)), assign(SERVICES, shards(n + 1))
    moved = [s for s in SERVICES if before[s] != after[s]]
    assert all(after[s] == f"meshpulse-{n}" for s in moved)
    assert abs(len(moved) - len(SERVICES) / (n + 1)) <= 0.2 * len(SERVICES) / (n + 1) + 10


def test_removing_a_shard_moves_only_its_services() -> None:
    before = assign(SERVICES, shards(4))
    survivors = [s for s in shards(4) if s != "meshpulse-2"]
    after = assign(SERVICES, survivors)
    moved = {s for s in SERVICES if before[s] != after[s]}
    assert moved == {s for s in SERVICES if before[s] == "meshpulse-2"}


def test_owner_ignores_order_and_is_none_without_shards() -> None:
    assert owner("a/b", ["x", "y", "z"]) == owner("a/b", ["z", "x", "y"])
    assert owner("a/b", []) is None


# leases ---------------------------------------------------------------------------------------
def test_a_silent_shard_is_dead_two_periods_after_its_last_renewal_then_taken_over(store: Store) -> None:
    clock = Clock()
    a, b, c = (Leases(store, s, lease_s=10.0, clock=clock) for s in ("a", "b", "c"))
    for lease in (a, b, c):
        lease.renew()
    before = {s: owner(s, ["a", "b", "c"]) for s in SERVICES[:300]}
    # c stops renewing at t=1000 (expires 1010); a and b keep going every 5 s
    for t in np.arange(1005.0, 1021.0, 5.0):
        clock.now = float(t)
        view_a, view_b = a.renew(), b.renew()
        assert view_a.live == view_b.live == ("a", "b", "c")
    clock.now = 1020.5  # 20.5 s after c's last renewal: expired for more than one more period
    view_a, view_b = a.renew(), b.renew()
    assert view_a.live == ("a", "b") and view_a.dead == ("c",)
    for s, was in before.items():
        owners = [v.shard_id for v in (view_a, view_b) if v.owns(s)]
        assert len(owners) == 1, s
        if was != "c":
            assert owners == [was], "a surviving shard's service moved"


def test_a_renewal_up_to_a_period_late_keeps_the_shard_alive(store: Store) -> None:
    """One cycle that overruns by (almost) a whole lease period must not hand its services over."""
    clock = Clock()
    a, b = Leases(store, "a", 10.0, clock=clock), Leases(store, "b", 10.0, clock=clock)
    a.renew(), b.renew()
    clock.now = 1019.9  # b's next renewal is 19.9 s late: expired 9.9 s ago, within the grace
    assert a.renew().live == ("a", "b")
    assert b.renew().live == ("a", "b")
    clock.now = 1039.0  # renewed in time again: never seen dead
    assert a.renew().live == ("a", "b")


def test_no_grace_declares_a_late_renewal_dead(store: Store) -> None:
    """Why there is a grace: without it, a shard one cycle late is dead while still working."""
    clock = Clock()
    a = Leases(store, "a", 10.0, grace_periods=0, clock=clock)
    b = Leases(store, "b", 10.0, grace_periods=0, clock=clock)
    a.renew(), b.renew()
    clock.now = 1010.5
    assert a.renew().dead == ("b",)


def test_a_returning_shard_gets_its_services_back(store: Store) -> None:
    clock = Clock()
    a, b = Leases(store, "a", 10.0, clock=clock), Leases(store, "b", 10.0, clock=clock)
    a.renew(), b.renew()
    clock.now += 100
    assert a.renew().live == ("a",)
    assert b.renew().live == ("a", "b")
    assert a.renew().live == ("a", "b")


def test_release_hands_over_at_once(store: Store) -> None:
    clock = Clock()
    a, b = Leases(store, "a", 10.0, clock=clock), Leases(store, "b", 10.0, clock=clock)
    a.renew(), b.renew()
    b.release()
    assert a.renew().live == ("a",)


def test_replicas_on_their_own_connections_see_each_others_leases(connect: Callable[[], Store]) -> None:
    """As in production: every shard has its own connection to the shared store."""
    clock = Clock()
    a, b = (Leases(connect(), name, 10.0, clock=clock) for name in "ab")
    a.renew(), b.renew()
    assert a.renew().live == ("a", "b")
    clock.now += 20.5  # b silent: expired 10.5 s ago, more than one more period
    view = a.renew()
    assert view.live == ("a",) and view.dead == ("b",)
    assert all(view.owns(f"shop/svc-{i}") for i in range(50))


def test_leases_refuse_empty_id_and_bad_period(store: Store) -> None:
    with pytest.raises(ValueError, match="shard_id"):
        Leases(store, "", 10.0)
    with pytest.raises(ValueError, match="lease_s"):
        Leases(store, "a", 0.0)
    with pytest.raises(ValueError, match="grace_periods"):
        Leases(store, "a", 10.0, grace_periods=-1)


# filter ---------------------------------------------------------------------------------------
def block_of(services: list[tuple[str, str]]) -> SeriesBlock:
    keys = [
        SeriesKey(svc, ns, signal, Scope.SERVICE)
        for ns, svc in services
        for signal in (Signal.RATE, Signal.P99)
    ]
    ts = np.array([0.0, 15.0, 30.0])
    return SeriesBlock(keys, ts, np.arange(len(keys) * 3, dtype=float).reshape(len(keys), 3))


def test_keep_services_keeps_rows_and_grid() -> None:
    block = block_of([("shop", "a"), ("shop", "b")])
    kept = keep_services(block, {"shop/b"})
    assert {k.service for k in kept.keys} == {"b"}
    assert kept.values.tolist() == block.values[2:].tolist()
    assert kept.timestamps.tolist() == block.timestamps.tolist()
    assert len(keep_services(block, set())) == 0


def test_two_owned_sources_split_a_block_exactly(tmp_path: Path) -> None:
    store, clock = StateStore(tmp_path / "state.sqlite"), Clock()
    names = [("shop", f"svc-{i}") for i in range(40)]
    block = block_of(names)
    sources = [OwnedSource(FixedSource(block), Leases(store, s, 10.0, clock=clock)) for s in ("a", "b")]
    for source in sources:  # both leases exist before either splits
        source.leases.renew()
    parts = [source.fetch(0, 30, 15) for source in sources]
    assert sorted(k.id for p in parts for k in p.keys) == sorted(k.id for k in block.keys)
    owned = [set(s.ownership.owned) for s in sources]
    assert owned[0].isdisjoint(owned[1]) and len(owned[0] | owned[1]) == 40
    assert all(s.ownership.seen == 40 for s in sources)
    assert all(np.isfinite(p.values).all() for p in parts)


def test_a_failed_renewal_fails_the_cycle(tmp_path: Path) -> None:
    class Broken(Leases):
        def renew(self):  # type: ignore[no-untyped-def]
            raise LeaseError("store is locked")

    store = StateStore(tmp_path / "state.sqlite")
    source = OwnedSource(FixedSource(block_of([("shop", "a")])), Broken(store, "a", 10.0))
    with pytest.raises(ScrapeError, match="locked"):
        source.fetch(0, 30, 15)


class ScopedSource:
    """A :class:`ServiceScopedSource` over a fixed block that records what it was asked."""

    def __init__(self, block: SeriesBlock) -> None:
        self.block = block
        self.calls: list[tuple[str, int]] = []

    def fetch(self, start: float, end: float, step: float) -> SeriesBlock:
        self.calls.append(("fetch", len(self.services(start, end, step))))
        return self.block

    def services(self, start: float, end: float, step: float) -> list[tuple[str, str]]:
        return sorted({(k.namespace, k.service) for k in self.block.keys})

    def fetch_services(
        self, start: float, end: float, step: float, identities: list[tuple[str, str]]
    ) -> SeriesBlock:
        self.calls.append(("fetch_services", len(identities)))
        wanted = {identity(ns, s) for ns, s in identities}
        return keep_services(self.block, wanted)


def test_scoped_sources_fetch_only_what_each_shard_owns(tmp_path: Path) -> None:
    store, clock = StateStore(tmp_path / "state.sqlite"), Clock()
    block = block_of([(f"ns{i % 3}", f"svc-{i}") for i in range(60)])
    inner = [ScopedSource(block) for _ in range(3)]
    sources = [
        OwnedSource(src, Leases(store, s, 10.0, clock=clock)) for src, s in zip(inner, "abc", strict=True)
    ]
    for source in sources:
        source.leases.renew()
    parts = [source.fetch(0, 30, 15) for source in sources]
    assert sorted(k.id for p in parts for k in p.keys) == sorted(k.id for k in block.keys)
    for src, source in zip(inner, sources, strict=True):
        # asked for exactly its own services, never the whole mesh
        assert src.calls == [("fetch_services", len(source.ownership.owned))]
        assert 0 < len(source.ownership.owned) < 60 and source.ownership.seen == 60


def test_a_lone_shard_runs_the_plain_queries(tmp_path: Path) -> None:
    inner = ScopedSource(block_of([("shop", f"svc-{i}") for i in range(10)]))
    source = OwnedSource(inner, Leases(StateStore(tmp_path / "s.sqlite"), "a", 10.0, clock=Clock()))
    assert len(source.fetch(0, 30, 15)) == 20
    assert inner.calls == [("fetch", 10)] and len(source.ownership.owned) == 10
