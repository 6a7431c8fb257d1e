"""Alertmanager webhooks MeshPulse received, with the correlation it answered, in their own table.

Kept beside ``decisions.py`` rather than in ``base.py`` so the feature owns its queries (its
table is migration 3 in :mod:`detector.store.migrations`). Each webhook is one row written in
one transaction: the payload exactly as validated and the result returned, so "what did
MeshPulse say when the page went off" can be read back later
(``GET /api/v1/alertmanager/webhooks``).
"""

from __future__ import annotations

import json
from typing import Any

from detector.store.base import Store

KEEP = 10_000


class WebhookStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, payload: dict[str, Any], result: dict[str, Any], now: float) -> int:
        """Store one webhook and its result; returns its id. Old rows beyond :data:`KEEP` go."""
        with self.store.transaction() as db:
            cur = db.execute(
                "INSERT INTO alertmanager_webhooks"
                " (received_at, receiver, status, group_key, payload, result) VALUES (?, ?, ?, ?, ?, ?)"
                " RETURNING id",
                (
                    now,
                    payload.get("receiver", ""),
                    payload.get("status", ""),
                    payload.get("groupKey", ""),
                    json.dumps(payload),
                    json.dumps(result),
                ),
            )
            new_id = int(cur.fetchone()["id"])
            db.execute(
                "DELETE FROM alertmanager_webhooks"
                f" WHERE id <= (SELECT MAX(id) - {KEEP} FROM alertmanager_webhooks)"
            )
            return new_id

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first."""
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT * FROM alertmanager_webhooks ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [
            {
                "id": r["id"],
                "received_at": r["received_at"],
                "receiver": r["receiver"],
                "status": r["status"],
                "group_key": r["group_key"],
                "payload": json.loads(r["payload"]),
                "result": json.loads(r["result"]),
            }
            for r in rows
        ]
