"""Agents' presence: the available/away toggle each agent sets, "last seen" from the inbox pages
and their live stream, and what follows from it. An agent is online while available and seen
in the last five minutes. Coming online (seen again, or available again) gives them waiting
conversations up to their capacity; going away (the toggle, or five quiet minutes noticed by
the sweep) hands on their conversations still waiting for a first reply (see assignment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.care import assignment, routing
from cxloop.core.db import rowcount
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.core.timeutil import utcnow
from cxloop.models import Membership, User
from cxloop.models.care_agents import ONLINE_WINDOW, CareAgent


def seen(session: Session, *, workspace_id: int, user_id: int, now: datetime | None = None) -> None:
    """The agent has the inbox open now. Cheap while nothing changes (one UPDATE every call);
    an agent back after five quiet minutes takes waiting conversations."""
    now = now or utcnow()
    steady = session.execute(
        update(CareAgent)
        .where(
            CareAgent.workspace_id == workspace_id,
            CareAgent.user_id == user_id,
            CareAgent.last_seen_at > now - ONLINE_WINDOW,
            or_(CareAgent.present.is_(True), CareAgent.available.is_(False)),
        )
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(steady):
        return
    assignment.lock_agents(session, workspace_id)
    agent = routing.agent_row(session, workspace_id=workspace_id, user_id=user_id)
    agent.last_seen_at = now
    if agent.available:
        agent.present = True
        session.flush()
        assignment.pick_up(session, workspace_id=workspace_id, user_id=user_id, now=now)
    session.flush()


def set_available(
    session: Session,
    *,
    workspace_id: int,
    user_id: int,
    available: bool,
    principal: Principal | None = None,
    now: datetime | None = None,
) -> int:
    """The agent's own toggle (or a lead's, ``principal``, audited). Away: their conversations
    still waiting for a first reply go to others; available: they are online now and take
    waiting conversations. Returns how many conversations changed hands."""
    now = now or utcnow()
    role = session.scalar(
        select(Membership.role).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    if role is None:
        raise NotFound(f"No member with id {user_id} in this workspace.")
    if role not in assignment.CARE_ROLES:
        raise ValidationFailed(
            f"A member with the {role} role does not work conversations.",
            errors=[{"field": "user_id", "message": "not an agent"}],
        )
    assignment.lock_agents(session, workspace_id)
    agent = routing.agent_row(session, workspace_id=workspace_id, user_id=user_id)
    agent.available = available
    agent.present = available
    if available:
        agent.last_seen_at = now
    session.flush()
    if principal is not None and principal.user_id != user_id:
        record_audit(
            session,
            principal=principal,
            action="care.agent_presence",
            target_type="user",
            target_id=user_id,
            detail={"available": available},
        )
    if available:
        return assignment.pick_up(session, workspace_id=workspace_id, user_id=user_id, now=now)
    return assignment.hand_on(
        session, workspace_id=workspace_id, user_id=user_id, explicit=True, now=now
    )


def notice_quiet(
    session: Session, *, now: datetime | None = None, workspace_id: int | None = None
) -> int:
    """The sweep's part: agents counted online who have not been seen for five minutes are
    offline now; their waiting work is handed on. Returns how many agents went quiet."""
    now = now or utcnow()
    quiet = select(CareAgent).where(
        CareAgent.present.is_(True),
        or_(CareAgent.last_seen_at.is_(None), CareAgent.last_seen_at <= now - ONLINE_WINDOW),
    )
    if workspace_id is not None:
        quiet = quiet.where(CareAgent.workspace_id == workspace_id)
    agents = session.scalars(quiet.order_by(CareAgent.workspace_id, CareAgent.id)).all()
    for agent in agents:
        assignment.lock_agents(session, agent.workspace_id)  # before any of them is written
        # Claimed with a conditional UPDATE: a worker running the same sweep hands on once.
        if rowcount(
            session.execute(
                update(CareAgent)
                .where(CareAgent.id == agent.id, CareAgent.present.is_(True))
                .values(present=False)
                .execution_options(synchronize_session=False)
            )
        ):
            assignment.hand_on(
                session,
                workspace_id=agent.workspace_id,
                user_id=agent.user_id,
                explicit=False,
                now=now,
            )
    return len(agents)


@dataclass(frozen=True)
class AgentState:
    user_id: int
    name: str
    email: str
    role: str
    teams: list[str]
    available: bool
    online: bool
    last_seen_at: datetime | None
    capacity: int | None  # their own; None: the workspace's default
    open: int
    pending: int


def agents_of(
    session: Session, *, workspace_id: int, now: datetime | None = None
) -> list[AgentState]:
    """Every member who works conversations, with presence, capacity and load, by name."""
    now = now or utcnow()
    rows = session.execute(
        select(User.id, User.display_name, User.email, Membership.role, Membership.teams, CareAgent)
        .join(Membership, Membership.user_id == User.id)
        .outerjoin(
            CareAgent,
            and_(CareAgent.workspace_id == workspace_id, CareAgent.user_id == User.id),
        )
        .where(
            Membership.workspace_id == workspace_id,
            Membership.role.in_(assignment.CARE_ROLES),
            User.is_active.is_(True),
        )
        .order_by(User.display_name, User.email)
        .limit(500)
    ).all()
    loads = assignment.loads(session, workspace_id, [r[0] for r in rows])
    return [
        AgentState(
            user_id=uid,
            name=name or email,
            email=email,
            role=role,
            teams=list(teams or []),
            available=agent.available if agent is not None else True,
            online=agent is not None and agent.is_online(now),
            last_seen_at=agent.last_seen_at if agent is not None else None,
            capacity=agent.capacity if agent is not None else None,
            open=loads.get(uid, (0, 0))[0],
            pending=loads.get(uid, (0, 0))[1] - loads.get(uid, (0, 0))[0],
        )
        for uid, name, email, role, teams, agent in rows
    ]


def presence_of(
    session: Session, *, workspace_id: int, user_id: int, now: datetime | None = None
) -> tuple[bool, bool]:
    """The member's (available, online) now; an agent never seen is available, not online."""
    agent = session.scalar(
        select(CareAgent).where(
            CareAgent.workspace_id == workspace_id, CareAgent.user_id == user_id
        )
    )
    if agent is None:
        return True, False
    return agent.available, agent.is_online(now or utcnow())
