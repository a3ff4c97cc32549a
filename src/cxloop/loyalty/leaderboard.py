"""The month's leaderboard: members ranked by the points they earned this local month (earned
less taken back for returns, in the program's first point type).

Off by default: members see it in the widget only when the program turns it on, and then only
under masked names ("김*수"), never an address or an id. Ranks are shared on equal points
(1, 2, 2, 4). The board is read once a minute per program in a process — its top, and every
member's points of the month as two sorted columns — so a busy shop's page views do not each sum
the month's ledger: a member's own points are read fresh, their rank found among the others'.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from cxloop.loyalty.program import Program
from cxloop.loyalty.reports import month_starts
from cxloop.models import Customer, LedgerEntry, LoyaltyMember

TOP = 10
CACHE_SECONDS = 60.0
KINDS = ("earn", "reverse")  # what counts: points earned, less what returns took back


@dataclass(frozen=True)
class Leader:
    rank: int
    member_id: int
    customer_id: int
    name: str  # as the operator sees it
    masked: str  # as members see it
    points: int


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Board:
    month_start: datetime
    leaders: list[Leader]
    # every member with points this month: the points in ascending order, and the members in
    # ascending order of id with their points beside them
    points: np.ndarray = field(default_factory=_empty)
    members: np.ndarray = field(default_factory=_empty)
    members_points: np.ndarray = field(default_factory=_empty)

    def rank(self, member_id: int, points: int) -> int:
        """The rank of ``member_id`` with ``points`` among the others as this board read them:
        one more than those with more points (the member's own line as read is not counted)."""
        ahead = int(self.points.size - np.searchsorted(self.points, points, side="right"))
        at = int(np.searchsorted(self.members, member_id))
        if at < self.members.size and self.members[at] == member_id:
            ahead -= int(self.members_points[at] > points)
        return ahead + 1


def mask_name(name: str | None) -> str:
    """A name members may see of each other: each word keeps its first and last letters
    ("김민수" → "김*수", "이훈" → "이*", "Jane Doe" → "J**e D*e"); "" when there is none."""
    words = []
    for word in (name or "").split():
        if len(word) <= 2:
            words.append(word[0] + "*" * (len(word) - 1))
        else:
            words.append(word[0] + "*" * (len(word) - 2) + word[-1])
    return " ".join(words)


def _counted(program: Program, since: datetime) -> list[ColumnElement[bool]]:
    return [
        LedgerEntry.program_id == program.program.id,
        LedgerEntry.point_type == program.program.point_types[0],
        LedgerEntry.kind.in_(KINDS),
        LedgerEntry.occurred_at >= since,
    ]


def month_board(session: Session, program: Program, *, now: datetime, top: int = TOP) -> Board:
    """The ``top`` members of the month to ``now`` (those with more than nothing earned), and
    every member's points of the month."""
    start = month_starts(now, program.zone, 1)[0]
    earned = func.sum(LedgerEntry.amount)
    totals = session.execute(
        select(LedgerEntry.member_id, earned)
        .where(*_counted(program, start))
        .group_by(LedgerEntry.member_id)
        .having(earned > 0)
    ).all()
    members = np.fromiter((r[0] for r in totals), dtype=np.int64, count=len(totals))
    points = np.fromiter((r[1] for r in totals), dtype=np.int64, count=len(totals))
    by_id = np.argsort(members, kind="stable")
    best = np.lexsort((members, -points))[:top]  # most points first, then the lower id
    rows = [(int(members[i]), int(points[i])) for i in best]
    names = dict(
        session.execute(
            select(LoyaltyMember.id, LoyaltyMember.customer_id).where(
                LoyaltyMember.id.in_([r[0] for r in rows])
            )
        )
        .tuples()
        .all()
    )
    display = dict(
        session.execute(
            select(Customer.id, Customer.display_name).where(Customer.id.in_(names.values()))
        )
        .tuples()
        .all()
    )
    leaders: list[Leader] = []
    for position, (member_id, member_points) in enumerate(rows):
        rank = leaders[-1].rank if leaders and leaders[-1].points == member_points else position + 1
        customer_id = names[member_id]
        name = display.get(customer_id) or ""
        leaders.append(Leader(rank, member_id, customer_id, name, mask_name(name), member_points))
    return Board(
        month_start=start,
        leaders=leaders,
        points=np.sort(points),
        members=members[by_id],
        members_points=points[by_id],
    )


def rank_of(
    session: Session, program: Program, member: LoyaltyMember, *, now: datetime
) -> tuple[int, int] | None:
    """The member's rank and points this month (their points read now, the others' as the
    cached board read them); None before they earned anything."""
    start = month_starts(now, program.zone, 1)[0]
    own = session.scalar(
        select(func.sum(LedgerEntry.amount)).where(
            *_counted(program, start), LedgerEntry.member_id == member.id
        )
    )
    if not own or own <= 0:
        return None
    board = cached_board(session, program, now=now)
    return board.rank(member.id, int(own)), int(own)


_cache: dict[tuple[int, datetime, datetime], tuple[float, Board]] = {}
_cache_lock = threading.Lock()


def cached_board(session: Session, program: Program, *, now: datetime) -> Board:
    """``month_board`` as read at most ``CACHE_SECONDS`` ago in this process."""
    # A saved program (its updated_at) starts afresh.
    key = (program.program.id, program.program.updated_at, month_starts(now, program.zone, 1)[0])
    with _cache_lock:
        found = _cache.get(key)
    if found is not None and time.monotonic() - found[0] < CACHE_SECONDS:
        return found[1]
    board = month_board(session, program, now=now)
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[key] = (time.monotonic(), board)
    return board
