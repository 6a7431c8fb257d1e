"""What decide remembers between cycles, as JSON-able dataclasses.

The pipeline persists :meth:`DecideState.to_dict` with the rest of its state. What we
last *wrote* to a route is learnt from the act stage (:meth:`DecideState.with_writes`),
because only a successful apply — maybe approved by a person minutes later — makes a
weight ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class RouteState:
    """Per route (``namespace/service``) traffic-decision memory.

    ``bad``/``good``: consecutive decisions each subset was judged bad / recovered.
    ``baseline``: the weights before our first shift, which a restore returns to.
    ``shifted_from``: subsets we moved weight away from. ``last_change_at``: last time we
    proposed a change (cooldown). ``written``/``written_at``: the weights of our last
    successful write. ``hold_until``: hands off after a person edited the weights.
    """

    bad: dict[str, int] = field(default_factory=dict)
    good: dict[str, int] = field(default_factory=dict)
    baseline: dict[str, int] | None = None
    shifted_from: tuple[str, ...] = ()
    rolling_back: bool = False
    last_change_at: float | None = None
    last_halt_at: float | None = None
    written: dict[str, int] | None = None
    written_at: float | None = None
    hold_until: float = 0.0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RouteState:
        return cls(**{**d, "shifted_from": tuple(d.get("shifted_from", ()))})


@dataclass(frozen=True)
class DecideState:
    """
    >>> s = DecideState({"ns/a": RouteState(bad={"v2": 2})}, {"ns/a": 5.0})
    >>> DecideState.from_dict(s.to_dict()) == s
    True
    """

    routes: dict[str, RouteState] = field(default_factory=dict)
    circuit_at: dict[str, float] = field(default_factory=dict)

    def route(self, name: str) -> RouteState:
        return self.routes.get(name, RouteState())

    def with_route(self, name: str, rs: RouteState) -> DecideState:
        return replace(self, routes={**self.routes, name: rs})

    def with_writes(self, writes: Mapping[str, tuple[Mapping[str, int], float]]) -> DecideState:
        """Adopt writes the act stage made since we last looked: ``{route: (weights, applied_at)}``.

        Only newer writes are adopted, so a write we already saw overridden by a person
        is not taken as ours again.
        """
        out = self
        for route, (weights, at) in writes.items():
            rs = out.route(route)
            if rs.written_at is None or at > rs.written_at:
                out = out.with_route(route, replace(rs, written=dict(weights), written_at=at))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"routes": {k: asdict(v) for k, v in self.routes.items()}, "circuit_at": dict(self.circuit_at)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> DecideState:
        if not d:
            return cls()
        return cls(
            {k: RouteState.from_dict(v) for k, v in d.get("routes", {}).items()},
            dict(d.get("circuit_at", {})),
        )
