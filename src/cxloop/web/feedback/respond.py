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

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from cxloop.accounts import service as accounts
from cxloop.accounts.dependencies import DbSession
from cxloop.core import i18n
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.http import client_address
from cxloop.core.ratelimit import RateLimited, RateLimiter
from cxloop.feedback import service as feedback
from cxloop.feedback.definition import (
    SCORED_TYPES,
    Question,
    SurveyDefinition,
    language_of,
    load_definition,
    thank_you_message,
)
from cxloop.models import Customer, Invitation, Survey, Workspace
from cxloop.profiles import service as profiles
from cxloop.web.rendering import SECURITY_HEADERS, environment
from cxloop.web.session import settings_of

router = APIRouter(include_in_schema=False)

FORM_TOKEN_FIELD = "form_token"  # noqa: S105  (a form field name, not a secret)
FORM_TOKEN_MAX_AGE = 7 * 24 * 3600  # a customer may leave the page open for days
MAX_FORM_BYTES = 256 * 1024
MAX_FORM_FIELDS = 500
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
ANSWER_PREFIX = "q."
HIDDEN_PREFIX = "h."

# The link carries the customer's token: never sent on to another site, never cached. Only the
# compact variant may be framed (by the survey widget, on the customer's own site).
RESPONDENT_HEADERS = {**SECURITY_HEADERS, "Referrer-Policy": "no-referrer"}
EMBED_HEADERS = {
    **{k: v for k, v in RESPONDENT_HEADERS.items() if k != "X-Frame-Options"},
    "Content-Security-Policy": RESPONDENT_HEADERS["Content-Security-Policy"].replace(
        "frame-ancestors 'none'", "frame-ancestors *"
    ),
}

# Field messages of definition.validate_answers → catalog keys (named groups are parameters).
_ANSWER_MESSAGES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^an answer is required$"), "respond.err.required"),
    (
        re.compile(r"^must be between (?P<low>-?\d+) and (?P<high>-?\d+); got"),
        "respond.err.range",
    ),
    (re.compile(r"^must be a whole number$"), "respond.err.number"),
    (re.compile(r"(is not an option of this question|option id)"), "respond.err.option"),
    (
        re.compile(r"^must be at most (?P<limit>\d+) characters; got (?P<got>\d+)$"),
        "respond.err.too_long",
    ),
    (re.compile(r"^unknown question$"), "respond.err.unknown"),
]


# --- what a page shows -------------------------------------------------------------------------


@dataclass
class QuestionView:
    """One question as a respondent page (or the builder's preview) renders it."""

    id: str
    type: str
    text: str
    required: bool
    scale: list[int] = field(default_factory=list)
    options: list[tuple[str, str]] = field(default_factory=list)
    max_length: int = 0
    show_if: str = ""  # the condition as JSON, for the page's script
    value: Any = None
    error: str = ""

    def picked(self, option: object) -> bool:
        """Whether ``option`` (a score or an option id) is the current answer."""
        if isinstance(self.value, list):
            return str(option) in {str(v) for v in self.value}
        return self.value is not None and str(self.value) == str(option)


def question_views(
    definition: SurveyDefinition,
    lang: str,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[QuestionView]:
    """The questions of ``definition`` in ``lang``, with current answers and field errors."""
    values = values or {}
    errors = errors or {}
    views = []
    for q in definition.questions:
        scale = q.scale()
        views.append(
            QuestionView(
                id=q.id,
                type=q.type,
                text=q.text.ko if lang == "ko" else q.text.en,
                required=q.required,
                scale=list(range(scale[0], scale[1] + 1)) if scale else [],
                options=[
                    (o.id, o.label.ko if lang == "ko" else o.label.en) for o in q.options or []
                ],
                max_length=q.max_length or 2000,
                show_if=(
                    json.dumps(q.show_if.model_dump(mode="json"), ensure_ascii=False)
                    if q.show_if
                    else ""
                ),
                value=values.get(q.id),
                error=errors.get(q.id, ""),
            )
        )
    return views


def translate_answer_error(lang: str, message: str) -> str:
    """A field message of the answer checks in the respondent's language."""
    for pattern, key in _ANSWER_MESSAGES:
        match = pattern.search(message)
        if match:
            return i18n.gettext(lang, key, **match.groupdict())
    return i18n.gettext(lang, "respond.err.invalid")


def field_errors(lang: str, exc: ValidationFailed) -> tuple[dict[str, str], list[str]]:
    """(question id → message, messages not tied to a question) of a failed submission."""
    by_question: dict[str, str] = {}
    general: list[str] = []
    for error in exc.errors:
        name = str(error.get("field", ""))
        message = translate_answer_error(lang, str(error.get("message", "")))
        if name.startswith("answers.") and error.get("message") != "unknown question":
            by_question.setdefault(name.removeprefix("answers."), message)
        elif name.startswith("hidden."):
            general.append(i18n.gettext(lang, "respond.err.hidden"))
        else:
            general.append(message)
    if not exc.errors:
        general.append(i18n.gettext(lang, "respond.err.invalid"))
    return by_question, sorted(set(general))


def _render(
    request: Request,
    template: str,
    *,
    lang: str,
    embed: bool,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    """A respondent page in ``lang``; it never touches the team's session cookie."""

    def t(key: str, **params: Any) -> str:
        return i18n.gettext(lang, key, **params)

    def lang_link(other: str) -> str:
        params = {k: v for k, v in request.query_params.items() if k != "lang"}
        return f"{request.url.path}?{urlencode({**params, 'lang': other})}"

    html = environment.get_template(template).render(
        request=request,
        lang=lang,
        locale=lang,
        locales=i18n.LOCALES,
        t=t,
        embed=embed,
        lang_link=lang_link,
        **values,
    )
    return HTMLResponse(
        html, status_code=status, headers=EMBED_HEADERS if embed else RESPONDENT_HEADERS
    )


def _message(
    request: Request,
    *,
    lang: str,
    embed: bool,
    status: int,
    title: str,
    body: str,
    workspace: Workspace | None = None,
    kind: str = "info",
) -> HTMLResponse:
    return _render(
        request,
        "feedback/respond_message.html",
        lang=lang,
        embed=embed,
        status=status,
        title=title,
        body=body,
        workspace=workspace,
        kind=kind,
    )


def _not_found(request: Request, lang: str, embed: bool) -> HTMLResponse:
    t = i18n.gettext
    return _message(
        request,
        lang=lang,
        embed=embed,
        status=404,
        title=t(lang, "respond.not_found_title"),
        body=t(lang, "respond.not_found_body"),
        kind="error",
    )


def _closed(
    request: Request, lang: str, embed: bool, workspace: Workspace, *, expired: bool
) -> HTMLResponse:
    t = i18n.gettext
    return _message(
        request,
        lang=lang,
        embed=embed,
        status=410,
        title=t(lang, "respond.closed_title"),
        body=t(lang, "respond.expired_body" if expired else "respond.closed_body"),
        workspace=workspace,
    )


def _over_limit(request: Request, *rules: tuple[str, tuple[object, ...]]) -> int | None:
    """Count this request against each ``(rule, key)`` in turn; the seconds to wait before
    trying again when one is over its limit (the later ones are then not counted), else None."""
    limiter: RateLimiter = request.app.state.rate_limiter
    for rule, key in rules:
        try:
            limiter.check(rule, *(str(part) for part in key), detail="over the limit")
        except RateLimited as exc:
            return exc.retry_after
    return None


def _client_rule(request: Request) -> tuple[str, tuple[object, ...]]:
    """Every survey page and answer from this client address, all links together."""
    return settings_of(request).survey_client_limit, ("survey-client", client_address(request))


def _too_many(
    request: Request,
    lang: str,
    embed: bool,
    retry_after: int,
    workspace: Workspace | None = None,
    *,
    partial: bool = False,
) -> Response:
    """429: nothing of the request was stored; try again after ``retry_after`` seconds."""
    headers = {"Retry-After": str(retry_after)}
    if partial:
        return JSONResponse(
            {"saved": False, "reason": "rate_limited"}, status_code=429, headers=headers
        )
    minutes = max(1, -(-retry_after // 60))
    page = _message(
        request,
        lang=lang,
        embed=embed,
        status=429,
        title=i18n.gettext(lang, "respond.rate_limited_title"),
        body=i18n.gettext(lang, "respond.rate_limited_body", minutes=minutes),
        workspace=workspace,
        kind="error",
    )
    page.headers.update(headers)
    return page


def _answered(
    request: Request, lang: str, embed: bool, workspace: Workspace, status: int = 200
) -> HTMLResponse:
    t = i18n.gettext
    return _message(
        request,
        lang=lang,
        embed=embed,
        status=status,
        title=t(lang, "respond.answered_title"),
        body=t(lang, "respond.answered_body"),
        workspace=workspace,
        kind="success",
    )


def _thank_you(
    request: Request,
    lang: str,
    embed: bool,
    workspace: Workspace,
    definition: SurveyDefinition,
    answers: Mapping[str, Any],
) -> HTMLResponse:
    outcome, text = thank_you_message(definition, answers, lang)
    return _render(
        request,
        "feedback/respond_message.html",
        lang=lang,
        embed=embed,
        status=200,
        title=i18n.gettext(lang, "respond.thanks_title"),
        body=text,
        workspace=workspace,
        kind="success",
        outcome=outcome,
    )


# --- language, form tokens and form parsing ----------------------------------------------------


def _wants_embed(request: Request) -> bool:
    return request.query_params.get("embed") == "1"


def _chosen_lang(request: Request) -> str | None:
    value = request.query_params.get("lang")
    return value if value in i18n.LOCALES else None


def _browser_lang(request: Request) -> str:
    return i18n.negotiate_locale(request.headers.get("accept-language", ""), "ko")


def respondent_language(request: Request, customer: Customer | None) -> str:
    """?lang=ko|en, else the customer's locale, else the browser's language, else Korean."""
    chosen = _chosen_lang(request)
    if chosen:
        return chosen
    if customer is not None:
        locale = customer.locale or (customer.traits or {}).get("locale")
        if isinstance(locale, str) and locale.strip():
            return language_of(locale)
    return _browser_lang(request)


def _serializer(request: Request) -> URLSafeTimedSerializer:
    # Signed with the current key (the last), checked against the previous ones too.
    keys = settings_of(request).secret_keys()
    return URLSafeTimedSerializer(list(reversed(keys)), salt="cxloop.respond.form")


def _personal_subject(token: str) -> str:
    return "s:" + feedback.hash_token(token)[:32]


def _public_subject(survey: Survey) -> str:
    return f"p:{survey.id}"


def _issue_token(request: Request, subject: str, nonce: str | None = None) -> str:
    return str(_serializer(request).dumps([subject, nonce or secrets.token_urlsafe(16)]))


def _check_token(request: Request, sent: object, subject: str) -> str | None:
    """The nonce of a form token signed by this server for ``subject``, else None."""
    if not isinstance(sent, str) or len(sent) > 500:
        return None
    try:
        value = _serializer(request).loads(sent, max_age=FORM_TOKEN_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or value[0] != subject
        or not isinstance(value[1], str)
    ):
        return None
    return value[1]


async def _respondent_form(request: Request) -> FormData | None:
    """The submitted form, or None when it is too large or malformed (the client's fault)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FORM_BYTES:
        return None
    try:
        return await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    except Exception:  # malformed multipart, too many fields …
        return None


SubmittedForm = Annotated[FormData | None, Depends(_respondent_form)]


def _too_large(request: Request, lang: str, embed: bool, workspace: Workspace) -> HTMLResponse:
    return _message(
        request,
        lang=lang,
        embed=embed,
        status=413,
        title=i18n.gettext(lang, "respond.too_large_title"),
        body=i18n.gettext(lang, "respond.too_large_body"),
        workspace=workspace,
        kind="error",
    )


def _as_number(value: str) -> Any:
    text = value.strip()
    if re.fullmatch(r"-?\d{1,6}", text):
        return int(text)
    return text  # left as text: the service answers "must be a whole number"


def answers_from_form(
    definition: SurveyDefinition, form: FormData
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(answers, hidden values) of a submitted respondent form, shaped for the service."""
    answers: dict[str, Any] = {}
    hidden: dict[str, Any] = {}
    for key in dict.fromkeys(form.keys()):
        values = [v if isinstance(v, str) else "" for v in form.getlist(key)]
        if key.startswith(ANSWER_PREFIX):
            qid = key[len(ANSWER_PREFIX) :]
            question: Question | None = definition.question(qid)
            if question is None:
                answers[qid] = values[-1] if values else ""
            elif question.type == "multiple":
                answers[qid] = [v for v in values if v]
            elif question.type in SCORED_TYPES:
                answers[qid] = _as_number(values[-1]) if values else None
            else:
                answers[qid] = values[-1] if values else None
        elif key.startswith(HIDDEN_PREFIX) and values:
            hidden[key[len(HIDDEN_PREFIX) :]] = values[-1]
    return answers, hidden


def _form_lang(request: Request, form: FormData | None, customer: Customer | None) -> str:
    sent = form.get("lang") if form is not None else None
    if isinstance(sent, str) and sent in i18n.LOCALES:
        return sent
    return respondent_language(request, customer)


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
        invitation = feedback.invitation_for_token(db, token=token)
        survey = feedback.get_survey(
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
    response = feedback.response_to_invitation(db, invitation=found.invitation)
    if response is not None and response.completed:
        return _answered(request, lang, embed, found.workspace)
    if found.survey.status != "live":
        return _closed(request, lang, embed, found.workspace, expired=False)
    if response is None and feedback.invitation_expired(found.invitation):
        return _closed(request, lang, embed, found.workspace, expired=True)
    feedback.mark_opened(db, invitation=found.invitation)
    version = feedback.get_version(
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
    existing = feedback.response_to_invitation(db, invitation=found.invitation)
    if existing is not None and existing.completed:
        if partial:
            return JSONResponse({"saved": False, "reason": "answered"}, status_code=409)
        return _answered(request, lang, embed, found.workspace, status=409)
    if found.survey.status != "live" or (
        existing is None and feedback.invitation_expired(found.invitation)
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
    version = feedback.get_version(
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
            response = feedback.submit_response(
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
            feedback.submit_response(
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
        survey = feedback.public_survey(db, workspace_id=workspace.id, key=key)
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
    definition = feedback.current_definition(db, survey=survey)
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
    definition = feedback.current_definition(db, survey=survey)
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
            response, _created = feedback.submit_public_response(
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
        feedback.get_version(db, survey=survey, number=response.version).definition
    )
    return _thank_you(request, lang, embed, workspace, answered, response.answers)
