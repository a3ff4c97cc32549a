"""The official Segment Python SDK (segment-analytics-python), unchanged, pointed at a running
cxloop: its identify, track, page and alias calls, sent one by one and in batches, land as
profiles, events and orders. And an accepted event survives the server being killed at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from segment.analytics.client import Client
from sqlalchemy import func, select

from cxloop.core.db import Database, make_engine
from cxloop.models import Customer, Event, Identity, Order
from tests.conftest import free_port
from tests.factories import make_key, make_workspace, unique

pytestmark = pytest.mark.live


@pytest.fixture
def source(database: Database) -> tuple[int, str]:
    """A committed workspace and the secret of its write key."""
    with database.session() as s:
        workspace = make_workspace(s, slug=unique("sdk-"))
        _key, secret = make_key(s, workspace=workspace, kind="write")
        return workspace.id, secret


def _client(live_server: str, secret: str, errors: list[str], **options: object) -> Client:
    return Client(
        write_key=secret,
        host=live_server,
        on_error=lambda error, _batch: errors.append(repr(error)),
        max_retries=1,
        **options,
    )


def test_sdk_calls_land_as_one_profile_with_events_and_an_order(
    live_server: str, database: Database, source: tuple[int, str]
) -> None:
    workspace_id, secret = source
    errors: list[str] = []
    client = _client(live_server, secret, errors, sync_mode=True)
    # a visitor browses anonymously, signs up, and orders
    client.page(anonymous_id="anon-sdk-1", name="Home", properties={"path": "/"})
    client.identify(
        "sdk-user-1",
        {"name": "김민지", "email": "minji.sdk@example.com", "phone": "010-2345-6789"},
        anonymous_id="anon-sdk-1",
    )
    client.track(
        "sdk-user-1",
        "Order Completed",
        {
            "order_id": "SDK-1001",
            "total": 39000,
            "currency": "KRW",
            "products": [{"product_id": "P-7", "name": "보리차", "price": 19500, "quantity": 2}],
        },
    )
    client.alias("anon-sdk-other", "sdk-user-1")  # sync mode: every call is sent at once
    assert errors == []
    with database.session() as s:
        customers = list(
            s.scalars(
                select(Customer).where(
                    Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None)
                )
            )
        )
        assert len(customers) == 1
        [customer] = customers
        assert (customer.display_name, customer.email, customer.phone) == (
            "김민지",
            "minji.sdk@example.com",
            "+821023456789",
        )
        kinds = {
            (i.kind, i.value)
            for i in s.scalars(select(Identity).where(Identity.customer_id == customer.id))
        }
        assert {("user_id", "sdk-user-1"), ("anonymous_id", "anon-sdk-1")} <= kinds
        types = s.scalars(
            select(Event.type)
            .where(Event.workspace_id == workspace_id, Event.customer_id == customer.id)
            .order_by(Event.id)
        ).all()
        assert list(types) == ["page", "identify", "track", "alias"]
        order = s.scalar(select(Order).where(Order.workspace_id == workspace_id))
        assert order is not None
        assert (order.external_id, order.customer_id, int(order.total)) == (
            "SDK-1001",
            customer.id,
            39000,
        )


def test_batched_sdk_calls_are_all_stored_once(
    live_server: str, database: Database, source: tuple[int, str]
) -> None:
    workspace_id, secret = source
    errors: list[str] = []
    # the SDK's background thread sends batches of up to 40 events, gzip-compressed
    client = _client(live_server, secret, errors, upload_size=40, upload_interval=0.05, gzip=True)
    for i in range(150):
        client.track(f"batch-user-{i % 7}", "Product Viewed", {"product_id": f"P-{i}", "i": i})
    client.flush()
    client.shutdown()
    assert errors == []
    with database.session() as s:
        stored = s.scalars(
            select(Event.properties["i"].as_integer()).where(Event.workspace_id == workspace_id)
        ).all()
        assert sorted(stored) == list(range(150))
        profiles = s.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None))
        )
        assert profiles == 7


# --- durability ------------------------------------------------------------------------


def _cxloop(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cxloop.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str, str]]:
    """A `cxloop serve` process on its own SQLite file, with a workspace and a write key."""
    url = f"sqlite:///{tmp_path / 'own.db'}"
    env = {
        **os.environ,
        "CXLOOP_ENV": "development",
        "CXLOOP_DATA_DIR": str(tmp_path),
        "CXLOOP_DATABASE_URL": url,
    }
    env.pop("CXLOOP_REDIS_URL", None)
    _cxloop(env, "migrate")
    _cxloop(env, "workspace", "create", "Durable", "--slug", "durable")
    secret = _cxloop(env, "key", "create", "--workspace", "durable", "--kind", "write").strip()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "cxloop.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise RuntimeError("cxloop serve did not start")
        time.sleep(0.1)
    try:
        yield server, base, secret, url
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)


def test_an_accepted_batch_survives_the_server_being_killed_right_after(
    own_server: tuple[subprocess.Popen[bytes], str, str, str],
) -> None:
    server, base, secret, url = own_server
    batch = [
        {"type": "track", "userId": f"k-{i % 5}", "event": "Clicked", "messageId": f"kill-{i}"}
        for i in range(300)
    ]
    response = httpx.post(f"{base}/v1/batch", json={"batch": batch}, auth=(secret, ""), timeout=30)
    # the process dies the moment the 200 arrives: no shutdown, no flush
    os.kill(server.pid, signal.SIGKILL)
    server.wait(timeout=10)
    assert response.json() == {"success": True}
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ids = conn.execute(select(Event.message_id)).scalars().all()
    finally:
        engine.dispose()
    assert sorted(ids) == sorted(f"kill-{i}" for i in range(300))
