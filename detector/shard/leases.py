"""Shard liveness as leases in the shared state store.

Each shard renews its own row (``shard_id → expires_at``) once a cycle and, in the same
transaction, reads everyone else's. A shard whose lease has been expired for more than
``grace_periods`` lease periods (one by default) is dead; the live set is everyone else, and
rendezvous hashing over it hands the dead shard's services to the survivors.

Takeover: a shard killed right after renewing is dead ``lease_s × (1 + grace_periods)`` =
two lease periods later, and each survivor sees it at its next renewal, at most one cycle
after that. So its services are watched again within two lease periods and a cycle.

Why one period of grace is still safe: a live shard renews at the start of every cycle, and the
scheduler starts a cycle every ``scrape_interval_s`` (a cycle that overruns delays the next one to
the following tick). So two renewals are at most the longest cycle plus one interval apart. The
settings refuse ``scrape_interval_s >= lease_s`` for a shard, and the longest cycle must stay
under ``lease_s`` too (below), so that gap is under two lease periods: a working shard is never
declared dead and its services are never watched twice. What the grace buys is that one slow
cycle (a slow Prometheus, a busy store, a GC pause) or a clock a little off does not hand
services over while their owner is still working; without it, the first renewal later than one
lease period would.

Rules for operators: ``lease_s`` must exceed the longest cycle (query timeouts included), and
shard clocks must agree to well within ``lease_s``.

Implemented on the store's ``transaction()`` (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory
transaction lock), so renew-and-read is atomic for every process sharing the store. The
``shard_leases`` table is a store migration (:mod:`detector.store.migrations`), there on open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from detector.shard.ownership import owner

GRACE_PERIODS = 1.0
"""Lease periods a lease may stay expired before its shard is dead: takeover within two periods."""
FORGET_AFTER_S = 86_400.0
"""Rows of shards dead this long are deleted, so renamed replicas do not pile up forever."""


class TransactionalStore(Protocol):
    """What leases need of a store: :class:`StateStore` (SQLite) and :class:`PostgresStore` both fit."""

    def transaction(self) -> AbstractContextManager[Any]: ...


class LeaseError(RuntimeError):
    """The lease could not be renewed; without it this shard must not claim any service."""


@dataclass(frozen=True)
class Membership:
    """One shard's view of the cluster right after renewing its lease."""

    shard_id: str
    live: tuple[str, ...]
    dead: tuple[str, ...]
    renewed_at: float
    expires_at: float

    def owns(self, service_identity: str) -> bool:
        return owner(service_identity, self.live) == self.shard_id


def live_and_dead(
    rows: list[tuple[str, float]], now: float, lease_s: float, grace_periods: float
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split ``(shard_id, expires_at)`` rows; dead means expired for more than the grace.

    >>> live_and_dead([("a", 115.0), ("b", 101.0), ("c", 99.0)], now=110.0, lease_s=10.0, grace_periods=1)
    (('a', 'b'), ('c',))
    """
    cutoff = now - grace_periods * lease_s
    live = tuple(sorted(s for s, expires in rows if expires >= cutoff))
    dead = tuple(sorted(s for s, expires in rows if expires < cutoff))
    return live, dead


class Leases:
    """This shard's lease; :meth:`renew` once a cycle, then ask the returned membership."""

    def __init__(
        self,
        store: TransactionalStore,
        shard_id: str,
        lease_s: float,
        *,
        grace_periods: float = GRACE_PERIODS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not shard_id:
            raise ValueError("a shard needs a non-empty shard_id (the pod name in a StatefulSet)")
        if lease_s <= 0:
            raise ValueError(f"lease_s must be > 0, got {lease_s!r}")
        if grace_periods < 0:
            raise ValueError(f"grace_periods must be >= 0, got {grace_periods!r}")
        self.store, self.shard_id, self.lease_s = store, shard_id, lease_s
        self.grace_periods, self.clock = grace_periods, clock

    def renew(self) -> Membership:
        """Extend this shard's lease and read the live set, atomically."""
        now = self.clock()
        try:
            with self.store.transaction() as db:
                db.execute(
                    "INSERT INTO shard_leases (shard_id, expires_at, renewed_at) VALUES (?, ?, ?)"
                    " ON CONFLICT(shard_id) DO UPDATE SET"
                    " expires_at=excluded.expires_at, renewed_at=excluded.renewed_at",
                    (self.shard_id, now + self.lease_s, now),
                )
                db.execute("DELETE FROM shard_leases WHERE expires_at < ?", (now - FORGET_AFTER_S,))
                found = db.execute("SELECT shard_id, expires_at FROM shard_leases").fetchall()
                rows = [(str(r["shard_id"]), float(r["expires_at"])) for r in found]
        except Exception as exc:  # any store's error: a shard that cannot renew must claim nothing
            raise LeaseError(f"cannot renew the lease of shard {self.shard_id!r}: {exc}") from exc
        live, dead = live_and_dead(rows, now, self.lease_s, self.grace_periods)
        return Membership(self.shard_id, live, dead, now, now + self.lease_s)

    def release(self) -> None:
        """Give the lease up on a clean shutdown, so the others take over now instead of after the grace."""
        with self.store.transaction() as db:
            db.execute("DELETE FROM shard_leases WHERE shard_id = ?", (self.shard_id,))
