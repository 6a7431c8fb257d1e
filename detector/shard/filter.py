"""A :class:`MetricSource` that keeps only the series of services this shard owns.

Wrapping the source is the whole integration: the pipeline runs unchanged, and since the
pipeline calls ``fetch`` exactly once a cycle, renewing the lease there is "renew each cycle".
A lease that cannot be renewed fails the cycle as a :class:`ScrapeError` (nothing is scored,
``last_end`` stays put): a shard that does not know who is alive must not claim anything.

Queries are shard-aware when the inner source can scope them (a
:class:`~detector.scrape.source.ServiceScopedSource`, as :class:`PrometheusSource` is): the shard
lists the watched services (one cheap ``group by`` query), keeps those it owns and fetches only
them, naming them in the PromQL matchers, so its query cost follows its share of the mesh. A shard
that owns everything (it is alone) runs the plain queries. Any other source is fetched whole and
filtered afterwards.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from detector.scrape.source import MetricSource, ScrapeError, ServiceScopedSource
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
        if isinstance(self.inner, ServiceScopedSource):
            listed = {identity(ns, name): (ns, name) for ns, name in self.inner.services(start, end, step)}
            mine = [pair for i, pair in listed.items() if membership.owns(i)]
            if len(mine) < len(listed):
                block = self.inner.fetch_services(start, end, step, mine)
            else:  # alone: the unscoped queries are the same data, in fewer and shorter queries
                block = self.inner.fetch(start, end, step)
        else:
            listed, block = {}, self.inner.fetch(start, end, step)
        services = set(listed) | {identity(k.namespace, k.service) for k in block.keys}
        owned = tuple(sorted(s for s in services if membership.owns(s)))
        with self._lock:
            self._ownership = Ownership(membership, owned, len(services))
        return keep_services(block, set(owned))


def keep_services(block: SeriesBlock, identities: set[str]) -> SeriesBlock:
    """The rows of ``block`` whose ``namespace/service`` is in ``identities``, grid unchanged."""
    rows = [i for i, k in enumerate(block.keys) if identity(k.namespace, k.service) in identities]
    return block.rows(rows)
