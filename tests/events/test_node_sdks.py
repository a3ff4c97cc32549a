"""Real JavaScript SDKs, unchanged, pointed at a running cxloop: Segment's analytics-node and
RudderStack's rudder-sdk-node (the versions pinned in ``tests/events/js/package-lock.json``,
installed there with ``npm ci`` on first use). Each sends a customer's visit, sign-up, order,
product views and alias in batches; they land as one profile with its name, e-mail and phone,
every event once, and the order."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from cxloop.core.db import Database
from cxloop.models import Customer, Event, Identity, Order
from tests.events.test_segment_sdk import source  # noqa: F401 (a fixture)
from tests.factories import unique

pytestmark = pytest.mark.live

JS = Path(__file__).parent / "js"


@pytest.fixture(scope="session")
def node() -> str:
    """Node.js, with the SDKs of ``package-lock.json`` installed beside the script."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are not installed")
    installed = JS / "node_modules" / ".package-lock.json"
    lock = JS / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=JS,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return node


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
def test_a_javascript_sdk_lands_one_profile_with_its_events_and_its_order(
    sdk: str,
    node: str,
    live_server: str,
    database: Database,
    source: tuple[int, str],  # noqa: F811
) -> None:
    workspace_id, secret = source
    prefix = unique(f"{sdk}-")
    done = subprocess.run(
        [node, "send.mjs", sdk, live_server, secret, prefix],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"errors": []}
    with database.session() as s:
        customers = s.scalars(
            select(Customer).where(
                Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None)
            )
        ).all()
        assert len(customers) == 1
        [customer] = customers
        assert (customer.display_name, customer.email, customer.phone) == (
            "김민지",
            f"{prefix}@example.com",
            "+821023456789",
        )
        kinds = {
            (i.kind, i.value)
            for i in s.scalars(select(Identity).where(Identity.customer_id == customer.id))
        }
        assert {("user_id", f"{prefix}-user"), ("anonymous_id", f"{prefix}-anon")} <= kinds
        events = s.execute(
            select(Event.type, Event.name, Event.properties, Event.customer_id).where(
                Event.workspace_id == workspace_id
            )
        ).all()
        assert {e.customer_id for e in events} == {customer.id}
        assert sorted(e.type for e in events) == sorted(
            ["page", "identify", "alias"] + ["track"] * 13
        )
        views = sorted(e.properties["i"] for e in events if e.name == "Product Viewed")
        assert views == list(range(12))
        order = s.scalar(select(Order).where(Order.workspace_id == workspace_id))
        assert order is not None
        assert (order.external_id, order.customer_id, int(order.total)) == (
            f"{prefix}-order",
            customer.id,
            39000,
        )
