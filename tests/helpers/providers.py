"""Local stand-ins for the messaging providers, real HTTP servers on free ports that speak their
documented formats: Solapi (``POST /messages/v4/send-many/detail``, HMAC-SHA256 signed) and NHN
Cloud Alimtalk (``POST /alimtalk/v2.3/appkeys/{appkey}/messages`` with ``X-Secret-Key`` and the
idempotency key). Each checks the credentials and the fields, keeps what it received, answers
as the provider does, and can be told to fail the next requests (a status, or no answer in
time)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import SecretStr

from cxloop.core.settings import Settings

SOLAPI_KEY = "NCSTESTKEY0001"
SOLAPI_SECRET = "solapi-test-secret-0123456789abcdef"
SMS_SENDER = "02-1588-0000"
NHN_APPKEY = "nhnTestAppKey01"
NHN_SECRET = "nhn-secret-key-0123"
KAKAO_SENDER_KEY = "a" * 40
# How long a "slow" answer takes: longer than the client timeout the tests set.
SLOW_SECONDS = 1.5
CLIENT_TIMEOUT = 0.5

_AUTH = re.compile(
    r"^HMAC-SHA256 apiKey=(?P<key>[^,]+), date=(?P<date>[^,]+), salt=(?P<salt>[^,]+), "
    r"signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeProvider:
    """What the fakes share: the server thread, what came in, and the failures to play."""

    received: list[Received] = field(default_factory=list)
    failures: deque[int | str] = field(default_factory=deque)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _busy: int = 0
    _idle: threading.Condition = field(default_factory=threading.Condition)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no request is being answered (a slow answer finishes after the client
        gave up on it)."""
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout=timeout)

    def fail_next(self, *outcomes: int | str) -> None:
        """Answer the next requests with these HTTP statuses, or ``"slow"`` (no answer within
        the client's timeout, after the request was taken: as if the answer were lost)."""
        self.failures.extend(outcomes)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with provider._idle:
                    provider._busy += 1
                try:
                    status, answer = provider.handle(self.path, dict(self.headers.items()), raw)
                finally:
                    with provider._idle:
                        provider._busy -= 1
                        provider._idle.notify_all()
                data = json.dumps(answer, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json;charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a "slow" answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        raise NotImplementedError

    def _play_failure(self) -> int | None:
        """The HTTP status to fail with now, if told to; sleeps for a slow answer."""
        if not self.failures:
            return None
        outcome = self.failures.popleft()
        if outcome == "slow":
            time.sleep(SLOW_SECONDS)
            return None
        return int(outcome)


class FakeSolapi(FakeProvider):
    """Solapi's message API: a signed request, one message per request in these tests."""

    sent: list[dict[str, Any]]

    def __init__(self) -> None:
        super().__init__()
        self.sent = []

    def settings(self, base: Settings) -> Settings:
        return base.model_copy(
            update={
                "solapi_base_url": self.url,
                "solapi_api_key": SOLAPI_KEY,
                "solapi_api_secret": SecretStr(SOLAPI_SECRET),
                "sms_sender": SMS_SENDER,
                "provider_timeout_seconds": CLIENT_TIMEOUT,
            }
        )

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        body = json.loads(raw or b"{}")
        self.received.append(Received(path, headers, body))
        if path != "/messages/v4/send-many/detail":
            return 404, {"errorCode": "NotFound", "errorMessage": path}
        auth = _AUTH.match(headers.get("Authorization", ""))
        if auth is None or auth["key"] != SOLAPI_KEY:
            return 401, {"errorCode": "InvalidAPIKey", "errorMessage": "unknown API key"}
        expected = hmac.new(
            SOLAPI_SECRET.encode(), (auth["date"] + auth["salt"]).encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, auth["signature"]):
            return 401, {"errorCode": "SignatureDoesNotMatch", "errorMessage": "bad signature"}
        date = datetime.strptime(auth["date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs(datetime.now(UTC) - date) > timedelta(minutes=15):
            return 401, {"errorCode": "RequestTimeTooSkewed", "errorMessage": "date"}
        status = self._play_failure()
        if status is not None:
            return status, {"errorCode": "Failure", "errorMessage": f"told to fail with {status}"}
        registered, failed = [], []
        for message in body.get("messages", []):
            if not str(message.get("to", "")).isdigit() or message.get("from") != "0215880000":
                failed.append({**message, "statusCode": "1062", "statusMessage": "잘못된 번호"})
                continue
            message_id = f"M4V{len(self.sent) + 1:05d}TEST"
            self.sent.append({**message, "messageId": message_id})
            registered.append({**message, "messageId": message_id, "statusCode": "2000"})
        return 200, {
            "groupInfo": {"groupId": "G4V20261206TEST", "status": "SENDING"},
            "messageList": registered,
            "failedMessageList": failed,
        }


class FakeNhnAlimtalk(FakeProvider):
    """NHN Cloud's Alimtalk API: refuses a repeated idempotency key within 10 minutes."""

    sent: list[dict[str, Any]]

    def __init__(self) -> None:
        super().__init__()
        self.sent = []
        self.keys: dict[str, float] = {}

    def settings(self, base: Settings, *, sms_sender: str | None = SMS_SENDER) -> Settings:
        return base.model_copy(
            update={
                "nhn_alimtalk_base_url": self.url,
                "nhn_appkey": NHN_APPKEY,
                "nhn_secret_key": SecretStr(NHN_SECRET),
                "kakao_sender_key": KAKAO_SENDER_KEY,
                "sms_sender": sms_sender,
                "provider_timeout_seconds": CLIENT_TIMEOUT,
            }
        )

    @staticmethod
    def _refusal(code: int, message: str) -> dict[str, Any]:
        return {"header": {"resultCode": code, "resultMessage": message, "isSuccessful": False}}

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        body = json.loads(raw or b"{}")
        self.received.append(Received(path, headers, body))
        if path != f"/alimtalk/v2.3/appkeys/{NHN_APPKEY}/messages":
            return 404, self._refusal(-1, "no such app key")
        if headers.get("X-Secret-Key") != NHN_SECRET:
            return 401, self._refusal(-1, "wrong secret key")
        if body.get("senderKey") != KAKAO_SENDER_KEY or not body.get("templateCode"):
            return 200, self._refusal(-1004, "invalid senderKey or templateCode")
        key = headers.get("X-NC-API-IDEMPOTENCY-KEY", "")
        now = time.monotonic()
        if key and now - self.keys.get(key, -1e9) < 600:
            return 200, self._refusal(-9999, "duplicate request (idempotency key)")
        if key:
            self.keys[key] = now
        status = self._play_failure()
        if status is not None:
            self.keys.pop(key, None)  # a failed request sent nothing
            return status, self._refusal(-1, f"told to fail with {status}")
        results = []
        for seq, recipient in enumerate(body.get("recipientList", []), start=1):
            self.sent.append({**recipient, "templateCode": body["templateCode"]})
            results.append(
                {
                    "recipientSeq": seq,
                    "recipientNo": recipient["recipientNo"],
                    "resultCode": 0,
                    "resultMessage": "SUCCESS",
                    "recipientGroupingKey": recipient.get("recipientGroupingKey"),
                }
            )
        request_id = f"20261206{len(self.sent):010d}"
        return 200, {
            "header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": True},
            "message": {"requestId": request_id, "sendResults": results},
        }
