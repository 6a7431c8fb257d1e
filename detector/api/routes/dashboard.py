"""The dashboard: one HTML shell plus vendored static files, so it works with no internet.

Every page (``/``, ``/ui/services/{name}``, ``/ui/graph``) gets the same shell; the
script reads the path and draws the view from the JSON API. Static files are
served from an allow-list built from the package directory, so a request path can
never reach outside it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
NO_CACHE = {"Cache-Control": "no-cache"}
"""Revalidate on every load: a redeploy must not leave an old script talking to a new API."""


@cache
def static_files(root: Path = STATIC_DIR) -> dict[str, Path]:
    """Relative path → file, for every servable file shipped under ``root``."""
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in MEDIA_TYPES
    }


def _file(name: str) -> FileResponse:
    path = static_files().get(name)
    if path is None:
        raise HTTPException(404, f"no static file '{name}'")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=NO_CACHE)


@router.get("/")
def overview() -> FileResponse:
    return _file("index.html")


@router.get("/ui/graph")
def graph_page() -> FileResponse:
    return _file("index.html")


@router.get("/ui/services/{name}")
def service_page(name: str) -> FileResponse:
    return _file("index.html")


@router.get("/ui/static/{name:path}")
def static(name: str) -> FileResponse:
    return _file(name)
