"""How a survey goes out: its channels, the event that triggers it, the delay, the sample,
expiry and reminders. Stored as ``Survey.distribution``; the workspace-wide fatigue rule
(``Workspace.survey_fatigue_days``) applies on top of every survey's own settings.

An example, "3 days after an order of 50,000 won or more, to 30 % of buyers, by email"::

    {
        "channels": ["email"],
        "trigger": {
            "event": "Order Completed",
            "where": [{"property": "total", "op": ">=", "value": 50000}],
        },
        "delay_minutes": 4320,
        "sample_rate": 0.3,
        "expires_days": 14,
        "reminder_after_days": 3,
        "public_link": false,
    }
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cxloop.core.errors import ValidationFailed, value_error_code
from cxloop.feedback.surveys.definition import Operator, StorableText, shown_key

Channel = Literal["email", "widget", "link"]
MAX_DELAY_MINUTES = 60 * 24 * 90


class PropertyFilter(BaseModel):
    """One condition on the triggering event's properties (dots reach into nested objects:
    ``"products.0.category"``). ``in`` takes a list; the others compare one value."""

    model_config = ConfigDict(extra="forbid")
    property: StorableText = Field(min_length=1, max_length=200)
    op: Operator
    value: int | float | bool | StorableText | list[int | float | StorableText]


class Trigger(BaseModel):
    """Invite after a tracked event with this name whose properties match every filter."""

    model_config = ConfigDict(extra="forbid")
    event: StorableText = Field(min_length=1, max_length=200)
    where: list[PropertyFilter] = Field(default_factory=list, max_length=20)


def _link_only() -> list[Channel]:
    return ["link"]


class DistributionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: list[Channel] = Field(default_factory=_link_only, max_length=3)
    trigger: Trigger | None = None
    delay_minutes: int = Field(default=0, ge=0, le=MAX_DELAY_MINUTES)
    sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    expires_days: int = Field(default=14, ge=1, le=365)
    reminder_after_days: int | None = Field(default=None, ge=1, le=60)
    public_link: bool = False

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[Channel]) -> list[Channel]:
        return list(dict.fromkeys(value))


def parse_distribution(data: Any) -> DistributionSettings:
    """Validate stored or submitted settings; errors become a 422 with field names."""
    try:
        return DistributionSettings.model_validate(data or {})
    except ValidationError as exc:
        errors = [
            {
                "field": "distribution." + ".".join(shown_key(p) for p in error["loc"]),
                "message": error["msg"],
            }
            | value_error_code(error)
            for error in exc.errors()
        ]
        raise ValidationFailed("The distribution settings are not valid.", errors=errors) from None
