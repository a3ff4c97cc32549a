"""The pages customers answer surveys on, without signing in: their personal invitation link
(``/s/{token}``, also framed by the survey widget with ``?embed=1``) and a survey's public link
(``/p/{workspace}/{survey}``).

These forms live outside the team's signed-in session (and inside third-party iframes, where
the session cookie is not sent), so each form carries its own signed token instead of the
session's CSRF token: it names the invitation (or the survey and one submission) and expires.
The answers are always checked again by the service, whatever the page's script showed.

Anyone may reach these pages, so they are rate-limited before anything is stored: every request
from one client address (``CXLOOP_SURVEY_CLIENT_LIMIT``), answers from one address to one
public link (``CXLOOP_SURVEY_ANSWER_LIMIT``), answers to one public link from everyone
(``CXLOOP_SURVEY_LINK_LIMIT``) and posts to one personal link (``CXLOOP_PERSONAL_LINK_LIMIT``).
A refused request gets a 429 page in the respondent's language, with Retry-After.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.accounts.dependencies import DbSession
from cxloop.core import i18n
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.http import client_address
from cxloop.feedback.distribution import links as invitation_links
from cxloop.feedback.responses import service as response_service
from cxloop.feedback.surveys import service as survey_service
from cxloop.feedback.surveys.definition import (
    SurveyDefinition,
    load_definition,
)
from cxloop.models import Customer, Invitation, Survey, Workspace
from cxloop.profiles import service as profiles
from cxloop.web.feedback.respond.shared import (
    SubmittedForm,
    _answered,
    _browser_lang,
    _check_token,
    _chosen_lang,
    _client_rule,
    _closed,
    _form_lang,
    _issue_token,
    _not_found,
    _over_limit,
    _personal_subject,
    _public_subject,
    _render,
    _thank_you,
    _too_large,
    _too_many,
    _wants_embed,
    answers_from_form,
    field_errors,
    question_views,
    respondent_language,
)
from cxloop.web.session import settings_of

router = APIRouter(include_in_schema=False)

FORM_TOKEN_FIELD = "form_token"  # noqa: S105  (a form field name, not a secret)
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


# --- the personal link -------------------------------------------------------------------------


@dataclass
class _Personal:
    invitation: Invitation
    survey: Survey
    workspace: Workspace
    customer: Customer | None


def _load_personal(db: Session, token: str) -> _Personal | None:
    if not TOKEN_PATTERN.match(token):
        return None
    try:
        invitation = invitation_links.invitation_for_token(db, token=token)
        survey = survey_service.get_survey(
            db, workspace_id=invitation.workspace_id, survey_id=invitation.survey_id
        )
    except NotFound:
        return None
    workspace = accounts.get_workspace(db, workspace_id=invitation.workspace_id)
    try:
        customer: Customer | None = profiles.get_customer(
            db, workspace_id=invitation.workspace_id, customer_id=invitation.customer_id
        )
    except NotFound:
        customer = None
    return _Personal(invitation, survey, workspace, customer)


def _personal_form(
    request: Request,
    found: _Personal,
    token: str,
    *,
    lang: str,
    embed: bool,
    definition: SurveyDefinition,
    values: Mapping[str, Any],
    errors: Mapping[str, str] | None = None,
    general: list[str] | None = None,
    status: int = 200,
    form_token: str | None = None,
) -> HTMLResponse:
    return _survey_form(
        request,
        found.workspace,
        path=f"/s/{token}",
        lang=lang,
        embed=embed,
        definition=definition,
        values=values,
        errors=errors,
        general=general,
        status=status,
        form_token=form_token or _issue_token(request, _personal_subject(token)),
        hidden={},
        autosave=True,
    )


def _survey_form(
    request: Request,
    workspace: Workspace,
    *,
    path: str,
    lang: str,
    embed: bool,
    definition: SurveyDefinition,
    values: Mapping[str, Any],
    errors: Mapping[str, str] | None,
    general: list[str] | None,
    status: int,
    form_token: str,
    hidden: Mapping[str, Any],
    autosave: bool,
) -> HTMLResponse:
    """The survey form, for the personal and the public link alike (``?embed=1`` kept)."""
    query = urlencode({"embed": "1"} if embed else {})
    return _render(
        request,
        "feedback/respond.html",
        lang=lang,
        embed=embed,
        status=status,
        workspace=workspace,
        questions=question_views(definition, lang, values, errors),
        general=general or [],
        action=path + (f"?{query}" if query else ""),
        form_token=form_token,
        form_token_field=FORM_TOKEN_FIELD,
        hidden_values={k: str(v) for k, v in hidden.items()},
        autosave=autosave,
    )


@router.get("/s/{token}")
def personal_page(request: Request, db: DbSession, token: str) -> Response:
    """A customer's invitation: the survey in their language (marks the invitation opened)."""
    embed = _wants_embed(request)
    wait = _over_limit(request, _client_rule(request))
    if wait is not None:
        return _too_many(request, _chosen_lang(request) or _browser_lang(request), embed, wait)
    found = _load_personal(db, token)
    if found is None:
        return _not_found(request, _chosen_lang(request) or _browser_lang(request), embed)
    lang = respondent_language(request, found.customer)
    response = response_service.response_to_invitation(db, invitation=found.invitation)
    if response is not None and response.completed:
        return _answered(request, lang, embed, found.workspace)
    if found.survey.status != "live":
        return _closed(request, lang, embed, found.workspace, expired=False)
    if response is None and invitation_links.invitation_expired(found.invitation):
        return _closed(request, lang, embed, found.workspace, expired=True)
    invitation_links.mark_opened(db, invitation=found.invitation)
    version = survey_service.get_version(
        db, survey=found.survey, number=response.version if response else None
    )
    return _personal_form(
        request,
        found,
        token,
        lang=lang,
        embed=embed,
        definition=load_definition(version.definition),
        values=response.answers if response is not None else {},
    )


@router.post("/s/{token}")
def personal_submit(request: Request, db: DbSession, token: str, form: SubmittedForm) -> Response:
    """Answers to an invitation: ``partial=1`` (sent by the page's script as soon as a score
    is picked) keeps them and answers JSON; otherwise they complete the response."""
    embed = _wants_embed(request)
    partial = form is not None and form.get("partial") == "1"
    wait = _over_limit(request, _client_rule(request))
    if wait is not None:
        return _too_many(request, _form_lang(request, form, None), embed, wait, partial=partial)
    found = _load_personal(db, token)
    if found is None:
        return _not_found(request, _chosen_lang(request) or _browser_lang(request), embed)
    if form is None:
        return _too_large(
            request, respondent_language(request, found.customer), embed, found.workspace
        )
    lang = _form_lang(request, form, found.customer)
    link_rule = (
        settings_of(request).personal_link_limit,
        ("personal-link", _personal_subject(token)),
    )
    wait = _over_limit(request, link_rule)
    if wait is not None:
        return _too_many(request, lang, embed, wait, found.workspace, partial=partial)
    existing = response_service.response_to_invitation(db, invitation=found.invitation)
    if existing is not None and existing.completed:
        if partial:
            return JSONResponse({"saved": False, "reason": "answered"}, status_code=409)
        return _answered(request, lang, embed, found.workspace, status=409)
    if found.survey.status != "live" or (
        existing is None and invitation_links.invitation_expired(found.invitation)
    ):
        if partial:
            return JSONResponse({"saved": False, "reason": "closed"}, status_code=410)
        return _closed(
            request,
            lang,
            embed,
            found.workspace,
            expired=found.survey.status == "live",
        )
    version = survey_service.get_version(
        db, survey=found.survey, number=existing.version if existing else None
    )
    definition = load_definition(version.definition)
    answers, _hidden = answers_from_form(definition, form)
    if _check_token(request, form.get(FORM_TOKEN_FIELD), _personal_subject(token)) is None:
        if partial:
            return JSONResponse({"saved": False, "reason": "form_token"}, status_code=403)
        return _personal_form(
            request,
            found,
            token,
            lang=lang,
            embed=embed,
            definition=definition,
            values=answers,
            general=[i18n.gettext(lang, "respond.form_expired")],
            status=403,
        )
    try:
        with db.begin_nested():
            response = response_service.submit_response(
                db,
                survey=found.survey,
                answers=answers,
                locale=lang,
                invitation=found.invitation,
                partial=partial,
            )
    except ValidationFailed as exc:
        errors, general = field_errors(lang, exc)
        if partial:
            return JSONResponse({"saved": False, "errors": errors}, status_code=422)
        _keep_valid_answers(db, found, answers, errors, lang)
        return _personal_form(
            request,
            found,
            token,
            lang=lang,
            embed=embed,
            definition=definition,
            values=answers,
            errors=errors,
            general=general,
            status=422,
        )
    except Conflict:
        if partial:
            return JSONResponse({"saved": False, "reason": "closed"}, status_code=409)
        return _answered(request, lang, embed, found.workspace, status=409)
    if partial:
        return JSONResponse({"saved": True, "answers": sorted(response.answers)})
    return _thank_you(request, lang, embed, found.workspace, definition, response.answers)


def _keep_valid_answers(
    db: Session,
    found: _Personal,
    answers: Mapping[str, Any],
    errors: Mapping[str, str],
    lang: str,
) -> None:
    """A completed submission was refused: keep the answers that were valid as a partial
    response, so nothing the customer gave is lost if they leave now."""
    valid = {k: v for k, v in answers.items() if k not in errors}
    if not valid:
        return
    try:
        with db.begin_nested():
            response_service.submit_response(
                db,
                survey=found.survey,
                answers=valid,
                locale=lang,
                invitation=found.invitation,
                partial=True,
            )
    except (ValidationFailed, Conflict):
        pass


# --- the public link ---------------------------------------------------------------------------


def _load_public(db: Session, slug: str, key: str) -> tuple[Workspace, Survey] | None:
    if len(slug) > 64 or len(key) > 64:
        return None
    try:
        workspace = accounts.find_workspace(db, slug=slug)
        survey = response_service.public_survey(db, workspace_id=workspace.id, key=key)
    except NotFound:
        return None
    if survey.status == "draft":
        return None
    return workspace, survey


def _public_form(
    request: Request,
    workspace: Workspace,
    survey: Survey,
    *,
    lang: str,
    embed: bool,
    definition: SurveyDefinition,
    values: Mapping[str, Any],
    hidden: Mapping[str, Any],
    form_token: str,
    errors: Mapping[str, str] | None = None,
    general: list[str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return _survey_form(
        request,
        workspace,
        path=f"/p/{workspace.slug}/{survey.key}",
        lang=lang,
        embed=embed,
        definition=definition,
        values=values,
        errors=errors,
        general=general,
        status=status,
        form_token=form_token,
        hidden=hidden,
        autosave=False,
    )


@router.get("/p/{slug}/{key}")
def public_page(request: Request, db: DbSession, slug: str, key: str) -> Response:
    """A survey's public link: anyone may answer, anonymously. Declared hidden fields may come
    in the query string (``?touchpoint=store``)."""
    embed = _wants_embed(request)
    lang = _chosen_lang(request) or _browser_lang(request)
    wait = _over_limit(request, _client_rule(request))
    if wait is not None:
        return _too_many(request, lang, embed, wait)
    found = _load_public(db, slug, key)
    if found is None:
        return _not_found(request, lang, embed)
    workspace, survey = found
    if survey.status != "live":
        return _closed(request, lang, embed, workspace, expired=False)
    definition = survey_service.current_definition(db, survey=survey)
    hidden = {
        name: request.query_params[name][:200]
        for name in definition.hidden_fields
        if request.query_params.get(name)
    }
    return _public_form(
        request,
        workspace,
        survey,
        lang=lang,
        embed=embed,
        definition=definition,
        values={},
        hidden=hidden,
        form_token=_issue_token(request, _public_subject(survey)),
    )


@router.post("/p/{slug}/{key}")
def public_submit(
    request: Request, db: DbSession, slug: str, key: str, form: SubmittedForm
) -> Response:
    """One anonymous response per submitted form (a second send of the same form is ignored).
    Answers from one client address to this link, and to it from everyone, are rate-limited."""
    embed = _wants_embed(request)
    lang = _form_lang(request, form, None)
    wait = _over_limit(request, _client_rule(request))
    if wait is not None:
        return _too_many(request, lang, embed, wait)
    found = _load_public(db, slug, key)
    if found is None:
        return _not_found(request, lang, embed)
    workspace, survey = found
    if form is None:
        return _too_large(request, lang, embed, workspace)
    settings = settings_of(request)
    wait = _over_limit(
        request,
        # The address first: one sender's refused tries must not use up everyone's allowance.
        (settings.survey_answer_limit, ("survey-answer", survey.id, client_address(request))),
        (settings.survey_link_limit, ("survey-link", survey.id)),
    )
    if wait is not None:
        return _too_many(request, lang, embed, wait, workspace)
    if survey.status != "live":
        return _closed(request, lang, embed, workspace, expired=False)
    definition = survey_service.current_definition(db, survey=survey)
    answers, hidden = answers_from_form(definition, form)
    sent_token = form.get(FORM_TOKEN_FIELD)
    nonce = _check_token(request, sent_token, _public_subject(survey))
    if nonce is None:
        return _public_form(
            request,
            workspace,
            survey,
            lang=lang,
            embed=embed,
            definition=definition,
            values=answers,
            hidden=hidden,
            form_token=_issue_token(request, _public_subject(survey)),
            general=[i18n.gettext(lang, "respond.form_expired")],
            status=403,
        )
    try:
        with db.begin_nested():
            response, _created = response_service.submit_public_response(
                db,
                survey=survey,
                submission_id=nonce,
                answers=answers,
                locale=lang,
                hidden=hidden,
            )
    except ValidationFailed as exc:
        errors, general = field_errors(lang, exc)
        return _public_form(
            request,
            workspace,
            survey,
            lang=lang,
            embed=embed,
            definition=definition,
            values=answers,
            hidden={k: v for k, v in hidden.items() if k in definition.hidden_fields},
            form_token=str(sent_token),
            errors=errors,
            general=general,
            status=422,
        )
    except Conflict:
        return _closed(request, lang, embed, workspace, expired=False)
    answered = load_definition(
        survey_service.get_version(db, survey=survey, number=response.version).definition
    )
    return _thank_you(request, lang, embed, workspace, answered, response.answers)
