"""What happens to a recommendation, by mode, with every step in the audit log.

* ``off``: decide makes none, so nothing reaches here;
* ``dry-run`` (default): stored with status ``dry-run`` and a "would apply" audit row;
* ``approval``: stored ``pending``; a person approves (API), then applies;
* ``auto``: traffic changes are applied at once; circuit-breaker rules still wait for
  approval, because pool limits that are wrong fail every request, not one subset's.

Non-actionable recommendations (pod outliers, manual edits, halts) are stored as ``info``.
Only an ``applied`` outcome makes a weight "ours" (see ``DecisionStore.weight_writes``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from detector.act.base import Applier, ApplyResult
from detector.decide.records import TRAFFIC_KINDS, Mode, Recommendation
from detector.store.decisions import DecisionStore

log = logging.getLogger(__name__)
SYSTEM = "meshpulse"


class NotFound(LookupError):
    pass


class NotAllowed(ValueError):
    """The recommendation is not in a state that allows this action."""


class Actuator:
    def __init__(
        self,
        decisions: DecisionStore,
        applier: Applier,
        mode: Mode = "dry-run",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.decisions = decisions
        self.applier = applier
        self.mode = mode
        self.clock = clock

    def handle(self, recs: list[Recommendation], now: float) -> list[ApplyResult]:
        """Store each new recommendation and act on it per mode; returns the apply results."""
        results = []
        for rec in recs:
            status = self._initial_status(rec)
            if rec.actionable and status in ("pending", "approved"):
                family = tuple(TRAFFIC_KINDS) if rec.kind in TRAFFIC_KINDS else (rec.kind,)
                for old in self.decisions.supersede(rec.namespace, rec.service, family, now):
                    self.decisions.audit(now, old, "supersede", SYSTEM, "superseded", f"by {rec.id}")
            if not self.decisions.put(rec.to_dict(), status, now):
                continue  # already seen (a retried cycle)
            action = {
                "dry-run": "would-apply",
                "info": "record",
                "pending": "propose",
                "approved": "auto-approve",
            }
            self.decisions.audit(now, rec.id, action[status], SYSTEM, status, rec.title)
            if status == "approved":
                results.append(self.apply(rec.id, SYSTEM))
        return results

    def _initial_status(self, rec: Recommendation) -> str:
        if not rec.actionable:
            return "info"
        if self.mode == "auto" and rec.kind in TRAFFIC_KINDS:
            return "approved"
        return "pending" if self.mode in ("approval", "auto") else "dry-run"

    # a person's actions (the API) ---------------------------------------------------------------
    def approve(self, rec_id: str, actor: str) -> dict[str, Any]:
        rec = self._require(rec_id, ("pending",))
        self.decisions.set_status(rec_id, "approved", self.clock())
        self.decisions.audit(self.clock(), rec_id, "approve", actor, "approved")
        return {**rec, "status": "approved"}

    def reject(self, rec_id: str, actor: str, reason: str = "") -> dict[str, Any]:
        rec = self._require(rec_id, ("pending", "approved", "dry-run"))
        self.decisions.set_status(rec_id, "rejected", self.clock())
        self.decisions.audit(self.clock(), rec_id, "reject", actor, "rejected", reason)
        return {**rec, "status": "rejected"}

    def apply(self, rec_id: str, actor: str, *, dry_run: bool = False) -> ApplyResult:
        """Apply an approved recommendation (or, with ``dry_run``, any actionable one)."""
        allowed = ("approved", "pending", "dry-run", "failed", "conflict") if dry_run else ("approved",)
        stored = self._require(rec_id, allowed)
        rec = Recommendation.from_dict({k: v for k, v in stored.items() if k not in ("status", "updated_at")})
        if self.mode == "off" and not dry_run:
            raise NotAllowed("mode is off: nothing is applied")
        try:
            result = self.applier.apply(rec, dry_run=dry_run)
        except Exception as exc:  # an applier bug must not crash the cycle; it is audited
            log.exception("applier %s failed on %s", self.applier.name, rec_id)
            result = ApplyResult("failed", f"{type(exc).__name__}: {exc}")
        now = self.clock()
        if not dry_run:
            status = {"applied": "applied", "skipped": "applied"}.get(result.outcome, result.outcome)
            self.decisions.set_status(rec_id, "failed" if status == "dry-run" else status, now)
        action = "apply-dry-run" if dry_run else "apply"
        detail = f"{self.applier.name}: {result.detail}" + (f" ({result.ref})" if result.ref else "")
        self.decisions.audit(now, rec_id, action, actor, result.outcome, detail)
        return result

    def _require(self, rec_id: str, statuses: tuple[str, ...]) -> dict[str, Any]:
        rec = self.decisions.get(rec_id)
        if rec is None:
            raise NotFound(rec_id)
        if not rec.get("manifest"):
            raise NotAllowed(f"{rec_id} is informational; there is nothing to act on")
        if rec["status"] not in statuses:
            raise NotAllowed(f"{rec_id} is {rec['status']}; this needs one of {', '.join(statuses)}")
        return rec
