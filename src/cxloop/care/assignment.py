"""Automatic assignment. A new conversation is routed once: the workspace's rules may move it to
a team and set its priority (see routing), then its team's method hands it to an agent —
online agents first, each within their capacity (their open conversations count), offline ones
only when the workspace allows it and no online agent has room. Agents who go away hand on the
conversations still waiting for a first reply; agents who come back or have room again take
waiting conversations, most urgent and oldest first. Every automatic change leaves a system
note in the conversation; the assignee is told, and the team hears of a new conversation.

Two workers never give one agent more than their capacity: an assignment first locks the
workspace's agent rows in id order (SELECT … FOR UPDATE; SQLite has one writer at a time
anyway), counts the agents' conversations only then, and takes the conversation with a
conditional UPDATE, so one conversation never goes to two agents either.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from cxloop.accounts.access import PERMISSIONS
from cxloop.care import live, routing, sla
from cxloop.care.routing import RoutingConfig, Rule
from cxloop.core.db import dialect_insert, read_once, rowcount
from cxloop.core.i18n import gettext
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.models import Conversation, ConversationMessage, Membership, User
from cxloop.models.care_agents import CareAgent, CareRouting, ConversationRoute
from cxloop.notifications import service as notifications

# A rule that needs the first message's language or category waits this long for its
# analysis; then the conversation is routed by what is known.
ANALYSIS_WAIT = timedelta(minutes=2)
# A conversation that began longer ago than this (an import, a backfill) is news to nobody.
FRESH = timedelta(hours=1)
BATCH = 200
NOTE = "care.routing.note."
CARE_ROLES = sorted(PERMISSIONS["care:work"])
URGENCY = case(
    {"urgent": 0, "high": 1, "normal": 2, "low": 3}, value=Conversation.priority, else_=2
)


@dataclass
class Candidate:
    agent: CareAgent
    name: str
    teams: list[str]
    open: int  # what capacity counts
    busy: int  # open and pending: what least-busy compares


# --- notes and notices ---------------------------------------------------------------------------


def _note(
    session: Session,
    conversation: Conversation,
    key: str,
    now: datetime,
    labels: dict[str, str] | None = None,
    **params: Any,
) -> None:
    """A system note in the conversation saying what routing did. Its text is kept in Korean;
    the inbox shows it in each reader's language from ``details``."""
    details = {"say": NOTE + key, "params": params, "labels": labels or {}}
    session.add(
        ConversationMessage(
            workspace_id=conversation.workspace_id,
            conversation_id=conversation.id,
            direction="note",
            author="system",
            body_text=_say(details, "ko"),
            details=details,
            created_at=now,
        )
    )
    live.conversation_changed(session, conversation, "note")  # open screens reload it


def _say(details: dict[str, Any], locale: str) -> str:
    labels = {k: gettext(locale, v) for k, v in (details.get("labels") or {}).items()}
    return gettext(locale, str(details["say"]), **{**details.get("params", {}), **labels})


def note_text(message: ConversationMessage, locale: str) -> str:
    """A message's text in ``locale``: a routing note in the reader's language."""
    details = message.details or {}
    if message.author == "system" and isinstance(details.get("say"), str):
        return _say(details, locale)
    return message.body_text


def _care_members(session: Session, workspace_id: int) -> list[tuple[int, str, list[str]]]:
    """(user id, name, teams) of the active members who work conversations."""

    def read() -> list[tuple[int, str, list[str]]]:
        rows = session.execute(
            select(User.id, User.display_name, User.email, Membership.teams)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.workspace_id == workspace_id,
                Membership.role.in_(CARE_ROLES),
                User.is_active.is_(True),
            )
            .order_by(User.id)
        )
        return [(uid, name or email, list(teams or [])) for uid, name, email, teams in rows]

    return list(read_once(session, ("care.members", workspace_id), read))


def _in_team(team: str, teams: Collection[str]) -> bool:
    return not team or team in teams  # team "" is everyone's


def tell_assigned(
    session: Session, *, conversation: Conversation, assignee_id: int | None, by_user_id: int | None
) -> None:
    """Tell a member a conversation was assigned to them (not when they took it themselves),
    in the app and by email, once per conversation."""
    if assignee_id is None or assignee_id == by_user_id:
        return
    notifications.notify(
        session,
        workspace_id=conversation.workspace_id,
        kind="care_assigned",
        params={"id": conversation.id, "subject": conversation.subject[:80] or "-"},
        link=f"/inbox/{conversation.id}",
        dedupe_key=f"care-assigned:{conversation.id}:{assignee_id}",
        user_ids=[assignee_id],
    )


def _tell_team(
    session: Session,
    conversation: Conversation,
    config: RoutingConfig,
    now: datetime,
    later: list[notifications.NewNotice] | None = None,
) -> None:
    """Tell the conversation's team it began (in the app, or by email too); a notice in the app
    alone goes to ``later`` when given, for the caller to write with others."""
    if config.team_notices == "off" or now - as_utc(conversation.created_at) > FRESH:
        return
    told = [
        uid
        for uid, _name, teams in _care_members(session, conversation.workspace_id)
        if _in_team(conversation.team, teams) and uid != conversation.assignee_id
    ]
    notice = notifications.NewNotice(
        workspace_id=conversation.workspace_id,
        kind="care_new_conversation",
        params={
            "id": conversation.id,
            "subject": conversation.subject[:80] or "-",
            "team": conversation.team or "-",
        },
        link=f"/inbox/{conversation.id}",
        dedupe_key=f"care-new:{conversation.id}",
        user_ids=told,
    )
    if config.team_notices != "email" and later is not None:
        later.append(notice)
        return
    # In the app only, the notices are written without loading them back (a team is many).
    tell = notifications.notify if config.team_notices == "email" else notifications.notify_in_app
    tell(
        session,
        workspace_id=notice.workspace_id,
        kind=notice.kind,
        params=notice.params,
        link=notice.link,
        dedupe_key=notice.dedupe_key,
        user_ids=told,
    )


# --- agents --------------------------------------------------------------------------------------


def lock_agents(session: Session, workspace_id: int) -> None:
    """Hold every agent row of the workspace, in id order (so two holders never deadlock)."""
    session.execute(
        select(CareAgent.id)
        .where(CareAgent.workspace_id == workspace_id)
        .order_by(CareAgent.id)
        .with_for_update()
    ).all()


def loads(
    session: Session, workspace_id: int, user_ids: Iterable[int]
) -> dict[int, tuple[int, int]]:
    """Each agent's (open, open + pending) conversations."""
    ids = list(user_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(
            Conversation.assignee_id,
            func.sum(case((Conversation.status == "open", 1), else_=0)),
            func.count(),
        )
        .where(
            Conversation.workspace_id == workspace_id,
            Conversation.assignee_id.in_(ids),
            Conversation.status.in_(("open", "pending")),
        )
        .group_by(Conversation.assignee_id)
    )
    return {uid: (int(o or 0), int(b or 0)) for uid, o, b in rows}


def _candidates(
    session: Session, workspace_id: int, *, team: str | None, exclude: Collection[int] = ()
) -> list[Candidate]:
    """The available agents of ``team`` (None: any team) with their loads, read after the lock."""
    members = {uid: (name, teams) for uid, name, teams in _care_members(session, workspace_id)}
    agents = session.scalars(
        select(CareAgent)
        .where(CareAgent.workspace_id == workspace_id, CareAgent.available.is_(True))
        .order_by(CareAgent.id)
        .execution_options(populate_existing=True)
    ).all()
    chosen = [
        a
        for a in agents
        if a.user_id in members
        and a.user_id not in exclude
        and (team is None or _in_team(team, members[a.user_id][1]))
    ]
    load = loads(session, workspace_id, [a.user_id for a in chosen])
    return [
        Candidate(a, members[a.user_id][0], members[a.user_id][1], *load.get(a.user_id, (0, 0)))
        for a in chosen
    ]


def _order(candidates: list[Candidate], method: str) -> list[Candidate]:
    def assigned(c: Candidate) -> float:
        last = c.agent.last_assigned_at
        return as_utc(last).timestamp() if last is not None else 0.0

    if method == "least_busy":
        return sorted(candidates, key=lambda c: (c.busy, assigned(c), c.agent.user_id))
    return sorted(candidates, key=lambda c: (assigned(c), c.agent.user_id))


def _take(
    session: Session, conversation: Conversation, user_id: int | None, *, expected: int | None
) -> bool:
    """Set the assignee if the conversation is still open and still ``expected``'s."""
    holder = (
        Conversation.assignee_id.is_(None)
        if expected is None
        else Conversation.assignee_id == expected
    )
    result = session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation.id,
            Conversation.workspace_id == conversation.workspace_id,
            Conversation.status == "open",
            holder,
        )
        .values(assignee_id=user_id)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) == 0:
        return False
    set_committed_value(conversation, "assignee_id", user_id)
    return True


def assign_next(
    session: Session,
    conversation: Conversation,
    *,
    config: RoutingConfig,
    now: datetime,
    exclude: Collection[int] = (),
    allow_offline: bool | None = None,
    previous: tuple[int, str] | None = None,
) -> Candidate | None:
    """Hand the conversation to the next agent of its team by the team's method (online agents
    with room first; offline ones with room when ``allow_offline``, by default the workspace's
    fallback); ``previous`` is the agent it is taken from. None when nobody has room."""
    method = config.method_for(conversation.team)
    if method == "manual":
        return None
    lock_agents(session, conversation.workspace_id)
    roomy = [
        c
        for c in _candidates(
            session, conversation.workspace_id, team=conversation.team, exclude=exclude
        )
        if c.open < config.capacity_of(c.agent)
    ]
    pool = _order([c for c in roomy if c.agent.is_online(now)], method)
    offline = config.offline_fallback if allow_offline is None else allow_offline
    if not pool and offline:
        pool = _order(roomy, method)
    if not pool:
        return None
    chosen = pool[0]
    if not _take(
        session, conversation, chosen.agent.user_id, expected=previous[0] if previous else None
    ):
        return None
    chosen.agent.last_assigned_at = now
    if previous is not None:
        _note(session, conversation, "moved", now, previous=previous[1], name=chosen.name)
    elif not chosen.agent.is_online(now):
        _note(session, conversation, "fallback", now, name=chosen.name)
    else:
        _note(session, conversation, method, now, name=chosen.name)
    tell_assigned(
        session, conversation=conversation, assignee_id=chosen.agent.user_id, by_user_id=None
    )
    return chosen


# --- routing a new conversation ------------------------------------------------------------------


def _apply_rule(session: Session, conversation: Conversation, rule: Rule, now: datetime) -> None:
    if rule.team is not None and rule.team != conversation.team:
        conversation.team = rule.team
        if conversation.first_response_at is None:  # the new team's SLA, from the start
            sla.start_clocks(session, conversation, at=as_utc(conversation.created_at))
        if rule.team:
            _note(session, conversation, "rule_team", now, rule=rule.name, team=rule.team)
        else:
            _note(
                session, conversation, "rule_team", now, {"team": NOTE + "everyone"}, rule=rule.name
            )
    if rule.priority is not None and rule.priority != conversation.priority:
        conversation.priority = rule.priority
        _note(
            session,
            conversation,
            "rule_priority",
            now,
            {"priority": f"inbox.priority.{rule.priority}"},
            rule=rule.name,
        )


def _route(
    session: Session,
    conversation: Conversation,
    config: RoutingConfig,
    rule: Rule | None,
    now: datetime,
    later: list[notifications.NewNotice] | None = None,
) -> bool:
    """Apply the decision once (a conversation already routed is left alone)."""
    inserted = session.execute(
        dialect_insert(session)(ConversationRoute)
        .values(
            conversation_id=conversation.id,
            workspace_id=conversation.workspace_id,
            rule=rule.name[:100] if rule else "",
            routed_at=now,
        )
        .on_conflict_do_nothing(index_elements=["conversation_id"])
    )
    if rowcount(inserted) == 0:
        return False
    if rule is not None:
        _apply_rule(session, conversation, rule, now)
    if conversation.assignee_id is None and conversation.status == "open":
        assign_next(session, conversation, config=config, now=now)
    _tell_team(session, conversation, config, now, later)
    session.flush()
    return True


def route_new(
    session: Session,
    conversation: Conversation,
    *,
    now: datetime | None = None,
    later: list[notifications.NewNotice] | None = None,
) -> None:
    """Route a conversation that has just begun: its rules and assignee now, or once its first
    message is analysed when a rule needs the language or category. Without routing settings
    only the team is told. The team's notices in the app go to ``later`` when given (a batch
    of mail writes all of its own at once)."""
    now = now or utcnow()
    config = routing.config_for(session, workspace_id=conversation.workspace_id)
    if config.since is None:
        _tell_team(session, conversation, config, now, later)
        return
    facts = routing.facts_of(session, conversation)
    rule, waiting = routing.decide(config.rules, facts, final=False)
    if not waiting:
        _route(session, conversation, config, rule, now, later)


def _unrouted(workspace_id: int, since: datetime) -> Any:
    return and_(
        Conversation.workspace_id == workspace_id,
        Conversation.status == "open",
        Conversation.created_at >= since,
        ~exists().where(ConversationRoute.conversation_id == Conversation.id),
    )


def route_analysed(
    session: Session,
    *,
    workspace_id: int,
    message_ids: Collection[int],
    now: datetime | None = None,
) -> int:
    """Route the conversations waiting for these messages' analysis; how many were routed."""
    config = routing.config_for(session, workspace_id=workspace_id)
    if config.since is None or not any(r.needs_analysis for r in config.rules) or not message_ids:
        return 0
    now = now or utcnow()
    waiting = session.scalars(
        select(Conversation)
        .where(
            _unrouted(workspace_id, config.since),
            Conversation.id.in_(
                select(ConversationMessage.conversation_id).where(
                    ConversationMessage.workspace_id == workspace_id,
                    ConversationMessage.id.in_(list(message_ids)),
                )
            ),
        )
        .order_by(Conversation.id)
    ).all()
    routed = 0
    for conversation in waiting:
        rule, still_waiting = routing.decide(
            config.rules, routing.facts_of(session, conversation), final=False
        )
        if not still_waiting:
            routed += _route(session, conversation, config, rule, now)
    return routed


# --- agents going and coming ---------------------------------------------------------------------


def hand_on(
    session: Session,
    *,
    workspace_id: int,
    user_id: int,
    explicit: bool,
    now: datetime | None = None,
) -> int:
    """An agent went away (``explicit``: they said so; else five quiet minutes): their open
    conversations still waiting for a first reply go to an online agent of the team with room;
    when none has, they wait unassigned — unless offline agents may hold work, when a quiet
    agent keeps them and one who said they are away passes them to an offline agent. Returns
    how many moved to another agent."""
    now = now or utcnow()
    config = routing.config_for(session, workspace_id=workspace_id)
    if config.since is None:
        return 0
    lock_agents(session, workspace_id)
    name = next((n for uid, n, _ in _care_members(session, workspace_id) if uid == user_id), "")
    waiting = session.scalars(
        select(Conversation)
        .where(
            Conversation.workspace_id == workspace_id,
            Conversation.assignee_id == user_id,
            Conversation.status == "open",
            Conversation.first_response_at.is_(None),
        )
        .order_by(URGENCY, Conversation.created_at, Conversation.id)
        .limit(BATCH)
    ).all()
    moved = 0
    for conversation in waiting:
        if config.method_for(conversation.team) == "manual":
            continue
        taken = assign_next(
            session,
            conversation,
            config=config,
            now=now,
            exclude={user_id},
            allow_offline=explicit and config.offline_fallback,
            previous=(user_id, name or f"#{user_id}"),
        )
        if taken is not None:
            moved += 1
        elif (explicit or not config.offline_fallback) and _take(
            session, conversation, None, expected=user_id
        ):
            _note(session, conversation, "unassigned", now, previous=name or f"#{user_id}")
    session.flush()
    return moved


def _waiting(workspace_id: int, config: RoutingConfig) -> Any:
    """Open unassigned conversations that routing has decided on (or that began before the
    workspace set routing up)."""
    assert config.since is not None
    return (
        select(Conversation)
        .where(
            Conversation.workspace_id == workspace_id,
            Conversation.status == "open",
            Conversation.assignee_id.is_(None),
            or_(
                exists().where(ConversationRoute.conversation_id == Conversation.id),
                Conversation.created_at < config.since,
            ),
        )
        .order_by(URGENCY, Conversation.created_at, Conversation.id)
    )


def pick_up(
    session: Session, *, workspace_id: int, user_id: int, now: datetime | None = None
) -> int:
    """An agent came back (or has room): give them waiting conversations of their teams, most
    urgent and oldest first, up to their capacity. Returns how many."""
    now = now or utcnow()
    config = routing.config_for(session, workspace_id=workspace_id)
    if config.since is None:
        return 0
    lock_agents(session, workspace_id)
    me = next(
        (c for c in _candidates(session, workspace_id, team=None) if c.agent.user_id == user_id),
        None,
    )
    if me is None or not me.agent.is_online(now):
        return 0
    room = config.capacity_of(me.agent) - me.open
    if room <= 0:
        return 0
    query = _waiting(workspace_id, config).where(Conversation.team.in_(["", *me.teams]))
    taken = 0
    for conversation in session.scalars(query.limit(BATCH)).all():
        if taken >= room:
            break
        if config.method_for(conversation.team) == "manual":
            continue
        if _take(session, conversation, user_id, expected=None):
            taken += 1
            me.agent.last_assigned_at = now
            _note(session, conversation, "back", now, name=me.name)
            tell_assigned(session, conversation=conversation, assignee_id=user_id, by_user_id=None)
    session.flush()
    return taken


# --- the sweep -----------------------------------------------------------------------------------


def routed_workspaces(session: Session) -> list[int]:
    """The workspaces that set automatic assignment up."""
    return list(
        session.scalars(select(CareRouting.workspace_id).order_by(CareRouting.workspace_id))
    )


@dataclass
class SweepReport:
    routed: int = 0
    assigned: int = 0


def sweep(
    session: Session, *, now: datetime | None = None, workspace_id: int | None = None
) -> SweepReport:
    """Every minute, in each workspace with routing (or one): route the conversations whose
    analysis did not come in time, then give waiting conversations to agents with room."""
    now = now or utcnow()
    report = SweepReport()
    query = select(CareRouting).order_by(CareRouting.workspace_id)
    if workspace_id is not None:
        query = query.where(CareRouting.workspace_id == workspace_id)
    for row in session.scalars(query).all():
        config = routing.config_of(row)
        assert config.since is not None
        overdue = session.scalars(
            select(Conversation)
            .where(
                _unrouted(row.workspace_id, config.since),
                Conversation.created_at <= now - ANALYSIS_WAIT,
            )
            .order_by(Conversation.id)
            .limit(BATCH)
        ).all()
        for conversation in overdue:
            rule, _ = routing.decide(
                config.rules, routing.facts_of(session, conversation), final=True
            )
            report.routed += _route(session, conversation, config, rule, now)
        report.assigned += _assign_waiting(session, row.workspace_id, config, now)
    session.flush()
    return report


def _assign_waiting(
    session: Session, workspace_id: int, config: RoutingConfig, now: datetime
) -> int:
    anyone = session.scalar(
        select(exists().where(CareAgent.workspace_id == workspace_id, CareAgent.online(now)))
    )
    if not anyone and not config.offline_fallback:
        return 0
    full: set[str] = set()
    assigned = 0
    for conversation in session.scalars(_waiting(workspace_id, config).limit(BATCH)).all():
        if conversation.team in full or config.method_for(conversation.team) == "manual":
            continue
        if assign_next(session, conversation, config=config, now=now) is None:
            full.add(conversation.team)
        else:
            assigned += 1
    return assigned
