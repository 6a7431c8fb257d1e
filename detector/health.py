"""One word per service for people: healthy, degraded, failing, or no data.

No data is never healthy: if the last cycle failed or the service's traffic
series has gone quiet, the answer is ``no_data``, whatever the detectors said
before.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from detector.series import Scope, SeriesKey, Signal


class Health(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"
    NO_DATA = "no_data"


def service_health(
    *,
    last_data_at: float | None,
    now: float,
    stale_after_s: float,
    source_ok: bool,
    active: Iterable[tuple[SeriesKey, str]],
) -> Health:
    """Classify one service from its freshness and its open events ``(series, severity)``.

    A critical event on the service as a whole means failing; any other open event
    (a warning, or one pod / subset / edge misbehaving) means degraded.

    >>> k = SeriesKey("cart", "default", Signal.P99)
    >>> service_health(last_data_at=100, now=110, stale_after_s=60, source_ok=True, active=[(k, "critical")])
    <Health.FAILING: 'failing'>
    >>> service_health(last_data_at=100, now=110, stale_after_s=60, source_ok=False, active=[])
    <Health.NO_DATA: 'no_data'>
    """
    if not source_ok or last_data_at is None or now - last_data_at > stale_after_s:
        return Health.NO_DATA
    state = Health.HEALTHY
    for key, severity in active:
        if key.scope is Scope.SERVICE and severity == "critical":
            return Health.FAILING
        state = Health.DEGRADED
    return state


def traffic_key(service: str, namespace: str) -> SeriesKey:
    """The series whose freshness says whether a service reports at all."""
    return SeriesKey(service, namespace, Signal.RATE)
