"""Fixtures of the channel tests: a real SMTP server that keeps what it receives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.smtp import SmtpInbox


@pytest.fixture
def inbox() -> Iterator[SmtpInbox]:
    server = SmtpInbox()
    server.start()
    try:
        yield server
    finally:
        server.stop()
