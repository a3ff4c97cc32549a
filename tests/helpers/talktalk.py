"""A local stand-in for Naver TalkTalk's chat bot send API (``POST /chatbot/v1/event`` with the
partner token as the whole ``Authorization`` header), a real HTTP server on a free port: it
checks the token and the event's fields, keeps what it received, and answers as TalkTalk does
(HTTP 200 with ``success`` and a ``resultCode``), or fails as told."""

from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr

from cxloop.core.settings import Settings
from tests.helpers.providers import CLIENT_TIMEOUT, FakeProvider, Received

PARTNER_TOKEN = "ct_wc8b1i_Pb1AXDQ0RZWuCccpzdNL"


class FakeTalkTalk(FakeProvider):
    sent: list[dict[str, Any]]

    def __init__(self) -> None:
        super().__init__()
        self.sent = []

    def settings(self, base: Settings, *, token: str = PARTNER_TOKEN) -> Settings:
        return base.model_copy(
            update={
                "talktalk_api_url": self.url,
                "talktalk_partner_token": SecretStr(token),
                "provider_timeout_seconds": CLIENT_TIMEOUT,
            }
        )

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 200, {"success": False, "resultCode": "02", "resultMessage": "JSON 파싱 에러"}
        self.received.append(Received(path, headers, body))
        if path != "/chatbot/v1/event":
            return 404, {"success": False, "resultCode": "99", "resultMessage": path}
        if headers.get("Authorization") != PARTNER_TOKEN:
            return 200, {"success": False, "resultCode": "01", "resultMessage": "인증 정보 에러"}
        if not headers.get("Content-Type", "").startswith("application/json"):
            return 200, {"success": False, "resultCode": "02", "resultMessage": "Content-Type"}
        text = (body.get("textContent") or {}).get("text")
        if body.get("event") != "send" or not body.get("user") or not isinstance(text, str):
            return 200, {"success": False, "resultCode": "02", "resultMessage": "필수값 누락"}
        status = self._play_failure()
        if status is not None:
            return status, {"success": False, "resultCode": "99", "resultMessage": "failure"}
        self.sent.append(body)
        return 200, {"success": True, "resultCode": "00"}
