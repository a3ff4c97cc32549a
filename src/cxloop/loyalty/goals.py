"""Badges and challenges: saving them (audited), counting members' events towards them (the
``loyalty_goals`` bus consumer), rewarding those who reach them, and each member's progress.

A goal counts events named ``event`` that pass its ``where`` conditions, inside its dates when
it has them. Each counted event is stored once per goal (``GoalEvent``), so a batch handed
over again counts nothing twice; a goal is reached once per member (``GoalCompletion``), and its
points are a ledger lot with its own source key. A streak goal asks for events in
``streak_weeks`` weeks in a row (weeks from Monday, in the workspace's zone).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.db import dialect_insert
from cxloop.core.errors import ValidationFailed
from cxloop.core.timeutil import utcnow
from cxloop.loyalty import ledger
from cxloop.loyalty.earning import condition_holds, ensure_members
from cxloop.loyalty.program import Program, keep_by_key, programs_with_events, require_program
from cxloop.loyalty.schemas import KEY_PATTERN, Condition, check_window
from cxloop.models import Event, GoalCompletion, GoalEvent, LoyaltyGoal, LoyaltyMember


class GoalIn(BaseModel):
    """A badge (kept for good) or a challenge (within its dates)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    kind: Literal["badge", "challenge"] = "badge"
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=500)
    event: str = Field(min_length=1, max_length=200)
    where: list[Condition] = Field(default_factory=list, max_length=20)
    count: int = Field(default=1, ge=1, le=10_000)
    streak_weeks: int | None = Field(default=None, ge=2, le=104)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    reward_points: int = Field(default=0, ge=0, le=100_000_000)
    point_type: str = Field(default="points", pattern=KEY_PATTERN)
    active: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> GoalIn:
        if self.kind == "challenge" and (self.starts_at is None or self.ends_at is None):
            raise ValueError("a challenge has a start and an end (starts_at, ends_at).")
        check_window(self.starts_at, self.ends_at)
        return self


class GoalsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goals: list[GoalIn] = Field(max_length=100)

    @model_validator(mode="after")
    def _keys(self) -> GoalsIn:
        keys = [g.key for g in self.goals]
        if len(set(keys)) != len(keys):
            raise ValueError("goal keys must differ.")
        return self


class GoalsOut(BaseModel):
    goals: list[GoalIn]


FIELDS = tuple(GoalIn.model_fields)


def goals_of(session: Session, *, program_id: int) -> list[LoyaltyGoal]:
    return list(
        session.scalars(
            select(LoyaltyGoal).where(LoyaltyGoal.program_id == program_id).order_by(LoyaltyGoal.id)
        )
    )


def as_goal_in(goal: LoyaltyGoal) -> GoalIn:
    return GoalIn.model_validate({name: getattr(goal, name) for name in FIELDS})


def save_goals(
    session: Session, *, principal: Principal, workspace_id: int, goals: GoalsIn
) -> list[LoyaltyGoal]:
    """Create or change the program's badges and challenges by key (audited as
    ``loyalty.goals``); a goal left out stops counting but keeps who reached it."""
    program = require_program(session, workspace_id=workspace_id)
    for goal_in in goals.goals:
        if goal_in.point_type not in program.point_types:
            raise ValidationFailed(
                f"goal {goal_in.key!r} rewards {goal_in.point_type!r}, not a point type."
            )
    existing = {g.key: g for g in goals_of(session, program_id=program.id)}
    wanted = {g.key for g in goals.goals}
    keep_by_key(
        session,
        LoyaltyGoal,
        existing,
        [
            {
                **g.model_dump(mode="python"),
                "where": [c.model_dump(mode="json") for c in g.where],
            }
            for g in goals.goals
        ],
        workspace_id=workspace_id,
        program_id=program.id,
    )
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="loyalty.goals",
        workspace_id=workspace_id,
        target_type="loyalty_program",
        target_id=program.id,
        detail={"goals": sorted(wanted)},
    )
    return goals_of(session, program_id=program.id)


# --- counting ------------------------------------------------------------------------------------


def week_of(moment: datetime, program: Program) -> date:
    local = moment.astimezone(program.zone).date()
    return local - timedelta(days=local.weekday())


def longest_run(weeks: Sequence[date]) -> int:
    """The most weeks in a row among ``weeks``."""
    best = run = 0
    previous: date | None = None
    for week in sorted(set(weeks)):
        run = run + 1 if previous is not None and week - previous == timedelta(days=7) else 1
        best = max(best, run)
        previous = week
    return best


def _matches(goal: LoyaltyGoal, event: Event) -> bool:
    if event.name != goal.event:
        return False
    if goal.starts_at is not None and event.timestamp < goal.starts_at:
        return False
    if goal.ends_at is not None and event.timestamp >= goal.ends_at:
        return False
    return all(condition_holds(c, event.properties or {}) for c in goal.where)


def _reached(session: Session, program: Program, goal: LoyaltyGoal, member_id: int) -> bool:
    if goal.streak_weeks:
        times = session.scalars(
            select(GoalEvent.occurred_at).where(
                GoalEvent.goal_id == goal.id, GoalEvent.member_id == member_id
            )
        )
        return longest_run([week_of(t, program) for t in times]) >= goal.streak_weeks
    counted = session.scalar(
        select(func.count()).where(GoalEvent.goal_id == goal.id, GoalEvent.member_id == member_id)
    )
    return (counted or 0) >= goal.count


def count_batch(session: Session, program: Program, events: Sequence[Event]) -> int:
    """Count a batch of one workspace's events towards the program's goals; returns how many
    goals members reached."""
    goals = [
        g
        for g in session.scalars(
            select(LoyaltyGoal).where(
                LoyaltyGoal.program_id == program.program.id, LoyaltyGoal.active
            )
        )
    ]
    names = {g.event for g in goals}
    relevant = [e for e in events if e.type == "track" and e.name in names]
    if not relevant:
        return 0
    pairs = [(e, g) for e in relevant for g in goals if _matches(g, e)]
    if not pairs:
        return 0
    members = ensure_members(
        session,
        program=program,
        customer_ids={e.customer_id for e, _ in pairs},
        joined_at=min(e.timestamp for e, _ in pairs),
    )
    insert = dialect_insert(session)
    session.execute(
        insert(GoalEvent)
        .values(
            [
                {
                    "goal_id": g.id,
                    "member_id": members[e.customer_id].id,
                    "event_id": e.id,
                    "occurred_at": e.timestamp,
                }
                for e, g in pairs
            ]
        )
        .on_conflict_do_nothing(index_elements=["goal_id", "event_id"])
    )
    touched: dict[tuple[int, int], tuple[LoyaltyGoal, LoyaltyMember, datetime]] = {}
    for e, g in pairs:
        member = members[e.customer_id]
        touched[(g.id, member.id)] = (g, member, e.timestamp)
    done = set(
        session.execute(
            select(GoalCompletion.goal_id, GoalCompletion.member_id).where(
                GoalCompletion.goal_id.in_({g for g, _ in touched}),
                GoalCompletion.member_id.in_({m for _, m in touched}),
            )
        )
        .tuples()
        .all()
    )
    reached = 0
    for (goal_id, member_id), (goal, member, moment) in touched.items():
        if (goal_id, member_id) in done or not _reached(session, program, goal, member_id):
            continue
        session.add(
            GoalCompletion(
                workspace_id=member.workspace_id,
                goal_id=goal_id,
                member_id=member_id,
                completed_at=moment,
            )
        )
        if goal.reward_points > 0:
            ledger.add_lot(
                session,
                member=member,
                point_type=goal.point_type,
                kind="earn",
                amount=goal.reward_points,
                occurred_at=moment,
                available_at=moment,
                expires_at=program.expiry_of(moment),
                reason=goal.name,
                source_key=f"goal:{goal.key}:{member.id}",
            )
        reached += 1
    session.flush()
    return reached


class LoyaltyGoals:
    """Counts events towards badges and challenges."""

    name = "loyalty_goals"
    columns: tuple[str, ...] | None = None

    def handle(self, session: Session, events: Sequence[Event]) -> None:
        for program, batch in programs_with_events(session, events):
            count_batch(session, program, batch)


loyalty_goals = LoyaltyGoals()


# --- a member's progress ----------------------------------------------------------------------


@dataclass(frozen=True)
class GoalProgress:
    goal: LoyaltyGoal
    done: int  # events counted, or weeks in a row for a streak
    needed: int
    completed_at: datetime | None


def progress_of(
    session: Session, *, program: Program, member_id: int, now: datetime | None = None
) -> list[GoalProgress]:
    """The member's badges earned and challenges open or done (those not yet begun and long
    ended, unreached, are left out)."""
    now = now or utcnow()
    goals = [g for g in goals_of(session, program_id=program.program.id) if g.active]
    completions = dict(
        session.execute(
            select(GoalCompletion.goal_id, GoalCompletion.completed_at).where(
                GoalCompletion.member_id == member_id
            )
        )
        .tuples()
        .all()
    )
    times: dict[int, list[datetime]] = defaultdict(list)
    for goal_id, moment in session.execute(
        select(GoalEvent.goal_id, GoalEvent.occurred_at).where(GoalEvent.member_id == member_id)
    ):
        times[goal_id].append(moment)
    shown: list[GoalProgress] = []
    for goal in goals:
        completed = completions.get(goal.id)
        if completed is None and goal.ends_at is not None and goal.ends_at <= now:
            continue
        if goal.streak_weeks:
            done = longest_run([week_of(t, program) for t in times[goal.id]])
            needed = goal.streak_weeks
        else:
            done, needed = len(times[goal.id]), goal.count
        shown.append(GoalProgress(goal, min(done, needed), needed, completed))
    return shown
