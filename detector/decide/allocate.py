"""Integer weight arithmetic: bounded moves that keep the total at exactly 100.

Every traffic decision ends here, so the invariants live in one place: integer weights,
the same total before and after, no subset pushed below its floor (unless it already
was), at most ``step`` points moved per decision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def apportion(
    total: int, shares: Mapping[str, float], caps: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Split ``total`` integer points by ``shares`` (largest remainder), never above ``caps``.

    Equal split when every share is zero. The caller guarantees ``sum(caps) ≥ total``.

    >>> apportion(10, {"a": 1.0, "b": 1.0, "c": 1.0})
    {'a': 4, 'b': 3, 'c': 3}
    >>> apportion(5, {"a": 3.0, "b": 1.0}, caps={"a": 2, "b": 10})
    {'a': 2, 'b': 3}
    """
    keys = sorted(shares)
    room = {k: (caps[k] if caps is not None else total) for k in keys}
    out = dict.fromkeys(keys, 0)
    left = total
    while left > 0:
        open_keys = [k for k in keys if out[k] < room[k]]
        if not open_keys:
            raise ValueError(f"cannot place {left} more points under caps {room}")
        w = {k: max(shares[k], 0.0) for k in open_keys}
        if sum(w.values()) <= 0:
            w = dict.fromkeys(open_keys, 1.0)
        ideal = {k: left * w[k] / sum(w.values()) for k in open_keys}
        give = {k: min(math.floor(ideal[k]), room[k] - out[k]) for k in open_keys}
        rest = left - sum(give.values())
        for k in sorted(open_keys, key=lambda k: (-(ideal[k] - math.floor(ideal[k])), k)):
            if rest > 0 and out[k] + give[k] < room[k]:
                give[k] += 1
                rest -= 1
        for k in open_keys:
            out[k] += give[k]
        left -= sum(give.values())
    return out


def shift(
    weights: Mapping[str, int], away: str, to: list[str], step: int, floors: Mapping[str, int]
) -> dict[str, int]:
    """Move up to ``step`` points from ``away`` to ``to``, in proportion to their weights.

    >>> shift({"v1": 50, "v2": 50}, "v2", ["v1"], 20, {"v1": 0, "v2": 10})
    {'v1': 70, 'v2': 30}
    >>> shift({"v1": 85, "v2": 15}, "v2", ["v1"], 20, {"v1": 0, "v2": 10})
    {'v1': 90, 'v2': 10}
    """
    amount = max(0, min(step, weights[away] - floors.get(away, 0)))
    out = dict(weights)
    if amount == 0 or not to:
        return out
    out[away] -= amount
    for k, v in apportion(amount, {k: float(weights[k]) for k in to}).items():
        out[k] += v
    return out


def toward(
    weights: Mapping[str, int], target: Mapping[str, int], step: int, floors: Mapping[str, int]
) -> dict[str, int]:
    """Move at most ``step`` points from ``weights`` toward ``target`` (same keys, same total).

    A subset above its target gives points, but never drops below its floor if it was
    at or above it; a subset below its target takes them.

    >>> toward({"v1": 90, "v2": 10}, {"v1": 50, "v2": 50}, 20, {})
    {'v1': 70, 'v2': 30}
    >>> toward({"v1": 60, "v2": 40}, {"v1": 50, "v2": 50}, 20, {})
    {'v1': 50, 'v2': 50}
    """
    give = {k: max(0, weights[k] - max(target[k], min(floors.get(k, 0), weights[k]))) for k in weights}
    need = {k: max(0, target[k] - weights[k]) for k in weights}
    amount = min(step, sum(give.values()), sum(need.values()))
    out = dict(weights)
    if amount <= 0:
        return out
    for k, v in apportion(amount, {k: float(g) for k, g in give.items() if g}, give).items():
        out[k] -= v
    for k, v in apportion(amount, {k: float(n) for k, n in need.items() if n}, need).items():
        out[k] += v
    return out
