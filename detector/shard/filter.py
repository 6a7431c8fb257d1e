"""A :class:`MetricSource` that keeps only the series of services this shard owns.

Wrapping the source is the whole integration: the pipeline runs unchanged, and since the
pipeline calls ``fetch`` exactly once a cycle, renewing the lease there is "renew each cycle".
A lease that cannot be renewed fails the cycle as a :class:`ScrapeError` (nothing is scored,
``last_end`` stays put): a shard that does not know who is alive must not claim anything.

The filter runs after the query, so every shard still pays for the whole mesh's queries;
pushing the owned services into the PromQL matchers is the next step when queries dominate.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from detector.scrape.source import MetricSource, ScrapeError
from detector.series import SeriesBlock
from detector.shard.leases import LeaseError, Leases, Membership
from detector.shard.ownership import identity


@dataclass(frozen=True)
class Ownership:
    """What ``GET /api/v1/shard`` reports: the membership and the services of the last cycle."""

    membership: Membership | None
    owned: tuple[str, ...] = ()
    seen: int = 0


class OwnedSource:
    """``OwnedSource(PrometheusSource(...), Leases(store, shard_id, lease_s))``."""

    def __init__(self, inner: MetricSource, leases: Leases) -> None:
        self.inner, self.leases = inner, leases
        self._lock = threading.Lock()  # the API reads ``ownership`` while the scheduler writes it
        self._ownership = Ownership(None)

    @property
    def shard_id(self) -> str:
        return self.leases.shard_id

    @property
    def ownership(self) -> Ownership:
        with self._lock:
            return self._ownership

    def fetch(self, start: float, end: float, step: float) -> SeriesBlock:
        try:
            membership = self.leases.renew()
        except LeaseError as exc:
            raise ScrapeError(str(exc)) from exc
        block = self.inner.fetch(start, end, step)
        services = {identity(k.namespace, k.service) for k in block.keys}
        owned = tuple(sorted(s for s in services if membership.owns(s)))
        with self._lock:
            self._ownership = Ownership(membership, owned, len(services))
        return keep_services(block, set(owned))


def keep_services(block: SeriesBlock, identities: set[str]) -> SeriesBlock:
    """The rows of ``block`` whose ``namespace/service`` is in ``identities``, grid unchanged."""
    rows = [i for i, k in enumerate(block.keys) if identity(k.namespace, k.service) in identities]
    return SeriesBlock([block.keys[i] for i in rows], block.timestamps, block.values[rows])
