"""REST API of automatic assignment (admins): the routing settings and rules, agents' capacity,
presence and load, and setting a member available or away."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from fastapi import Path as FastPath
from pydantic import BaseModel, Field

from cxloop.accounts.access import Principal, require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.care import presence, routing

router = APIRouter(prefix="/api/v1/care", tags=["care"])

Method = Literal["manual", "round_robin", "least_busy"]
Priority = Literal["urgent", "high", "normal", "low"]
Values = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)]


class RuleModel(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    channels: Values = Field(default_factory=list, description="Any of them; empty: any channel")
    languages: Values = Field(
        default_factory=list, description="ko, en or other: the first message's language"
    )
    tiers: Values = Field(default_factory=list, description="The customer's tier trait")
    categories: Values = Field(
        default_factory=list, description="Text categories of the first message"
    )
    churn_risk_min: float | None = Field(
        default=None, ge=0, le=1, description="The customer's churn_risk trait at least this"
    )
    team: str | None = Field(default=None, max_length=64, description="null: keep the team")
    priority: Priority | None = Field(default=None, description="null: keep the priority")


class AgentCapacity(BaseModel):
    user_id: int = Field(ge=1, le=2**31)
    capacity: int | None = Field(ge=0, le=routing.MAX_CAPACITY, description="null: the default")


class RoutingIn(BaseModel):
    methods: dict[Annotated[str, Field(max_length=64)], Method] = Field(
        default_factory=dict,
        max_length=100,
        description='Each team\'s method; team "" is the default of teams without their own',
    )
    default_capacity: int = Field(default=10, ge=0, le=routing.MAX_CAPACITY)
    offline_fallback: bool = Field(
        default=False, description="Assign offline agents when no online agent has room"
    )
    team_notices: Literal["off", "app", "email"] = "app"
    rules: list[RuleModel] = Field(default_factory=list, max_length=routing.MAX_RULES)
    capacities: list[AgentCapacity] = Field(default_factory=list, max_length=500)


class AgentOut(BaseModel):
    user_id: int
    name: str
    role: str
    teams: list[str]
    available: bool
    online: bool
    last_seen_at: datetime | None
    capacity: int | None = Field(description="Their own capacity; null: the default")
    open: int
    pending: int


class RoutingOut(BaseModel):
    configured: bool = Field(description="false: never set; nothing is assigned automatically")
    methods: dict[str, str]
    default_capacity: int
    offline_fallback: bool
    team_notices: str
    rules: list[RuleModel]
    agents: list[AgentOut]


class PresenceIn(BaseModel):
    available: bool


def _routing_out(principal: Principal, session: DbSession) -> RoutingOut:
    config = routing.config_for(session, workspace_id=principal.workspace_id)
    agents = presence.agents_of(session, workspace_id=principal.workspace_id)
    return RoutingOut(
        configured=config.since is not None,
        methods=dict(config.methods),
        default_capacity=config.default_capacity,
        offline_fallback=config.offline_fallback,
        team_notices=config.team_notices,
        rules=[RuleModel(**rule.as_dict()) for rule in config.rules],
        agents=[
            AgentOut(**{name: getattr(a, name) for name in AgentOut.model_fields}) for a in agents
        ],
    )


@router.get("/routing", response_model=RoutingOut)
def get_routing(principal: ApiPrincipal, session: DbSession) -> RoutingOut:
    """The workspace's automatic assignment and its agents' presence, capacity and load."""
    require(principal, "care:manage")
    return _routing_out(principal, session)


@router.put("/routing", response_model=RoutingOut)
def set_routing(body: RoutingIn, principal: ApiPrincipal, session: DbSession) -> RoutingOut:
    """Replace the routing settings and rules; set agents' own capacities. Audited."""
    require(principal, "care:manage")
    routing.set_routing(
        session,
        principal=principal,
        methods=body.methods,
        default_capacity=body.default_capacity,
        offline_fallback=body.offline_fallback,
        team_notices=body.team_notices,
        rules=[rule.model_dump() for rule in body.rules],
        capacities={c.user_id: c.capacity for c in body.capacities},
    )
    return _routing_out(principal, session)


@router.put("/agents/{user_id}/presence", response_model=AgentOut)
def set_presence(
    user_id: Annotated[int, FastPath(ge=1, le=2**31)],
    body: PresenceIn,
    principal: ApiPrincipal,
    session: DbSession,
) -> AgentOut:
    """Set a member available (they take waiting conversations) or away (their conversations
    still waiting for a first reply go to others), as the agent does in the inbox. Audited."""
    require(principal, "care:manage")
    presence.set_available(
        session,
        workspace_id=principal.workspace_id,
        user_id=user_id,
        available=body.available,
        principal=principal,
    )
    agent = next(
        a
        for a in presence.agents_of(session, workspace_id=principal.workspace_id)
        if a.user_id == user_id
    )
    return AgentOut(**{name: getattr(agent, name) for name in AgentOut.model_fields})
