"""A ceiling on request body size, enforced before any route parses a byte.

Without one, a single ``POST /api/v1/score`` with a few hundred megabytes of JSON
makes the parser allocate several times that, and the service that must keep
watching the mesh is the one that runs out of memory. The limit is checked twice:
on ``Content-Length`` (refused before reading) and while reading (a chunked or lying
client is cut off at the limit), and answered with a 413 that says what to do.

Pure ASGI rather than ``BaseHTTPMiddleware``: the body is counted as it streams in,
and FastAPI would turn an exception raised while it reads the body into a vague 400.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MiB = 1 << 20
DEFAULT_JSON_BYTES = MiB
DEFAULT_OTHER_BYTES = 64 * 1024
"""The API only takes JSON; anything else gets little room."""


class BodySizeLimit:
    """``app.add_middleware(BodySizeLimit, max_json_bytes=..., max_other_bytes=...)``."""

    def __init__(
        self,
        app: ASGIApp,
        max_json_bytes: int = DEFAULT_JSON_BYTES,
        max_other_bytes: int = DEFAULT_OTHER_BYTES,
    ) -> None:
        if max_json_bytes < 0 or max_other_bytes < 0:
            raise ValueError("body size limits must be >= 0")
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_other_bytes = max_other_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        limit = self.max_json_bytes if _is_json(content_type) else self.max_other_bytes
        declared = headers.get("content-length")
        if declared is not None and not declared.strip().isdigit():
            await _reply(send, 400, "Content-Length must be a non-negative integer")
            return
        if declared is not None and int(declared) > limit:
            await _reply(send, 413, _too_large(limit, content_type))
            return
        body = await _read_body(receive, limit)
        if body is None:
            await _reply(send, 413, _too_large(limit, content_type))
            return
        await self.app(scope, _replay(body, receive), send)


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes ``limit`` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # client went away: let the app see an empty body
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the buffered body once, then defers to the real one (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _too_large(limit: int, content_type: str) -> str:
    kind = content_type or "a body without Content-Type"
    return (
        f"request body exceeds the {limit}-byte limit for {kind}; "
        "send less per request (for /api/v1/score, split the series into chunks)"
    )


async def _reply(send: Send, status: int, detail: str) -> None:
    data = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))  # the unread rest of the body is not worth draining
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
