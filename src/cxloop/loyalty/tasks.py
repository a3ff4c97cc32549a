"""Loyalty jobs: every ten minutes members' tier traits are written and members are told what
changed (points earned, tiers, points about to expire); every day after midnight birthday
bonuses are given; every hour the points whose day has come expire; every night each program's
members are placed in the tier their last window earns them. All are safe to run twice: a
message has its dedupe key, an expired lot has nothing left, and a member already in their tier
does not move."""

from __future__ import annotations

from huey import crontab
from sqlalchemy import select

from cxloop.core.db import Database, get_database
from cxloop.core.jobs import huey
from cxloop.core.timeutil import utcnow
from cxloop.loyalty import benefits, ledger, messages
from cxloop.loyalty.program import load_programs
from cxloop.loyalty.tiers import evaluate_tiers
from cxloop.models import LoyaltyProgram


def _program_ids(database: Database) -> list[tuple[int, int]]:
    with database.read_session() as session:
        return [
            (row.id, row.workspace_id)
            for row in session.execute(
                select(LoyaltyProgram.id, LoyaltyProgram.workspace_id).order_by(LoyaltyProgram.id)
            )
        ]


def expire_points(database: Database) -> int:
    """Expire every program's due points, a few hundred members per transaction; returns how
    many members had points expire."""
    now = utcnow()
    done = 0
    for program_id, _ in _program_ids(database):
        while True:
            with database.session() as session:
                members = ledger.expire_due(session, program_id=program_id, now=now)
            done += members
            if members == 0:
                break
    return done


def evaluate_all_tiers(database: Database) -> int:
    """Evaluate every active program's tiers; returns how many members moved."""
    moved = 0
    for _, workspace_id in _program_ids(database):
        with database.session() as session:
            program = load_programs(session, workspace_ids=[workspace_id]).get(workspace_id)
            if program is None or not program.tiers:
                continue
            result = evaluate_tiers(session, program, now=utcnow())
            moved += result.upgraded + result.downgraded
    return moved


def tell_all_members(database: Database) -> int:
    """Queue what every active program's members have to be told; returns how many messages."""
    told = 0
    for _, workspace_id in _program_ids(database):
        with database.session() as session:
            program = load_programs(session, workspace_ids=[workspace_id]).get(workspace_id)
            if program is None:
                continue
            result = messages.tell_members(session, program, now=utcnow())
            told += result.earned + result.tiers + result.ending + result.expiring
    return told


def keep_benefits(database: Database, *, birthdays: bool) -> int:
    """Write members' tier traits (and, with ``birthdays``, give today's birthday bonuses);
    returns how many members it touched."""
    touched = 0
    for _, workspace_id in _program_ids(database):
        with database.session() as session:
            program = load_programs(session, workspace_ids=[workspace_id]).get(workspace_id)
            if program is None:
                continue
            now = utcnow()
            touched += benefits.sync_tier_traits(session, program, now=now)
            if birthdays:
                touched += benefits.give_birthday_bonuses(session, program, now=now)
    return touched


@huey.periodic_task(crontab(minute="*/10"))
def tell_members_often() -> int:
    database = get_database()
    keep_benefits(database, birthdays=False)
    return tell_all_members(database)


@huey.periodic_task(crontab(hour="15", minute="5"))  # 00:05 KST
def birthday_bonuses_daily() -> int:
    return keep_benefits(get_database(), birthdays=True)


@huey.periodic_task(crontab(minute="17"))
def expire_points_hourly() -> int:
    return expire_points(get_database())


@huey.periodic_task(crontab(hour="19", minute="10"))  # 04:10 KST
def evaluate_tiers_nightly() -> int:
    return evaluate_all_tiers(get_database())
