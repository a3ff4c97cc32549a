"""A real SMTP server (aiosmtpd) on a local port that keeps what it receives, for the mail tests."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from cxloop.core.settings import Settings
from tests.conftest import free_port


class SmtpInbox:
    """A real SMTP server on a free local port that keeps what it receives. Addresses in
    ``refuse`` get a permanent 550, those in ``defer`` a temporary 451."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refuse: set[str] = set()
        self.defer: set[str] = set()
        self._controller: Controller | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        if address in self.defer:
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        """The messages received for ``address``, parsed."""
        return [
            message_from_bytes(content, policy=policy.default)  # type: ignore[misc]
            for _sender, recipients, content in self.received
            if address in recipients
        ]

    def settings(self, base: Settings) -> Settings:
        return base.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_security": "none"}
        )
