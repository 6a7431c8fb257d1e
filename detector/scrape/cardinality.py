"""A ceiling on how many series one cycle scores, keeping the ones that matter.

A deployment that stamps a fresh pod name on every restart, or a caller fanning out
to thousands of workloads, can multiply the series count without warning. Scoring
and storing all of them would slow every cycle and grow detector state without
bound, so the pipeline caps the block first and says how much it dropped
(``meshpulse_series_dropped``) rather than falling behind silently.

What to keep: a whole service before any of its breakdowns (service, then version,
then edge, then pod, by default), and within one scope the busiest entities first,
since a quiet pod's anomaly pages nobody. All signals of one entity (its rate, 5xx
ratio and latencies) are ranked together so an entity is kept whole or not at all,
except the one entity straddling the limit.

Within one scope, entities already being tracked (``tracked``, e.g. the detection
bank) come before newcomers: otherwise near-equal pods swap places from cycle to
cycle, every one of them ends up with detector state, and the cap no longer bounds
memory. A vanished pod leaves the block, so its slot goes to a newcomer.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass

import numpy as np

from detector.series import Scope, SeriesBlock, SeriesKey, Signal

DEFAULT_PRIORITY: tuple[Scope, ...] = (Scope.SERVICE, Scope.VERSION, Scope.EDGE, Scope.POD)

Entity = tuple[str, str, Scope, str, str, str]
"""A series key without its signal: one service, subset, edge or pod."""


@dataclass(frozen=True)
class Capped:
    """The block that fits, and how many series of the input did not."""

    block: SeriesBlock
    dropped: int


def cap_series(
    block: SeriesBlock,
    max_series: int,
    priority: Sequence[Scope] = DEFAULT_PRIORITY,
    tracked: Container[SeriesKey] = (),
) -> Capped:
    """Keep at most ``max_series`` series of ``block``, the most important first.

    Kept rows stay in their original order, so the output is a sub-block of the input.

    >>> import numpy as np
    >>> keys = [SeriesKey("a", "ns", Signal.RATE, Scope.POD, pod=p) for p in ("p1", "p2")]
    >>> keys.append(SeriesKey("a", "ns", Signal.RATE))
    >>> out = cap_series(SeriesBlock(keys, [0.0], [[1.0], [9.0], [0.5]]), 2)
    >>> [k.id for k in out.block.keys], out.dropped
    (['ns/a/rate/pod=p2', 'ns/a/rate'], 1)
    """
    if max_series < 0:
        raise ValueError(f"max_series must be >= 0, got {max_series}")
    if len(block) <= max_series:
        return Capped(block, 0)
    order = _ranked_rows(block, list(priority), tracked)
    keep = np.sort(np.asarray(order[:max_series], dtype=np.int64))
    kept = block.rows(keep)
    return Capped(kept, len(block) - len(keep))


def _entity(key: SeriesKey) -> Entity:
    return (key.namespace, key.service, key.scope, key.version, key.pod, key.source)


def _ranked_rows(block: SeriesBlock, priority: list[Scope], tracked: Container[SeriesKey]) -> list[int]:
    """Row indices, most important first: scope rank, tracked before new, traffic (descending), name."""
    traffic = _traffic(block)
    rows: dict[Entity, list[int]] = {}
    known: set[Entity] = set()
    for i, key in enumerate(block.keys):
        rows.setdefault(_entity(key), []).append(i)
        if key in tracked:
            known.add(_entity(key))
    signal_rank = {s: n for n, s in enumerate(Signal)}

    def rank(entity: Entity) -> tuple[int, bool, float, Entity]:
        scope = entity[2]
        scope_rank = priority.index(scope) if scope in priority else len(priority)
        return scope_rank, entity not in known, -traffic.get(entity, 0.0), entity

    order: list[int] = []
    for entity in sorted(rows, key=rank):
        order += sorted(rows[entity], key=lambda i: signal_rank[block.keys[i].signal])
    return order


def _traffic(block: SeriesBlock) -> dict[Entity, float]:
    """Mean request rate of each entity over the block; entities with no rate data count as 0."""
    out: dict[Entity, float] = {}
    for i, key in enumerate(block.keys):
        if key.signal is Signal.RATE:
            row = block.values[i]
            finite = row[np.isfinite(row)]
            out[_entity(key)] = float(finite.mean()) if len(finite) else 0.0
    return out
