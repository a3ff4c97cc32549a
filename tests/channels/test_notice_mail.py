"""Service mails to members come from templates: the HTML escapes whatever the words hold (a
workspace or inviter name is anyone's to choose), the text keeps them as written."""

from __future__ import annotations

import pytest

from cxloop.channels.notice_mail import NoticePart, render_notice_mail

HOSTILE = NoticePart(
    lang="ko",
    body='<script>alert(1)</script> 님이 "Shop & Co" 워크스페이스에 초대했습니다.',
    action="초대 수락",
    url='https://cx.example.com/invitations/abc"><img src=x onerror=alert(1)>',
    note="7일 동안 유효합니다.",
)


def test_the_html_escapes_every_value_and_the_text_keeps_it() -> None:
    text, html = render_notice_mail("초대 <b>", [HOSTILE])
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html
    assert 'href="https://cx.example.com/invitations/abc&#34;&gt;&lt;img' in html
    assert "<title>초대 &lt;b&gt;</title>" in html
    assert HOSTILE.body in text
    assert f"초대 수락: {HOSTILE.url}" in text


def test_parts_in_several_languages_follow_each_other() -> None:
    english = NoticePart(
        lang="en", body="You are invited.", action="Accept", url="https://x/i/1", note="7 days."
    )
    text, html = render_notice_mail("Invitation", [HOSTILE, english])
    assert text.index("초대 수락") < text.index("\n---\n") < text.index("You are invited.")
    assert html.count('<td lang="') == 2 and '<td lang="en"' in html


def test_a_mail_needs_something_to_say() -> None:
    with pytest.raises(ValueError):
        render_notice_mail("Empty", [])
