"""A workspace's routing settings and the rules that route a new conversation.

Each team hands out its conversations by a method: ``manual`` (agents take them; the default),
``round_robin`` (the agent assigned longest ago) or ``least_busy`` (the fewest open and pending
conversations); team ``""`` gives the method of teams without their own. Agents take open
conversations up to their capacity (the workspace's default unless set for them).

Rules are tried in order; the first whose conditions all hold routes the conversation to a
team and/or sets its priority. A condition is a list of allowed values (empty: any): the
channel, the language and categories of the customer's first message (from its analysis), the
customer's tier (the ``tier`` trait), and a least churn risk (the ``churn_risk`` trait, 0–1; a
churned profile counts as 1). A rule that needs the analysis waits for it (see assignment).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.db import dialect_insert, read_once
from cxloop.core.errors import ValidationFailed
from cxloop.models import Conversation, ConversationMessage, Customer, Membership, TextAnalysis
from cxloop.models.care import INBOX_CHANNELS, PRIORITIES
from cxloop.models.care_agents import (
    ASSIGNMENT_METHODS,
    TEAM_NOTICES,
    CareAgent,
    CareRouting,
)
from cxloop.text.taxonomy.service import workspace_taxonomy

MAX_RULES = 50
MAX_CAPACITY = 200
LANGUAGES = ("ko", "en", "other")
RULE_FIELDS = ("channels", "languages", "tiers", "categories")


def _problem(field_name: str, message: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": field_name, "message": message}])


def _text(value: Any) -> str:
    """Words as every database keeps them (no NUL, no lone surrogate), spaces collapsed."""
    # Imported here: care.service imports this module (through texts and assignment).
    from cxloop.care.service import storable

    return " ".join(storable(str(value)).split())


def clean_team(team: str, field_name: str = "team") -> str:
    cleaned = _text(team)
    if len(cleaned) > 64:
        raise _problem(field_name, "at most 64 characters", "A team name is at most 64 characters.")
    return cleaned


@dataclass(frozen=True)
class Rule:
    name: str
    channels: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    churn_risk_min: float | None = None
    team: str | None = None  # None: the conversation keeps its team
    priority: str | None = None  # None: unchanged

    @property
    def needs_analysis(self) -> bool:
        return bool(self.languages or self.categories)

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Facts:
    """What a rule can ask about a conversation; None where it is not known (yet)."""

    channel: str
    tier: str | None = None
    churn_risk: float | None = None
    language: str | None = None  # None: the first message is not analysed yet
    categories: frozenset[str] | None = None


def verdict(rule: Rule, facts: Facts) -> bool | None:
    """Whether ``rule`` applies: True, False, or None while the analysis it needs is missing."""
    if rule.channels and facts.channel not in rule.channels:
        return False
    if rule.tiers and (facts.tier or "") not in rule.tiers:
        return False
    if rule.churn_risk_min is not None and (
        facts.churn_risk is None or facts.churn_risk < rule.churn_risk_min
    ):
        return False
    unknown = False
    if rule.languages:
        if facts.language is None:
            unknown = True
        elif facts.language not in rule.languages:
            return False
    if rule.categories:
        if facts.categories is None:
            unknown = True
        elif not facts.categories & set(rule.categories):
            return False
    return None if unknown else True


def decide(rules: Sequence[Rule], facts: Facts, *, final: bool) -> tuple[Rule | None, bool]:
    """The first rule that applies (or None), and whether the decision must wait for the
    analysis: an earlier rule might still apply once it is known. ``final``: decide now, a
    rule that needs what is still unknown does not apply."""
    for rule in rules:
        result = verdict(rule, facts)
        if result is None:
            if final:
                continue
            return None, True
        if result:
            return rule, False
    return None, False


@dataclass(frozen=True)
class RoutingConfig:
    methods: Mapping[str, str] = field(default_factory=dict)
    default_capacity: int = 10
    offline_fallback: bool = False
    team_notices: str = "app"
    rules: tuple[Rule, ...] = ()
    # When the workspace set routing up (None: never; nothing is routed automatically).
    since: datetime | None = None

    def method_for(self, team: str) -> str:
        return self.methods.get(team) or self.methods.get("") or "manual"

    def capacity_of(self, agent: CareAgent) -> int:
        return agent.capacity if agent.capacity is not None else self.default_capacity


def _rule_of(raw: Any) -> Rule:
    return Rule(
        name=raw.get("name", ""),
        **{name: tuple(raw.get(name) or ()) for name in RULE_FIELDS},
        churn_risk_min=raw.get("churn_risk_min"),
        team=raw.get("team"),
        priority=raw.get("priority"),
    )


def config_of(row: CareRouting | None) -> RoutingConfig:
    if row is None:
        return RoutingConfig()
    return RoutingConfig(
        methods=dict(row.methods or {}),
        default_capacity=row.default_capacity,
        offline_fallback=row.offline_fallback,
        team_notices=row.team_notices,
        rules=tuple(_rule_of(r) for r in row.rules or [] if isinstance(r, dict)),
        since=row.created_at,
    )


def routing_row(session: Session, *, workspace_id: int) -> CareRouting | None:
    return session.scalar(select(CareRouting).where(CareRouting.workspace_id == workspace_id))


def config_for(session: Session, *, workspace_id: int) -> RoutingConfig:
    """The workspace's routing (the defaults when it set none)."""
    return read_once(
        session,
        ("care.routing", workspace_id),
        lambda: config_of(routing_row(session, workspace_id=workspace_id)),
    )


# --- facts ---------------------------------------------------------------------------------------


def _tier(traits: Mapping[str, Any]) -> str | None:
    value = traits.get("tier")
    return " ".join(value.split()).lower()[:64] or None if isinstance(value, str) else None


def _churn_risk(customer: Customer) -> float | None:
    value = (customer.traits or {}).get("churn_risk")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return 1.0 if customer.lifecycle_stage == "churned" else None


def facts_of(session: Session, conversation: Conversation) -> Facts:
    """The conversation's facts: its channel, its customer's tier and churn risk, and the
    language and categories of the first customer message once it is analysed."""
    customer = session.get(Customer, conversation.customer_id) if conversation.customer_id else None
    analysis = session.execute(
        select(TextAnalysis.lang, TextAnalysis.categories)
        .join(
            ConversationMessage,
            (ConversationMessage.id == TextAnalysis.source_id)
            & (TextAnalysis.source_type == "conversation_message")
            & (TextAnalysis.workspace_id == conversation.workspace_id),
        )
        .where(
            ConversationMessage.conversation_id == conversation.id,
            ConversationMessage.direction == "in",
        )
        .order_by(ConversationMessage.id)
        .limit(1)
    ).first()
    return Facts(
        channel=conversation.channel,
        tier=_tier(customer.traits or {}) if customer is not None else None,
        churn_risk=_churn_risk(customer) if customer is not None else None,
        language=analysis.lang if analysis is not None else (conversation.language or None),
        categories=frozenset(analysis.categories or ()) if analysis is not None else None,
    )


# --- settings ------------------------------------------------------------------------------------


def _values(raw: Any, field_name: str, allowed: Sequence[str] | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str) or not isinstance(raw, Sequence) or len(raw) > 50:
        raise _problem(field_name, "a list of at most 50 values", f"{field_name} is a list.")
    values = []
    for item in raw:
        value = _text(item).lower()[:64]
        if not value:
            continue
        if allowed is not None and value not in allowed:
            raise _problem(
                field_name,
                f"unknown value {value!r}",
                f"{field_name} may hold {', '.join(allowed)}; {value!r} is not one of them.",
            )
        values.append(value)
    return tuple(dict.fromkeys(values))


def check_rule(raw: Mapping[str, Any], *, position: int, categories: Sequence[str]) -> Rule:
    """A rule from its fields, checked (a ValidationFailed names the rule's field)."""
    where = f"rules[{position}]"
    name = _text(raw.get("name") or "")
    if not 1 <= len(name) <= 100:
        raise _problem(f"{where}.name", "1 to 100 characters", "A rule needs a name.")
    churn = raw.get("churn_risk_min")
    if churn is not None and (
        isinstance(churn, bool) or not isinstance(churn, int | float) or not 0 <= churn <= 1
    ):
        raise _problem(
            f"{where}.churn_risk_min", "0 to 1", "churn_risk_min is a number from 0 to 1."
        )
    team = raw.get("team")
    team = None if team is None else clean_team(team, f"{where}.team")
    priority = raw.get("priority") or None
    if priority is not None and priority not in PRIORITIES:
        raise _problem(
            f"{where}.priority",
            "unknown priority",
            f"priority must be one of {', '.join(PRIORITIES)}.",
        )
    if team is None and priority is None:
        raise _problem(
            f"{where}.team",
            "a team or a priority is required",
            f"Rule {name!r} must route to a team or set a priority.",
        )
    return Rule(
        name=name,
        channels=_values(raw.get("channels"), f"{where}.channels", INBOX_CHANNELS),
        languages=_values(raw.get("languages"), f"{where}.languages", LANGUAGES),
        tiers=_values(raw.get("tiers"), f"{where}.tiers", None),
        categories=_values(raw.get("categories"), f"{where}.categories", categories),
        churn_risk_min=float(churn) if churn is not None else None,
        team=team,
        priority=priority,
    )


def agent_row(session: Session, *, workspace_id: int, user_id: int) -> CareAgent:
    """The member's agent row, made on first use (two requests at once make one)."""
    found = session.scalar(
        select(CareAgent).where(
            CareAgent.workspace_id == workspace_id, CareAgent.user_id == user_id
        )
    )
    if found is not None:
        return found
    session.execute(
        dialect_insert(session)(CareAgent)
        .values(workspace_id=workspace_id, user_id=user_id, available=True, present=False)
        .on_conflict_do_nothing(index_elements=["workspace_id", "user_id"])
    )
    made = session.scalar(
        select(CareAgent).where(
            CareAgent.workspace_id == workspace_id, CareAgent.user_id == user_id
        )
    )
    assert made is not None
    return made


def _set_capacities(
    session: Session, workspace_id: int, capacities: Mapping[int, int | None]
) -> dict[str, int | None]:
    members = set(
        session.scalars(
            select(Membership.user_id).where(
                Membership.workspace_id == workspace_id,
                Membership.user_id.in_(list(capacities)),
            )
        )
    )
    changed: dict[str, int | None] = {}
    for user_id, capacity in sorted(capacities.items()):
        if user_id not in members:
            raise _problem(
                "capacities", "not a member", f"User {user_id} is not a member of this workspace."
            )
        if capacity is not None and not 0 <= capacity <= MAX_CAPACITY:
            raise _problem(
                "capacities", f"0 to {MAX_CAPACITY}", f"A capacity is 0 to {MAX_CAPACITY}."
            )
        agent = agent_row(session, workspace_id=workspace_id, user_id=user_id)
        if agent.capacity != capacity:
            agent.capacity = capacity
            changed[str(user_id)] = capacity
    return changed


def set_routing(
    session: Session,
    *,
    principal: Principal,
    methods: Mapping[str, str],
    default_capacity: int = 10,
    offline_fallback: bool = False,
    team_notices: str = "app",
    rules: Sequence[Mapping[str, Any]] = (),
    capacities: Mapping[int, int | None] | None = None,
) -> RoutingConfig:
    """Replace the workspace's routing (team methods, default capacity, offline fallback, team
    notices, rules) and set agents' own capacities (None: the default). Audited."""
    workspace_id = principal.workspace_id
    cleaned_methods: dict[str, str] = {}
    for team, method in methods.items():
        if method not in ASSIGNMENT_METHODS:
            raise _problem(
                "methods",
                "unknown method",
                f"A team's method is one of {', '.join(ASSIGNMENT_METHODS)}.",
            )
        cleaned_methods[clean_team(team, "methods")] = method
    if len(cleaned_methods) > 100:
        raise _problem("methods", "at most 100 teams", "At most 100 teams have a method.")
    if not 0 <= default_capacity <= MAX_CAPACITY:
        raise _problem(
            "default_capacity",
            f"0 to {MAX_CAPACITY}",
            f"default_capacity is 0 to {MAX_CAPACITY}.",
        )
    if team_notices not in TEAM_NOTICES:
        raise _problem(
            "team_notices", "unknown value", f"team_notices is one of {', '.join(TEAM_NOTICES)}."
        )
    if len(rules) > MAX_RULES:
        raise _problem("rules", f"at most {MAX_RULES}", f"At most {MAX_RULES} rules.")
    categories = workspace_taxonomy(session, workspace_id=workspace_id).keys if rules else ()
    checked = [check_rule(raw, position=i, categories=categories) for i, raw in enumerate(rules)]
    row = routing_row(session, workspace_id=workspace_id)
    if row is None:
        row = CareRouting(workspace_id=workspace_id)
        session.add(row)
    row.methods = cleaned_methods
    row.default_capacity = default_capacity
    row.offline_fallback = offline_fallback
    row.team_notices = team_notices
    row.rules = [r.as_dict() for r in checked]
    capacity_changes = _set_capacities(session, workspace_id, capacities or {})
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="care.routing_update",
        target_type="care_routing",
        target_id=row.id,
        detail={
            "methods": cleaned_methods,
            "default_capacity": default_capacity,
            "offline_fallback": offline_fallback,
            "team_notices": team_notices,
            "rules": [r.name for r in checked],
            "capacities": capacity_changes,
        },
    )
    return config_of(row)
