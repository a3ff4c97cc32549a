"""Live updates: events reach every subscriber of their topic only after commit, a stream that
falls behind is told to reload, and through Redis an event published by one process reaches
another's streams."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cxloop.core import live

REDIS_URL = os.environ.get("CXLOOP_TEST_REDIS_URL")


async def _collect(hub: Any, topic: str, count: int, started: threading.Event) -> list[dict]:
    got: list[dict] = []
    async with hub.subscribe(topic) as subscription:
        started.set()
        while len(got) < count:
            event = await subscription.next(5)
            assert event is not None, f"only {len(got)} of {count} events arrived"
            got.append(event)
    return got


def _in_thread(hub: Any, topic: str, count: int) -> tuple[threading.Thread, list, threading.Event]:
    """A subscriber on its own event loop in its own thread, as a server's stream is."""
    results: list = []
    started = threading.Event()

    def run() -> None:
        results.append(asyncio.run(_collect(hub, topic, count, started)))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(5)
    return thread, results, started


def test_every_subscriber_of_a_topic_gets_its_events_in_order_and_no_other_topics() -> None:
    hub = live.LocalHub()
    first, first_got, _ = _in_thread(hub, "care:1", 2)
    second, second_got, _ = _in_thread(hub, "care:1", 2)
    hub.publish("care:2", {"kind": "conversation", "id": 99})
    hub.publish("care:1", {"kind": "conversation", "id": 1})
    hub.publish("care:1", {"kind": "conversation", "id": 2})
    for thread in (first, second):
        thread.join(5)
    expected = [
        {"kind": "conversation", "id": 1, "topic": "care:1"},
        {"kind": "conversation", "id": 2, "topic": "care:1"},
    ]
    assert first_got == [expected]
    assert second_got == [expected]
    assert hub.subscribers("care:1") == 0  # both streams ended and were dropped


def test_a_stream_that_falls_behind_is_told_to_reload_once() -> None:
    async def scenario() -> list[dict | None]:
        hub = live.LocalHub()
        async with hub.subscribe("t") as subscription:
            for number in range(live.QUEUE_SIZE + 10):
                hub.publish("t", {"kind": "x", "n": number})
            await asyncio.sleep(0.05)  # let the loop deliver
            first = await subscription.next(1)
            hub.publish("t", {"kind": "x", "n": "after"})
            await asyncio.sleep(0.05)
            return [first, await subscription.next(1), await subscription.next(0.05)]

    first, after, nothing = asyncio.run(scenario())
    assert first == {"kind": "resync"}
    assert after == {"kind": "x", "n": "after", "topic": "t"}
    assert nothing is None


def test_events_leave_only_when_the_transaction_commits(session: Session) -> None:
    hub = live.hub()
    thread, got, _ = _in_thread(hub, "test:commit", 1)
    live.after_commit(session, "test:commit", {"kind": "never"})
    session.rollback()
    live.after_commit(session, "test:commit", {"kind": "kept", "id": 1})
    live.after_commit(session, "test:commit", {"kind": "kept", "id": 1})  # once
    assert not got
    session.commit()
    thread.join(5)
    assert got == [[{"kind": "kept", "id": 1, "topic": "test:commit"}]]


@pytest.mark.skipif(not REDIS_URL, reason="CXLOOP_TEST_REDIS_URL is not set")
def test_through_redis_an_event_reaches_the_streams_of_another_process() -> None:
    assert REDIS_URL is not None
    publisher, subscriber = live.RedisHub(REDIS_URL), live.RedisHub(REDIS_URL)
    thread, got, _ = _in_thread(subscriber, "care:redis-test", 2)
    publisher.publish("care:other", {"kind": "conversation", "id": 0})
    publisher.publish("care:redis-test", {"kind": "conversation", "id": 7})
    publisher.publish("care:redis-test", {"kind": "typing", "id": 7, "name": "민지"})
    thread.join(10)
    assert got == [
        [
            {"kind": "conversation", "id": 7, "topic": "care:redis-test"},
            {"kind": "typing", "id": 7, "name": "민지", "topic": "care:redis-test"},
        ]
    ]
