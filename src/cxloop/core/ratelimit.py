"""Rate limits on what the public and members may try: counted in Redis when one is configured
(so every ``cxloop serve`` process shares the count), else in this process (the embedded
default runs one).

Rules are written as ``limits`` strings ("20/minute", "5 per 10 seconds"); a key names who is
counted (a client address, a survey link, an e-mail).
"""

from __future__ import annotations

import math
import threading
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from cxloop.core.errors import TooManyRequests


class RateLimited(TooManyRequests):
    """Over a rate limit; ``retry_after`` seconds until the next try may pass."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        """The headers of the 429 that say when to try again."""
        return {"Retry-After": str(self.retry_after)}


class RateLimiter:
    """A moving-window limiter over named keys, and a sliding-window counter for rules that
    count many at once (:meth:`take`)."""

    def __init__(self, redis_url: str | None = None) -> None:
        storage = storage_from_string(redis_url) if redis_url else MemoryStorage()
        assert isinstance(storage, Storage)  # the synchronous kind, not limits.aio
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._counter = SlidingWindowCounterRateLimiter(self.storage)

    def allow(self, rule: str, *key: str) -> bool:
        """Count one try against ``rule`` for ``key``; False when it is over the limit."""
        return self._limiter.hit(_item(rule), "cxloop", *key)

    def retry_after(self, rule: str, *key: str) -> int:
        """Whole seconds until ``key`` may try again under ``rule`` (0 when it may now)."""
        stats = self._limiter.get_window_stats(_item(rule), "cxloop", *key)
        if stats.remaining > 0:
            return 0
        return max(1, math.ceil(stats.reset_time - time.time()))

    def check(self, rule: str, *key: str, detail: str) -> None:
        """Count one try; raise :class:`RateLimited` (429 with Retry-After) when over."""
        if not self.allow(rule, *key):
            raise RateLimited(detail, retry_after=self.retry_after(rule, *key))

    def take(self, rule: str, *key: str, cost: int) -> int:
        """Count ``cost`` at once (a batch's events) against ``rule`` for ``key``: 0 when they
        pass, else whole seconds (at least 1) before the next try, and none of them counted.

        A sliding-window counter, not the moving window: the moving window keeps a timestamp
        per unit counted (a minute of a busy write key's events, pushed 500 at a time onto a
        Redis list), the counter keeps two numbers per key, so a hit costs the same small
        amount (one Redis round trip) whatever ``cost`` and the limit are. It weighs the last
        window's count by how much of it still overlaps, which is close enough for a flood
        limit. A rule is counted either here or with :meth:`allow`, never both: the two strategies
        keep separate counts."""
        item = _item(rule)
        if self._counter.hit(item, "cxloop", *key, cost=cost):
            return 0
        stats = self._counter.get_window_stats(item, "cxloop", *key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def clear(self, rule: str, *key: str) -> None:
        """Forget the tries counted for ``key`` (e.g. after a successful sign-in)."""
        self._limiter.clear(_item(rule), "cxloop", *key)

    def reset(self) -> None:
        """Forget every count (tests)."""
        self.storage.reset()


def allowance(rule: str) -> int:
    """How many ``rule`` lets pass in one window ("60000 per minute": 60000)."""
    return _item(rule).amount


_items: dict[str, RateLimitItem] = {}
_lock = threading.Lock()


def _item(rule: str) -> RateLimitItem:
    with _lock:
        if rule not in _items:
            _items[rule] = parse(rule)
        return _items[rule]
