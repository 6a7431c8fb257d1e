"""The dashboard in real headless Chromium against a live simulated mesh.

Checks what a person would: every service is listed with drawn sparklines, a fault
injected into the mesh appears on the open page without a reload, the service page
draws the band and shades the anomaly, and the graph marks the failing service and
its anomalous edge. Screenshots go to test-artifacts/ and docs/screenshots/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.integration

UNWELL = ".h-failing, .h-degraded"


Shot = Callable[[Page, str], Path]


def drawn(page: Page, selector: str) -> int:
    """SVG paths matching ``selector`` with real geometry (a line through at least two points)."""
    return page.eval_on_selector_all(selector, "els => els.filter(e => /L/.test(e.getAttribute('d'))).length")


def test_overview_lists_every_service_with_sparklines(live: Any, page: Page) -> None:
    services = live.warm()
    started = time.monotonic()
    page.goto(live.url + "/")
    expect(page.locator(".card")).to_have_count(len(services))
    print(f"overview rendered in {time.monotonic() - started:.2f} s")
    assert drawn(page, ".card .spark path.observed") >= 3 * len(services) - 3
    assert page.locator(".card .badge.h-healthy").count() == len(services)
    expect(page.locator('.card[data-service="frontend"] .spark[data-signal="rate"] .value')).to_contain_text(
        "req/s"
    )
    expect(page.locator('.card[data-service="frontend"] .spark[data-signal="p99"] .value')).to_contain_text(
        "ms"
    )
    expect(page.locator("#status")).to_have_class("status ok")


def test_fault_appears_live_then_on_the_service_page_and_the_graph(
    live: Any, page: Page, screenshot: Shot
) -> None:
    live.warm()
    page.goto(live.url + "/")
    card = page.locator('.card[data-service="paymentservice"]')
    expect(card.locator(".badge.h-healthy")).to_be_visible()
    t0 = time.monotonic()
    live.inject(kind="error_burst", service="paymentservice", duration_s=90, magnitude=0.3)

    # the open page redraws from the API: no reload
    expect(card.locator(UNWELL).first).to_be_visible(timeout=40_000)
    print(f"fault visible on the overview {time.monotonic() - t0:.1f} s after injection")
    expect(card.locator(".anoms")).to_contain_text("active anomal")
    screenshot(page, "overview.png")

    card.click()
    expect(page).to_have_url(live.url + "/ui/services/paymentservice")
    errors = page.locator('.panel[data-signal="error_ratio"]')
    expect(errors.locator("rect.span").first).to_be_attached(timeout=15_000)
    assert drawn(page, '.panel[data-signal="error_ratio"] path.observed') == 1
    assert drawn(page, ".panel path.band") >= 4
    expect(errors.locator(".now")).to_contain_text("%")
    expect(page.locator("table tbody tr.open").first).to_contain_text("5xx ratio")
    expect(page.locator("td.expl").first).to_contain_text("paymentservice")
    screenshot(page, "service.png")

    page.locator("nav a[data-view=graph]").click()
    node = page.locator('a.node[data-node="paymentservice"]')
    expect(node).to_have_class(re.compile(r"h-(failing|degraded)"), timeout=15_000)
    assert page.locator("a.node").count() >= 11
    assert page.locator("path.edge").count() >= 15
    expect(page.locator("path.edge.anomalous").first).to_be_attached(timeout=20_000)
    screenshot(page, "graph.png")
