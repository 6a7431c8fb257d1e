"""The act stage's interfaces: an applier writes a recommendation somewhere, a reader reads live weights.

Each external system (Kubernetes, an HTTP hook, a GitOps directory) is one small class
behind these protocols, built by :func:`make_applier` from a config string; ``"none"`` is
the do-nothing implementation, so the rest of the flow never checks for ``None``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from detector.decide.records import Recommendation

log = logging.getLogger(__name__)

Outcome = Literal["applied", "dry-run", "conflict", "manual-edit", "failed", "skipped"]


@dataclass(frozen=True)
class ApplyResult:
    """What happened; ``ref`` names what was written (object, file, URL) for the audit log."""

    outcome: Outcome
    detail: str = ""
    ref: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in ("applied", "dry-run", "skipped")


class Applier(Protocol):
    name: str

    def apply(self, rec: Recommendation, *, dry_run: bool = False) -> ApplyResult:
        """Write ``rec``; for traffic kinds refuse (``manual-edit``) unless the live weights
        still equal ``rec.weights_before``. ``dry_run``: validate without persisting."""
        ...


class WeightReader(Protocol):
    def read_weights(self, namespace: str, service: str) -> dict[str, int] | None:
        """Live route weights per subset, ``None`` when unknown (then no traffic decision is made)."""
        ...


class NullApplier:
    """Does nothing and knows no weights: the default until a target is configured."""

    name = "none"

    def apply(self, rec: Recommendation, *, dry_run: bool = False) -> ApplyResult:
        return ApplyResult("skipped", "no applier configured")

    def read_weights(self, namespace: str, service: str) -> dict[str, int] | None:
        return None


def make_applier(kind: str, **options: Any) -> Applier:
    """``"none"`` | ``"http"`` | ``"kubernetes"`` | ``"gitops"``; options go to the constructor.

    Imports are lazy so the ``kubernetes`` package is needed only when used.

    >>> make_applier("none").name
    'none'
    """
    factories: dict[str, Callable[..., Applier]] = {"none": NullApplier}
    if kind == "http":
        from detector.act.http_hook import HttpHook

        factories["http"] = HttpHook
    elif kind == "kubernetes":
        from detector.act.k8s import KubernetesApplier

        factories["kubernetes"] = KubernetesApplier
    elif kind == "gitops":
        from detector.act.gitops import GitOpsWriter

        factories["gitops"] = GitOpsWriter
    if kind not in factories:
        raise ValueError(f"unknown applier {kind!r}; use one of none, http, kubernetes, gitops")
    return factories[kind](**options)


def read_all(reader: Any, routes: list[str]) -> dict[str, dict[str, int]]:
    """Live weights for ``"ns/service"`` routes the reader knows; appliers without a reader know none.

    A read that fails (the Kubernetes API down or erroring) leaves the weights unknown,
    which halts traffic decisions: no data is not a reason to move traffic, and an
    unreachable API must not fail the cycle (detection and alerts go on). The first
    failure ends the reading for this cycle, so a hung API costs one request's timeout
    and retries per cycle, not one per route.
    """
    if not hasattr(reader, "read_weights"):
        return {}
    out = {}
    for n, route in enumerate(routes):
        ns, _, service = route.partition("/")
        try:
            weights = reader.read_weights(ns, service)
        except Exception as exc:  # any client error: unknown this cycle, like every route after it
            log.warning(
                "live weights unreadable (%s: %s); no traffic decision this cycle for %d route(s)",
                type(exc).__name__,
                str(exc)[:200],
                len(routes) - n,
            )
            break
        if weights is not None:
            out[route] = weights
    return out
