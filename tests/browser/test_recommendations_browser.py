"""Approve and reject on the service page, in real Chromium, with the token pasted once.

The decide mode is ``approval``, so recommendations wait as ``pending``. Two are
seeded into the served app's store (the mesh need not misbehave for the buttons to
be checked); a ``dry-run`` one shows no buttons. Without a token the click is
refused with a hint; with it, approve and reject land in the API and the audit log,
sent as an ``Authorization`` header and never as a cookie.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from detector.decide.records import Recommendation

pytestmark = pytest.mark.integration
SERVICE = "shippingservice"


def seed(live: Any, status: str, title: str) -> Recommendation:
    now = time.time()
    rec = Recommendation.make(
        "destination-rule",
        "seeded",  # a namespace of its own: the live pipeline's recommendations never supersede these
        SERVICE,
        now,
        title,
        "5xx ratio 12% over 60 s on 1 of 3 pods",
        {"error_ratio": 0.12, "pods": ["shippingservice-v1-0"]},
        manifest={"apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule"},
    )
    live.app.state.runtime.decisions.decisions.put(rec.to_dict(), status, now)
    return rec


def status_of(live: Any, rec: Recommendation) -> str:
    return str(httpx.get(f"{live.url}/api/v1/recommendations/{rec.id}", timeout=5).json()["status"])


def test_pending_recommendations_are_approved_and_rejected_with_the_pasted_token(
    live: Any, page: Page
) -> None:
    live.warm()
    to_approve = seed(live, "pending", "Eject outlier pods of shippingservice")
    to_reject = seed(live, "pending", "Limit connections to shippingservice")
    shadow = seed(live, "dry-run", "Would shift traffic of shippingservice")
    posts: list[Request] = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    page.goto(f"{live.url}/ui/services/{SERVICE}")

    approve = page.locator(f'.rec[data-rec="{to_approve.id}"] button.approve')
    expect(approve).to_be_visible(timeout=15_000)
    expect(page.locator(f'.rec[data-rec="{to_approve.id}"] .evidence')).to_contain_text("error_ratio")
    expect(page.locator(f'.rec[data-rec="{shadow.id}"]')).to_contain_text("dry-run")
    assert page.locator(f'.rec[data-rec="{shadow.id}"] button').count() == 0

    approve.click()  # no token yet: refused, with the way out
    expect(page.locator(".rec-msg.error")).to_contain_text("API token", timeout=10_000)
    assert status_of(live, to_approve) == "pending"

    page.fill("#token-form input", live.token)
    page.click("#token-form button[type=submit]")
    expect(page.locator("#token-form .token-state")).to_have_text("token set")
    page.locator(f'.rec[data-rec="{to_approve.id}"] button.approve').click()
    expect(page.locator(f'.rec[data-rec="{to_approve.id}"] .rec-status')).to_have_text(
        "approved", timeout=10_000
    )
    page.locator(f'.rec[data-rec="{to_reject.id}"] button.reject').click()
    expect(page.locator(f'.rec[data-rec="{to_reject.id}"] .rec-status')).to_have_text(
        "rejected", timeout=10_000
    )
    assert page.locator(f'.rec[data-rec="{to_approve.id}"] button').count() == 0

    assert (status_of(live, to_approve), status_of(live, to_reject)) == ("approved", "rejected")
    actions = httpx.get(
        f"{live.url}/api/v1/actions", params={"recommendation": to_approve.id}, timeout=5
    ).json()
    assert actions[0]["action"] == "approve" and actions[0]["actor"] == "dashboard"
    sent = [r for r in posts if "/api/v1/recommendations/" in r.url]
    assert sent[-1].headers.get("authorization") == f"Bearer {live.token}"
    assert all("cookie" not in r.headers for r in sent)
    assert page.context.cookies() == []
    assert page.evaluate("sessionStorage.getItem('meshpulse.token')") == live.token
