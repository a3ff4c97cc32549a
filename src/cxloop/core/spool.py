"""A durable queue on the local disk for what a webhook accepted and has not handled yet.

A webhook that writes straight to the database makes its sender wait for the database: on
SQLite behind another request's write lock, on a busy server behind everyone's CPU. A sender
that waits too long retries, and a provider that keeps waiting turns the webhook off. So the
webhook only checks who is calling, writes the body here and answers; the work happens right
after, in the same process, and a sweep picks up whatever a crash or a database outage left.

The layout is a mail queue's (``<root>/<kind>/tmp|new|cur``): a body is written to ``tmp``,
flushed to the disk and renamed into ``new``, so a reader never sees half a body and an
accepted body survives a crash. Taking a body renames it into ``cur`` — one rename wins, so two
processes sharing the folder never handle the same body — and a body is removed only after its
work committed. Work must be safe to run twice (a crash between the commit and the removal
repeats it); every handler here stores what it takes once by the sender's own id.

A kind whose handler takes several bodies at once (``SpoolHandler.batch``) is drained: after an
answer, whichever request of the process is not already draining takes every waiting body, up
to ``batch_size`` per call, until none is left. One drain at a time per kind and process, so
bodies that arrive together share a transaction instead of queueing for the database's lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NamedTuple

from cxloop.core.db import Database
from cxloop.core.settings import Settings

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{19})-([a-z0-9_]{1,40})-([0-9a-f]{32})$")
# A body taken longer ago than this belongs to a process that died while handling it.
STALE_SECONDS = 600.0
# The sweep leaves younger bodies to the request that accepted them.
SWEEP_AFTER_SECONDS = 30.0


@dataclass(frozen=True)
class Spooled:
    """One accepted body: its file in ``cur`` once taken, and the label it was put with."""

    path: Path
    label: str
    accepted_ns: int

    @property
    def name(self) -> str:
        return self.path.name

    def read(self) -> bytes:
        return self.path.read_bytes()


class Spool:
    """The bodies of one kind (``email``, ``solapi``…) under ``root``."""

    def __init__(self, root: Path, kind: str) -> None:
        self.root = root / kind
        self.tmp, self.new, self.cur = (self.root / part for part in ("tmp", "new", "cur"))

    def _ready(self) -> None:
        for folder in (self.tmp, self.new, self.cur):
            folder.mkdir(parents=True, exist_ok=True)

    def put(self, body: bytes, *, label: str) -> str:
        """Keep ``body`` on the disk; its name once it is there. ``label`` (lowercase letters,
        digits, ``_``) says what it is for, e.g. the inbox id."""
        if not re.fullmatch(r"[a-z0-9_]{1,40}", label):
            raise ValueError(f"Not a spool label: {label!r}")
        self._ready()
        name = f"{time.time_ns():019d}-{label}-{uuid.uuid4().hex}"
        scratch = self.tmp / name
        with scratch.open("xb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.rename(scratch, self.new / name)
        _sync_folder(self.new)
        return name

    def take(self, name: str) -> Spooled | None:
        """Take the body called ``name`` for handling; None when another taker was first."""
        match = _NAME.match(name)
        if match is None:
            return None
        try:
            os.rename(self.new / name, self.cur / name)
        except FileNotFoundError:
            return None
        return Spooled(self.cur / name, match.group(2), int(match.group(1)))

    def waiting(self, *, older_than: float = 0.0) -> list[str]:
        """The names of bodies not taken yet, oldest first (those accepted at least
        ``older_than`` seconds ago)."""
        cutoff = time.time_ns() - int(older_than * 1e9)
        return sorted(n for n in _names(self.new) if int(n[:19]) <= cutoff)

    def holds(self, name: str, *, label: str) -> bool:
        """Whether the body ``name``, put with ``label``, is still here (waiting or being
        handled)."""
        match = _NAME.match(name)
        if match is None or match.group(2) != label:
            return False
        return (self.new / name).exists() or (self.cur / name).exists()

    def done(self, item: Spooled) -> None:
        """The body's work committed: forget it."""
        item.path.unlink(missing_ok=True)

    def give_back(self, item: Spooled) -> None:
        """The body's work failed: put it back to be tried again by the next sweep."""
        with contextlib.suppress(FileNotFoundError):
            os.rename(item.path, self.new / item.name)

    def recover(self, *, stale_seconds: float = STALE_SECONDS) -> int:
        """Give back bodies taken so long ago that their taker must have died; how many."""
        cutoff = time.time() - stale_seconds
        count = 0
        for name in _names(self.cur):
            path = self.cur / name
            try:
                if path.stat().st_mtime < cutoff:
                    os.rename(path, self.new / name)
                    count += 1
            except FileNotFoundError:
                continue
        return count

    def depth(self) -> int:
        """How many bodies wait or are being handled."""
        return len(list(_names(self.new))) + len(list(_names(self.cur)))


def _names(folder: Path) -> Iterator[str]:
    try:
        entries = os.listdir(folder)
    except FileNotFoundError:
        return
    yield from (name for name in entries if _NAME.match(name))


def _sync_folder(folder: Path) -> None:
    """Make a rename into ``folder`` durable (POSIX: fsync the directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform whose directories cannot be opened (Windows)
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def handle(spool: Spool, name: str, work: Callable[[Spooled], None]) -> bool:
    """Take ``name`` and do its ``work``; the body is forgotten when the work returned and given
    back when it raised (logged, tried again later). False when another taker had it."""
    item = spool.take(name)
    if item is None:
        return False
    try:
        work(item)
    except Exception:
        log.exception("Handling spooled %s failed; it stays for the next sweep", item.name)
        spool.give_back(item)
        return True
    spool.done(item)
    return True


class Unfinished(NamedTuple):
    """What a batch's work did not finish: bodies it tried and failed (left for the next sweep)
    and bodies it did not reach (taken again by the next batch)."""

    failed: frozenset[str] = frozenset()
    not_reached: frozenset[str] = frozenset()


BatchWork = Callable[[Sequence[Spooled]], Unfinished]


def handle_batch(spool: Spool, items: Sequence[Spooled], work: BatchWork) -> Unfinished:
    """Do the ``work`` of bodies already taken, together: those it did not finish, or all when
    it raised, are given back; the rest are forgotten."""
    try:
        unfinished = work(items)
    except Exception:
        log.exception("Handling %d spooled bodies failed; they stay for the next sweep", len(items))
        unfinished = Unfinished(failed=frozenset(item.name for item in items))
    for item in items:
        if item.name in unfinished.failed or item.name in unfinished.not_reached:
            spool.give_back(item)
        else:
            spool.done(item)
    return unfinished


def take_waiting(
    spool: Spool, *, limit: int, older_than: float = 0.0, skip: Collection[str] = ()
) -> list[Spooled]:
    """Take up to ``limit`` waiting bodies, oldest first, but those in ``skip`` (bodies another
    taker has are passed over too)."""
    taken: list[Spooled] = []
    for name in spool.waiting(older_than=older_than):
        if name in skip:
            continue
        item = spool.take(name)
        if item is not None:
            taken.append(item)
            if len(taken) >= limit:
                break
    return taken


def sweep(spool: Spool, work: Callable[[Spooled], None], *, older_than: float = 0.0) -> int:
    """Handle what waits (taken back first from dead takers); how many bodies were handled."""
    spool.recover()
    return sum(handle(spool, name, work) for name in spool.waiting(older_than=older_than))


def drain(spool: Spool, work: BatchWork, *, limit: int, older_than: float = 0.0) -> int:
    """Handle waiting bodies up to ``limit`` at a time until none is left; how many were
    handled. A body that failed is left for the next sweep, not tried again at once."""
    handled = 0
    failed: set[str] = set()
    size = limit
    while items := take_waiting(spool, limit=size, older_than=older_than, skip=failed):
        unfinished = handle_batch(spool, items, work)
        failed |= unfinished.failed
        finished = len(items) - len(unfinished.not_reached)
        handled += finished
        # Take about as many as the last batch had time for, so bodies it would not reach
        # are not taken and given back again and again.
        size = min(limit, finished + finished // 2 + 1)
    return handled


@dataclass(frozen=True)
class SpoolHandler:
    """What handles the bodies of one kind (registered by its domain, see ``domains``):
    ``work`` one body; ``batch``, when given, up to ``batch_size`` bodies in one go, saying
    which it did not finish."""

    kind: str
    work: Callable[[Database, Spooled], None]
    batch: Callable[[Database, Sequence[Spooled]], Unfinished] | None = None
    batch_size: int = 1


@dataclass
class _Draining:
    """Whether a request of this process drains a spool, and whether more came meanwhile."""

    running: bool = False
    again: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


_draining: dict[Path, _Draining] = {}
_draining_lock = threading.Lock()


def _drain_soon(spool: Spool, handler: SpoolHandler, database: Database) -> None:
    """Drain ``spool`` unless another thread of this process is at it; that one then drains
    once more, so a body accepted while it ran is never left to the sweep."""
    batch = handler.batch
    assert batch is not None
    with _draining_lock:
        state = _draining.setdefault(spool.root, _Draining())
    with state.lock:
        state.again = True
        if state.running:
            return
        state.running = True
    try:
        while True:
            with state.lock:
                if not state.again:
                    state.running = False
                    return
                state.again = False
            drain(spool, partial(batch, database), limit=handler.batch_size)
    except BaseException:
        with state.lock:
            state.running = False
        raise


handlers: list[SpoolHandler] = []


def spool_of(settings: Settings, kind: str) -> Spool:
    return Spool(settings.data_dir / "spool", kind)


def handle_now(database: Database, settings: Settings, kind: str, name: str) -> None:
    """Handle the body ``name`` of ``kind`` just accepted (after the answer was sent): alone,
    or with whatever else waits when its kind is handled in batches."""
    handler = next(registered for registered in handlers if registered.kind == kind)
    spool = spool_of(settings, kind)
    if handler.batch is None:
        handle(spool, name, partial(handler.work, database))
    else:
        _drain_soon(spool, handler, database)


class Sweeper(threading.Thread):
    """Every ``interval`` seconds (and once at start), handle every registered kind's bodies
    that a crash or a failed try left behind."""

    def __init__(self, database: Database, settings: Settings, *, interval: float = 60.0) -> None:
        super().__init__(name="cxloop-spool-sweeper", daemon=True)
        self.database, self.settings, self.interval = database, settings, interval
        self._stop_event = threading.Event()

    def sweep_once(self, *, older_than: float = SWEEP_AFTER_SECONDS) -> int:
        handled = 0
        for registered in list(handlers):
            spool = spool_of(self.settings, registered.kind)
            if registered.batch is None:
                work = partial(registered.work, self.database)
                handled += sweep(spool, work, older_than=older_than)
            else:
                spool.recover()
                batch = partial(registered.batch, self.database)
                handled += drain(spool, batch, limit=registered.batch_size, older_than=older_than)
        return handled

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.sweep_once()
            except Exception:  # the disk or the database failed; the next round tries again
                log.exception("The spool sweep failed")
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
