"""The disk spool webhooks answer from: a body kept is handled once, by one taker, and what a
failure or a dead taker left is handled by the next sweep."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from cxloop.core.spool import Spool, Spooled, Unfinished, drain, handle, sweep


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path, "email")


def test_a_kept_body_waits_until_taken_and_is_forgotten_when_done(spool: Spool) -> None:
    name = spool.put(b"From: a@example.com\r\n\r\nhi", label="7")

    assert spool.waiting() == [name] and spool.holds(name, label="7")
    assert not spool.holds(name, label="8")  # another inbox's name is not this one's
    item = spool.take(name)
    assert item is not None and (item.label, item.read()) == ("7", b"From: a@example.com\r\n\r\nhi")
    assert spool.waiting() == [] and spool.depth() == 1
    spool.done(item)
    assert spool.depth() == 0 and not spool.holds(name, label="7")
    assert list((spool.root / "tmp").iterdir()) == []


def test_only_one_taker_gets_a_body(spool: Spool) -> None:
    name = spool.put(b"x", label="1")

    first, second = spool.take(name), spool.take(name)

    assert first is not None and second is None
    assert spool.take("../../etc/passwd") is None  # a name not of the spool's making


def test_bad_labels_are_refused(spool: Spool) -> None:
    with pytest.raises(ValueError):
        spool.put(b"x", label="../1")


def test_failed_work_is_given_back_and_the_next_sweep_does_it_once(spool: Spool) -> None:
    names = [spool.put(f"body {i}".encode(), label="1") for i in range(3)]
    done: list[bytes] = []
    failing = True

    def work(item: Spooled) -> None:
        if failing and item.read() == b"body 1":
            raise RuntimeError("the database is down")
        done.append(item.read())

    assert sweep(spool, work) == 3
    assert done == [b"body 0", b"body 2"] and spool.waiting() == [names[1]]
    failing = False
    assert sweep(spool, work) == 1
    assert done == [b"body 0", b"body 2", b"body 1"] and spool.depth() == 0
    assert sweep(spool, work) == 0


def test_a_body_taken_by_a_taker_that_died_is_handled_again(spool: Spool) -> None:
    name = spool.put(b"x", label="1")
    taken = spool.take(name)
    assert taken is not None  # … and its process died here
    assert spool.recover() == 0  # a taker still at work is left alone
    old = time.time() - 3600
    os.utime(taken.path, (old, old))

    done: list[str] = []
    assert sweep(spool, lambda item: done.append(item.name)) == 1
    assert done == [name] and spool.depth() == 0


def test_the_sweep_leaves_fresh_bodies_to_the_request_that_kept_them(spool: Spool) -> None:
    name = spool.put(b"x", label="1")

    assert sweep(spool, lambda item: None, older_than=30) == 0
    assert handle(spool, name, lambda item: None) and spool.depth() == 0
    assert not handle(spool, name, lambda item: None)


def test_a_drain_takes_bodies_in_batches_and_leaves_a_failed_one_to_the_next_sweep(
    spool: Spool,
) -> None:
    names = [spool.put(f"body {i}".encode(), label="1") for i in range(5)]
    batches: list[list[bytes]] = []

    def work(items: Sequence[Spooled]) -> Unfinished:
        batches.append([item.read() for item in items])
        # body 1 fails; a batch's second body is not reached (out of time) but for body 1's
        return Unfinished(
            failed=frozenset(item.name for item in items if item.read() == b"body 1"),
            not_reached=frozenset(item.name for item in items[1:] if item.read() != b"body 1"),
        )

    assert drain(spool, work, limit=2) == 5  # body 1 was handled: it failed
    assert batches == [
        [b"body 0", b"body 1"],
        [b"body 2", b"body 3"],
        [b"body 3", b"body 4"],
        [b"body 4"],
    ]
    assert spool.waiting() == [names[1]] and spool.depth() == 1

    def broken(items: Sequence[Spooled]) -> Unfinished:
        raise RuntimeError("the database is down")

    assert drain(spool, broken, limit=2) == 1  # tried once, not again and again
    assert spool.waiting() == [names[1]]
    assert drain(spool, lambda items: Unfinished(), limit=2) == 1 and spool.depth() == 0
