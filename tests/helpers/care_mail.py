"""Mail into a care inbox through its webhook, as a provider posts it: accepted first, taken in
right after the answer; the helper waits for the mail's receipt and returns it."""

from __future__ import annotations

import time
from typing import Any

RFC822 = {"Content-Type": "message/rfc822"}


def deliver_mail(client: Any, hook: str, body: bytes, *, timeout: float = 15.0) -> dict[str, Any]:
    """POST ``body`` to ``hook`` (a TestClient, an httpx.Client, or the httpx module with a full
    URL) and return the receipt: status, conversation_id, message_id."""
    response = client.post(hook, content=body, headers=RFC822)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "accepted"
    deadline = time.monotonic() + timeout
    while True:
        receipt = client.get(f"{hook}/{accepted['id']}")
        assert receipt.status_code == 200, receipt.text
        result: dict[str, Any] = receipt.json()
        if result["status"] != "waiting" or time.monotonic() > deadline:
            return result
        time.sleep(0.05)
