"""The workspace's journey stages and touchpoints: their rules, the defaults of an online shop
(used until the workspace saves its own), and saving them (audited)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.insights.segments.language import Text200
from cxloop.journeys.spec import Filters
from cxloop.models import JourneyStage, JourneyTouchpoint

MAX_STAGES = 12
MAX_TOUCHPOINTS = 30
MAX_RULES = 10
Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Name = Annotated[str, Field(max_length=120)]


class EventRule(BaseModel):
    """Events named ``event`` whose properties pass ``where`` — or, with ``page``, any page or
    screen call; for a stage, the ``nth`` such event of the person enters it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: Text200 | None = None
    where: Filters = []
    page: bool = False
    nth: Annotated[int, Field(ge=1, le=100)] = 1

    @model_validator(mode="after")
    def _names_something(self) -> EventRule:
        if (self.event is None) == (not self.page):
            raise ValueError("a rule names an event, or takes any page (page: true), not both")
        return self


class StageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Key
    name: Name = ""
    rules: Annotated[list[EventRule], Field(min_length=1, max_length=MAX_RULES)]


class TouchpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Key
    name: Name = ""
    rules: Annotated[list[EventRule], Field(min_length=1, max_length=MAX_RULES)]

    @model_validator(mode="after")
    def _no_nth(self) -> TouchpointIn:
        if any(rule.nth != 1 for rule in self.rules):
            raise ValueError("a touchpoint takes every matching event: nth is for stages")
        return self


def _unique(items: list[Any], what: str) -> None:
    keys = [item.key for item in items]
    if len(set(keys)) != len(keys):
        raise ValueError(f"each {what} has its own key")


class StagesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stages: Annotated[list[StageIn], Field(min_length=2, max_length=MAX_STAGES)]

    @model_validator(mode="after")
    def _keys(self) -> StagesIn:
        _unique(self.stages, "stage")
        return self


class TouchpointsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    touchpoints: Annotated[list[TouchpointIn], Field(min_length=1, max_length=MAX_TOUCHPOINTS)]

    @model_validator(mode="after")
    def _keys(self) -> TouchpointsIn:
        _unique(self.touchpoints, "touchpoint")
        return self


def _rule(event: str | None = None, *, nth: int = 1, page: bool = False, **where: Any) -> EventRule:
    filters = [{"key": k, "value": v} for k, v in where.items()]
    return EventRule.model_validate({"event": event, "nth": nth, "page": page, "where": filters})


# An online shop's five stages (the names come from the catalog while ``name`` is empty).
DEFAULT_STAGES = (
    StageIn(key="awareness", rules=[_rule(page=True), _rule("Application Opened")]),
    StageIn(
        key="consideration",
        rules=[_rule("Product Viewed"), _rule("Products Searched"), _rule("Product Added")],
    ),
    StageIn(key="purchase", rules=[_rule("Order Completed")]),
    StageIn(key="loyalty", rules=[_rule("Order Completed", nth=2)]),
    StageIn(
        key="advocacy",
        rules=[
            _rule("Product Reviewed"),
            _rule("Product Shared"),
            EventRule.model_validate(
                {
                    "event": "Survey Answered",
                    "where": [{"key": "nps", "op": "gte", "value": 9}],
                }
            ),
        ],
    ),
)
DEFAULT_TOUCHPOINTS = (
    TouchpointIn(key="site", rules=[_rule(page=True), _rule("Application Opened")]),
    TouchpointIn(key="search", rules=[_rule("Products Searched")]),
    TouchpointIn(key="product", rules=[_rule("Product Viewed")]),
    TouchpointIn(key="cart", rules=[_rule("Product Added"), _rule("Cart Viewed")]),
    TouchpointIn(key="checkout", rules=[_rule("Checkout Started")]),
    TouchpointIn(key="order", rules=[_rule("Order Completed")]),
    TouchpointIn(
        key="support",
        rules=[_rule("Conversation Message Received"), _rule("Support Chat Started")],
    ),
    TouchpointIn(key="survey", rules=[_rule("Survey Answered")]),
    TouchpointIn(key="review", rules=[_rule("Product Reviewed")]),
)


@dataclass(frozen=True, slots=True)
class Place:
    """A stage or touchpoint as the map uses it."""

    key: str
    name: str  # empty: a default's catalog words
    rules: tuple[EventRule, ...]


def _places(rows: list[Any], defaults: tuple[Any, ...]) -> list[Place]:
    if not rows:
        return [Place(d.key, d.name, tuple(d.rules)) for d in defaults]
    return [
        Place(r.key, r.name, tuple(EventRule.model_validate(rule) for rule in r.rules))
        for r in rows
    ]


def stages_of(session: Session, *, workspace_id: int) -> list[Place]:
    """The workspace's stages in journey order (the defaults until it saves its own)."""
    rows = session.scalars(
        select(JourneyStage)
        .where(JourneyStage.workspace_id == workspace_id)
        .order_by(JourneyStage.position, JourneyStage.id)
    ).all()
    return _places(list(rows), DEFAULT_STAGES)


def touchpoints_of(session: Session, *, workspace_id: int) -> list[Place]:
    """The workspace's touchpoints in their order (the defaults until it saves its own)."""
    rows = session.scalars(
        select(JourneyTouchpoint)
        .where(JourneyTouchpoint.workspace_id == workspace_id)
        .order_by(JourneyTouchpoint.position, JourneyTouchpoint.id)
    ).all()
    return _places(list(rows), DEFAULT_TOUCHPOINTS)


def _dump(rules: list[EventRule]) -> list[dict[str, Any]]:
    return [rule.model_dump(mode="json") for rule in rules]


# What ``_replace`` saves for each kind: its rows, and how they are read back.
_Rows = type[JourneyStage] | type[JourneyTouchpoint]
_SAVED: dict[str, tuple[_Rows, Callable[..., list[Place]]]] = {
    "stages": (JourneyStage, stages_of),
    "touchpoints": (JourneyTouchpoint, touchpoints_of),
}


def _replace(
    session: Session,
    principal: Principal,
    workspace_id: int,
    kind: Literal["stages", "touchpoints"],
    places: Sequence[StageIn | TouchpointIn],
) -> list[Place]:
    """Put ``places``, in their order, in place of the workspace's stages or touchpoints
    (audited as ``journeys.<kind>``) and return them as read back."""
    model, read = _SAVED[kind]
    session.execute(delete(model).where(model.workspace_id == workspace_id))
    session.add_all(
        model(
            workspace_id=workspace_id,
            key=place.key,
            name=place.name,
            position=position,
            rules=_dump(place.rules),
        )
        for position, place in enumerate(places)
    )
    session.flush()
    record_audit(
        session,
        principal=principal,
        workspace_id=workspace_id,
        action=f"journeys.{kind}",
        target_type="workspace",
        target_id=workspace_id,
        detail={kind: [place.key for place in places]},
    )
    return read(session, workspace_id=workspace_id)


def save_stages(
    session: Session, *, principal: Principal, workspace_id: int, stages: StagesIn
) -> list[Place]:
    """Replace the workspace's stages (audited as ``journeys.stages``)."""
    return _replace(session, principal, workspace_id, "stages", stages.stages)


def save_touchpoints(
    session: Session, *, principal: Principal, workspace_id: int, touchpoints: TouchpointsIn
) -> list[Place]:
    """Replace the workspace's touchpoints (audited as ``journeys.touchpoints``)."""
    return _replace(session, principal, workspace_id, "touchpoints", touchpoints.touchpoints)
