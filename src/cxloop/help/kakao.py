"""The help bot on KakaoTalk: the skill server of a Kakao i Open Builder chatbot. Open Builder
posts each message a customer sends the shop's KakaoTalk channel (``userRequest.utterance``, the
sender's ``userRequest.user.id``) to the skill URL — a kakao inbox's secret address — and shows
the user what the response's ``template`` says (skill response format 2.0, within 5 seconds).

Each message joins the customer's conversation in the inbox (their profile found or made by
their ``kakao`` identity) and the bot takes its turn at once, in the request: its answer, or its
handover line, is the response. While the team holds the conversation the customer is told their
message reached the team. Nothing in a request is trusted beyond its size and shape: the address
is the secret, calls are rate-limited per inbox, and a body that is not a skill request is a 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as FastPath
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cxloop.accounts.dependencies import DbSession
from cxloop.care import intake
from cxloop.care import service as care
from cxloop.care.hooks_api import RawBody
from cxloop.care.webhooks import customer_for
from cxloop.core.errors import AuthenticationFailed, ValidationFailed
from cxloop.core.i18n import gettext
from cxloop.core.ratelimit import RateLimiter
from cxloop.help.conversations import take_turn
from cxloop.models.care import BOT_STATUS
from cxloop.text.lang import detect_language

router = APIRouter(tags=["help"])

MAX_KAKAO_BYTES = 64 * 1024  # a skill request is a few KB (see app.body_rules)
KAKAO_LIMIT = "3000/minute"  # per inbox
MAX_TEXT = 1_000  # what a simpleText output shows
PERSON = {"ko": "상담원 연결", "en": "Talk to a person"}


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class KakaoUser(_Loose):
    id: str = Field(min_length=1, max_length=200)


class KakaoUserRequest(_Loose):
    utterance: str = Field(max_length=20_000)
    user: KakaoUser


class KakaoSkillRequest(_Loose):
    """What Open Builder posts (the fields cxloop reads; the rest is ignored)."""

    user_request: KakaoUserRequest = Field(alias="userRequest")


def skill_response(text: str, locale: str) -> dict[str, Any]:
    """A skill response (version 2.0): one simple text and a quick reply to reach a person."""
    return {
        "version": "2.0",
        "template": {
            "outputs": [{"simpleText": {"text": text[:MAX_TEXT]}}],
            "quickReplies": [
                {"label": PERSON[locale], "action": "message", "messageText": PERSON[locale]}
            ],
        },
    }


@router.post(
    "/hooks/kakao/{token}",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": {"type": "object"}}},
            "required": True,
            "description": "A Kakao i Open Builder skill request",
        }
    },
)
def kakao_skill(
    token: Annotated[str, FastPath(max_length=200, description="The inbox's webhook token")],
    request: Request,
    session: DbSession,
    payload: RawBody,
) -> JSONResponse:
    """The skill of a KakaoTalk chatbot (kakao inbox): the bot's answer to the message, as a
    skill response. 401 for an address cxloop did not give out, 422 for a body that is not a
    skill request, 429 over the inbox's rate."""
    inbox = care.inbox_for_token(session, token=token)
    if inbox is None or inbox.channel != "kakao" or not inbox.active:
        raise AuthenticationFailed("Unknown inbox token.")
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.check(
        KAKAO_LIMIT, "kakao-skill", str(inbox.id), detail="Too many calls for this inbox."
    )
    try:
        skill = KakaoSkillRequest.model_validate_json(payload)
    except ValidationError as exc:
        raise ValidationFailed(
            "The body is not a Kakao skill request (userRequest.utterance and user.id).",
            errors=[
                {"field": ".".join(map(str, e["loc"])), "message": e["msg"]}
                for e in exc.errors()[:5]
            ],
        ) from None
    text = " ".join(skill.user_request.utterance.split()) or "…"
    user = skill.user_request.user.id
    locale = "en" if detect_language(text) == "en" else "ko"
    customer = customer_for(session, inbox=inbox, kind="kakao", value=user)
    received = intake.receive_message(
        session, inbox=inbox, customer=customer, text=text, contact=f"kakao:{user}"
    )
    assert received is not None  # a customer's own message is never automatic
    conversation = received.conversation
    answer = ""
    if conversation.status == BOT_STATUS:
        turn = take_turn(
            session,
            request.app.state.settings,
            conversation=conversation,
            message_id=received.message.id,
        )
        answer = turn.reply if turn is not None else ""
    return JSONResponse(
        skill_response(answer or gettext(locale, "help_bot.kakao.with_team"), locale)
    )
