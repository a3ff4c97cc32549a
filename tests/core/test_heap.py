"""The server's process sets what it loaded at its start aside from garbage collection: a full
collection then walks only what was made since, and garbage made later is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cxloop.app import create_app
from cxloop.core import heap
from cxloop.core.db import Database
from cxloop.core.settings import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()  # the rest of the test run collects as before


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_settling_leaves_what_is_alive_out_of_later_collections(unfrozen: None) -> None:
    kept = Node()
    tracked = len(gc.get_objects())
    frozen = heap.settle()
    assert frozen == gc.get_freeze_count() >= tracked // 2
    assert len(gc.get_objects()) < tracked // 10  # what a full collection still walks
    gone = Node()
    check = weakref.ref(gone)
    del gone
    gc.collect()
    assert check() is None  # garbage made after settling is collected as before
    assert kept.me is kept


def test_the_served_app_settles_once_started(
    settings: Settings, database: Database, unfrozen: None
) -> None:
    with TestClient(create_app(settings, database=database)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() == 0  # tests and embedded apps leave the collector alone
    with TestClient(create_app(settings, database=database, settle_heap=True)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 100_000
