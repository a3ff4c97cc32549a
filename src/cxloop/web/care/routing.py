"""Automatic assignment in the web UI: the settings page (/settings/routing, admins) with the
agents' presence, load and capacity, each team's method and the ordered rules, saved in one
form; and the agent's own available/away toggle in the inbox header (/inbox/presence)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from cxloop.accounts.access import require
from cxloop.care import presence, routing
from cxloop.care.routing import RoutingConfig
from cxloop.core.errors import ValidationFailed
from cxloop.models.care import INBOX_CHANNELS, PRIORITIES
from cxloop.models.care_agents import ASSIGNMENT_METHODS, TEAM_NOTICES
from cxloop.text.taxonomy.service import workspace_taxonomy
from cxloop.web import errors
from cxloop.web.accounts.admin import settings_page
from cxloop.web.rendering import redirect
from cxloop.web.session import Page, WebContext, safe_next, verify_csrf

router = APIRouter(
    prefix="/settings/routing", include_in_schema=False, dependencies=[Depends(verify_csrf)]
)
presence_router = APIRouter(
    prefix="/inbox/presence", include_in_schema=False, dependencies=[Depends(verify_csrf)]
)

BLANK_TEAMS = 2  # empty team rows offered for new teams' methods
TICKED = ("channels", "categories")  # rule values chosen by ticking named boxes
MAX_ROWS = 120  # rows of a kind read from one form


async def _posted_form(request: Request) -> FormData:
    """The form of the request (already read, and cached, by the CSRF check)."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted_form)]


def _field(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _listed(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(values)


def _choices(form: FormData, name: str) -> str:
    """A rule's ticked values (or values typed with commas), as one comma list."""
    values = [v.strip()[:200] for v in form.getlist(name)[:MAX_ROWS] if isinstance(v, str)]
    return _listed([v for v in values if v])


def _form_of(config: RoutingConfig, agents: list[presence.AgentState]) -> dict[str, Any]:
    """The settings as the form shows them."""
    return {
        "default_capacity": str(config.default_capacity),
        "offline_fallback": config.offline_fallback,
        "team_notices": config.team_notices,
        "default_method": config.methods.get("", "manual"),
        "teams": [{"team": t, "method": m} for t, m in sorted(config.methods.items()) if t],
        "rules": [
            {
                "name": r.name,
                **{name: _listed(getattr(r, name)) for name in routing.RULE_FIELDS},
                "churn": "" if r.churn_risk_min is None else f"{r.churn_risk_min:g}",
                "team": r.team or "",
                "priority": r.priority or "",
            }
            for r in config.rules
        ],
        "capacities": {a.user_id: "" if a.capacity is None else str(a.capacity) for a in agents},
    }


def _page(
    page: WebContext, *, form: dict[str, Any] | None = None, error: str = "", status: int = 200
) -> HTMLResponse:
    config = routing.config_for(page.db, workspace_id=page.workspace.id)
    agents = presence.agents_of(page.db, workspace_id=page.workspace.id)
    return settings_page(
        page,
        "care/settings_routing.html",
        section="routing",
        status=status,
        form=form or _form_of(config, agents),
        configured=config.since is not None,
        agents=agents,
        default_capacity=config.default_capacity,
        error=error,
        methods=ASSIGNMENT_METHODS,
        notices=TEAM_NOTICES,
        priorities=PRIORITIES,
        blank_teams=BLANK_TEAMS,
        channels=[(c, page.t(f"care_metrics.channels.{c}")) for c in INBOX_CHANNELS],
        categories=[
            (c.key, c.name(page.locale))
            for c in workspace_taxonomy(page.db, workspace_id=page.workspace.id).categories
        ],
    )


@router.get("")
def routing_page(page: Page) -> Response:
    """Agents, team methods and rules of automatic assignment."""
    require(page.principal, "care:manage")
    return _page(page)


def _number(page: WebContext, text: str, label: str, kind: type = int) -> Any:
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ValidationFailed(page.t("routing.err_number", field=page.t(label))) from None


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _read(form: FormData) -> dict[str, Any]:
    """The posted settings, as typed (kept for showing the form again)."""
    teams = [
        {"team": _field(form, f"team-{i}", 64), "method": _field(form, f"method-{i}", 20)}
        for i in range(MAX_ROWS)
        if f"team-{i}" in form
    ]
    rules = []
    for i in range(MAX_ROWS):
        if f"rule-{i}-name" not in form or form.get(f"rule-{i}-remove"):
            continue
        rule = {
            name: _choices(form, f"rule-{i}-{name}")
            if name in TICKED
            else _field(form, f"rule-{i}-{name}")
            for name in routing.RULE_FIELDS
        }
        rule.update(
            name=_field(form, f"rule-{i}-name", 100),
            churn=_field(form, f"rule-{i}-churn", 20),
            team=_field(form, f"rule-{i}-team", 64),
            priority=_field(form, f"rule-{i}-priority", 20),
            position=_field(form, f"rule-{i}-position", 6),
        )
        if rule["name"] or any(rule[name] for name in routing.RULE_FIELDS):
            rules.append(rule)
    return {
        "default_capacity": _field(form, "default_capacity", 6),
        "offline_fallback": _field(form, "offline_fallback") == "1",
        "team_notices": _field(form, "team_notices", 10),
        "default_method": _field(form, "method-default", 20),
        "teams": teams,
        "rules": rules,
        "capacities": {
            int(key.removeprefix("capacity-")): _field(form, key, 6)
            for key in list(form.keys())[: MAX_ROWS * 20]
            if key.startswith("capacity-")
            and key.removeprefix("capacity-").isdigit()
            and len(key) < 24
        },
    }


def _ordered_rules(page: WebContext, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    positions = [_number(page, r["position"], "routing.position") for r in rules]
    order = sorted(range(len(rules)), key=lambda i: (positions[i] or i + 1, i))
    return [rules[i] for i in order]


@router.post("")
def save_routing(page: Page, form: PostedForm) -> Response:
    """Save the whole page: general settings, team methods, rules and capacities."""
    require(page.principal, "care:manage")
    typed = _read(form)
    try:
        with page.db.begin_nested():
            methods = {t["team"]: t["method"] for t in typed["teams"] if t["team"] and t["method"]}
            if typed["default_method"]:
                methods[""] = typed["default_method"]
            rules = [
                {
                    "name": r["name"],
                    **{name: _split(r[name]) for name in routing.RULE_FIELDS},
                    "churn_risk_min": _number(page, r["churn"], "routing.churn", float),
                    "team": r["team"] or None,
                    "priority": r["priority"] or None,
                }
                for r in _ordered_rules(page, typed["rules"])
            ]
            capacity = _number(page, typed["default_capacity"], "routing.default_capacity")
            routing.set_routing(
                page.db,
                principal=page.principal,
                methods=methods,
                default_capacity=10 if capacity is None else capacity,
                offline_fallback=typed["offline_fallback"],
                team_notices=typed["team_notices"] or "app",
                rules=rules,
                capacities={
                    uid: _number(page, text, "routing.capacity")
                    for uid, text in typed["capacities"].items()
                },
            )
    except ValidationFailed as exc:
        return _page(page, form=typed, error=errors.describe(page.locale, exc), status=422)
    page.flash("success", "routing.saved")
    return redirect("/settings/routing")


@presence_router.post("")
def set_presence(page: Page, form: PostedForm) -> Response:
    """The agent's own toggle: available (they take waiting conversations) or away."""
    require(page.principal, "care:work")
    available = _field(form, "available") == "1"
    changed = presence.set_available(
        page.db, workspace_id=page.workspace.id, user_id=page.user.id, available=available
    )
    page.flash("success", "presence.now_available" if available else "presence.now_away", n=changed)
    return redirect(safe_next(_field(form, "next"), "/inbox"))
