"""A live stack for the dashboard in a real headless Chromium.

Simulator → real Prometheus → MeshPulse served by uvicorn on a real port (a browser
needs one; ``TestClient`` is not a server). The warm-up is short (a 2 s cycle over
40 s of history, backfilled), enough for the detectors' grace period and real charts.
Chromium is Debian's (``/usr/bin/chromium``): Playwright's own browser download is
never used, so the tests run offline.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from detector.api.app import create_app
from detector.devstack import free_port, start_warm_prometheus
from detector.devstack.polling import wait_until
from detector.settings import Settings
from detector.simulate.faults import FaultSchedule
from detector.simulate.server import SimulatorServer
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

INTERVAL = 2.0
WARM_UP_S = 40.0
LIVE_LEAD_S = 20.0
"""Live scraping after the backfill, before MeshPulse starts: two 10 s rate windows. The first
cycle scores at most its last point (40 s at 2 s, less the 20-point grace), after those windows."""
CHROMIUM = os.environ.get("MESHPULSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = REPO / "docs" / "screenshots"
TOKEN = "browser-test-token"


@dataclass
class LiveStack:
    topology: Topology
    sim: SimulatorServer
    url: str
    app: Any = None
    """The served app, in this process: tests reach its runtime to seed records."""
    token: str = TOKEN
    """A bearer token the app accepts for approve/reject."""

    def api(self, path: str, **params: Any) -> Any:
        r = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        r.raise_for_status()
        return r.json()

    def inject(self, **fault: Any) -> dict[str, Any]:
        r = httpx.post(f"{self.sim.url}/faults", json=fault, timeout=5)
        assert r.status_code == 201, r.text
        return r.json()

    def warm(self) -> list[dict[str, Any]]:
        """Services listed and detectors past their grace period (20 scored points)."""
        services = wait_until(lambda: len(s := self.api("/api/v1/services")) >= 10 and s, 30)
        wait_until(lambda: len(self.api("/api/v1/services/frontend/series")["timestamps"]) >= 28, 40)
        return list(services)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    work = tmp_path_factory.mktemp("browser")
    topology = Topology.online_boutique(seed=5, ingress_rps=400.0)
    mesh = Mesh(topology, seed=5, start=time.time() - WARM_UP_S, faults=FaultSchedule())
    sim = SimulatorServer(mesh).start()
    prom = start_warm_prometheus(
        work, mesh, f"127.0.0.1:{sim.port}", live_lead_s=LIVE_LEAD_S, rate_window_s=10.0
    )
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    try:
        settings = Settings(
            prometheus_url=prom.url,
            scrape_interval_s=INTERVAL,
            lookback_s=WARM_UP_S,
            rate_window="10s",
            query_lag_s=1.0,
            state_path=work / "meshpulse.sqlite",
            decide_mode="approval",
            api_tokens=[TOKEN],
        )
        port = free_port()
        app = create_app(settings)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, name="meshpulse-uvicorn", daemon=True)
        thread.start()
        stack = LiveStack(topology, sim, f"http://127.0.0.1:{port}", app)
        wait_until(lambda: server is not None and server.started, 30)
        wait_until(lambda: httpx.get(f"{stack.url}/readyz", timeout=5).status_code == 200, 30)
        yield stack
    finally:
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=15)
        prom.stop()
        sim.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """``screenshot(page, name)``: saved under test-artifacts/ (gitignored), copied to docs/screenshots/."""

    def save(page: Page, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        out = ARTIFACTS / name
        page.screenshot(path=str(out), full_page=True)
        (SCREENSHOTS / name).write_bytes(out.read_bytes())
        return out

    return save
