"""The dashboard shell and its static files: served offline, from an allow-list only."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from detector.api.routes import dashboard


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.include_router(dashboard.router)
    return TestClient(app)


@pytest.mark.parametrize("path", ["/", "/ui/graph", "/ui/services/cartservice"])
def test_every_page_gets_the_same_shell(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<main id="view"' in r.text
    assert r.headers["cache-control"] == "no-cache"


def test_assets_referenced_by_the_shell_and_modules_are_all_served(client: TestClient) -> None:
    """Follows every ``/ui/static/…`` reference and ES-module import: a typo would break the page offline."""
    todo, seen = ["/"], set()
    while todo:
        path = todo.pop()
        r = client.get(path)
        assert r.status_code == 200, path
        seen.add(path)
        refs = re.findall(r'"(/ui/static/[^"]+)"', r.text)
        if path.endswith(".js"):
            base = path.rsplit("/", 1)[0]
            refs += [f"{base}/{m}" for m in re.findall(r'from "\./([^"]+)"', r.text)]
        todo += [p for p in refs if p not in seen]
    assert {"/ui/static/js/main.js", "/ui/static/js/chart.js", "/ui/static/app.css"} <= seen


def test_scripts_are_served_as_javascript_for_module_loading(client: TestClient) -> None:
    r = client.get("/ui/static/js/main.js")
    assert r.headers["content-type"].startswith("text/javascript")


def test_no_asset_comes_from_another_origin() -> None:
    for path in dashboard.static_files().values():
        text = path.read_text()
        assert not re.search(r"(src|href)=\"https?://", text), path
        assert "import(" not in text and not re.search(r'from "https?:', text), path


@pytest.mark.parametrize(
    "path", ["/ui/static/../routes/dashboard.py", "/ui/static/%2e%2e/app.py", "/ui/static/nope.js"]
)
def test_paths_outside_the_allow_list_are_404(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404
