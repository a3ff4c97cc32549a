"""In-process background services: the Huey consumer and the bus pump (serve or worker)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from huey.consumer import Consumer

from cxloop.core.db import Database
from cxloop.core.jobs import huey
from cxloop.core.settings import Settings

log = logging.getLogger(__name__)


class EmbeddedConsumer(Consumer):
    """A Huey consumer that leaves signal handling to its host (uvicorn or the worker)."""

    def _set_signal_handlers(self) -> None:
        return None


@dataclass
class Background:
    database: Database
    settings: Settings
    run_jobs: bool = True
    run_bus: bool = True
    workers: int = 2
    _consumer: EmbeddedConsumer | None = field(default=None, init=False)
    _pump: object | None = field(default=None, init=False)

    def start(self) -> None:
        # Imported here: registering tasks and consumers pulls in the domains.
        from cxloop import tasks  # noqa: F401
        from cxloop.events.bus import BusPump

        if self.run_jobs and not huey.immediate:
            self._consumer = EmbeddedConsumer(
                huey,
                workers=self.workers,
                worker_type="thread",
                periodic=True,
                check_worker_health=False,
            )
            self._consumer.start()
        if self.run_bus:
            pump = BusPump(
                self.database,
                poll_seconds=self.settings.bus_poll_seconds,
                batch_size=self.settings.bus_batch_size,
            )
            pump.start()
            self._pump = pump

    def stop(self) -> None:
        from cxloop.events.bus import BusPump

        if isinstance(self._pump, BusPump):
            self._pump.stop()
        if self._consumer is not None:
            self._consumer.stop(graceful=True)
