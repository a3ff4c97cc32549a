"""Live updates: small events published on a topic reach every open stream (SSE) subscribed to
it — agents' inbox screens, a chat visitor's widget.

Events are hints, not records: a screen that gets one reloads what it shows from the database,
so an event lost (a stream that fell behind, a process restart) costs a refresh, never data.
They leave only after the transaction that caused them commits (:func:`after_commit`): nobody
is told of a change that rolled back.

Two hubs behind one interface, chosen by the settings:
- in one process (the embedded default), a publisher hands each event to every subscriber's
  queue on the subscriber's own event loop;
- with Redis (``CXLOOP_REDIS_URL``), events go through Redis pub/sub, so a stream on any web
  node gets events published on any other; each process holds one Redis subscription and fans
  the events out to its own subscribers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from cxloop.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

Event = dict[str, Any]
QUEUE_SIZE = 500  # events a stream may fall behind by before it is told to reload instead
RESYNC: Event = {"kind": "resync"}  # what a stream that fell behind gets in place of the rest
REDIS_CHANNEL_PREFIX = "cxloop:live:"


class Subscription:
    """The events of some topics, in the order they were published, for one stream."""

    def __init__(self, loop: asyncio.AbstractEventLoop, topics: frozenset[str]) -> None:
        self.loop = loop
        self.topics = topics
        self.queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._behind = False

    def offer(self, topic: str, data: Event) -> None:
        """Called on the subscriber's loop."""
        if self._behind:
            return
        try:
            self.queue.put_nowait({**data, "topic": topic})
        except asyncio.QueueFull:
            # Fell behind: drop what is queued and tell the screen to reload once.
            self._behind = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(dict(RESYNC))

    async def next(self, timeout: float) -> Event | None:
        """The next event, or None when none came within ``timeout`` seconds."""
        try:
            data = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        if data.get("kind") == "resync":
            self._behind = False
        return data


class Hub(Protocol):
    def publish(self, topic: str, data: Event) -> None:
        """Send ``data`` to every subscriber of ``topic`` (from any thread)."""

    def subscribe(self, *topics: str) -> Any:
        """An async context manager giving a :class:`Subscription` to ``topics``."""


@dataclass
class LocalHub:
    """Fan-out inside one process."""

    _subscriptions: dict[str, set[Subscription]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, topic: str, data: Event) -> None:
        with self._lock:
            targets = list(self._subscriptions.get(topic, ()))
        for subscription in targets:
            try:
                subscription.loop.call_soon_threadsafe(subscription.offer, topic, data)
            except RuntimeError:  # its loop closed: the stream is gone
                self._drop(subscription)

    def _add(self, subscription: Subscription) -> None:
        with self._lock:
            for topic in subscription.topics:
                self._subscriptions.setdefault(topic, set()).add(subscription)

    def _drop(self, subscription: Subscription) -> None:
        with self._lock:
            for topic in subscription.topics:
                subscribers = self._subscriptions.get(topic)
                if subscribers is not None:
                    subscribers.discard(subscription)
                    if not subscribers:
                        del self._subscriptions[topic]

    def subscribers(self, topic: str) -> int:
        with self._lock:
            return len(self._subscriptions.get(topic, ()))

    @asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(asyncio.get_running_loop(), frozenset(topics))
        self._add(subscription)
        try:
            yield subscription
        finally:
            self._drop(subscription)


class RedisHub:
    """Fan-out across processes through Redis pub/sub: publishing goes to Redis only; each
    process's one listener (per event loop) hands what Redis delivers to its local streams."""

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self.local = LocalHub()
        self._client = redis.Redis.from_url(url)
        self._listeners: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        self._ready: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}
        self._lock = threading.Lock()

    def publish(self, topic: str, data: Event) -> None:
        try:
            self._client.publish(REDIS_CHANNEL_PREFIX + topic, orjson.dumps(data))
        except Exception:  # a hint lost: screens still reload on their next event or visit
            log.warning("could not publish a live event on %s", topic, exc_info=True)

    async def _listen(self, ready: asyncio.Event) -> None:
        import redis.asyncio as aioredis

        pause = 0.5
        while True:
            client = aioredis.Redis.from_url(self.url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.psubscribe(REDIS_CHANNEL_PREFIX + "*")
                    ready.set()
                    pause = 0.5
                    async for message in pubsub.listen():
                        if message.get("type") != "pmessage":
                            continue
                        channel = message["channel"].decode()
                        topic = channel.removeprefix(REDIS_CHANNEL_PREFIX)
                        self.local.publish(topic, orjson.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("live updates lost Redis; reconnecting", exc_info=True)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10)
            finally:
                await client.aclose()

    async def _listening(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            task = self._listeners.get(loop)
            if task is None or task.done():
                ready = self._ready[loop] = asyncio.Event()
                self._listeners[loop] = loop.create_task(self._listen(ready))
            ready = self._ready[loop]
        # Subscribed before the stream starts, so nothing published after it began is missed.
        await asyncio.wait_for(ready.wait(), 5)

    @asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[Subscription]:
        await self._listening()
        async with self.local.subscribe(*topics) as subscription:
            yield subscription


_hubs: dict[str | None, Hub] = {}
_hubs_lock = threading.Lock()


def hub(settings: Settings | None = None) -> Hub:
    """The process's hub for these settings (Redis when one is configured)."""
    url = (settings or get_settings()).redis_url
    with _hubs_lock:
        found = _hubs.get(url)
        if found is None:
            found = _hubs[url] = RedisHub(url) if url else LocalHub()
        return found


# --- events after commit ------------------------------------------------------------------------

_PENDING = "cxloop.live.pending"


def after_commit(session: Session, topic: str, data: Event) -> None:
    """Publish ``data`` on ``topic`` once the session's transaction commits (the same event
    asked for twice in one transaction is published once); dropped when it rolls back."""
    if session.get_transaction() is None:
        session.begin()  # so that the rollback that drops the event is one the session sees
    pending: dict[tuple[str, bytes], Event] = session.info.setdefault(_PENDING, {})
    pending.setdefault((topic, orjson.dumps(data, option=orjson.OPT_SORT_KEYS)), data)


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    target = hub()
    for (topic, _), data in pending.items():
        target.publish(topic, data)


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, previous_transaction: SessionTransaction) -> None:
    # A savepoint rolled back keeps the rest's events (a hint too many costs a reload).
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)


def encode(data: Event, *, name: str | None = None) -> bytes:
    """One server-sent event: its name (the event's kind) and its data as one JSON line."""
    head = f"event: {name or data.get('kind', 'message')}\n".encode()
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


PING = b": ping\n\n"
