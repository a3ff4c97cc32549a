"""Tier benefits: the birthday bonus on the member's local birthday (once a year, 29 February
on the 28th in other years) and the tier and free-shipping flag kept as profile traits."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.core.timeutil import utcnow
from cxloop.loyalty.benefits import (
    _is_birthday,
    birthday_of,
    give_birthday_bonuses,
    sync_tier_traits,
)
from cxloop.loyalty.program import load_programs
from cxloop.models import Customer, LedgerEntry
from tests.factories import Tenant
from tests.loyalty.test_earning import ago, customer_id, drain, order, send

PROGRAM: dict[str, Any] = {
    "tiers": [
        {"key": "basic"},
        {
            "key": "gold",
            "name": "Gold",
            "threshold": 100000,
            "free_shipping": True,
            "birthday_bonus": 3000,
        },
    ],
    "rules": [{"key": "orders", "rate_percent": 1}],
}


@pytest.fixture
def caught_up(tx_database: Database) -> Database:
    drain(tx_database)
    return tx_database


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1990-03-15", (3, 15)),
        ("19900315", (3, 15)),
        ("03-15", (3, 15)),
        ("1988-02-29", (2, 29)),
        ("1990-02-30", None),
        ("15/03/1990", None),
        (19900315, None),
    ],
    ids=["iso", "compact", "month-day", "leap-day", "no-such-day", "other-order", "a-number"],
)
def test_birthday_traits_are_read_as_shops_send_them(value: object, expected: Any) -> None:
    assert birthday_of(value) == expected


def test_a_leap_day_birthday_is_kept_on_the_28th_in_other_years() -> None:
    assert _is_birthday((2, 29), date(2027, 2, 28))
    assert not _is_birthday((2, 29), date(2028, 2, 28))
    assert _is_birthday((2, 29), date(2028, 2, 29))


def test_gold_members_get_their_birthday_bonus_once_and_their_traits(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database
) -> None:
    client.put("/api/v1/loyalty/program", json=PROGRAM, headers=tenant.api)
    now = utcnow()
    local = now.astimezone(load_zone(session, tenant))
    today = f"1990-{local.month:02d}-{local.day:02d}"
    send(
        client,
        tenant,
        {"type": "identify", "userId": "b1", "traits": {"birthday": today}},
        {"type": "identify", "userId": "b2", "traits": {"birthday": today}},
        order("b1", "B-1", 150000, ago(days=20)),
        order("b2", "B-2", 50000, ago(days=20)),
    )
    drain(caught_up)
    program = load_programs(session, workspace_ids=[tenant.id])[tenant.id]

    assert give_birthday_bonuses(session, program, now=now) == 1
    assert give_birthday_bonuses(session, program, now=now) == 0
    assert sync_tier_traits(session, program, now=now) == 2
    assert sync_tier_traits(session, program, now=now) == 0

    gold, basic = customer_id(session, tenant, "b1"), customer_id(session, tenant, "b2")
    bonus = session.scalars(
        select(LedgerEntry.amount).where(LedgerEntry.source_key.like("birthday:%"))
    ).all()
    assert bonus == [3000]
    traits = {
        c.id: c.traits
        for c in session.scalars(select(Customer).where(Customer.id.in_([gold, basic])))
    }
    assert (traits[gold]["loyalty_tier"], traits[gold]["free_shipping"]) == ("gold", True)
    assert (traits[basic]["loyalty_tier"], traits[basic]["free_shipping"]) == ("basic", False)


def load_zone(session: Session, tenant: Tenant) -> Any:
    from cxloop.profiles.consent import zone_named

    return zone_named(tenant.workspace.timezone)


def test_a_birthday_long_ago_in_the_year_gives_nothing_today(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database
) -> None:
    client.put("/api/v1/loyalty/program", json=PROGRAM, headers=tenant.api)
    send(
        client,
        tenant,
        {"type": "identify", "userId": "b3", "traits": {"birthday": "1990-01-01"}},
        order("b3", "B-3", 150000, ago(days=20)),
    )
    drain(caught_up)
    program = load_programs(session, workspace_ids=[tenant.id])[tenant.id]

    assert give_birthday_bonuses(session, program, now=datetime(2026, 7, 1, tzinfo=UTC)) == 0
