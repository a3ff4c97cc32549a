"""The messaging providers' local stand-ins, one per test that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.providers import FakeNhnAlimtalk, FakeSolapi


@pytest.fixture
def solapi() -> Iterator[FakeSolapi]:
    server = FakeSolapi()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nhn() -> Iterator[FakeNhnAlimtalk]:
    server = FakeNhnAlimtalk()
    server.start()
    try:
        yield server
    finally:
        server.stop()
