"""What a funnel asks: its steps (an event name and property filters), the conversion window,
the order the steps must come in, exclusion steps and a breakdown. One model for the API, the
CLI and the pages, validated before any query runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cxloop.insights.segments.language import (
    MAX_FILTERS,
    KeyPath,
    PropertyFilter,
    Text200,
)

MIN_STEPS, MAX_STEPS = 2, 20
MAX_WINDOW_DAYS = 366
MAX_EXCLUSIONS = 5
MAX_BREAKDOWN_VALUES = 50
DEFAULT_WINDOW_DAYS = 14

FunnelOrder = Literal["ordered", "strict", "unordered"]
Attribution = Literal["first", "last", "step"]
WindowDays = Annotated[float, Field(gt=0, le=MAX_WINDOW_DAYS)]
Filters = Annotated[list[PropertyFilter], Field(max_length=MAX_FILTERS)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FunnelStep(_Model):
    """One step: an event by name whose properties pass every filter of ``where``;
    ``within_hours`` bounds the time since the previous step (ordered and strict funnels)."""

    event: Text200
    where: Filters = []
    within_hours: Annotated[float, Field(gt=0, le=MAX_WINDOW_DAYS * 24)] | None = None
    label: Annotated[str, Field(min_length=1, max_length=120)] | None = None

    @property
    def title(self) -> str:
        return self.label or self.event


class FunnelExclusion(_Model):
    """An attempt that has this event strictly between its step ``after_step`` and its step
    ``before_step`` (the last step when absent) does not go past ``before_step - 1``."""

    event: Text200
    where: Filters = []
    after_step: Annotated[int, Field(ge=1, le=MAX_STEPS)] = 1
    before_step: Annotated[int, Field(ge=2, le=MAX_STEPS)] | None = None


class FunnelBreakdown(_Model):
    """Split the persons by an event property (the value on the attempt's first step, its
    furthest step, or step ``step``) or by a customer trait; the ``limit`` most common values
    get their own row, the rest are counted together."""

    kind: Literal["property", "trait"] = "property"
    key: KeyPath
    attribution: Attribution = "first"
    step: Annotated[int, Field(ge=1, le=MAX_STEPS)] | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_BREAKDOWN_VALUES)] = 10


class FunnelSpec(_Model):
    """A funnel of 2 to 20 steps."""

    steps: Annotated[list[FunnelStep], Field(min_length=MIN_STEPS, max_length=MAX_STEPS)]
    window_days: WindowDays = DEFAULT_WINDOW_DAYS
    order: FunnelOrder = "ordered"
    exclusions: Annotated[list[FunnelExclusion], Field(max_length=MAX_EXCLUSIONS)] = []
    breakdown: FunnelBreakdown | None = None
    segment_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None  # only its members

    @model_validator(mode="after")
    def _consistent(self) -> FunnelSpec:
        n = len(self.steps)
        for exclusion in self.exclusions:
            before = exclusion.before_step or n
            if not exclusion.after_step < before <= n:
                raise ValueError(
                    f"an exclusion lies between two steps: after_step {exclusion.after_step} "
                    f"must come before before_step {before}, within the {n} steps"
                )
        if self.exclusions and self.order != "ordered":
            raise ValueError("exclusion steps apply to ordered funnels only")
        breakdown = self.breakdown
        if breakdown is not None:
            if (breakdown.attribution == "step") != (breakdown.step is not None):
                raise ValueError("a breakdown by step names the step, and only then")
            if breakdown.step is not None and breakdown.step > n:
                raise ValueError(f"the breakdown step must be one of the {n} steps")
            if breakdown.kind == "trait" and breakdown.attribution != "first":
                raise ValueError("a trait breakdown takes the customer's trait, not a step's")
        if self.order == "unordered":
            names = [step.event for step in self.steps]
            if len(set(names)) != len(names):
                raise ValueError("an unordered funnel names each event once")
            if any(step.within_hours is not None for step in self.steps):
                raise ValueError("per-step windows apply to ordered and strict funnels")
            if breakdown is not None and breakdown.attribution != "first":
                raise ValueError("an unordered funnel breaks down by its first event or a trait")
        if self.steps[0].within_hours is not None:
            raise ValueError("the first step has no previous step to be within")
        return self

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    def anchor_of(self, index: int) -> int | None:
        """The latest earlier step (0-based) naming the same event as step ``index``: its
        event must come before this step's in arrival order when both share an instant."""
        name = self.steps[index].event
        for earlier in range(index - 1, -1, -1):
            if self.steps[earlier].event == name:
                return earlier
        return None


def parse_steps(text: str) -> list[FunnelStep]:
    """Steps from the CLI's comma-separated event names (``"A,B,C"``)."""
    names = [part.strip() for part in text.split(",")]
    if any(not name for name in names):
        raise ValueError("--steps names events separated by commas, with no empty name")
    return [FunnelStep(event=name) for name in names]
