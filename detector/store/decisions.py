"""Recommendations and the audit log, in their own tables of the state store (SQLite or PostgreSQL).

Kept out of ``base.py`` so the decide/act feature owns its queries (its tables are migration 2
in :mod:`detector.store.migrations`). Every decision (including "would have done" in dry-run)
and every action (approve, reject, apply and its outcome) becomes one append-only audit row:
the log is how a person reconstructs what MeshPulse did to their mesh and why.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from typing import Any

from detector.store.base import Store

TRAFFIC_KINDS = ("traffic-shift", "traffic-restore", "traffic-rollback")


class DecisionStore:
    """Reads and writes of the decide/act tables; every call is its own short transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self.store.transaction() as db:
            return list(db.execute(sql, args).fetchall())

    # writes -----------------------------------------------------------------------------------
    def put(self, rec: Mapping[str, Any], status: str, now: float) -> bool:
        """Insert a recommendation (a :meth:`Recommendation.to_dict`); ``False`` if its id exists."""
        with self.store.transaction() as db:
            cur = db.execute(
                "INSERT INTO recommendations"
                " (id, kind, namespace, service, created_at, status, updated_at, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (
                    rec["id"],
                    rec["kind"],
                    rec["namespace"],
                    rec["service"],
                    rec["created_at"],
                    status,
                    now,
                    json.dumps(rec),
                ),
            )
            return cur.rowcount == 1

    def set_status(self, rec_id: str, status: str, now: float) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE recommendations SET status = ?, updated_at = ? WHERE id = ?", (status, now, rec_id)
            )

    def supersede(self, namespace: str, service: str, kinds: tuple[str, ...], now: float) -> list[str]:
        """Mark older pending recommendations of these kinds for a service as superseded."""
        marks = ",".join("?" * len(kinds))
        where = f"namespace = ? AND service = ? AND status IN ('pending', 'approved') AND kind IN ({marks})"
        with self.store.transaction() as db:
            ids = [
                r["id"]
                for r in db.execute(
                    f"SELECT id FROM recommendations WHERE {where}", (namespace, service, *kinds)
                )
            ]
            db.execute(
                f"UPDATE recommendations SET status = 'superseded', updated_at = ? WHERE {where}",
                (now, namespace, service, *kinds),
            )
        return ids

    def audit(
        self, at: float, rec_id: str | None, action: str, actor: str, outcome: str, detail: str = ""
    ) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO audit_log (at, recommendation_id, action, actor, outcome, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (at, rec_id, action, actor, outcome, detail),
            )
            db.execute("DELETE FROM audit_log WHERE id <= (SELECT MAX(id) - 100000 FROM audit_log)")

    # reads ------------------------------------------------------------------------------------
    def get(self, rec_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM recommendations WHERE id = ?", (rec_id,))
        return _record(rows[0]) if rows else None

    def list(
        self,
        *,
        service: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        since: float | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """Newest first; each is the recommendation plus ``status`` and ``updated_at``."""
        clauses, args = [], []  # type: list[str], list[Any]
        for col, val in (("service", service), ("kind", kind), ("status", status)):
            if val is not None:
                clauses.append(f"{col} = ?")
                args.append(val)
        if since is not None:
            clauses.append("created_at >= ?")
            args.append(since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._rows(
            f"SELECT * FROM recommendations {where} ORDER BY created_at DESC LIMIT ?", (*args, limit)
        )
        return [_record(r) for r in rows]

    def actions(self, rec_id: str | None = None, limit: int = 500) -> builtins.list[dict[str, Any]]:
        where, args = ("WHERE recommendation_id = ?", (rec_id,)) if rec_id else ("", ())
        rows = self._rows(f"SELECT * FROM audit_log {where} ORDER BY id DESC LIMIT ?", (*args, limit))
        return [dict(r) for r in rows]

    def weight_writes(self) -> dict[str, tuple[dict[str, int], float]]:
        """The latest applied traffic change per route: ``{"ns/service": (weights, applied_at)}``."""
        marks = ",".join("?" * len(TRAFFIC_KINDS))
        rows = self._rows(
            f"SELECT namespace, service, updated_at, body FROM recommendations WHERE status = 'applied'"
            f" AND kind IN ({marks}) ORDER BY updated_at",
            TRAFFIC_KINDS,
        )
        return {
            f"{r['namespace']}/{r['service']}": (json.loads(r["body"])["weights_after"], r["updated_at"])
            for r in rows
        }

    def counts(self) -> dict[str, dict[str, int]]:
        """For ``/metrics``: recommendations by kind and status, audit rows by action and outcome."""
        recs = self._rows("SELECT kind, status, COUNT(*) AS n FROM recommendations GROUP BY kind, status")
        acts = self._rows("SELECT action, outcome, COUNT(*) AS n FROM audit_log GROUP BY action, outcome")
        return {
            "recommendations": {f"{r['kind']}/{r['status']}": r["n"] for r in recs},
            "actions": {f"{r['action']}/{r['outcome']}": r["n"] for r in acts},
        }


def _record(row: Any) -> dict[str, Any]:
    return {**json.loads(row["body"]), "status": row["status"], "updated_at": row["updated_at"]}
