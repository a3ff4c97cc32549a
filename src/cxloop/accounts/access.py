"""Who is asking (a principal) and what each role may do: the checks every domain uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Select

from cxloop.core.errors import PermissionDenied

T = TypeVar("T", bound=tuple[object, ...])

_ALL = frozenset({"owner", "admin", "agent", "marketer", "analyst", "viewer"})
_ADMINS = frozenset({"owner", "admin"})

PERMISSIONS: dict[str, frozenset[str]] = {
    "customers:read": _ALL,
    "customers:write": frozenset({"owner", "admin", "agent", "marketer"}),
    "customers:merge": frozenset({"owner", "admin", "agent"}),
    "customers:export": _ADMINS,
    "customers:erase": _ADMINS,
    "consent:write": frozenset({"owner", "admin", "agent"}),
    "events:read": _ALL,
    "data:import": frozenset({"owner", "admin", "marketer"}),
    "members:manage": _ADMINS,
    "keys:manage": _ADMINS,
    "workspace:manage": _ADMINS,
    "audit:read": _ADMINS,
    # The outbox holds every address mail goes to; reading it and retrying or cancelling
    # messages is for those who run the workspace.
    "outbox:manage": _ADMINS,
    # Care: agents work conversations (read, reply, note, assign, resolve); admins set up
    # inboxes and their webhooks.
    "care:work": frozenset({"owner", "admin", "agent"}),
    "care:manage": _ADMINS,
    # The knowledge base: everyone reads it and asks the bot; those who answer customers
    # write and import articles.
    "help:read": _ALL,
    "help:write": frozenset({"owner", "admin", "agent"}),
    "text:analyze": _ALL,
    # Text analytics: everyone reads analyses; those who work feedback correct their tags (the
    # corrections teach the model); admins and analysts edit the taxonomy and manage models.
    "text:read": _ALL,
    "text:correct": frozenset({"owner", "admin", "agent", "marketer", "analyst"}),
    "text:manage": frozenset({"owner", "admin", "analyst"}),
    # Voice of the customer: analysts and marketers build surveys; agents read answers and
    # work the follow-ups that unhappy answers create.
    "surveys:read": _ALL,
    "surveys:write": frozenset({"owner", "admin", "marketer", "analyst"}),
    "responses:read": _ALL,
    "responses:write": frozenset({"owner", "admin", "marketer", "analyst"}),
    "followups:read": _ALL,
    "followups:write": frozenset({"owner", "admin", "agent", "marketer"}),
    # Distribution: those who build surveys send their invitations; everyone sees who was asked.
    "invitations:read": _ALL,
    "invitations:write": frozenset({"owner", "admin", "marketer", "analyst"}),
    # The closed loop: anyone reads improvements; those who work feedback record them and link
    # responses; telling customers (email) is for admins and marketers.
    "improvements:read": _ALL,
    "improvements:write": frozenset({"owner", "admin", "agent", "marketer", "analyst"}),
    "improvements:announce": frozenset({"owner", "admin", "marketer"}),
    # Every member reads (and marks read) their own notices.
    "notifications:read": _ALL,
    # The CX dashboard (scores, trends, breakdowns, drivers, KPIs and their CSV) is for everyone.
    "metrics:read": _ALL,
    # Insights: everyone reads segments and predictions; marketers and analysts build segments
    # and run the models; exporting members (personal data) is for those who may export.
    "insights:read": _ALL,
    "insights:write": frozenset({"owner", "admin", "marketer", "analyst"}),
    "insights:export": frozenset({"owner", "admin", "marketer", "analyst"}),
    # Journeys: everyone reads funnels, paths, retention and the journey map; marketers and
    # analysts define stages and touchpoints and save funnels.
    "journeys:read": _ALL,
    "journeys:write": frozenset({"owner", "admin", "marketer", "analyst"}),
    # Loyalty: everyone reads the program and a member's points; marketers shape the program
    # and adjust points; agents may also spend a member's points for them (a redemption asked
    # for in a conversation).
    "loyalty:read": _ALL,
    "loyalty:write": frozenset({"owner", "admin", "marketer"}),
    "loyalty:redeem": frozenset({"owner", "admin", "marketer", "agent"}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated actor acting inside one workspace."""

    workspace_id: int
    role: str
    user_id: int | None = None
    key_id: int | None = None
    label: str = ""
    ip: str | None = None

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


def require(principal: Principal, permission: str) -> None:
    """Raise PermissionDenied unless the principal's role grants ``permission``."""
    if permission not in PERMISSIONS:
        raise KeyError(permission)
    if not principal.can(permission):
        raise PermissionDenied(
            f"Your role ({principal.role}) does not allow {permission.replace(':', ' ')}."
        )


def scoped(statement: Select[T], model: type, workspace_id: int) -> Select[T]:
    """Restrict a query to one workspace; every domain query goes through this or its twin."""
    return statement.where(model.workspace_id == workspace_id)  # type: ignore[attr-defined]
