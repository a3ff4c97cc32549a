"""``cxloop care routing``: automatic assignment from the command line — show it, set a team's
method and the general settings, add and remove rules, set an agent's capacity or presence."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from cxloop.cli.common import WorkspaceOpt, _ready_database, _workspace_id, console

routing_app = typer.Typer(
    name="routing",
    help="Automatic assignment: team methods, rules, agents' capacity and presence.",
    no_args_is_help=True,
)

Many = Annotated[list[str] | None, typer.Option(help="May be given more than once")]


def _change(workspace: str, **changes: Any) -> None:
    """Apply ``changes`` to the workspace's routing as it is now (audited as the CLI's)."""
    from cxloop.accounts.service import cli_principal
    from cxloop.care import routing

    workspace_id = _workspace_id(workspace)
    with _ready_database().session() as session:
        config = routing.config_for(session, workspace_id=workspace_id)
        settings: dict[str, Any] = {
            "methods": dict(config.methods),
            "default_capacity": config.default_capacity,
            "offline_fallback": config.offline_fallback,
            "team_notices": config.team_notices,
            "rules": [rule.as_dict() for rule in config.rules],
        }
        for name, change in changes.items():
            settings[name] = change(settings[name]) if callable(change) else change
        routing.set_routing(session, principal=cli_principal(workspace_id), **settings)


def _member_id(workspace: str, email: str) -> tuple[int, int]:
    from cxloop.accounts.service import find_user

    workspace_id = _workspace_id(workspace)
    with _ready_database().session() as session:
        return workspace_id, find_user(session, email=email).id


@routing_app.command("show")
def show(workspace: WorkspaceOpt) -> None:
    """The settings, each team's method, the rules in order, and the agents now."""
    from cxloop.care import presence, routing

    workspace_id = _workspace_id(workspace)
    with _ready_database().session() as session:
        config = routing.config_for(session, workspace_id=workspace_id)
        agents = presence.agents_of(session, workspace_id=workspace_id)
    console.print(
        f"Automatic assignment: {'set up' if config.since else 'never set up (manual)'}; "
        f"default capacity {config.default_capacity}; offline agents "
        f"{'get work when no online agent has room' if config.offline_fallback else 'never'}; "
        f"team notices {config.team_notices}."
    )
    methods = Table("team", "method")
    for team, method in sorted(config.methods.items()):
        methods.add_row(team or "(default)", method)
    console.print(methods)
    rules = Table("#", "name", "when", "team", "priority")
    for number, rule in enumerate(config.rules, 1):
        when = [f"{name} {', '.join(getattr(rule, name))}" for name in routing.RULE_FIELDS]
        if rule.churn_risk_min is not None:
            when.append(f"churn risk ≥ {rule.churn_risk_min:g}")
        conditions = "; ".join(w for w in when if not w.endswith(" ")) or "always"
        rules.add_row(str(number), rule.name, conditions, rule.team or "-", rule.priority or "-")
    console.print(rules)
    table = Table("agent", "teams", "state", "open", "pending", "capacity")
    for a in agents:
        state = "away" if not a.available else "online" if a.online else "offline"
        capacity = str(a.capacity) if a.capacity is not None else f"{config.default_capacity}*"
        table.add_row(a.name, ", ".join(a.teams), state, str(a.open), str(a.pending), capacity)
    console.print(table)


@routing_app.command("method")
def method(
    workspace: WorkspaceOpt,
    method: Annotated[str, typer.Argument(help="manual, round_robin or least_busy")],
    team: Annotated[str, typer.Option(help='The team ("" for the default)')] = "",
) -> None:
    """Set how a team's conversations are handed out."""
    _change(workspace, methods=lambda methods: {**methods, team: method})
    console.print(f"{team or 'Default'} team: {method}.")


@routing_app.command("settings")
def settings(
    workspace: WorkspaceOpt,
    default_capacity: Annotated[
        int | None, typer.Option(help="Open conversations an agent takes at most")
    ] = None,
    offline_fallback: Annotated[
        bool | None,
        typer.Option(
            "--offline-fallback/--no-offline-fallback",
            help="Assign offline agents when no online agent has room",
        ),
    ] = None,
    team_notices: Annotated[
        str | None, typer.Option(help="New conversation notices: off, app or email")
    ] = None,
) -> None:
    """Change the general settings (those not given stay)."""
    given = {
        "default_capacity": default_capacity,
        "offline_fallback": offline_fallback,
        "team_notices": team_notices,
    }
    _change(workspace, **{k: v for k, v in given.items() if v is not None})
    console.print("Assignment settings saved.")


@routing_app.command("rule-add")
def rule_add(
    workspace: WorkspaceOpt,
    name: Annotated[str, typer.Option(help="The rule's name")],
    channel: Many = None,
    language: Many = None,
    tier: Many = None,
    category: Many = None,
    churn_risk: Annotated[
        float | None, typer.Option(help="The customer's churn risk at least this (0–1)")
    ] = None,
    team: Annotated[str | None, typer.Option(help="Route to this team")] = None,
    priority: Annotated[str | None, typer.Option(help="Set this priority")] = None,
    position: Annotated[
        int | None, typer.Option(min=1, help="Its place in the order (default: last)")
    ] = None,
) -> None:
    """Add a rule (the first rule whose conditions all hold applies)."""
    rule = {
        "name": name,
        "channels": channel or [],
        "languages": language or [],
        "tiers": tier or [],
        "categories": category or [],
        "churn_risk_min": churn_risk,
        "team": team,
        "priority": priority,
    }

    def added(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        at = len(rules) if position is None else min(position - 1, len(rules))
        return [*rules[:at], rule, *rules[at:]]

    _change(workspace, rules=added)
    console.print(f"Rule {name!r} added.")


@routing_app.command("rule-remove")
def rule_remove(
    workspace: WorkspaceOpt, name: Annotated[str, typer.Argument(help="The rule's name")]
) -> None:
    """Remove the rules of this name."""
    from cxloop.core.errors import NotFound

    found: list[bool] = []

    def removed(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = [r for r in rules if r["name"] != name]
        found.append(len(kept) < len(rules))
        if not found[-1]:
            raise NotFound(f"No rule named {name!r}.")
        return kept

    _change(workspace, rules=removed)
    console.print(f"Rule {name!r} removed.")


@routing_app.command("capacity")
def capacity(
    workspace: WorkspaceOpt,
    email: Annotated[str, typer.Argument(help="The agent's sign-in email")],
    capacity: Annotated[
        int | None, typer.Argument(help="Open conversations at most (none: the default)")
    ] = None,
) -> None:
    """Set an agent's own capacity."""
    _, user_id = _member_id(workspace, email)
    _change(workspace, capacities={user_id: capacity})
    console.print(f"{email}: capacity {capacity if capacity is not None else 'the default'}.")


@routing_app.command("presence")
def set_presence(
    workspace: WorkspaceOpt,
    email: Annotated[str, typer.Argument(help="The agent's sign-in email")],
    away: Annotated[bool, typer.Option("--away/--available", help="Away or available")],
) -> None:
    """Set an agent away (their waiting conversations go to others) or available."""
    from cxloop.accounts.service import cli_principal
    from cxloop.care import presence

    workspace_id, user_id = _member_id(workspace, email)
    with _ready_database().session() as session:
        moved = presence.set_available(
            session,
            workspace_id=workspace_id,
            user_id=user_id,
            available=not away,
            principal=cli_principal(workspace_id),
        )
    state = "away" if away else "available"
    console.print(f"{email} is {state}; {moved} conversations changed hands.")
