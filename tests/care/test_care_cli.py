"""`cxloop care`: an inbox made at the command line answers to the webhook path it prints;
conversations and SLA targets from the command line."""

from __future__ import annotations

from collections.abc import Callable

from cxloop.accounts import service as accounts
from cxloop.care import service as care
from cxloop.care import sla
from cxloop.core.db import Database
from cxloop.models import AuditEntry
from tests.factories import unique
from tests.helpers.cli import Result


def test_an_inbox_from_the_cli_takes_mail_and_lists_it(
    cli: Callable[..., Result], database: Database
) -> None:
    slug = unique("care-cli-")
    assert cli("workspace", "create", "가나다 쇼핑", "--slug", slug).code == 0

    made = cli("care", "inbox-create", "-w", slug, "--name", "고객센터", "--team", "cs")
    sla_set = cli("care", "sla", "-w", slug, "--first-response", "240", "--resolution", "1620")

    assert made.code == 0, made.err
    path = made.out.strip()
    assert path.startswith("/hooks/email/") and len(path) > 30
    assert "SLA for every team: first response 240" in sla_set.out
    with database.session() as session:
        workspace_id = accounts.find_workspace(session, slug=slug).id
        policy = sla.policy_for(session, workspace_id=workspace_id, team="cs")
        assert policy is not None and policy.first_response_minutes == 240
        assert (
            session.query(AuditEntry)
            .filter_by(workspace_id=workspace_id, action="care.inbox_create", actor_label="cli")
            .count()
            == 1
        )
    with database.session() as session:
        inbox = care.inbox_for_token(session, token=path.removeprefix("/hooks/email/"))
        assert inbox is not None and (inbox.workspace_id, inbox.team) == (workspace_id, "cs")
    listed = cli("care", "inboxes", "-w", slug)
    assert "고객센터" in listed.out and path.removeprefix("/hooks/email/") not in listed.out


def test_bad_input_is_one_line(cli: Callable[..., Result]) -> None:
    slug = unique("care-cli-")
    assert cli("workspace", "create", "Shop", "--slug", slug).code == 0

    no_name = cli("care", "inbox-create", "-w", slug, "--name", "   ")
    bad_status = cli("care", "conversations", "-w", slug, "--status", "gone")

    assert no_name.code != 0 and "An inbox needs a name" in no_name.err
    assert bad_status.code != 0 and "status must be one of" in bad_status.err
    assert "Traceback" not in no_name.err + bad_status.err
