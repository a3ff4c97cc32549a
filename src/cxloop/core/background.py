"""In-process background services: the Huey consumer and the bus pump (serve or worker).

Core knows no domain: whoever starts this (the app, the worker) passes ``prepare``, which plugs
the domains in (their jobs among them) before the consumer starts, and ``start_bus``, which
starts the bus pump and returns it (a thread with ``stop()``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from huey.consumer import Consumer

from cxloop.core.db import Database
from cxloop.core.jobs import huey
from cxloop.core.settings import Settings

log = logging.getLogger(__name__)


class EmbeddedConsumer(Consumer):
    """A Huey consumer that leaves signal handling to its host (uvicorn or the worker)."""

    def _set_signal_handlers(self) -> None:
        return None


class Pump(Protocol):
    def stop(self) -> None: ...


@dataclass
class Background:
    database: Database
    settings: Settings
    prepare: Callable[[], None]
    start_bus: Callable[[Database, Settings], Pump] | None = None
    run_jobs: bool = True
    workers: int = 2
    _consumer: EmbeddedConsumer | None = field(default=None, init=False)
    _pump: Pump | None = field(default=None, init=False)

    def start(self) -> None:
        self.prepare()
        if self.run_jobs and not huey.immediate:
            self._consumer = EmbeddedConsumer(
                huey,
                workers=self.workers,
                worker_type="thread",
                periodic=True,
                check_worker_health=False,
                # An idle consumer polls the embedded (SQLite) queue at least once a second,
                # not every 10 s, so a job enqueued at commit (the mail sender) starts at once.
                max_delay=1.0,
            )
            self._consumer.start()
        if self.start_bus is not None:
            self._pump = self.start_bus(self.database, self.settings)

    def stop(self) -> None:
        if self._pump is not None:
            self._pump.stop()
        if self._consumer is not None:
            self._consumer.stop(graceful=True)
