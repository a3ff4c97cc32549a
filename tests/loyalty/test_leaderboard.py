"""The month's leaderboard: ranks on points earned this local month less what returns took
back, ties sharing a rank; operators read it over the API, members see it in the widget only
when the program turns it on, under masked names."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.accounts.widget_identity import identity_secret, user_hash
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.loyalty.leaderboard import Board, mask_name
from tests.factories import Tenant
from tests.loyalty.test_earning import PROGRAM, customer_id, drain, order, send, track
from tests.loyalty.test_widget import panel

SEOUL = ZoneInfo("Asia/Seoul")


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("김민수", "김*수"),
        ("이훈", "이*"),
        ("남궁민수", "남**수"),
        ("Jane Doe", "J**e D*e"),
        ("  A  ", "A"),
        ("", ""),
        (None, ""),
    ],
)
def test_names_keep_only_their_first_and_last_letters(name: str | None, masked: str) -> None:
    assert mask_name(name) == masked


def this_month() -> tuple[str, str]:
    """An instant in the current local month (Seoul), and one in the month before."""
    now = utcnow()
    local = now.astimezone(SEOUL)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    inside = max(start, (now - timedelta(minutes=5)).astimezone(SEOUL))
    return inside.isoformat(), (start - timedelta(days=3)).isoformat()


def named(user: str, name: str, when: str) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "traits": {"name": name}, "timestamp": when}


@pytest.fixture
def month(
    client: TestClient, session: Session, tenant: Tenant, tx_database: Database
) -> dict[str, int]:
    """Kim and Jane earned 2,000 this month, Lee 1,000 (and 5,000 given by hand, which does
    not count), a nameless member 500 less 250 for a half return; Park earned only last
    month. Returns the customers by user id."""
    drain(tx_database)
    client.put("/api/v1/loyalty/program", json=PROGRAM, headers=tenant.api)
    inside, before = this_month()
    send(
        client,
        tenant,
        named("l1", "김민수", inside),
        named("l2", "Jane Doe", inside),
        named("l3", "이훈", inside),
        named("l5", "박지성", before),
        order("l1", "L-1", 200000, inside),
        order("l2", "L-2", 200000, inside),
        order("l3", "L-3", 100000, inside),
        order("l4", "L-4", 50000, inside),
        order("l5", "L-5", 900000, before),
    )
    drain(tx_database)
    send(client, tenant, track("l4", "Order Refunded", inside, order_id="L-4", total=25000))
    drain(tx_database)
    ids = {user: customer_id(session, tenant, user) for user in ("l1", "l2", "l3", "l4", "l5")}
    given = client.post(
        f"/api/v1/loyalty/members/{ids['l3']}/adjust",
        json={"points": 5000, "reason": "사과의 뜻"},
        headers=tenant.api,
    )
    assert given.status_code == 200, given.text
    return ids


def test_the_month_ranks_earnings_less_returns_with_shared_ranks(
    client: TestClient, tenant: Tenant, month: dict[str, int]
) -> None:
    answer = client.get("/api/v1/loyalty/leaderboard", headers=tenant.api)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["shown_to_members"] is False
    assert datetime.fromisoformat(body["month_start"]).astimezone(SEOUL).day == 1
    assert [(x["rank"], x["customer_id"], x["masked"], x["points"]) for x in body["leaders"]] == [
        (1, month["l1"], "김*수", 2000),
        (1, month["l2"], "J**e D*e", 2000),
        (3, month["l3"], "이*", 1000),
        (4, month["l4"], "", 250),
    ]
    assert body["leaders"][0]["name"] == "김민수"
    top = client.get("/api/v1/loyalty/leaderboard", params={"top": 2}, headers=tenant.api)
    assert [x["points"] for x in top.json()["leaders"]] == [2000, 2000]


def test_the_widget_shows_the_board_only_when_the_program_turns_it_on(
    client: TestClient, tenant: Tenant, month: dict[str, int], settings: Settings
) -> None:
    signed = user_hash(identity_secret(tenant.workspace, settings=settings), "l3")

    off = panel(client, tenant, userId="l3", userHash=signed, locale="ko").json()
    client.put("/api/v1/loyalty/program", json={**PROGRAM, "leaderboard": True}, headers=tenant.api)
    on = panel(client, tenant, userId="l3", userHash=signed, locale="ko").json()

    assert off["member"]["leaderboard"] is None
    board = on["member"]["leaderboard"]
    assert [(x["rank"], x["name"], x["points"], x["you"]) for x in board["leaders"]] == [
        (1, "김*수", "2,000", False),
        (1, "J**e D*e", "2,000", False),
        (3, "이*", "1,000", True),
        (4, "회원", "250", False),
    ]
    assert board["you"] == "내 순위: 3위 · 1,000포인트"
    assert "김민수" not in str(on) and "Jane Doe" not in str(on)


def test_the_leaderboard_is_read_by_those_who_may(
    client: TestClient, tenant: Tenant, month: dict[str, int]
) -> None:
    assert (
        client.get("/api/v1/loyalty/leaderboard", headers=tenant.key("viewer")).status_code == 200
    )
    assert client.get("/api/v1/loyalty/leaderboard").status_code == 401


def test_a_members_rank_counts_the_others_as_the_board_read_them_and_their_own_points_now() -> None:
    # members 1..4 with 2,000 / 2,000 / 1,000 / 250 points when the board was read
    members, points = np.array([1, 2, 3, 4]), np.array([2000, 2000, 1000, 250])
    board = Board(
        month_start=datetime(2026, 12, 1),
        leaders=[],
        points=np.sort(points),
        members=members,
        members_points=points,
    )
    assert board.rank(3, 1000) == 3  # as read
    assert board.rank(3, 2500) == 1  # earned since: ahead of everyone at once
    assert board.rank(3, 500) == 3  # a return took points back: not behind their old self
    assert board.rank(4, 250) == 4
    assert board.rank(1, 2000) == 1  # ties share the rank
    assert board.rank(9, 2000) == 1  # not on the board when it was read
    assert board.rank(9, 100) == 5
    assert Board(month_start=datetime(2026, 12, 1), leaders=[]).rank(9, 100) == 1
