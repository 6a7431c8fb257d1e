"""Rendezvous (highest-random-weight) hashing of services over the live shards. Pure.

Every shard computes ownership on its own from the same two inputs, the service identity and
the live shard set, so no coordinator is needed. Rendezvous hashing moves only the services of
a shard that leaves (or the ~1/N a new shard wins) when the set changes, which keeps detector
state where it is for everyone else. A BLAKE2 hash, not Python's ``hash()``: ownership
must agree across processes and restarts, and ``PYTHONHASHSEED`` differs between them.

>>> owner("shop/cart", ["a", "b", "c"]) == owner("shop/cart", ["c", "b", "a"])
True
>>> owner("shop/cart", [])
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


def identity(namespace: str, service: str) -> str:
    """The unit of ownership: every series (service, version, pod, edge scope) of one service.

    >>> identity("shop", "cartservice")
    'shop/cartservice'
    """
    return f"{namespace}/{service}"


def weight(shard_id: str, service_identity: str) -> int:
    """The shard's 64-bit score for a service; the highest score owns it."""
    # NUL cannot occur in either part, so distinct (shard, service) pairs never hash the same bytes
    data = f"{shard_id}\0{service_identity}".encode()
    digest = hashlib.blake2b(data, digest_size=8, person=b"meshpulse-hrw").digest()
    return int.from_bytes(digest, "big")


def owner(service_identity: str, shards: Sequence[str]) -> str | None:
    """The live shard that owns ``service_identity``; None when no shard is live."""
    if not shards:
        return None
    # the id breaks (astronomically unlikely) ties, so every process picks the same shard
    return max(shards, key=lambda s: (weight(s, service_identity), s))


def assign(identities: Iterable[str], shards: Sequence[str]) -> dict[str, str | None]:
    """Owner of each identity.

    >>> sorted(set(assign(["a/x", "a/y", "b/z"], ["s0"]).values()))
    ['s0']
    """
    return {i: owner(i, shards) for i in identities}
