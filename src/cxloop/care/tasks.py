"""Care jobs, every minute: snoozed conversations wake when their time comes, SLA clocks
record their misses and warn the team before one, and inboxes' IMAP mailboxes are polled; and
the CSAT survey after a resolution (sent after it commits, and by a sweep when that job was
lost).
Automatic assignment runs every minute too (quiet agents hand on their work, waiting
conversations go to agents with room)."""

from __future__ import annotations

from huey import crontab

from cxloop.care import assignment, csat, mailbox, presence, service, sla
from cxloop.core.db import get_database
from cxloop.core.jobs import huey
from cxloop.core.settings import get_settings


@huey.periodic_task(crontab(minute="*"))
def wake_snoozed_conversations() -> int:
    """Every minute: reopen the snoozed conversations whose time has come."""
    with get_database().session() as session:
        return service.wake_snoozed(session)


@huey.periodic_task(crontab(minute="*"))
def sweep_sla_clocks() -> int:
    """Every minute: record missed SLA targets and warn teams of those about to be missed."""
    with get_database().session() as session:
        misses, _warnings = sla.sweep(session)
        return misses


@huey.task()
def send_csat_survey(request_id: int) -> str:
    """Send the CSAT survey a resolution asked for (or skip it, with the reason)."""
    with get_database().session() as session:
        request = csat.send_request(session, request_id=request_id)
        return request.status if request is not None else "done"


@huey.periodic_task(crontab(minute="*/5"))
def send_lost_csat_surveys() -> int:
    """Every five minutes: send the CSAT requests whose job was lost."""
    with get_database().session() as session:
        ids = csat.lost_requests(session)
    for request_id in ids:
        with get_database().session() as session:
            csat.send_request(session, request_id=request_id)
    return len(ids)


@huey.periodic_task(crontab(minute="*"))
def poll_mailboxes() -> int:
    """Every minute: take new mail in from the inboxes' IMAP mailboxes (a mailbox that failed
    waits its backoff; its error is recorded on it, never raised here)."""
    reports = mailbox.poll_due(get_database(), settings=get_settings())
    return sum(report.stored for report in reports)


@huey.periodic_task(crontab(minute="*"))
def route_and_assign() -> int:
    """Every minute: agents not seen for five minutes hand on their waiting conversations;
    then, a workspace at a time (each in its own transaction, so its agents are held briefly),
    conversations whose first message's analysis did not come in time are routed and agents
    with room take waiting conversations."""
    database = get_database()
    with database.session() as session:
        presence.notice_quiet(session)
        workspace_ids = assignment.routed_workspaces(session)
    done = 0
    for workspace_id in workspace_ids:
        with database.session() as session:
            report = assignment.sweep(session, workspace_id=workspace_id)
            done += report.routed + report.assigned
    return done
