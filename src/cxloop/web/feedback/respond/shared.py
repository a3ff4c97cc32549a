"""What the respondent's pages share: the questions as a page shows them, the answers' error
messages, the replies (form, message, closed, too many requests, thank you) with their headers,
the respondent's language, the signed form tokens and reading a posted form."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.datastructures import FormData

from cxloop.core import i18n
from cxloop.core.errors import ValidationFailed
from cxloop.core.http import client_address
from cxloop.core.ratelimit import RateLimited, RateLimiter
from cxloop.feedback.distribution import links as invitation_links
from cxloop.feedback.surveys.definition import (
    SCORED_TYPES,
    Question,
    SurveyDefinition,
    language_of,
    thank_you_message,
)
from cxloop.models import Customer, Survey, Workspace
from cxloop.web.rendering import SECURITY_HEADERS, environment
from cxloop.web.session import settings_of

FORM_TOKEN_MAX_AGE = 7 * 24 * 3600  # a customer may leave the page open for days
MAX_FORM_BYTES = 256 * 1024
MAX_FORM_FIELDS = 500
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

    def lang_link(other: str) -> str:
        params = {k: v for k, v in request.query_params.items() if k != "lang"}
        return f"{request.url.path}?{urlencode({**params, 'lang': other})}"

    html = environment.get_template(template).render(
        request=request,
        lang=lang,
        locale=lang,
        locales=i18n.LOCALES,
        t=i18n.translator(lang),
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
    return "s:" + invitation_links.hash_token(token)[:32]


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
