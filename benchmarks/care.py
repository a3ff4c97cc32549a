"""The care inbox under load: a real ``cxloop serve`` with 100,000 conversations, measured
against baselines run in the same process.

    python benchmarks/care.py --quick               # both databases, 20,000 conversations
    python benchmarks/care.py --db sqlite           # 100,000 conversations; ~10 min a database
    python benchmarks/care.py --only list,sse       # some of: list, email, hooks, sse

Four sub-benchmarks, each with the goal of the care issue:

1. ``list``: the inbox page (``GET /inbox?view=…``) and the API (``GET /api/v1/care/
   conversations``: first page, the next by cursor, one inbox) with N conversations stored,
   p50/p95; baseline: the raw ``SELECT … ORDER BY last_message_at DESC LIMIT 25``. Goal < 300 ms.
2. ``email``: inbound raw mail (Korean and English, replies threaded by In-Reply-To/References,
   HTML, multipart, a few attachments) taken in, in process, as the webhook takes it: accepted
   onto the spool, then drained ``MAIL_BATCH`` messages per transaction
   (``take_spooled_mails``); beside it ``take_mail`` one transaction per message as before
   batching (the two and the baseline alternate in rounds of 50); then over HTTP (``POST
   /hooks/email/{token}``, 4 client threads): how fast mail is accepted (the webhook answers
   once it is on the disk) and how fast it is taken in (from the first POST until every
   accepted mail has its receipt); baseline: ``email.message_from_bytes`` and a raw insert of
   a conversation and a message. Goal ≥ 200 messages/s taken in, in process.
3. ``hooks``: webhook acknowledgement (inbound email, Solapi delivery reports; both answer once
   the body is on the disk) while a load generator keeps ingestion and the bus busy
   (``/v1/batch``), p50/p99; baseline: the same webhooks with the bus idle. Goal p99 < 100 ms.
4. ``sse``: one customer message fanned out to 200 agents' open ``/inbox/live`` streams: per
   stream, the time from the webhook's answer to the ``conversation`` event; baseline: the
   webhook's own latency. Goal p95 < 500 ms. SQLite runs the embedded hub; PostgreSQL runs
   with Redis (``--redis``) and a ``cxloop worker`` beside the server.

Results go to ``benchmarks/results/care-<db><tag>.json``. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email
import email.policy
import html
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from _common import (
    Server,
    cli,
    drop_pg_database,
    load_summary,
    percentile,
    recreate_pg_database,
    server_env,
)
from ingest import BATCH, Workload, bus_backlog, loader_engine, wait_for_bus
from sqlalchemy import Engine, func, insert, select, text

from cxloop.care import service as care_service
from cxloop.care.inbound_mail import MAIL_BATCH, MAIL_SPOOL, take_mail, take_spooled_mails
from cxloop.core.db import READ_ONLY, Database, make_engine, refresh_statistics
from cxloop.core.settings import get_settings, reset_settings
from cxloop.core.spool import handle_batch, spool_of, take_waiting
from cxloop.models import (
    CareInbox,
    Conversation,
    ConversationMessage,
    Customer,
    Identity,
    InboundMailReceipt,
    Membership,
    OutboundMessage,
    User,
    Workspace,
)
from cxloop.models.base import table_of

RESULTS = Path(__file__).resolve().parent / "results"
PASSWORD = "care-bench-Agent-2026!"
GOAL_LIST_MS = 300.0
GOAL_FANOUT_P95_MS = 500.0
GOAL_EMAIL_PER_S = 200.0
GOAL_HOOK_P99_MS = 100.0
INBOXES = 20  # the inbound webhook allows 600 messages a minute per inbox
TAKE_WAIT_SECONDS = 180.0  # how long after the last POST the accepted mail may take to go in
SMS_SENT = 5_000  # SMS in the outbox that Solapi's delivery reports name
ROUND = 50  # messages per round of the in-process email step (drained, single, baseline)


@dataclass(frozen=True)
class Sizes:
    conversations: int
    list_requests: int  # timed requests per list query
    agents: int  # open /inbox/live streams
    sse_messages: int
    emails_in_process: int
    emails_http: int
    email_seconds: float  # time limit of the HTTP email step
    hook_requests: int  # timed requests per webhook and bus state
    busy_batches: int  # /v1/batch bodies of 500 events ready for the load generator


FULL = Sizes(100_000, 40, 200, 20, 500, 1_500, 60.0, 200, 40)
QUICK = Sizes(20_000, 15, 200, 6, 300, 300, 20.0, 80, 20)


# --- the data: customers, conversations, messages ------------------------------------------------

SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
GIVEN = ("민준", "서연", "도윤", "하은", "시우", "지유", "예준", "서윤", "주원", "지민")
EN_NAMES = ("Olivia Park", "James Kim", "Emma Lee", "Noah Choi", "Mia Jung", "Liam Han")
KO_SUBJECTS = (
    "주문한 상품이 아직 도착하지 않았어요",
    "환불 문의드립니다",
    "교환 요청 (사이즈)",
    "쿠폰이 적용되지 않습니다",
    "배송지 변경 가능할까요?",
    "제품 불량 문의",
    "회원 탈퇴 방법",
    "영수증 재발행 부탁드립니다",
)
EN_SUBJECTS = (
    "Where is my order?",
    "Refund request",
    "Wrong item delivered",
    "Cannot apply my coupon",
    "Change of delivery address",
    "Damaged product",
)
KO_BODIES = (
    "안녕하세요. 지난주 {n}번으로 주문했는데 아직 배송이 시작되지 않았다고 나와요. "
    "언제 받을 수 있는지 알려주세요.",
    "받은 제품 포장이 찢어져 있고 내용물이 새어 있었습니다. 사진 첨부합니다. 교환 부탁드려요.",
    "쿠폰함에 있는 15% 할인 쿠폰이 결제 단계에서 적용되지 않습니다. 확인 부탁드립니다.",
    "사이즈가 맞지 않아 한 치수 큰 것으로 교환하고 싶어요. 회수는 언제 오나요?",
    "답변 감사합니다. 그런데 아직 환불 금액이 카드로 들어오지 않았어요.",
)
EN_BODIES = (
    "Hello, I ordered #{n} last week and the tracking page still says the parcel has not "
    "shipped. Could you tell me when it will arrive?",
    "The bottle arrived broken and leaked all over the box. I would like a replacement.",
    "My 15% coupon is not accepted at checkout, although it is valid until the end of the month.",
    "Thanks for the quick answer, but the refund has not reached my card yet.",
)
STATUSES = (("open", 0.35), ("pending", 0.10), ("snoozed", 0.05), ("resolved", 0.50))
PRIORITIES = (("normal", 0.7), ("high", 0.15), ("low", 0.1), ("urgent", 0.05))


def weighted(rng: random.Random, choices: Sequence[tuple[str, float]]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


@dataclass
class Bench:
    """What setup made: the database, the server's environment, keys, inboxes and agents."""

    kind: str
    url: str
    env: dict[str, str]
    data_dir: Path
    workspace_id: int
    api_key: str  # an agent's API key
    admin_key: str
    write_key: str
    inboxes: list[tuple[int, str, str]] = field(default_factory=list)  # (id, token, address)
    agents: list[tuple[int, str]] = field(default_factory=list)  # (user id, email)
    customers: list[tuple[int, str, str]] = field(default_factory=list)  # (id, email, name)
    # (customer email, Message-ID, subject) of preloaded customer messages, for replies to them
    earlier: list[tuple[str, str, str]] = field(default_factory=list)
    sms_ids: list[str] = field(default_factory=list)


def new_ids(conn: Any, table: str, count: int) -> list[int]:
    """Ids for ``count`` rows written with explicit ids (PostgreSQL's sequence stays right)."""
    if conn.dialect.name == "postgresql":
        return list(
            conn.scalars(
                text(f"SELECT nextval('{table}_id_seq') FROM generate_series(1, :n)"), {"n": count}
            )
        )
    top = conn.scalar(text(f"SELECT max(id) FROM {table}")) or 0
    return list(range(top + 1, top + 1 + count))


def make_agents(engine: Engine, bench: Bench, count: int) -> None:
    """The first agent came from the CLI; the others are copies of it (same password hash),
    written directly: creating 200 users through the CLI would take minutes."""
    with engine.begin() as conn:
        first = conn.execute(
            select(User.id, User.email, User.password_hash).where(User.email == "agent0@bench.kr")
        ).one()
        bench.agents = [(first.id, first.email)]
        now = datetime.now(UTC)
        rows = [
            {
                "email": f"agent{n}@bench.kr",
                "display_name": f"{SURNAMES[n % len(SURNAMES)]}{GIVEN[n % len(GIVEN)]} {n}",
                "password_hash": first.password_hash,
                "locale": "ko",
                "is_active": True,
                "created_at": now,
            }
            for n in range(1, count)
        ]
        if rows:
            conn.execute(insert(table_of(User)), rows)
        users = conn.execute(
            select(User.id, User.email).where(
                User.email.like("agent%@bench.kr"), User.id != first.id
            )
        ).all()
        conn.execute(
            insert(table_of(Membership)),
            [
                {
                    "workspace_id": bench.workspace_id,
                    "user_id": uid,
                    "role": "agent",
                    "teams": [f"team{uid % 4}"],
                }
                for uid, _ in users
            ],
        )
        bench.agents += [(uid, mail) for uid, mail in users]


def make_inboxes(engine: Engine, bench: Bench, first_token: str) -> None:
    """The first inbox came from the CLI; the others are written with the service's own token
    hash (the webhook's rate limit is per inbox, so the HTTP steps spread mail over them)."""
    with engine.begin() as conn:
        first_id = conn.scalar(
            select(CareInbox.id).where(CareInbox.workspace_id == bench.workspace_id)
        )
        bench.inboxes = [(int(first_id or 0), first_token, "help0@shop.example.kr")]
        for n in range(1, INBOXES):
            token = f"bench-inbox-{n}-" + base64.urlsafe_b64encode(os.urandom(18)).decode()
            inbox_id = conn.execute(
                insert(table_of(CareInbox)).returning(table_of(CareInbox).c.id),
                {
                    "workspace_id": bench.workspace_id,
                    "name": f"고객센터 {n}",
                    "channel": "email",
                    "address": f"help{n}@shop.example.kr",
                    "team": f"team{n % 4}",
                    "token_hash": care_service.hash_token(token),
                    "reopen_days": 7,
                    "active": True,
                    "csat_enabled": False,
                    "created_at": datetime.now(UTC),
                },
            ).scalar_one()
            bench.inboxes.append((int(inbox_id), token, f"help{n}@shop.example.kr"))


def preload(engine: Engine, bench: Bench, n_conversations: int, seed: int) -> dict[str, Any]:
    """Store ``n_conversations`` conversations of the last half year (1–5 messages each, their
    customers with email identities) and ``SMS_SENT`` sent SMS, through Core bulk inserts."""
    rng = random.Random(seed)
    t0 = time.perf_counter()
    now = datetime.now(UTC)
    loader = loader_engine(engine)
    n_customers = max(100, n_conversations // 2)
    agents = [uid for uid, _ in bench.agents]
    messages = 0
    with loader.connect() as conn:
        with conn.begin():
            ids = new_ids(conn, "customers", n_customers)
            customers, identities = [], []
            for n, cid in enumerate(ids):
                korean = rng.random() < 0.8
                name = rng.choice(SURNAMES) + rng.choice(GIVEN) if korean else rng.choice(EN_NAMES)
                address = f"c{n}@{'example.kr' if korean else 'example.com'}"
                customers.append(
                    {
                        "id": cid,
                        "workspace_id": bench.workspace_id,
                        "display_name": name,
                        "email": address,
                        "traits": {"email": address, "name": name},
                        "touchpoints": {},
                        "lifecycle_stage": "customer",
                        "event_count": 0,
                        "order_count": 0,
                        "total_revenue": Decimal(0),
                        "created_at": now - timedelta(days=400),
                        "updated_at": now - timedelta(days=1),
                    }
                )
                identities.append(
                    {
                        "workspace_id": bench.workspace_id,
                        "customer_id": cid,
                        "kind": "email",
                        "value": address,
                        "source": "bench",
                        "created_at": now - timedelta(days=400),
                    }
                )
                bench.customers.append((cid, address, name))
            conn.execute(insert(table_of(Customer)), customers)
            conn.execute(insert(table_of(Identity)), identities)
        chunk = 5_000
        done = 0
        while done < n_conversations:
            count = min(chunk, n_conversations - done)
            with conn.begin():
                conv_ids = new_ids(conn, "conversations", count)
                conversations: list[dict[str, Any]] = []
                rows: list[dict[str, Any]] = []
                for cid in conv_ids:
                    inbox_id, _, _ = rng.choice(bench.inboxes)
                    customer_id, address, _ = rng.choice(bench.customers)
                    korean = address.endswith(".kr")
                    subject = rng.choice(KO_SUBJECTS if korean else EN_SUBJECTS)
                    status = weighted(rng, STATUSES)
                    created = now - timedelta(seconds=rng.randrange(3600, 180 * 86400))
                    n_messages = rng.randrange(1, 6)
                    times = sorted(
                        created + timedelta(seconds=rng.randrange(0, 3 * 86400))
                        for _ in range(n_messages - 1)
                    )
                    times = [created, *times]
                    assignee = None
                    if status != "open" or rng.random() < 0.7:
                        assignee = rng.choice(agents)
                    first_out = next((t for i, t in enumerate(times) if i % 2 == 1), None)
                    conversations.append(
                        {
                            "id": cid,
                            "workspace_id": bench.workspace_id,
                            "inbox_id": inbox_id,
                            "customer_id": customer_id,
                            "channel": "email",
                            "status": status,
                            "priority": weighted(rng, PRIORITIES),
                            "subject": subject,
                            "contact": address,
                            "team": f"team{inbox_id % 4}",
                            "assignee_id": assignee,
                            "language": "ko" if korean else "en",
                            "tags": rng.choice(([], [], ["배송"], ["환불"], ["vip", "교환"])),
                            "snoozed_until": now + timedelta(days=2)
                            if status == "snoozed"
                            else None,
                            "last_message_at": times[-1],
                            "last_customer_message_at": times[-1 if n_messages % 2 else -2],
                            "first_response_at": first_out,
                            "resolved_at": times[-1] + timedelta(hours=1)
                            if status == "resolved"
                            else None,
                            "created_at": created,
                            "updated_at": times[-1],
                        }
                    )
                    for k, moment in enumerate(times):
                        inbound = k % 2 == 0
                        body = rng.choice(KO_BODIES if korean else EN_BODIES).format(n=cid)
                        message_id = (
                            f"<pre{cid}.{k}@mail.example.kr>"
                            if inbound
                            else f"<cx{cid}.{k}@cxloop.example>"
                        )
                        rows.append(
                            {
                                "workspace_id": bench.workspace_id,
                                "conversation_id": cid,
                                "direction": "in" if inbound else "out",
                                "author": "customer" if inbound else "agent",
                                "author_user_id": None if inbound else assignee,
                                "subject": subject,
                                "body_text": body,
                                "body_html": "",
                                "channel_message_id": message_id,
                                "thread_ids": [],
                                "automatic": False,
                                "problem": "",
                                "raw": "",
                                "details": {},
                                "sent_at": moment if inbound else None,
                                "created_at": moment,
                            }
                        )
                        if inbound and rng.random() < 0.03:
                            bench.earlier.append((address, message_id, subject))
                conn.execute(insert(table_of(Conversation)), conversations)
                conn.execute(insert(table_of(ConversationMessage)), rows)
                messages += len(rows)
            done += count
            print(f"  preloaded {done:,}/{n_conversations:,} conversations", end="\r", flush=True)
        with conn.begin():
            sms = []
            for n in range(SMS_SENT):
                provider_id = f"M4V{seed}{n:08d}BENCH"
                sms.append(
                    {
                        "workspace_id": bench.workspace_id,
                        "channel": "sms",
                        "purpose": "service",
                        "customer_id": rng.choice(bench.customers)[0],
                        "recipient": f"010{rng.randrange(10_000_000, 99_999_999)}",
                        "body_text": "주문하신 상품이 출고되었습니다.",
                        "details": {},
                        "dedupe_key": f"bench-sms-{n}",
                        "status": "sent",
                        "attempts": 1,
                        "send_after": now - timedelta(hours=1),
                        "sent_at": now - timedelta(hours=1),
                        "provider_message_id": provider_id,
                        "created_at": now - timedelta(hours=1),
                    }
                )
                bench.sms_ids.append(provider_id)
            conn.execute(insert(table_of(OutboundMessage)), sms)
    if loader is not engine:
        loader.dispose()
    print()
    load_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    # What the server's own upkeep does: PostgreSQL's autovacuum, SQLite's daily statistics.
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in (
                "conversations",
                "conversation_messages",
                "customers",
                "identities",
                "outbound_messages",
            ):
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
    else:
        refresh_statistics(engine)
    return {
        "conversations": n_conversations,
        "messages": messages,
        "customers": n_customers,
        "load_seconds": round(load_seconds, 1),
        "analyze_seconds": round(time.perf_counter() - t1, 1),
    }


# --- raw mail ------------------------------------------------------------------------------------


class Mails:
    """A deterministic stream of raw RFC 822 messages to the bench's inboxes: 80% Korean;
    new questions, replies quoting an earlier message (In-Reply-To and References, or only
    References as Outlook leaves them), HTML alternatives, a few attachments."""

    def __init__(self, bench: Bench, seed: int, tag: str) -> None:
        self.rng = random.Random(seed)
        self.bench = bench
        self.tag = tag
        self.count = 0
        self.sent: list[tuple[str, str, str]] = []  # (sender, Message-ID, subject) of this run
        self.names = {address: name for _, address, name in bench.customers}

    def _sender(self, fresh: bool) -> tuple[str, str]:
        if fresh:
            n = self.count
            korean = self.rng.random() < 0.8
            name = (
                self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)
                if korean
                else self.rng.choice(EN_NAMES)
            )
            return f"new{self.tag}{n}@{'example.kr' if korean else 'example.com'}", name
        _, address, name = self.rng.choice(self.bench.customers)
        return address, name

    def next(self, inbox: tuple[int, str, str], *, fresh_sender: bool = False) -> bytes:
        self.count += 1
        rng = self.rng
        message = EmailMessage(policy=email.policy.SMTP)
        reply_to: tuple[str, str, str] | None = None
        if not fresh_sender and rng.random() < 0.3:
            pool = self.sent if self.sent and rng.random() < 0.5 else self.bench.earlier
            if pool:
                reply_to = rng.choice(pool)
        if reply_to is not None:
            address = reply_to[0]
            name = self.names.get(address, "")
        else:
            address, name = self._sender(fresh_sender)
        korean = address.endswith(".kr")
        message_id = f"<m{self.tag}.{self.count}.{rng.getrandbits(40):x}@mail.example.kr>"
        if reply_to is not None:
            subject = ("RE: " if rng.random() < 0.5 else "Re: ") + reply_to[2]
            if rng.random() < 0.3:
                message["References"] = reply_to[1]  # Outlook: no In-Reply-To
            else:
                message["In-Reply-To"] = reply_to[1]
                message["References"] = reply_to[1]
        else:
            subject = rng.choice(KO_SUBJECTS if korean else EN_SUBJECTS)
        body = rng.choice(KO_BODIES if korean else EN_BODIES).format(n=self.count)
        if reply_to is not None:
            quoted = "\n".join(
                "> " + line for line in rng.choice(KO_BODIES if korean else EN_BODIES).split(". ")
            )
            when = "2026년 12월 1일 (화) 오후 3:12" if korean else "On Tue, Dec 1, 2026 at 3:12 PM"
            body = f"{body}\n\n{when}, 고객센터 <{inbox[2]}> 작성:\n{quoted}\n"
        message["From"] = f"{name} <{address}>" if name else address
        message["To"] = inbox[2]
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = message_id
        message.set_content(body)
        if rng.random() < 0.35:
            paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in body.split("\n") if p)
            message.add_alternative(
                f'<html><body><div dir="ltr">{paragraphs}'
                '<img src="https://tracker.example.com/o.gif" width="1" height="1">'
                "</div></body></html>",
                subtype="html",
            )
        if rng.random() < 0.03:
            message.add_attachment(
                rng.randbytes(20_000), maintype="image", subtype="jpeg", filename="사진.jpg"
            )
        if reply_to is None:
            self.sent.append((address, message_id, subject))
        return message.as_bytes()


# --- 1. the inbox list ---------------------------------------------------------------------------


def timed(fn: Callable[[], Any], n: int, warm: int = 3) -> list[float]:
    for _ in range(warm):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 1),
        "p95_ms": round(percentile(values, 95), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "max_ms": round(max(values, default=0.0), 1),
    }


def login(base: str, email_address: str) -> str:
    """Sign in through the login form; the session cookie's value."""
    with httpx.Client(base_url=base, timeout=60) as client:
        page = client.get("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, f"no CSRF token on /login: {page.status_code}"
        answer = client.post(
            "/login",
            data={
                "email": email_address,
                "password": PASSWORD,
                "csrf_token": html.unescape(match.group(1)),
            },
            follow_redirects=False,
        )
        assert answer.status_code == 303 or answer.status_code == 302, answer.text[:300]
        cookie = client.cookies.get("cxloop_session")
        assert cookie, "no session cookie after signing in"
        return cookie


def bench_list(bench: Bench, server: Server, cookie: str, sizes: Sizes) -> dict[str, Any]:
    n = sizes.list_requests
    inbox_id = bench.inboxes[3][0]
    web = httpx.Client(
        base_url=server.url, timeout=60, cookies={"cxloop_session": cookie}, follow_redirects=False
    )
    api = httpx.Client(
        base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {bench.api_key}"}
    )
    figures: dict[str, Any] = {}
    failures: list[str] = []

    def get(client: httpx.Client, path: str) -> Callable[[], httpx.Response]:
        def run() -> httpx.Response:
            answer = client.get(path)
            if answer.status_code != 200:
                failures.append(f"{path}: HTTP {answer.status_code} {answer.text[:200]}")
            return answer

        return run

    first = web.get("/inbox?view=open")
    more = re.search(r'id="more" href="([^"]+)"', first.text)
    page2 = html.unescape(more.group(1)) if more else "/inbox?view=open"
    api_first = api.get("/api/v1/care/conversations", params={"status": "open", "limit": 25})
    cursor = api_first.json().get("next_cursor") if api_first.status_code == 200 else None
    steps = {
        "web: /inbox?view=open": get(web, "/inbox?view=open"),
        "web: next page (cursor)": get(web, page2),
        "web: one inbox": get(web, f"/inbox?view=open&inbox={inbox_id}"),
        "web: mine": get(web, "/inbox?view=mine"),
        "web: unassigned": get(web, "/inbox?view=unassigned"),
        "api: status=open": get(api, "/api/v1/care/conversations?status=open&limit=25"),
        "api: next page (cursor)": get(
            api, f"/api/v1/care/conversations?status=open&limit=25&cursor={cursor or ''}"
        ),
        "api: one inbox": get(
            api, f"/api/v1/care/conversations?status=open&limit=25&inbox_id={inbox_id}"
        ),
        "http floor: /healthz": get(api, "/healthz"),
    }
    for name, run in steps.items():
        figures[name] = summary(timed(run, n))
        print(
            f"  {name:<28} p50 {figures[name]['p50_ms']:>7.1f}  "
            f"p95 {figures[name]['p95_ms']:>7.1f} ms",
            flush=True,
        )
    engine = make_engine(bench.url)
    raw = text(
        "SELECT * FROM conversations WHERE workspace_id = :w AND status = 'open' "
        "ORDER BY last_message_at DESC, id DESC LIMIT 25"
    )

    def baseline() -> None:
        with engine.connect() as conn:
            conn.execute(raw, {"w": bench.workspace_id}).all()

    figures["baseline: raw SELECT … LIMIT 25"] = summary(timed(baseline, n))
    engine.dispose()
    web.close()
    api.close()
    list_steps = [k for k in figures if k.startswith(("web:", "api:"))]
    return {
        "requests": figures,
        "failures": failures[:5],
        "failed": len(failures),
        "worst_p95_ms": max(figures[k]["p95_ms"] for k in list_steps),
        "worst_step": max(list_steps, key=lambda k: figures[k]["p95_ms"]),
    }


# --- 2. inbound email ----------------------------------------------------------------------------


def bench_email_in_process(bench: Bench, sizes: Sizes, seed: int) -> dict[str, Any]:
    """Raw mail taken in as the webhook takes it: kept on the spool (before the clock starts),
    then drained ``MAIL_BATCH`` messages per transaction; other mail through ``take_mail``,
    one transaction per message (the path before batching); and the baseline: the stdlib
    parser and a raw insert of a conversation and a message. The three alternate in rounds of
    ``ROUND`` messages, so a machine that grows busier or quieter meanwhile, or caches that
    warm up, favour none of them."""
    n = sizes.emails_in_process
    mails, single_mails = Mails(bench, seed, "p"), Mails(bench, seed + 200, "q")
    database = Database(bench.url)
    # warm-up: a few messages not timed
    warm = Mails(bench, seed + 100, "w")
    for _ in range(10):
        with database.session() as session:
            inbox = care_service.inbox_for_token(session, token=bench.inboxes[0][1])
            assert inbox is not None
            take_mail(session, inbox=inbox, raw=warm.next(bench.inboxes[0]))
    spool = spool_of(get_settings(), MAIL_SPOOL)
    seconds = {"batched": 0.0, "take_mail": 0.0, "baseline": 0.0}
    batch_ms: list[float] = []
    single_ms: list[float] = []
    failed = 0
    single_outcomes: dict[str, int] = {}
    for first in range(0, n, ROUND):
        count = min(ROUND, n - first)
        inboxes = [bench.inboxes[i % INBOXES] for i in range(first, first + count)]
        raws = [(inbox, mails.next(inbox)) for inbox in inboxes]
        for (inbox_id, _, _), raw in raws:
            spool.put(raw, label=str(inbox_id))
        t0 = time.perf_counter()
        while items := take_waiting(spool, limit=MAIL_BATCH):
            s0 = time.perf_counter()
            unfinished = handle_batch(spool, items, lambda b: take_spooled_mails(database, b))
            failed += len(unfinished.failed)
            batch_ms.append((time.perf_counter() - s0) * 1000)
        seconds["batched"] += time.perf_counter() - t0
        singles = [(inbox, single_mails.next(inbox)) for inbox in inboxes]
        t0 = time.perf_counter()
        for (_, token, _), raw in singles:
            s0 = time.perf_counter()
            with database.session() as session:
                inbox = care_service.inbox_for_token(session, token=token)
                assert inbox is not None
                taken = take_mail(session, inbox=inbox, raw=raw)
            single_ms.append((time.perf_counter() - s0) * 1000)
            single_outcomes[taken.status] = single_outcomes.get(taken.status, 0) + 1
        seconds["take_mail"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        raw_inserts(bench, database.engine, raws, first)
        seconds["baseline"] += time.perf_counter() - t0
    with database.read_session() as session:
        names = select(InboundMailReceipt.status, func.count()).group_by(InboundMailReceipt.status)
        outcomes = {status: int(count) for status, count in session.execute(names)}
    database.dispose()
    rate = {name: n / spent for name, spent in seconds.items()}
    return {
        "batched": {
            "messages": n,
            "batch": MAIL_BATCH,
            "failed": failed,
            "seconds": round(seconds["batched"], 2),
            "per_second": round(rate["batched"], 1),
            "outcomes": outcomes,
            "batch_ms": summary(batch_ms),
        },
        "take_mail": {
            "messages": n,
            "seconds": round(seconds["take_mail"], 2),
            "per_second": round(rate["take_mail"], 1),
            "outcomes": single_outcomes,
            **summary(single_ms),
        },
        "baseline": {
            "messages": n,
            "seconds": round(seconds["baseline"], 2),
            "per_second": round(rate["baseline"], 1),
        },
        "ratio": round(rate["batched"] / rate["baseline"], 3),
        "take_mail_ratio": round(rate["take_mail"] / rate["baseline"], 3),
    }


def raw_inserts(
    bench: Bench, engine: Engine, raws: Sequence[tuple[tuple[int, str, str], bytes]], first: int
) -> None:
    """The baseline: parse with the standard library, insert the rows, one transaction each."""
    conversations, messages = table_of(Conversation), table_of(ConversationMessage)
    now = datetime.now(UTC)
    for i, ((inbox_id, _, _), raw) in enumerate(raws, start=first):
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        part = parsed.get_body(preferencelist=("plain", "html"))
        body = str(part.get_content()) if part is not None else ""
        with engine.begin() as conn:
            conversation_id = conn.execute(
                insert(conversations).returning(conversations.c.id),
                {
                    "workspace_id": bench.workspace_id,
                    "inbox_id": inbox_id,
                    "channel": "email",
                    "status": "open",
                    "subject": str(parsed["Subject"])[:300],
                    "contact": str(parsed["From"])[:320],
                    "last_message_at": now,
                    "created_at": now,
                },
            ).scalar_one()
            conn.execute(
                insert(messages),
                {
                    "workspace_id": bench.workspace_id,
                    "conversation_id": conversation_id,
                    "direction": "in",
                    "author": "customer",
                    "subject": str(parsed["Subject"])[:300],
                    "body_text": body,
                    "channel_message_id": f"<baseline{i}-{str(parsed['Message-ID'])[1:]}",
                    "created_at": now,
                },
            )


def post_many(
    items: Sequence[tuple[str, bytes]],
    *,
    workers: int,
    headers: dict[str, str],
    time_limit: float,
) -> dict[str, Any]:
    """POST each (url, body) once from ``workers`` threads; throughput and latency."""
    lock = threading.Lock()
    position = iter(range(len(items)))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    broken = [0]
    deadline = time.perf_counter() + time_limit

    def work() -> None:
        with httpx.Client(headers=headers, timeout=120) as client:
            while time.perf_counter() < deadline:
                with lock:
                    i = next(position, None)
                if i is None:
                    return
                url, body = items[i]
                t0 = time.perf_counter()
                try:
                    answer = client.post(url, content=body)
                except httpx.HTTPError as exc:
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                        broken[0] += 1
                    continue
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(ms)
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                    if answer.status_code >= 300:
                        errors.append(f"HTTP {answer.status_code}: {answer.text[:200]}")

    threads = [threading.Thread(target=work) for _ in range(workers)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - t0
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    return {
        "sent": len(latencies) + broken[0],
        "broken_connections": broken[0],
        "ok": ok,
        "seconds": round(seconds, 2),
        "per_second": round(ok / seconds, 1) if seconds else 0.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "first_errors": errors[:3],
        **summary(latencies),
    }


def receipts(reader: Engine) -> int:
    """How many inbound mails the server has taken in (each leaves one receipt)."""
    with reader.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(InboundMailReceipt)) or 0)


def wait_for_receipts(reader: Engine, count: int, limit: float) -> tuple[float, int]:
    """Poll until ``count`` receipts exist or ``limit`` seconds passed: when the poll saw the
    last one (``time.perf_counter``) and how many there were then."""
    deadline = time.perf_counter() + limit
    while True:
        seen = receipts(reader)
        now = time.perf_counter()
        if seen >= count or now > deadline:
            return now, seen
        time.sleep(0.02)


def bench_email_http(
    bench: Bench, server: Server, sizes: Sizes, seed: int, reader: Engine
) -> dict[str, Any]:
    """Mail through ``POST /hooks/email/{token}`` from 4 threads: how fast it is accepted, and
    how fast it is taken in (from the first POST until the last accepted mail's receipt)."""
    mails = Mails(bench, seed, "h")
    items = []
    for i in range(sizes.emails_http):
        inbox = bench.inboxes[i % INBOXES]
        items.append((f"{server.url}/hooks/email/{inbox[1]}", mails.next(inbox)))
    headers = {"Content-Type": "message/rfc822"}
    warm = Mails(bench, seed + 100, "hw")
    before = receipts(reader)
    warmed = post_many(
        [
            (f"{server.url}/hooks/email/{bench.inboxes[0][1]}", warm.next(bench.inboxes[0]))
            for _ in range(8)
        ],
        workers=4,
        headers=headers,
        time_limit=60,
    )
    _, before = wait_for_receipts(reader, before + warmed["ok"], TAKE_WAIT_SECONDS)
    t0 = time.perf_counter()
    result = post_many(items, workers=4, headers=headers, time_limit=sizes.email_seconds)
    accepted = result["ok"]
    last_receipt, seen = wait_for_receipts(reader, before + accepted, TAKE_WAIT_SECONDS)
    taken = seen - before
    taken_seconds = last_receipt - t0
    return {
        **{k: v for k, v in result.items() if k != "per_second"},
        "accepted_per_second": result["per_second"],
        "taken": taken,
        "all_taken": taken >= accepted,
        "taken_seconds": round(taken_seconds, 2),
        "taken_per_second": round(taken / taken_seconds, 1) if taken_seconds else 0.0,
    }


# --- 3. webhook acknowledgement with the bus busy ------------------------------------------------


class BusyLoad(threading.Thread):
    """Keeps ingestion and the bus busy: ``/v1/batch`` requests of 500 events from two client
    threads until stopped. The prepared bodies are sent again and again, each round with new
    message ids (a replayed id would only be skipped as a duplicate)."""

    def __init__(self, url: str, bodies: list[bytes], write_key: str) -> None:
        super().__init__(name="busy-load", daemon=True)
        self.url = url
        self.bodies = bodies
        self.headers = {
            "Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
            "Content-Type": "application/json",
        }
        self.stop_event = threading.Event()
        self.accepted = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._sent = 0

    def _body(self) -> bytes:
        with self._lock:
            n = self._sent
            self._sent += 1
        body = self.bodies[n % len(self.bodies)]
        round_ = n // len(self.bodies)
        if round_:
            body = body.replace(b'"messageId":"ajs-next-', b'"messageId":"ajs-r%d-' % round_)
        return body

    def _work(self) -> None:
        with httpx.Client(headers=self.headers, timeout=120) as client:
            while not self.stop_event.is_set():
                try:
                    answer = client.post(self.url, content=self._body())
                    ok = answer.status_code == 200
                except httpx.HTTPError:
                    ok = False
                with self._lock:
                    if ok:
                        self.accepted += BATCH
                    else:
                        self.failed += 1

    def run(self) -> None:
        threads = [threading.Thread(target=self._work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def solapi_body(bench: Bench, rng: random.Random) -> bytes:
    reports = []
    for provider_id in rng.sample(bench.sms_ids, rng.randrange(1, 6)):
        if rng.random() < 0.9:
            reports.append(
                {"messageId": provider_id, "statusCode": "4000", "statusMessage": "수신완료"}
            )
        else:
            reports.append(
                {"messageId": provider_id, "statusCode": "3104", "statusMessage": "수신거부 번호"}
            )
    return orjson.dumps(reports)


def time_hooks(
    bench: Bench, server: Server, solapi_url: str, n: int, mails: Mails, rng: random.Random
) -> dict[str, Any]:
    """``n`` inbound mails and ``n`` Solapi reports, alternately, from one client."""
    email_ms: list[float] = []
    solapi_ms: list[float] = []
    failures: list[str] = []
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for i in range(n):
            inbox = bench.inboxes[i % INBOXES]
            raw = mails.next(inbox)
            t0 = time.perf_counter()
            answer = client.post(
                f"/hooks/email/{inbox[1]}",
                content=raw,
                headers={"Content-Type": "message/rfc822"},
            )
            email_ms.append((time.perf_counter() - t0) * 1000)
            if answer.status_code != 202:
                failures.append(f"email: HTTP {answer.status_code} {answer.text[:200]}")
            body = solapi_body(bench, rng)
            t0 = time.perf_counter()
            answer = client.post(
                solapi_url, content=body, headers={"Content-Type": "application/json"}
            )
            solapi_ms.append((time.perf_counter() - t0) * 1000)
            if answer.status_code != 200:
                failures.append(f"solapi: HTTP {answer.status_code} {answer.text[:200]}")
    return {
        "email": summary(email_ms),
        "solapi": summary(solapi_ms),
        "failed": len(failures),
        "first_errors": failures[:3],
    }


def bench_hooks(
    bench: Bench, server: Server, sizes: Sizes, seed: int, reader: Engine
) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        urls = client.get(
            "/api/v1/outbox/hooks", headers={"Authorization": f"Bearer {bench.admin_key}"}
        )
        urls.raise_for_status()
    solapi_url = "/hooks/solapi/" + urls.json()["solapi"].rsplit("/", 1)[1]
    rng = random.Random(seed)
    mails = Mails(bench, seed, "k")
    print("  preparing the load generator's batches …", flush=True)
    bodies = Workload(seed, tag="busy").batch_bodies(sizes.busy_batches)
    time_hooks(bench, server, solapi_url, 5, mails, rng)  # warm-up
    wait_for_bus(reader, 60)
    idle_backlog = bus_backlog(reader)
    print(f"  bus idle (backlog {idle_backlog}): {sizes.hook_requests} × 2 webhooks …", flush=True)
    idle = time_hooks(bench, server, solapi_url, sizes.hook_requests, mails, rng)
    load = BusyLoad(f"{server.url}/v1/batch", bodies, bench.write_key)
    load.start()
    time.sleep(3)
    backlog_before = bus_backlog(reader)
    print(
        f"  bus busy (backlog {backlog_before:,}): {sizes.hook_requests} × 2 webhooks …", flush=True
    )
    t0 = time.perf_counter()
    accepted0 = load.accepted
    busy = time_hooks(bench, server, solapi_url, sizes.hook_requests, mails, rng)
    window = time.perf_counter() - t0
    accepted = load.accepted - accepted0
    backlog_after = bus_backlog(reader)
    still_running = load.is_alive()
    load.stop_event.set()
    load.join(timeout=180)
    caught_up, left = wait_for_bus(reader, 120)
    return {
        "idle": idle | {"bus_backlog": idle_backlog},
        "busy": busy
        | {
            "bus_backlog_at_start": backlog_before,
            "bus_backlog_at_end": backlog_after,
            "ingested_events_per_second": round(accepted / window, 1),
            "load_ran_throughout": still_running,
            "load_failed_batches": load.failed,
            "bus_caught_up_after_s": round(caught_up, 1),
            "bus_backlog_left": left,
        },
        "worst_p99_ms": max(busy["email"]["p99_ms"], busy["solapi"]["p99_ms"]),
    }


# --- 4. SSE fan-out ------------------------------------------------------------------------------


async def fan_out(
    bench: Bench, server: Server, cookies: list[str], sizes: Sizes, seed: int
) -> dict[str, Any]:
    arrivals: dict[int, dict[int, float]] = {}
    ready = [False] * len(cookies)
    failures: list[str] = []
    limits = httpx.Limits(max_connections=len(cookies) + 10, max_keepalive_connections=0)
    timeout = httpx.Timeout(60, read=None)

    async def stream(client: httpx.AsyncClient, n: int, cookie: str) -> None:
        try:
            async with client.stream(
                "GET",
                "/inbox/live",
                headers={"Cookie": f"cxloop_session={cookie}", "Accept": "text/event-stream"},
            ) as answer:
                if answer.status_code != 200:
                    failures.append(f"stream {n}: HTTP {answer.status_code}")
                    return
                kind = ""
                async for line in answer.aiter_lines():
                    if line.startswith("retry:"):
                        ready[n] = True
                    elif line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind == "conversation":
                        at = time.perf_counter()
                        data = orjson.loads(line[6:])
                        arrivals.setdefault(int(data["id"]), {}).setdefault(n, at)
        except (httpx.HTTPError, asyncio.CancelledError) as exc:
            if not isinstance(exc, asyncio.CancelledError):
                failures.append(f"stream {n}: {type(exc).__name__}: {exc}")

    mails = Mails(bench, seed, "s")
    inbox = bench.inboxes[0]
    post_client = httpx.Client(base_url=server.url, timeout=60)

    def post() -> tuple[int, float, float, int]:
        """Send a new sender's mail; its conversation (read from the mail's receipt once it is
        taken in: the webhook answers before) and when it was sent and answered."""
        raw = mails.next(inbox, fresh_sender=True)
        t0 = time.perf_counter()
        answer = post_client.post(
            f"/hooks/email/{inbox[1]}", content=raw, headers={"Content-Type": "message/rfc822"}
        )
        t1 = time.perf_counter()
        conversation = 0
        deadline = t1 + 10
        while answer.status_code == 202 and not conversation and time.perf_counter() < deadline:
            receipt = post_client.get(f"/hooks/email/{inbox[1]}/{answer.json()['id']}")
            conversation = int(receipt.json().get("conversation_id") or 0)
            time.sleep(0.005)
        return conversation, t0, t1, answer.status_code

    rounds: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=timeout) as client:
        t_open = time.perf_counter()
        tasks = [asyncio.create_task(stream(client, n, c)) for n, c in enumerate(cookies)]
        while not all(ready) and time.perf_counter() - t_open < 60 and len(failures) < 20:
            await asyncio.sleep(0.05)
        opened = sum(ready)
        open_seconds = time.perf_counter() - t_open
        print(f"  {opened}/{len(cookies)} streams open in {open_seconds:.1f} s", flush=True)
        await asyncio.to_thread(post)  # warm-up
        await asyncio.sleep(1)
        for _ in range(sizes.sse_messages):
            conversation, t0, t1, status = await asyncio.to_thread(post)
            deadline = time.perf_counter() + 10
            while time.perf_counter() < deadline:
                if len(arrivals.get(conversation, {})) >= opened:
                    break
                await asyncio.sleep(0.01)
            got = arrivals.get(conversation, {})
            rounds.append(
                {
                    "status": status,
                    "post_ms": (t1 - t0) * 1000,
                    "after_answer_ms": [(at - t1) * 1000 for at in got.values()],
                    "after_send_ms": [(at - t0) * 1000 for at in got.values()],
                    "received": len(got),
                }
            )
            print(
                f"  message → {len(got)}/{opened} streams; post {(t1 - t0) * 1000:.0f} ms, "
                f"last after {max(((at - t1) * 1000 for at in got.values()), default=0):.0f} ms",
                flush=True,
            )
            await asyncio.sleep(0.5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    post_client.close()
    after_answer = [v for r in rounds for v in r["after_answer_ms"]]
    after_send = [v for r in rounds for v in r["after_send_ms"]]
    expected = opened * len(rounds)
    received = sum(r["received"] for r in rounds)
    return {
        "agents": len(cookies),
        "streams_open": opened,
        "open_seconds": round(open_seconds, 1),
        "messages": len(rounds),
        "deliveries": received,
        "deliveries_expected": expected,
        "after_answer": summary(after_answer),
        "after_send": summary(after_send),
        "post": summary([r["post_ms"] for r in rounds]),
        "post_statuses": sorted({r["status"] for r in rounds}),
        "stream_failures": failures[:5],
    }


# --- one database --------------------------------------------------------------------------------


class Worker:
    """``cxloop worker`` beside the server (with Redis, the server runs no jobs nor bus)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path

    def __enter__(self) -> Worker:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cxloop.cli", "worker"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def __exit__(self, *_exc: object) -> None:
        self.process.terminate()  # SIGTERM: the worker finishes its jobs and stops
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


def setup(kind: str, args: argparse.Namespace, sizes: Sizes) -> Bench:
    data_dir = Path(tempfile.mkdtemp(prefix=f"cxloop-bench-care-{kind}-"))
    try:
        return _setup(kind, args, sizes, data_dir)
    except BaseException:
        if not args.keep:  # no Bench to clean up after: the data dir goes now
            shutil.rmtree(data_dir, ignore_errors=True)
        raise


def _setup(kind: str, args: argparse.Namespace, sizes: Sizes, data_dir: Path) -> Bench:
    if kind == "postgres":
        url = f"postgresql+psycopg://postgres@127.0.0.1/{args.pg_db}"
        recreate_pg_database(args.pg_db)
    else:
        url = f"sqlite:///{data_dir / 'cxloop.db'}"
    env = server_env(data_dir, url)
    if kind == "postgres" and args.redis:
        import redis

        redis.Redis.from_url(args.redis).flushdb()  # our own Redis database: old rate counts
        env["CXLOOP_REDIS_URL"] = args.redis
    print(f"== {kind}: {url}" + (f", Redis {args.redis}" if "CXLOOP_REDIS_URL" in env else ""))
    cli(env, "migrate")
    cli(env, "workspace", "create", "Care bench", "--slug", "care")
    for address, role in (("agent0@bench.kr", "agent"), ("lead@bench.kr", "admin")):
        with_password = {**env, "CXLOOP_PASSWORD": PASSWORD}
        cli(with_password, "user", "create", "-w", "care", "--email", address, "--role", role)
    api_key = cli(env, "key", "create", "--workspace", "care", "--kind", "api", "--role", "agent")
    admin_key = cli(env, "key", "create", "--workspace", "care", "--kind", "api", "--role", "admin")
    write_key = cli(env, "key", "create", "--workspace", "care", "--kind", "write")
    made = cli(
        env,
        "care",
        "inbox-create",
        "--workspace",
        "care",
        "--name",
        "고객센터 0",
        "--address",
        "help0@shop.example.kr",
        "--team",
        "team0",
    )
    token = re.search(r"/hooks/email/(\S+)", made)
    assert token, f"no webhook path in: {made}"
    engine = make_engine(url)
    with engine.connect() as conn:
        workspace_id = conn.scalar(select(Workspace.id).where(Workspace.slug == "care"))
    bench = Bench(
        kind=kind,
        url=url,
        env=env,
        data_dir=data_dir,
        workspace_id=int(workspace_id or 0),
        api_key=api_key.strip(),
        admin_key=admin_key.strip(),
        write_key=write_key.strip(),
    )
    make_inboxes(engine, bench, token.group(1))
    make_agents(engine, bench, sizes.agents)
    engine.dispose()
    return bench


def use_environment(env: dict[str, str]) -> None:
    """Point this process's settings at the bench's data dir and database (in-process steps)."""
    for name in [k for k in os.environ if k.startswith("CXLOOP_")]:
        del os.environ[name]
    os.environ.update({k: v for k, v in env.items() if k.startswith("CXLOOP_")})
    reset_settings()


def run_database(kind: str, args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    only = set(args.only.split(","))
    result: dict[str, Any] = {"database": kind, "sizes": asdict(sizes), "machine": load_summary()}
    bench: Bench | None = None
    server_log = RESULTS / f"care-{kind}{args.tag}-server.log"
    server_log.unlink(missing_ok=True)
    try:
        t0 = time.perf_counter()
        bench = setup(kind, args, sizes)
        result["redis"] = bench.env.get("CXLOOP_REDIS_URL")
        engine = make_engine(bench.url)
        print(f"[preload] {sizes.conversations:,} conversations …", flush=True)
        result["preload"] = preload(engine, bench, sizes.conversations, args.seed)
        print(f"[preload] {result['preload']}", flush=True)
        result["setup_seconds"] = round(time.perf_counter() - t0, 1)
        use_environment(bench.env)
        if "email" in only:
            print("[email] in process: drained in batches, then one per transaction …", flush=True)
            result["email_in_process"] = e = bench_email_in_process(bench, sizes, args.seed + 1)
            print(
                f"  batched {e['batched']['per_second']} msg/s, take_mail "
                f"{e['take_mail']['per_second']} msg/s, baseline {e['baseline']['per_second']} "
                "msg/s",
                flush=True,
            )
        with Server(bench.env, server_log) as server:
            context = Worker(bench.env, server_log.with_suffix(".worker.log"))
            with context if "CXLOOP_REDIS_URL" in bench.env else _nothing():
                # Only reads: on SQLite it never waits for the server's write lock.
                reader = make_engine(bench.url).execution_options(**{READ_ONLY: True})
                wait_for_bus(reader, 120)
                print(f"[login] {len(bench.agents)} agents through /login …", flush=True)
                t1 = time.perf_counter()
                with ThreadPoolExecutor(4) as pool:
                    cookies = list(pool.map(lambda a: login(server.url, a[1]), bench.agents))
                result["login_seconds"] = round(time.perf_counter() - t1, 1)
                if "list" in only:
                    print("[list] …", flush=True)
                    result["list"] = bench_list(bench, server, cookies[0], sizes)
                if "email" in only:
                    wait_for_bus(reader, 120)
                    print("[email] over HTTP, 4 client threads …", flush=True)
                    result["email_http"] = bench_email_http(
                        bench, server, sizes, args.seed + 2, reader
                    )
                    h = result["email_http"]
                    print(
                        f"  accepted {h['accepted_per_second']} msg/s, "
                        f"taken in {h['taken_per_second']} msg/s",
                        flush=True,
                    )
                if "hooks" in only:
                    wait_for_bus(reader, 120)
                    print("[hooks] …", flush=True)
                    result["hooks"] = bench_hooks(bench, server, sizes, args.seed + 3, reader)
                if "sse" in only:
                    wait_for_bus(reader, 180)
                    print(f"[sse] {len(cookies)} agents' streams …", flush=True)
                    result["sse"] = asyncio.run(
                        fan_out(bench, server, cookies, sizes, args.seed + 4)
                    )
                assert server.sampler is not None
                result["server_peak_rss_mb"] = round(server.sampler.peak_rss_mb, 1)
                reader.dispose()
        engine.dispose()
        result["run_seconds"] = round(time.perf_counter() - t0, 1)
        return result
    finally:
        if bench is not None and not args.keep:
            shutil.rmtree(bench.data_dir, ignore_errors=True)
        if kind == "postgres" and not args.keep:
            drop_pg_database(args.pg_db)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None


# --- report --------------------------------------------------------------------------------------


def goals(result: dict[str, Any]) -> list[tuple[str, bool, str]]:
    out = []
    if "list" in result:
        worst = result["list"]["worst_p95_ms"]
        out.append(
            (
                f"inbox list with {result['sizes']['conversations']:,} conversations "
                f"< {GOAL_LIST_MS:.0f} ms",
                worst < GOAL_LIST_MS,
                f"worst p95 {worst:.0f} ms ({result['list']['worst_step']})",
            )
        )
    if "sse" in result:
        sse = result["sse"]
        p95 = sse["after_answer"]["p95_ms"]
        complete = (
            sse["deliveries"] == sse["deliveries_expected"] and sse["streams_open"] == sse["agents"]
        )
        out.append(
            (
                f"SSE fan-out to {sse['agents']} agents p95 < {GOAL_FANOUT_P95_MS:.0f} ms",
                p95 < GOAL_FANOUT_P95_MS and complete,
                f"p95 {p95:.0f} ms, {sse['deliveries']}/{sse['deliveries_expected']} delivered, "
                f"{sse['streams_open']}/{sse['agents']} streams open",
            )
        )
    if "email_in_process" in result:
        rate = result["email_in_process"]["batched"]["per_second"]
        shown = f"{rate:.0f} msg/s in process"
        if "email_http" in result:
            h = result["email_http"]
            shown += (
                f"; over HTTP {h['taken_per_second']:.0f} taken in"
                + ("" if h["all_taken"] else f" (only {h['taken']} of {h['ok']})")
                + f", {h['accepted_per_second']:.0f} accepted"
            )
        out.append(
            (
                f"inbound email ≥ {GOAL_EMAIL_PER_S:.0f} messages/s",
                rate >= GOAL_EMAIL_PER_S,
                shown,
            )
        )
    if "hooks" in result:
        worst = result["hooks"]["worst_p99_ms"]
        out.append(
            (
                f"webhook ack p99 < {GOAL_HOOK_P99_MS:.0f} ms, bus busy",
                worst < GOAL_HOOK_P99_MS,
                f"worst p99 {worst:.0f} ms",
            )
        )
    return out


def print_table(result: dict[str, Any]) -> None:
    machine = result["machine"]
    print()
    print(
        f"cxloop care on {result['database']}"
        + (" + Redis" if result.get("redis") else "")
        + f" — {machine['cpus']} CPUs, load average {machine['loadavg'][0]} at start"
    )
    if "list" in result:
        print(f"  inbox list, {result['sizes']['conversations']:,} conversations:")
        for name, s in result["list"]["requests"].items():
            print(f"    {name:<34} p50 {s['p50_ms']:>8.1f} ms   p95 {s['p95_ms']:>8.1f} ms")
        if result["list"]["failed"]:
            print(f"    !! {result['list']['failed']} failed: {result['list']['failures'][:2]}")
    if "email_in_process" in result:
        e = result["email_in_process"]
        print("  inbound email:")
        b = e["batched"]
        print(
            f"    spool drained, {b['batch']} per transaction {b['per_second']:>6.1f} msg/s "
            f"(a batch p50 {b['batch_ms']['p50_ms']} ms, max {b['batch_ms']['max_ms']} ms) "
            f"= {e['ratio']:.2f}× baseline; {b['outcomes']}, {b['failed']} failed"
        )
        print(
            f"    take_mail, one per transaction   {e['take_mail']['per_second']:>8.1f} msg/s "
            f"(p50 {e['take_mail']['p50_ms']} ms, p99 {e['take_mail']['p99_ms']} ms) "
            f"= {e['take_mail_ratio']:.2f}× baseline; {e['take_mail']['outcomes']}"
        )
        print(f"    baseline: stdlib parse + insert   {e['baseline']['per_second']:>8.1f} msg/s")
    if "email_http" in result:
        h = result["email_http"]
        print(
            f"    POST /hooks/email, 4 threads      {h['accepted_per_second']:>8.1f} msg/s "
            f"accepted (p50 {h['p50_ms']} ms, p99 {h['p99_ms']} ms; statuses {h['statuses']})"
        )
        print(
            f"      … taken in                      {h['taken_per_second']:>8.1f} msg/s "
            f"({h['taken']} of {h['ok']} in {h['taken_seconds']} s from the first POST)"
        )
    if "hooks" in result:
        hk = result["hooks"]
        print("  webhook ack (p50 / p99):")
        for state in ("idle", "busy"):
            s = hk[state]
            print(
                f"    bus {state:<5} email {s['email']['p50_ms']:>6.1f} / "
                f"{s['email']['p99_ms']:>7.1f} ms"
                f"   solapi {s['solapi']['p50_ms']:>6.1f} / {s['solapi']['p99_ms']:>7.1f} ms"
                + (f"   failed {s['failed']}" if s["failed"] else "")
            )
        b = hk["busy"]
        print(
            f"    load: {b['ingested_events_per_second']:,.0f} events/s ingested, bus backlog "
            f"{b['bus_backlog_at_start']:,} → {b['bus_backlog_at_end']:,}, caught up "
            f"{b['bus_caught_up_after_s']} s after the load stopped"
        )
    if "sse" in result:
        s = result["sse"]
        print(
            f"  SSE fan-out: {s['streams_open']}/{s['agents']} streams, {s['messages']} messages, "
            f"{s['deliveries']}/{s['deliveries_expected']} deliveries"
        )
        print(
            f"    after the POST's answer  p50 {s['after_answer']['p50_ms']:.0f}  p95 "
            f"{s['after_answer']['p95_ms']:.0f}  max {s['after_answer']['max_ms']:.0f} ms"
        )
        print(
            f"    after the POST was sent  p50 {s['after_send']['p50_ms']:.0f}  p95 "
            f"{s['after_send']['p95_ms']:.0f}  max {s['after_send']['max_ms']:.0f} ms"
        )
        print(
            f"    baseline: the POST itself p50 {s['post']['p50_ms']:.0f}  p95 "
            f"{s['post']['p95_ms']:.0f} ms"
        )
    if "server_peak_rss_mb" in result:
        print(f"  server peak RSS {result['server_peak_rss_mb']:.0f} MB")
    print("  goals:")
    for name, met, value in goals(result):
        print(f"    {'met   ' if met else 'MISSED'}  {name}: {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="20,000 conversations, fewer requests")
    parser.add_argument("--conversations", type=int, default=None, help="conversations preloaded")
    parser.add_argument(
        "--only", default="list,email,hooks,sse", help="sub-benchmarks: list,email,hooks,sse"
    )
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--pg-db", default="cxloop_bench_care", help="PostgreSQL database (recreated)"
    )
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/12",
        help="Redis for the PostgreSQL round (flushed first); '' runs it without",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data dir and database")
    parser.add_argument("--tag", default="", help="suffix of the result files")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.conversations is not None:
        sizes = Sizes(**{**asdict(sizes), "conversations": max(100, args.conversations)})
    kinds = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    RESULTS.mkdir(exist_ok=True)
    results = []
    for kind in kinds:
        result = run_database(kind, args, sizes)
        result["goals"] = [
            {"goal": name, "met": met, "value": value} for name, met, value in goals(result)
        ]
        path = RESULTS / f"care-{kind}{args.tag}.json"
        path.write_text(json.dumps(result, indent=2, default=str))
        print_table(result)
        print(f"  JSON in {path}")
        results.append(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
