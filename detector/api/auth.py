"""Who may change things: bearer tokens, compared in constant time, never logged.

Mutating endpoints always need a token. Read-only endpoints are open unless
``protect_reads`` is set. With no token configured, writes are refused (403 with
the setting to fix) rather than silently allowed: a default that is safe outside
a laptop demo.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException

from detector.api.deps import RuntimeDep
from detector.settings import Settings


def configured_tokens(settings: Settings) -> list[bytes]:
    """Tokens from the setting and from the token file (one per line, ``#`` comments)."""
    tokens = [t.get_secret_value() for t in settings.api_tokens]
    if settings.api_token_file is not None:
        lines = settings.api_token_file.read_text().splitlines()
        tokens += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return [t.encode() for t in tokens]


def _check(settings: Settings, authorization: str | None) -> None:
    tokens = configured_tokens(settings)
    if not tokens:
        raise HTTPException(403, "no API token is configured; set MESHPULSE_API_TOKEN_FILE to allow changes")
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    given = presented.strip().encode()
    if not any(hmac.compare_digest(given, token) for token in tokens):  # check all: no early exit
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})


def require_writer(rt: RuntimeDep, authorization: Annotated[str | None, Header()] = None) -> None:
    _check(rt.settings, authorization)


def require_reader(rt: RuntimeDep, authorization: Annotated[str | None, Header()] = None) -> None:
    if rt.settings.protect_reads:
        _check(rt.settings, authorization)


Writer = Depends(require_writer)
Reader = Depends(require_reader)
