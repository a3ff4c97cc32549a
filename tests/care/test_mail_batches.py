"""Accepted mail taken in by batches, as the webhook's drain and the sweep take it: many messages
in one transaction, each with its receipt (a batch with a message that fails is taken again,
each message in a savepoint of its own). A message that fails stays on the disk while the rest
commit; a reply joins its original taken in the same batch; a batch
whose transaction never commits leaves every body on the disk, and a batch taken again after
its commit changes nothing."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.care import intake
from cxloop.care import service as care
from cxloop.care.inbound_mail import MAIL_SPOOL, take_spooled_mails
from cxloop.care.texts import MESSAGE_RECEIVED
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.core.spool import Spool, Spooled, Sweeper, Unfinished, handle_batch, spool_of
from cxloop.models import (
    CareInbox,
    Conversation,
    ConversationMessage,
    Event,
    Identity,
    Notification,
)
from tests.care.test_email_conversations import mail, new_hook
from tests.factories import Tenant, make_user


@pytest.fixture
def hook(client: TestClient, tenant: Tenant) -> str:
    return new_hook(client, tenant, "help@shop.example")


@pytest.fixture
def spool(client: TestClient) -> Spool:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    return spool_of(settings, MAIL_SPOOL)


def inbox_of(session: Session, hook: str) -> CareInbox:
    inbox = care.inbox_for_token(session, token=hook.removeprefix("/hooks/email/"))
    assert inbox is not None
    return inbox


def accepted(spool: Spool, inbox: CareInbox, *bodies: bytes) -> list[Spooled]:
    """Bodies as the webhook keeps them, taken for handling as the drain takes them."""
    items = []
    for body in bodies:
        item = spool.take(spool.put(body, label=str(inbox.id)))
        assert item is not None
        items.append(item)
    return items


def receipt(client: TestClient, hook: str, item: Spooled) -> dict[str, Any]:
    answer = client.get(f"{hook}/{item.name}")
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def messages(session: Session, tenant: Tenant) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ConversationMessage)
            .where(ConversationMessage.workspace_id == tenant.id)
        )
        or 0
    )


def test_a_message_that_fails_stays_on_the_disk_and_the_rest_of_its_batch_commits(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    hook: str,
    spool: Spool,
    tx_database: Database,
) -> None:
    # given three accepted mails, the middle one's body unreadable (a folder in its place)
    bodies = [
        mail("지수 <jisu@example.com>", message_id="<b1@mail.example.com>"),
        mail("민호 <minho@example.com>", message_id="<b2@mail.example.com>"),
        mail("하나 <hana@example.com>", message_id="<b3@mail.example.com>"),
    ]
    items = accepted(spool, inbox_of(session, hook), *bodies)
    items[1].path.unlink()
    items[1].path.mkdir()

    # when they are taken in as one batch
    failed = handle_batch(spool, items, partial(take_spooled_mails, tx_database))

    # then the other two are stored, each in a conversation of its own, and the middle one waits
    assert failed == Unfinished(failed=frozenset({items[1].name}))
    first, middle, last = (receipt(client, hook, item) for item in items)
    assert (first["status"], middle["status"], last["status"]) == ("stored", "waiting", "stored")
    assert first["conversation_id"] != last["conversation_id"]
    assert messages(session, tenant) == 2
    assert items[1].name in spool.waiting()
    assert not any(spool.holds(item.name, label=item.label) for item in (items[0], items[2]))

    # when the disk gives the body back, the next sweep takes it in once
    waiting = spool.new / items[1].name
    waiting.rmdir()
    waiting.write_bytes(bodies[1])
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    assert Sweeper(tx_database, settings).sweep_once(older_than=0) == 1
    assert receipt(client, hook, items[1])["status"] == "stored"
    assert messages(session, tenant) == 3
    assert not spool.holds(items[1].name, label=items[1].label)


def test_a_message_whose_taking_in_fails_is_left_alone_and_the_others_are_stored_once(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    hook: str,
    spool: Spool,
    tx_database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given an agent of the team, and three accepted mails of which the middle one breaks
    # while it is taken in, after the rows of the first were written in the same transaction
    agent = make_user(session, workspace=tenant.workspace, role="agent").id
    accounts.set_member_teams(session, workspace_id=tenant.id, user_id=agent, teams=["support"])
    items = accepted(
        spool,
        inbox_of(session, hook),
        mail("지수 <jisu@example.com>", message_id="<f1@mail.example.com>"),
        mail("민호 <minho@example.com>", message_id="<f2@mail.example.com>"),
        mail("하나 <hana@example.com>", message_id="<f3@mail.example.com>"),
    )
    receive = intake.receive_email

    def breaking(session: Session, *, inbox: CareInbox, mail: Any) -> Any:
        if mail.sender == "minho@example.com":
            raise RuntimeError("the disk is full")
        return receive(session, inbox=inbox, mail=mail)

    monkeypatch.setattr(intake, "receive_email", breaking)

    # when they are taken in as one batch
    failed = handle_batch(spool, items, partial(take_spooled_mails, tx_database))

    # then the middle one waits on the disk, and the others were stored, told to the team and
    # put on the timeline once each (their first try was rolled back with the batch)
    assert failed == Unfinished(failed=frozenset({items[1].name}))
    outcomes = [receipt(client, hook, item) for item in items]
    assert [o["status"] for o in outcomes] == ["stored", "waiting", "stored"]
    assert messages(session, tenant) == 2
    told = session.scalars(
        select(Notification.dedupe_key).where(
            Notification.workspace_id == tenant.id, Notification.user_id == agent
        )
    ).all()
    assert sorted(told) == sorted(f"care-new:{o['conversation_id']}" for o in outcomes[::2])
    timeline = session.scalars(
        select(func.count())
        .select_from(Event)
        .where(Event.workspace_id == tenant.id, Event.name == MESSAGE_RECEIVED)
    ).one()
    assert timeline == 2
    assert items[1].name in spool.waiting()


def test_a_reply_taken_in_the_same_batch_as_its_original_joins_its_conversation(
    client: TestClient,
    session: Session,
    hook: str,
    spool: Spool,
    tx_database: Database,
) -> None:
    # given a question, another customer quoting it, and the first customer's own follow-up
    # under another subject, accepted together
    question = mail(subject="주문 취소 요청", message_id="<q1@mail.example.com>")
    stranger = mail(
        "박서준 <seojun@example.com>",
        subject="Re: 주문 취소 요청",
        message_id="<s1@mail.example.com>",
        in_reply_to="<q1@mail.example.com>",
        references="<q1@mail.example.com>",
    )
    follow_up = mail(
        subject="추가로 여쭤봐요",
        text="취소가 안 되면 교환이라도 부탁드려요.",
        message_id="<q2@mail.example.com>",
        in_reply_to="<q1@mail.example.com>",
        references="<q1@mail.example.com>",
    )
    items = accepted(spool, inbox_of(session, hook), question, stranger, follow_up)

    # when one batch takes them in
    assert take_spooled_mails(tx_database, items) == Unfinished()
    for item in items:
        spool.done(item)

    # then the follow-up joins the question's conversation, the stranger gets their own
    first, other, reply = (receipt(client, hook, item) for item in items)
    assert [first["status"], other["status"], reply["status"]] == ["stored"] * 3
    assert reply["conversation_id"] == first["conversation_id"]
    assert other["conversation_id"] != first["conversation_id"]


def test_a_batch_that_never_commits_leaves_every_body_on_the_disk_and_none_is_taken_twice(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    hook: str,
    spool: Spool,
    tx_database: Database,
    tmp_path: Path,
) -> None:
    items = accepted(
        spool,
        inbox_of(session, hook),
        mail(message_id="<c1@mail.example.com>"),
        mail("민호 <minho@example.com>", message_id=""),  # its id is made of its spool name
    )

    # when the database fails before the batch commits (here one without cxloop's tables)
    broken = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        failed = handle_batch(spool, items, partial(take_spooled_mails, broken))
    finally:
        broken.dispose()

    # then every body waits on the disk and nothing was stored
    assert failed.failed == {item.name for item in items}
    assert failed.failed <= set(spool.waiting())
    assert [receipt(client, hook, item)["status"] for item in items] == ["waiting"] * 2
    assert messages(session, tenant) == 0

    # when they are taken in, and taken in again (a crash after the commit, before the bodies
    # left the disk)
    again = [spool.take(item.name) for item in items]
    taken = [item for item in again if item is not None]
    assert len(taken) == 2
    assert take_spooled_mails(tx_database, taken) == Unfinished()
    assert take_spooled_mails(tx_database, taken) == Unfinished()
    for item in taken:
        spool.done(item)

    # then each was stored once
    assert [receipt(client, hook, item)["status"] for item in items] == ["stored"] * 2
    assert messages(session, tenant) == 2


def test_a_batch_makes_one_profile_per_new_sender_and_tells_each_new_conversation_once(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    hook: str,
    spool: Spool,
    tx_database: Database,
) -> None:
    # given two agents of the inbox's team, and accepted together a new customer's question,
    # the same mail delivered again, an unreadable body and the customer's second question
    agents = {make_user(session, workspace=tenant.workspace, role="agent").id for _ in range(2)}
    for agent in agents:
        accounts.set_member_teams(session, workspace_id=tenant.id, user_id=agent, teams=["support"])
    question = mail(
        "하나 <hana@example.com>", subject="환불 문의", message_id="<n1@mail.example.com>"
    )
    second = mail(
        "하나 <HANA@example.com>", subject="배송지 변경", message_id="<n2@mail.example.com>"
    )
    items = accepted(spool, inbox_of(session, hook), question, question, b"", second)

    # when one batch takes them in
    assert take_spooled_mails(tx_database, items) == Unfinished()
    for item in items:
        spool.done(item)

    # then one profile holds both questions, the replay is stored once, and each of the two
    # conversations was told to the team and put on the customer's timeline once
    outcomes = [receipt(client, hook, item) for item in items]
    assert [o["status"] for o in outcomes] == ["stored", "duplicate", "unreadable", "stored"]
    assert outcomes[1]["message_id"] == outcomes[0]["message_id"]
    conversations = [
        session.get(Conversation, o["conversation_id"]) for o in (outcomes[0], outcomes[3])
    ]
    assert all(c is not None for c in conversations)
    customers = {c.customer_id for c in conversations if c is not None}
    assert len(customers) == 1 and None not in customers
    assert (
        session.scalar(
            select(func.count())
            .select_from(Identity)
            .where(Identity.workspace_id == tenant.id, Identity.value == "hana@example.com")
        )
        == 1
    )
    told = session.execute(
        select(Notification.user_id, Notification.dedupe_key)
        .where(Notification.workspace_id == tenant.id, Notification.kind == "care_new_conversation")
        .order_by(Notification.id)
    ).all()
    assert sorted(told) == sorted(
        (agent, f"care-new:{c.id}") for c in conversations if c is not None for agent in agents
    )
    timeline = session.scalars(
        select(Event.message_id)
        .where(Event.workspace_id == tenant.id, Event.name == MESSAGE_RECEIVED)
        .order_by(Event.message_id)
    ).all()
    assert timeline == sorted(
        f"cxloop-care-message-{o['message_id']}" for o in (outcomes[0], outcomes[3])
    )
