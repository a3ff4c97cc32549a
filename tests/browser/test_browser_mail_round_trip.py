"""An email round trip in Chromium against a live server: a customer's mail comes in from the
support mailbox (a real Dovecot over IMAP), the agent answers it in the inbox, the answer goes
out through a real SMTP server (aiosmtpd), the customer answers that from Gmail (to its reply
address, quoting it), the answer comes back in through IMAP, and the agent sees it in the same
conversation with the quoted history folded."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from cxloop.care import mailbox as mailboxes
from cxloop.care import service as care
from cxloop.channels import tasks as channel_tasks
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.models import CareMailbox, ConversationMessage
from tests.care.test_email_conversations import mail
from tests.factories import PASSWORD, make_user, make_workspace, unique
from tests.helpers.imap import ImapUser
from tests.helpers.smtp import SmtpInbox

pytestmark = [pytest.mark.browser, pytest.mark.live]


def _principal(workspace_id: int, user_id: int) -> Any:
    from cxloop.accounts.access import Principal

    return Principal(workspace_id=workspace_id, role="owner", user_id=user_id, label="setup")


def test_a_mail_goes_out_by_smtp_and_its_answer_comes_back_by_imap(
    live_server: str,
    browser_page: Any,
    database: Database,
    settings: Settings,
    dovecot: ImapUser,
    inbox: SmtpInbox,
) -> None:
    from playwright.sync_api import expect

    # given (committed) a workspace whose support inbox reads the Dovecot mailbox
    with database.session() as session:
        workspace = make_workspace(session, name=unique("메일 가게 "))
        owner = make_user(session, workspace=workspace, role="owner", locale="ko")
        agent = make_user(session, workspace=workspace, role="agent", locale="ko")
        principal = _principal(workspace.id, owner.id)
        made = care.create_inbox(
            session, principal=principal, name="고객센터", address="help@shop.example"
        )
        mailbox = mailboxes.set_mailbox(
            session,
            principal=principal,
            inbox=made.inbox,
            host="127.0.0.1",
            port=dovecot.port,
            security="none",
            username=dovecot.user,
            password=dovecot.password,
        )
        mailbox_id = mailbox.id
    question_id = f"<{unique('q')}@mail.example.com>"
    dovecot.append(mail(message_id=question_id, subject="환불 문의드립니다"))
    assert mailboxes.poll(database, mailbox_id=mailbox_id, settings=settings).stored == 1
    with database.session() as session:
        conversation_id = session.scalar(
            select(ConversationMessage.conversation_id).where(
                ConversationMessage.workspace_id == workspace.id,
                ConversationMessage.channel_message_id == question_id,
            )
        )

    # when the agent answers it in the inbox, and the outbox sends it
    page = browser_page
    page.goto(f"{live_server}/login")
    page.get_by_label("이메일").fill(agent.email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    page.goto(f"{live_server}/inbox/{conversation_id}")
    page.get_by_label("답장 또는 메모").fill("안녕하세요 김민지 님, 환불은 내일 처리됩니다.")
    page.get_by_role("button", name="답장 보내기").click()
    expect(page.locator(".flash.success")).to_have_text("답장을 발송 대기열에 넣었습니다.")
    channel_tasks.deliver_outbox(database, settings=inbox.settings(settings))
    [sent] = [m for m in inbox.to("minji@example.com") if m["In-Reply-To"] == question_id]
    assert str(sent["Reply-To"]).startswith(f"help+c{conversation_id}.")

    # and the customer answers from Gmail; the answer reaches the mailbox and is polled
    answer = EmailMessage()
    answer["From"] = "김민지 <minji@example.com>"
    answer["To"] = str(sent["Reply-To"])
    answer["Subject"] = f"Re: {sent['Subject']}"
    answer["Message-ID"] = f"<{unique('a')}@mail.gmail.com>"
    answer["In-Reply-To"] = sent["Message-ID"]
    answer["References"] = f"{sent['References']} {sent['Message-ID']}"
    quoted = "\n".join(f"> {line}" for line in sent.get_content().splitlines())
    answer.set_content(
        "빠른 답변 감사합니다!\n\n"
        f"2026년 12월 7일 (월) 오전 9:00, 고객센터 <{sent['Reply-To']}>님이 작성:\n{quoted}\n"
    )
    dovecot.append(answer.as_bytes())
    report = mailboxes.poll(database, mailbox_id=mailbox_id, settings=settings)
    assert (report.stored, report.error) == (1, "")

    # then the agent sees it in the same conversation, only what she wrote unfolded
    page.reload()
    customer = page.locator(".message.from-customer")
    expect(customer).to_have_count(2)
    expect(customer.last.locator(".message-body").first).to_have_text("빠른 답변 감사합니다!")
    history = customer.last.locator(".message-history .quoted")
    expect(history).to_be_hidden()  # folded
    customer.last.locator(".message-history summary").click()
    expect(history).to_contain_text("환불은 내일 처리됩니다.")
    expect(page.locator(".message.from-team")).to_contain_text("환불은 내일 처리됩니다.")
    with database.session() as session:
        row = session.get(CareMailbox, mailbox_id)
        assert row is not None and row.last_uid == 2 and row.last_error == ""
    assert dovecot.flags() == {1: {r"\Seen"}, 2: {r"\Seen"}}
    assert page.problems == []
