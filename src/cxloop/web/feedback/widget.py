"""The embeddable survey widget: the script (``/widget/survey.js``) and the two calls it makes,
authenticated by the workspace's public write key and open to every origin (CORS):

- ``GET /widget/v1/prompt`` — what to show this visitor: a survey invitation (its framed link)
  and "you said, we did" notices;
- ``POST /widget/v1/notices/{id}/seen`` — a notice was shown (it is not shown again).

Embed: ``<script src="https://cxloop.example/widget/survey.js" data-write-key="WK" async>``.

The write key is public, so a ``userId`` counts only with its ``userHash`` (an HMAC of the user
id made by the shop's server with the workspace's identity secret, see
accounts.widget_identity); without it the visitor is anonymous. Every call counts against the
client address's limit (``CXLOOP_SURVEY_CLIENT_LIMIT``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response

from cxloop.accounts.dependencies import workspace_for_write_key, write_key_from
from cxloop.core.errors import AuthenticationFailed, ValidationFailed
from cxloop.core.http import database_of
from cxloop.core.i18n import gettext, normalise_locale
from cxloop.core.settings import Settings
from cxloop.events.visitors import widget_visitor
from cxloop.feedback.distribution import widget as survey_widget
from cxloop.feedback.improvements.announcements import mark_widget_shown, widget_notices
from cxloop.models import Workspace
from cxloop.web.widgets import CORS, script_response, verified_user_id, widget_answer

router = APIRouter(include_in_schema=False)

SCRIPT = Path(__file__).resolve().parent.parent / "static" / "survey-widget.js"
MAX_ID = 320


def _visitor_ids(request: Request) -> tuple[str | None, str | None]:
    """The visitor's anonymous id and user id as sent (the user id not yet verified)."""
    params = request.query_params
    anonymous_id = (params.get("anonymousId") or "").strip() or None
    user_id = (params.get("userId") or "").strip() or None
    errors = [
        {"field": name, "message": f"must be at most {MAX_ID} characters"}
        for name, value in (("anonymousId", anonymous_id), ("userId", user_id))
        if value is not None and len(value) > MAX_ID
    ]
    if errors:
        raise ValidationFailed("A visitor id is too long.", errors=errors)
    if anonymous_id is None and user_id is None:
        raise ValidationFailed(
            "Send the visitor's anonymousId (or userId).",
            errors=[{"field": "anonymousId", "message": "required when userId is absent"}],
        )
    return anonymous_id, user_id


def _verified_user_id(request: Request, workspace: Workspace, user_id: str | None) -> str | None:
    return verified_user_id(request, workspace, user_id, request.query_params.get("userHash"))


def _write_key(request: Request) -> str:
    key = write_key_from(request, request.query_params.get("writeKey"))
    if not key:
        raise AuthenticationFailed("Send the workspace's write key (writeKey or Basic auth).")
    return key


async def _answer(request: Request, work: Callable[[], Any]) -> Response:
    settings: Settings = request.app.state.settings
    return await widget_answer(
        request, work, rule=settings.survey_client_limit, name="survey-client"
    )


@router.get("/widget/survey.js")
def survey_script() -> Response:
    """The widget script: small, dependency-free, cacheable for an hour."""
    return script_response(SCRIPT.read_bytes())


@router.options("/widget/v1/{path:path}")
def preflight(path: str) -> Response:
    """CORS preflight: write keys are public, so any origin may call."""
    return Response(status_code=204, headers=CORS)


@router.get("/widget/v1/prompt")
async def prompt(request: Request) -> Response:
    """The survey (a framed personal link) and the notices this visitor should see now."""
    settings: Settings = request.app.state.settings
    database = database_of(request)

    def work() -> dict[str, Any]:
        key = _write_key(request)
        anonymous_id, user_id = _visitor_ids(request)
        with database.session() as session:
            _key, workspace = workspace_for_write_key(session, key)
            user_id = _verified_user_id(request, workspace, user_id)
            customer = widget_visitor(
                session, workspace=workspace, anonymous_id=anonymous_id, user_id=user_id
            )
            asked = request.query_params.get("locale")
            lang = normalise_locale(asked or (customer.locale if customer else None))
            survey = None
            notices: list[dict[str, Any]] = []
            if customer is not None:
                issued = survey_widget.widget_invitation(
                    session, workspace=workspace, customer=customer, settings=settings
                )
                if issued is not None and issued.link is not None:
                    survey = {
                        "invitation_id": issued.invitation.id,
                        "survey_id": issued.invitation.survey_id,
                        "url": issued.link,
                    }
                notices = [
                    {"id": n["id"], "title": n["title"], "body": n["body"]}
                    for n in widget_notices(
                        session, workspace_id=workspace.id, customer_id=customer.id, locale=lang
                    )
                ]
            return {
                "survey": survey,
                "notices": notices,
                "labels": {
                    "close": gettext(lang, "distribution.widget.close"),
                    "survey_title": gettext(lang, "distribution.widget.survey_title"),
                    "notices_title": gettext(lang, "distribution.widget.notices_title"),
                },
                "lang": lang,
                # Whether the userId was taken (its userHash verified), for the shop's
                # developers; it says nothing about whether such a customer exists.
                "verified": user_id is not None,
            }

    return await _answer(request, work)


@router.post("/widget/v1/notices/{link_id}/seen")
async def notice_seen(request: Request, link_id: str) -> Response:
    """Record that the visitor's widget showed a notice."""
    database = database_of(request)

    def work() -> dict[str, bool]:
        key = _write_key(request)
        if not link_id.isdigit() or not 1 <= int(link_id) < 2**53:
            raise ValidationFailed(
                "The notice id must be a positive whole number.",
                errors=[{"field": "id", "message": "not a notice id"}],
            )
        anonymous_id, user_id = _visitor_ids(request)
        with database.session() as session:
            _key, workspace = workspace_for_write_key(session, key)
            customer = widget_visitor(
                session,
                workspace=workspace,
                anonymous_id=anonymous_id,
                user_id=_verified_user_id(request, workspace, user_id),
                create=False,
            )
            if customer is None:
                raise ValidationFailed(
                    "This visitor is not known.",
                    errors=[{"field": "anonymousId", "message": "no profile has this id"}],
                )
            mark_widget_shown(
                session, workspace_id=workspace.id, customer_id=customer.id, link_id=int(link_id)
            )
        return {"success": True}

    return await _answer(request, work)
