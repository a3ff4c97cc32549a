"""Care metrics with 100,000 conversations in a period: the whole ``care_metrics`` (volume,
times in wall-clock and business hours, FCR, reopen rate, SLA, CSAT, backlog) as a ratio to a
bare ``SELECT count(*)`` of the period's conversations and of their messages, in the same run.

    python benchmarks/care_metrics.py                      # SQLite and PostgreSQL, 100,000
    python benchmarks/care_metrics.py --db sqlite --conversations 20000 --repeat 3

It builds a fresh SQLite file (and a fresh PostgreSQL database ``cxloop_bench_care``) at the
newest migration and bulk-inserts one workspace's conversations over 30 days on three channels
and two teams (one with its own hours), each with its customer message, a reply, for a third a
second exchange, four in five resolved, one in twenty reopened, SLA due times and misses; then
it times ``care_metrics`` over the 30 days and the CX dashboard's ``headline`` of them (the
median of ``--repeat`` runs after a warm-up). Goal: the whole metrics under 2 s for 100,000
conversations; the machine's load shows in the baseline, so read the ratio too.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import drop_pg_database, recreate_pg_database
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

PG_NAME = "cxloop_bench_care"
PG_URL = f"postgresql+psycopg://postgres@127.0.0.1/{PG_NAME}"
START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 30
CHUNK = 10_000
GOAL_S = 2.0


def build(url: str, conversations: int) -> int:
    """A workspace with ``conversations`` in the period; returns its id."""
    from cxloop.accounts import service as accounts
    from cxloop.accounts.access import Principal
    from cxloop.care import service as care
    from cxloop.care import sla
    from cxloop.core.db import Database
    from cxloop.core.migrate import upgrade
    from cxloop.models import Conversation, ConversationMessage
    from cxloop.models.base import table_of

    upgrade(url)
    database = Database(url)
    rng = random.Random(7)
    with database.session() as session:
        workspace = accounts.create_workspace(session, name="Bench", slug="bench-care")
        principal = Principal(workspace_id=workspace.id, role="owner", label="bench")
        inboxes = [
            care.create_inbox(session, principal=principal, name=f"inbox {c}", channel=c).inbox.id
            for c in ("email", "chat", "sms")
        ]
        sla.set_policy(
            session,
            workspace_id=workspace.id,
            team="",
            first_response_minutes=120,
            next_response_minutes=60,
            resolution_minutes=600,
        )
        sla.set_hours(
            session, workspace_id=workspace.id, team="billing", weekly=[[[600, 1320]]] * 7
        )
        workspace_id = workspace.id
    conversation_rows = []
    message_rows = []
    for number in range(conversations):
        created = START + timedelta(seconds=rng.uniform(0, DAYS * 86_400))
        channel = rng.choice(("email", "chat", "sms"))
        first = created + timedelta(minutes=rng.lognormvariate(4, 1))
        second = rng.random() < 0.33
        reopened = rng.random() < 0.05
        resolved = rng.random() < 0.8
        last = first + timedelta(hours=rng.uniform(1, 30)) if second else first
        resolved_at = last + timedelta(minutes=rng.uniform(5, 600)) if resolved else None
        conversation_rows.append(
            {
                "id": number + 1,
                "workspace_id": workspace_id,
                "inbox_id": inboxes[("email", "chat", "sms").index(channel)],
                "channel": channel,
                "status": "resolved" if resolved else rng.choice(("open", "pending")),
                "team": rng.choice(("support", "billing")),
                "created_at": created,
                "last_message_at": last,
                "last_customer_message_at": first + timedelta(hours=1) if second else created,
                "first_response_at": first,
                "resolved_at": resolved_at,
                "reopened_count": int(reopened),
                "first_response_due_at": created + timedelta(hours=2),
                "resolution_due_at": created + timedelta(hours=10),
                "sla_missed": ["first_response"] if rng.random() < 0.1 else [],
                "tags": [],
                "sla_warned": [],
            }
        )
        times = [("in", created), ("out", first)]
        if second:
            times += [("in", first + timedelta(hours=1)), ("out", last)]
        for direction, at in times:
            message_rows.append(
                {
                    "workspace_id": workspace_id,
                    "conversation_id": number + 1,
                    "direction": direction,
                    "author": "customer" if direction == "in" else "agent",
                    "created_at": at,
                    "thread_ids": [],
                    "details": {},
                }
            )
    with database.engine.begin() as connection:
        for model, rows in ((Conversation, conversation_rows), (ConversationMessage, message_rows)):
            for i in range(0, len(rows), CHUNK):
                connection.execute(insert(table_of(model)), rows[i : i + CHUNK])
        if database.engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE conversations")
            connection.exec_driver_sql("ANALYZE conversation_messages")
    database.dispose()
    return workspace_id


def measure(url: str, workspace_id: int, repeat: int) -> dict[str, float]:
    from cxloop.care import metrics
    from cxloop.core.db import Database
    from cxloop.models import Conversation, ConversationMessage

    database = Database(url)
    end = START + timedelta(days=DAYS)

    def timed(work: object) -> float:
        runs = []
        for _ in range(repeat + 1):
            with Session(database.engine) as session:
                began = time.perf_counter()
                work(session)  # type: ignore[operator]
                runs.append(time.perf_counter() - began)
        return statistics.median(runs[1:])

    baseline = timed(
        lambda s: (
            s.scalar(
                select(func.count()).where(
                    Conversation.workspace_id == workspace_id,
                    Conversation.created_at >= START,
                    Conversation.created_at < end,
                )
            ),
            s.scalar(select(func.count()).where(ConversationMessage.workspace_id == workspace_id)),
        )
    )
    full = timed(
        lambda s: metrics.care_metrics(s, workspace_id=workspace_id, start=START, end=end, now=end)
    )
    card = timed(
        lambda s: metrics.headline(s, workspace_id=workspace_id, start=START, end=end, now=end)
    )
    database.dispose()
    return {
        "count(*) baseline s": baseline,
        "care_metrics s": full,
        "headline s": card,
        "ratio": full / baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    targets = []
    if args.db in ("sqlite", "both"):
        targets.append(("sqlite", f"sqlite:///{Path(tempfile.mkdtemp()) / 'care.db'}"))
    if args.db in ("postgresql", "both"):
        recreate_pg_database(PG_NAME)
        targets.append(("postgresql", PG_URL))
    try:
        for name, url in targets:
            began = time.perf_counter()
            workspace_id = build(url, args.conversations)
            print(f"{name}: built {args.conversations:,} in {time.perf_counter() - began:.0f} s")
            result = measure(url, workspace_id, args.repeat)
            verdict = "ok" if result["care_metrics s"] < GOAL_S else f"over {GOAL_S} s"
            print(
                f"{name}: care_metrics {result['care_metrics s']:.2f} s ({verdict}), "
                f"the dashboard's headline {result['headline s']:.2f} s, "
                f"count(*) {result['count(*) baseline s']:.3f} s, "
                f"ratio {result['ratio']:.0f}×"
            )
    finally:
        if args.db in ("postgresql", "both"):
            drop_pg_database(PG_NAME)
    sys.exit(0)


if __name__ == "__main__":
    main()
