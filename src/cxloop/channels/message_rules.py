"""What a message must be to be queued on its channel, checked before it enters the outbox so a
sender never meets a message it cannot send: a text message's bytes and characters, an
Alimtalk's template code, variables and fallback text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cxloop.channels.alimtalk_templates import render, template_details
from cxloop.channels.naver_talktalk import MAX_TEXT as TALKTALK_TEXT
from cxloop.channels.sms_text import require_sendable
from cxloop.core.errors import ValidationFailed

# Korean law (정보통신망법 제50조) has an advertising text start with this mark.
AD_MARK = "(광고)"


def check_message(
    channel: str, *, purpose: str, subject: str, text: str, details: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The details to store with a message on ``channel``, after checking what the channel
    needs; ValidationFailed, naming what is wrong, for a message the channel cannot send."""
    stored = dict(details or {})
    if channel == "sms":
        require_sendable(text, subject)
        if purpose == "marketing" and not text.lstrip().startswith(AD_MARK):
            raise ValidationFailed(
                f"An advertising text message must begin with {AD_MARK}.",
                errors=[{"field": "text", "message": f"must begin with {AD_MARK}"}],
            )
    elif channel == "talktalk" and (not text.strip() or len(text) > TALKTALK_TEXT):
        raise ValidationFailed(
            f"A TalkTalk message is 1 to {TALKTALK_TEXT:,} characters.",
            errors=[{"field": "text", "message": f"1 to {TALKTALK_TEXT:,} characters"}],
        )
    elif channel == "kakao":
        if purpose != "service":
            raise ValidationFailed(
                "Alimtalk carries information a customer needs (orders, bookings, answers), "
                "never advertising: Kakao's rules refuse marketing Alimtalk.",
                errors=[{"field": "purpose", "message": "Alimtalk is for service messages"}],
            )
        code, variables = template_details(stored)
        filled = render(text, variables)
        fallback = stored.get("fallback", True)
        if not isinstance(fallback, bool):
            raise ValidationFailed(
                "details.fallback must be true or false.",
                errors=[{"field": "details.fallback", "message": "must be a boolean"}],
            )
        if fallback:
            # The text a customer without KakaoTalk gets as SMS/LMS must be sendable too.
            require_sendable(filled, subject, field="text")
        stored.update(template_code=code, variables=variables, fallback=fallback)
    return stored
