"""Segment's analytics.js (``@segment/analytics-next``, the version pinned in
``tests/events/js/package-lock.json``), unchanged, in Chromium, on a shop's page served from
another origin: it sends a visitor's sign-up, an event and a page view to a running cxloop,
cross-origin, as it sends to Segment (JSON as ``text/plain``, the write key in the body, CORS
preflights), and they land on one profile with its traits. Its bundle comes from node_modules
through the shop's own server; nothing is fetched from Segment's CDN or API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from cxloop.core.db import Database
from cxloop.models import Customer, Event, Identity
from tests.events.test_node_sdks import JS, node  # noqa: F401 (a fixture)
from tests.events.test_segment_sdk import source  # noqa: F401 (a fixture)
from tests.factories import unique
from tests.helpers.static import serve_folder

pytestmark = [pytest.mark.browser, pytest.mark.live]

BUNDLES = JS / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"

# What the shop's page does once analytics.js is loaded: settings given inline (no CDN), the
# calls sent to cxloop's /v1, each call awaited (with "batching" they go out together).
SHOP_SCRIPT = """
async function visit({writeKey, apiHost, strategy, prefix}) {
  const delivery = strategy === "batching"
    ? {strategy: "batching", config: {size: 3, timeout: 200}}
    : undefined;
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(
    {
      writeKey,
      cdnSettings: {
        integrations: {"Segment.io": {apiKey: writeKey}},
        metrics: {sampleRate: 0},
      },
    },
    {integrations: {"Segment.io": {apiHost, protocol: "http", deliveryStrategy: delivery}}},
  );
  const calls = [
    analytics.identify(`${prefix}-user`, {
      name: "김민지",
      email: `${prefix}@example.com`,
      plan: "gold",
    }),
    analytics.track("Added To Cart", {sku: "P-7", price: 19500, currency: "KRW"}),
    analytics.page("Pricing", {plan: "pro"}),
  ];
  const contexts = await Promise.all(calls);
  return {
    anonymousId: analytics.user().anonymousId(),
    failed: contexts.map((c) => c.failedDelivery()).filter(Boolean).map((f) => String(f.reason)),
  };
}
"""


@pytest.fixture
def shop(tmp_path: Path, node: str) -> Iterator[str]:  # noqa: F811
    """The shop's own web server, on a port of its own: its page and the analytics.js bundle."""
    if not (BUNDLES / "index.js").exists():
        pytest.skip("@segment/analytics-next is not installed in tests/events/js")
    (tmp_path / "analytics-next").mkdir()
    (tmp_path / "analytics-next" / "bundles").symlink_to(BUNDLES)
    (tmp_path / "shop.html").write_text(
        "<!doctype html><html lang='ko'><head><meta charset='utf-8'><title>요금제</title>"
        "<script src='/analytics-next/bundles/index.js'></script>"
        f"<script>{SHOP_SCRIPT}</script></head><body><h1>요금제</h1></body></html>",
        encoding="utf-8",
    )
    with serve_folder(tmp_path) as base:
        yield base


@pytest.mark.parametrize(
    ("strategy", "paths"),
    [
        pytest.param("standard", ["/v1/i", "/v1/t", "/v1/p"], id="a-call-each"),
        pytest.param("batching", ["/v1/b"], id="batched"),
    ],
)
def test_analytics_js_in_a_browser_lands_its_calls_on_one_profile(
    strategy: str,
    paths: list[str],
    shop: str,
    live_server: str,
    browser_page: Any,
    database: Database,
    source: tuple[int, str],  # noqa: F811
) -> None:
    # given the shop's page on one origin and cxloop on another, and nothing else reachable
    workspace_id, secret = source
    prefix = unique(f"ajs-{strategy}-")
    page = browser_page
    local = {urlsplit(shop).netloc, urlsplit(live_server).netloc}
    elsewhere: list[str] = []

    def only_local(route: Any) -> None:
        if urlsplit(route.request.url).netloc in local:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    sent: list[Any] = []
    answers: list[Any] = []
    page.on("request", lambda r: sent.append(r) if r.url.startswith(live_server) else None)
    page.on("response", lambda r: answers.append(r) if r.url.startswith(live_server) else None)

    # when the page loads analytics.js and the visitor signs up, adds to cart and views a page
    page.goto(f"{shop}/shop.html")
    result = page.evaluate(
        "args => visit(args)",
        {
            "writeKey": secret,
            "apiHost": f"{urlsplit(live_server).netloc}/v1",
            "strategy": strategy,
            "prefix": prefix,
        },
    )
    deadline = time.monotonic() + 10
    while len(answers) < len(paths) and time.monotonic() < deadline:
        page.wait_for_timeout(50)

    # then each request went cross-origin as analytics.js sends to Segment, and was accepted
    assert result["failed"] == []
    assert elsewhere == []
    assert sorted(urlsplit(r.url).path for r in sent) == sorted(paths)
    for request in sent:
        headers = request.headers
        assert headers["content-type"] == "text/plain"
        assert headers["origin"] == shop
        body = json.loads(request.post_data)
        assert body["writeKey"] == secret
    assert sorted((urlsplit(r.url).path, r.status) for r in answers) == [
        (p, 200) for p in sorted(paths)
    ]
    assert all(r.headers["access-control-allow-origin"] == "*" for r in answers)
    assert page.problems == []

    # and cxloop holds one profile with the traits, the three calls on it
    anonymous_id = result["anonymousId"]
    with database.session() as s:
        customers = s.scalars(
            select(Customer).where(
                Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None)
            )
        ).all()
        assert len(customers) == 1
        [customer] = customers
        assert (customer.display_name, customer.email, customer.traits.get("plan")) == (
            "김민지",
            f"{prefix}@example.com",
            "gold",
        )
        identities = {
            (i.kind, i.value)
            for i in s.scalars(select(Identity).where(Identity.customer_id == customer.id))
        }
        assert {("user_id", f"{prefix}-user"), ("anonymous_id", anonymous_id)} <= identities
        # (sent one a request, the three may be stored in any order)
        events = s.scalars(select(Event).where(Event.workspace_id == workspace_id)).all()
        assert len(events) == 3
        by_type = {e.type: e for e in events}
        assert sorted((e.type, e.name, e.customer_id, e.channel) for e in by_type.values()) == [
            ("identify", None, customer.id, "web"),
            ("page", "Pricing", customer.id, "web"),
            ("track", "Added To Cart", customer.id, "web"),
        ]
        assert {(e.user_id, e.anonymous_id) for e in by_type.values()} == {
            (f"{prefix}-user", anonymous_id)
        }
        identify, track, view = by_type["identify"], by_type["track"], by_type["page"]
        assert identify.context["library"]["name"] == "analytics.js"
        assert track.properties == {"sku": "P-7", "price": 19500, "currency": "KRW"}
        assert view.properties["plan"] == "pro"
        assert view.properties["url"] == f"{shop}/shop.html"
        assert view.properties["path"] == "/shop.html"
        assert view.properties["title"] == "요금제"
