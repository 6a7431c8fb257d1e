"""POST each recommendation as signed JSON to a webhook.

The signature is ``sha256=HMAC(secret, timestamp + "." + body)`` in ``X-MeshPulse-Signature``
with the Unix timestamp (with milliseconds) in ``X-MeshPulse-Timestamp``: signing the timestamp lets a
receiver reject a captured request replayed later (:func:`verify` with a tolerance).
Retries re-sign with a fresh timestamp but keep the ``Idempotency-Key``, so a receiver
that saw the first attempt succeed can drop the repeat instead of acting twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from detector.act.base import ApplyResult
from detector.decide.manifests import to_yaml
from detector.decide.records import Recommendation

SIGNATURE = "X-MeshPulse-Signature"
TIMESTAMP = "X-MeshPulse-Timestamp"
IDEMPOTENCY = "Idempotency-Key"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``timestamp.body``.

    >>> sign(b"k", "1700000000.000", b"{}") == sign(b"k", "1700000000.000", b"{}") != sign(b"k", "1", b"{}")
    True
    """
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(
    secret: bytes, timestamp: str, body: bytes, signature: str, now: float, tolerance_s: float = 300
) -> bool:
    """A receiver's check: the signature matches and the timestamp is recent (replay guard)."""
    try:
        fresh = abs(now - float(timestamp)) <= tolerance_s
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


class HttpHook:
    """``apply`` POSTs; 2xx is applied, 4xx (except 408/429) fails at once, the rest is retried."""

    name = "http"

    def __init__(
        self,
        url: str,
        secret: str | bytes,
        *,
        timeout_s: float = 5.0,
        max_attempts: int = 3,
        backoff_s: float = 0.5,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("an HTTP hook needs a non-empty secret: unsigned actions must not be accepted")
        self.url = url
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.client = client or httpx.Client(timeout=timeout_s)
        self.sleep = sleep
        self.clock = clock
        self._last_ts = 0.0

    def _timestamp(self) -> str:
        """Unix seconds with milliseconds, strictly increasing, so no two attempts share a
        signature: a receiver may then treat any repeated signature as a replay."""
        self._last_ts = max(round(self.clock(), 3), round(self._last_ts + 0.001, 3))
        return f"{self._last_ts:.3f}"

    def apply(self, rec: Recommendation, *, dry_run: bool = False) -> ApplyResult:
        payload = {
            "recommendation": rec.to_dict(),
            "dry_run": dry_run,
            "manifest_yaml": to_yaml(rec.manifest) if rec.manifest else None,
        }
        result = self.send(payload, f"{rec.id}:{'dry-run' if dry_run else 'apply'}")
        if result.outcome == "applied" and dry_run:
            return ApplyResult("dry-run", result.detail, result.ref)
        return result

    def send(self, payload: dict[str, Any], key: str) -> ApplyResult:
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        detail = ""
        for attempt in range(self.max_attempts):
            if attempt:
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
            ts = self._timestamp()
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP: ts,
                SIGNATURE: sign(self.secret, ts, body),
                IDEMPOTENCY: key,
            }
            try:
                resp = self.client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                detail = f"attempt {attempt + 1}: {type(exc).__name__}: {exc}"
                continue
            if resp.is_success:
                return ApplyResult(
                    "applied", f"HTTP {resp.status_code} after {attempt + 1} attempt(s)", self.url
                )
            detail = f"attempt {attempt + 1}: HTTP {resp.status_code} {resp.text[:200]}"
            if resp.status_code < 500 and resp.status_code not in (408, 429):
                break
        return ApplyResult("failed", detail, self.url)
