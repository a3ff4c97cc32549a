"""The team's survey pages: the list, a new survey from a starter, the builder (questions in
Korean and English, branching, hidden fields, thank-you messages, a preview in both languages,
publish and close), the distribution settings and the response list with its verbatims.

The builder is a plain form: adding, removing and moving questions post the whole draft back
and the server renders it again, so it works without JavaScript; nothing is saved until "Save".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from cxloop.accounts.access import require
from cxloop.core import i18n
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.feedback import service as feedback
from cxloop.feedback.definition import (
    CHOICE_TYPES,
    SurveyDefinition,
    load_definition,
    parse_definition,
)
from cxloop.feedback.settings import MAX_DELAY_MINUTES, parse_distribution
from cxloop.feedback.texts import SOURCE as SURVEY_TEXTS
from cxloop.models import Survey
from cxloop.models.feedback import QUESTION_TYPES, SURVEY_KINDS, SURVEY_STATUSES
from cxloop.web import errors
from cxloop.web.feedback.respond import QuestionView, question_views
from cxloop.web.rendering import redirect, render, zone
from cxloop.web.session import Page, WebContext, flash_text, settings_of, verify_csrf
from cxloop.web.text.admin import text_tags

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])


async def _posted_form(request: Request) -> FormData:
    """The form of the request (already read, and cached, by the CSRF check)."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted_form)]

LIST_PAGE = 30
RESPONSES_PAGE = 30
MAX_QUESTIONS = 100
MAX_ID = 2**31 - 1
OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in")
OUTCOMES = ("promoter", "passive", "detractor", "default")
CHANNELS = ("email", "widget", "link")
DELAY_UNITS = {"minutes": 1, "hours": 60, "days": 1440}
EXTRA_FILTER_ROWS = 2


# --- starters ----------------------------------------------------------------------------------


def _text(ko: str, en: str) -> dict[str, str]:
    return {"ko": ko, "en": en}


_COMMENT = {
    "id": "comment",
    "type": "text",
    "max_length": 1000,
    "text": _text(
        "더 하고 싶은 말씀이 있으면 적어 주세요.", "Anything else you would like to tell us?"
    ),
}
_THANKS = {
    "promoter": _text("좋게 봐 주셔서 감사합니다!", "Thank you, we are glad you are happy!"),
    "detractor": _text(
        "불편을 드려 죄송합니다. 담당 팀이 확인하겠습니다.",
        "We are sorry. The team in charge will look into it.",
    ),
    "default": _text("소중한 의견 감사합니다.", "Thank you for your feedback."),
}


def starter_definition(kind: str) -> dict[str, Any]:
    """A sensible first version of a survey of ``kind``, in Korean and English."""
    if kind == "nps":
        questions: list[dict[str, Any]] = [
            {
                "id": "nps",
                "type": "nps",
                "required": True,
                "text": _text(
                    "저희를 친구나 동료에게 추천할 가능성은 얼마나 되나요?",
                    "How likely are you to recommend us to a friend or colleague?",
                ),
            },
            {
                "id": "reason",
                "type": "text",
                "max_length": 1000,
                "text": _text("어떤 점이 아쉬우셨나요?", "What could we have done better?"),
                "show_if": {"question": "nps", "op": "<=", "value": 6},
            },
            {
                "id": "liked",
                "type": "text",
                "max_length": 1000,
                "text": _text("어떤 점이 가장 좋으셨나요?", "What did you like most?"),
                "show_if": {"question": "nps", "op": ">=", "value": 9},
            },
        ]
    elif kind == "csat":
        questions = [
            {
                "id": "csat",
                "type": "csat",
                "required": True,
                "text": _text(
                    "이번 경험에 얼마나 만족하셨나요?",
                    "How satisfied were you with your experience?",
                ),
            },
            _COMMENT,
        ]
    elif kind == "ces":
        questions = [
            {
                "id": "ces",
                "type": "ces",
                "required": True,
                "text": _text(
                    "원하시는 일을 처리하기가 얼마나 쉬웠나요?",
                    "How easy was it to get what you needed done?",
                ),
            },
            _COMMENT,
        ]
    else:
        questions = [
            {
                "id": "topic",
                "type": "single",
                "required": True,
                "text": _text("어떤 일로 연락하셨나요?", "What did you contact us about?"),
                "options": [
                    {"id": "order", "label": _text("주문·배송", "Orders and delivery")},
                    {"id": "product", "label": _text("상품 문의", "A product")},
                    {"id": "other", "label": _text("기타", "Something else")},
                ],
            },
            _COMMENT,
        ]
    return {"questions": questions, "hidden_fields": ["touchpoint"], "thank_you": _THANKS}


# --- the builder's form ------------------------------------------------------------------------


@dataclass
class QuestionForm:
    """One question as the builder's fields hold it (text, so a wrong value can be shown)."""

    id: str = ""
    type: str = "text"
    text_ko: str = ""
    text_en: str = ""
    required: bool = False
    min: str = ""
    max: str = ""
    max_length: str = ""
    options: str = ""  # one option a line: id | 한국어 | English
    cond_question: str = ""
    cond_op: str = "<="
    cond_value: str = ""


@dataclass
class DraftForm:
    name: str
    owner_team: str
    questions: list[QuestionForm]
    hidden_fields: str
    thank_you: dict[str, dict[str, str]] = field(default_factory=dict)


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def draft_from(survey: Survey, definition: SurveyDefinition) -> DraftForm:
    questions = []
    for q in definition.questions:
        questions.append(
            QuestionForm(
                id=q.id,
                type=q.type,
                text_ko=q.text.ko,
                text_en=q.text.en,
                required=q.required,
                min=_value_text(q.min),
                max=_value_text(q.max),
                max_length=_value_text(q.max_length),
                options="\n".join(f"{o.id} | {o.label.ko} | {o.label.en}" for o in q.options or []),
                cond_question=q.show_if.question if q.show_if else "",
                cond_op=q.show_if.op if q.show_if else "<=",
                cond_value=_value_text(q.show_if.value) if q.show_if else "",
            )
        )
    thanks = {}
    for outcome in OUTCOMES:
        text = getattr(definition.thank_you, outcome)
        thanks[outcome] = {"ko": text.ko if text else "", "en": text.en if text else ""}
    return DraftForm(
        name=survey.name,
        owner_team=survey.owner_team,
        questions=questions,
        hidden_fields=", ".join(definition.hidden_fields),
        thank_you=thanks,
    )


def _field(form: FormData, name: str, limit: int = 5000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def draft_from_form(form: FormData) -> DraftForm:
    count = _field(form, "question_count", 4)
    total = min(int(count), MAX_QUESTIONS) if count.isdigit() else 0
    questions = []
    for i in range(total):
        p = f"questions-{i}-"
        questions.append(
            QuestionForm(
                id=_field(form, p + "id", 60).strip(),
                type=_field(form, p + "type", 20),
                text_ko=_field(form, p + "text_ko").strip(),
                text_en=_field(form, p + "text_en").strip(),
                required=form.get(p + "required") == "on",
                min=_field(form, p + "min", 20).strip(),
                max=_field(form, p + "max", 20).strip(),
                max_length=_field(form, p + "max_length", 20).strip(),
                options=_field(form, p + "options", 20000),
                cond_question=_field(form, p + "cond_question", 60).strip(),
                cond_op=_field(form, p + "cond_op", 4),
                cond_value=_field(form, p + "cond_value", 2000).strip(),
            )
        )
    return DraftForm(
        name=_field(form, "name", 300).strip(),
        owner_team=_field(form, "owner_team", 100).strip(),
        questions=questions,
        hidden_fields=_field(form, "hidden_fields", 2000),
        thank_you={
            outcome: {
                lang: _field(form, f"thank_you-{outcome}-{lang}", 2500).strip()
                for lang in i18n.LOCALES
            }
            for outcome in OUTCOMES
        },
    )


def _number(text: str) -> Any:
    """An int or float for number-like text; other text stays text (the check names it)."""
    if re.fullmatch(r"-?\d{1,9}", text):
        return int(text)
    if re.fullmatch(r"-?\d{1,9}\.\d{1,6}", text):
        return float(text)
    return text


def _condition_value(op: str, text: str) -> Any:
    if op == "in":
        return [_number(part.strip()) for part in text.split(",") if part.strip()]
    return _number(text)


def definition_of(draft: DraftForm) -> dict[str, Any]:
    """The definition the draft describes, for the service to check."""
    questions: list[dict[str, Any]] = []
    for q in draft.questions:
        question: dict[str, Any] = {
            "id": q.id,
            "type": q.type,
            "text": {"ko": q.text_ko, "en": q.text_en},
            "required": q.required,
        }
        # Fields of another type (left over after a type change, hidden by the page's
        # script) are ignored rather than refused.
        if q.type == "rating":
            question["min"] = _number(q.min) if q.min else None
            question["max"] = _number(q.max) if q.max else None
        if q.type == "text" and q.max_length:
            question["max_length"] = _number(q.max_length)
        if q.type in CHOICE_TYPES:
            options = []
            for line in q.options.splitlines():
                if not line.strip():
                    continue
                parts = [part.strip() for part in line.split("|")]
                parts += [""] * (3 - len(parts))
                options.append({"id": parts[0], "label": {"ko": parts[1], "en": parts[2]}})
            question["options"] = options
        if q.cond_question:
            question["show_if"] = {
                "question": q.cond_question,
                "op": q.cond_op,
                "value": _condition_value(q.cond_op, q.cond_value),
            }
        questions.append(question)
    thank_you = {
        outcome: texts
        for outcome, texts in draft.thank_you.items()
        if texts.get("ko") or texts.get("en")
    }
    return {
        "questions": questions,
        "hidden_fields": [
            name for name in re.split(r"[\s,]+", draft.hidden_fields.strip()) if name
        ],
        "thank_you": thank_you,
    }


def builder_field(name: str) -> str:
    """The builder's form field an error of ``definition.…`` belongs to."""
    parts = name.removeprefix("definition.").split(".")
    if parts[0] == "questions" and len(parts) > 1 and parts[1].isdigit():
        index, rest = parts[1], parts[2:]
        if not rest:
            return f"questions-{index}"
        if rest[0] == "text":
            return f"questions-{index}-text_{rest[1] if len(rest) > 1 else 'ko'}"
        if rest[0] in ("options", "show_if", "min", "max", "max_length", "id", "type"):
            return f"questions-{index}-{rest[0]}"
        return f"questions-{index}"
    if parts[0] in ("hidden_fields", "name", "owner_team"):
        return parts[0]
    if parts[0] == "thank_you" and len(parts) > 1:
        return f"thank_you-{parts[1]}"
    return "general"


def _next_question_id(draft: DraftForm) -> str:
    taken = {q.id for q in draft.questions}
    n = len(draft.questions) + 1
    while f"q{n}" in taken:
        n += 1
    return f"q{n}"


def apply_action(draft: DraftForm, action: str) -> None:
    """Add, remove or move a question of the draft (the "no JavaScript" builder)."""
    if action == "add" and len(draft.questions) < MAX_QUESTIONS:
        draft.questions.append(QuestionForm(id=_next_question_id(draft)))
        return
    verb, _, index_text = action.partition("-")
    if not index_text.isdigit() or int(index_text) >= len(draft.questions):
        return
    index = int(index_text)
    questions = draft.questions
    if verb == "remove" and len(questions) > 1:
        removed = questions.pop(index)
        for q in questions:  # a condition on the removed question would point nowhere
            if q.cond_question == removed.id:
                q.cond_question = ""
    elif verb == "up" and index > 0:
        questions[index - 1], questions[index] = questions[index], questions[index - 1]
    elif verb == "down" and index < len(questions) - 1:
        questions[index + 1], questions[index] = questions[index], questions[index + 1]


# --- shared helpers ----------------------------------------------------------------------------


def _load(page: WebContext, survey_id: int) -> Survey:
    if not 0 < survey_id <= MAX_ID:
        raise NotFound(f"No survey with id {survey_id}.")
    return feedback.get_survey(page.db, workspace_id=page.workspace.id, survey_id=survey_id)


def _translator(lang: str) -> Any:
    def t(key: str, **params: Any) -> str:
        return i18n.gettext(lang, key, **params)

    return t


def public_url(request: Request, page: WebContext, survey: Survey) -> str:
    base = settings_of(request).public_url.rstrip("/")
    return f"{base}/p/{page.workspace.slug}/{survey.key}"


# --- the list and a new survey -----------------------------------------------------------------


@router.get("/surveys")
def survey_list(page: Page, status: str = "", cursor: str = "") -> Response:
    """The workspace's surveys: status chips, response counts, the latest answer."""
    require(page.principal, "surveys:read")
    status = status if status in SURVEY_STATUSES else ""
    rows, next_cursor = feedback.list_surveys(
        page.db,
        workspace_id=page.workspace.id,
        status=status or None,
        cursor=cursor[:500] or None,
        limit=LIST_PAGE,
    )
    counts = feedback.response_counts(
        page.db, workspace_id=page.workspace.id, survey_ids=[s.id for s in rows]
    )
    return render(
        page.request,
        "feedback/surveys.html",
        page=page,
        section="surveys",
        rows=rows,
        counts=counts,
        status_filter=status,
        statuses=SURVEY_STATUSES,
        cursor=cursor,
        next_cursor=next_cursor,
    )


def _new_form(
    page: WebContext, *, kind: str, name: str, key: str, errors_: dict[str, str], status: int
) -> Response:
    return render(
        page.request,
        "feedback/survey_new.html",
        page=page,
        section="surveys",
        kinds=SURVEY_KINDS,
        kind=kind,
        name=name,
        key=key,
        errors=errors_,
        status=status,
    )


@router.get("/surveys/new")
def new_survey_form(page: Page, kind: str = "nps") -> Response:
    """Pick a kind; the new survey starts from a sensible definition in both languages."""
    require(page.principal, "surveys:write")
    kind = kind if kind in SURVEY_KINDS else "nps"
    return _new_form(page, kind=kind, name="", key="", errors_={}, status=200)


@router.post("/surveys/new")
def create_survey(
    page: Page,
    kind: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
) -> Response:
    require(page.principal, "surveys:write")
    name, key = name.strip()[:300], key.strip().lower()[:100]
    problems: dict[str, str] = {}
    try:
        with page.db.begin_nested():
            survey = feedback.create_survey(
                page.db,
                workspace_id=page.workspace.id,
                key=key,
                name=name,
                kind=kind,
                definition=starter_definition(kind) if kind in SURVEY_KINDS else {},
            )
    except ValidationFailed as exc:
        problems = _survey_problems(page, exc)
    except Conflict as exc:
        problems["key"] = errors.describe(page.locale, exc)
    else:
        page.flash("success", "surveys.created")
        return redirect(f"/surveys/{survey.id}")
    return _new_form(page, kind=kind, name=name, key=key, errors_=problems, status=422)


# The feedback service's checks of a survey's fields, in the reader's words.
FIELD_MESSAGES = {
    "kind": "surveys.err_kind",
    "name": "surveys.err_name",
    "key": "surveys.err_key",
    "owner_team": "surveys.err_team",
}


def _survey_problems(page: WebContext, exc: ValidationFailed) -> dict[str, str]:
    """Each field the service refused, with its message in the user's language."""
    problems = {
        str(e.get("field")): page.t(FIELD_MESSAGES[str(e.get("field"))])
        for e in exc.errors
        if e.get("field") in FIELD_MESSAGES
    }
    return problems or {"key": errors.describe(page.locale, exc)}


# --- the builder -------------------------------------------------------------------------------


def _preview(definition: dict[str, Any] | SurveyDefinition, kind: str) -> dict[str, Any] | None:
    try:
        checked = parse_definition(definition, kind=kind)
    except ValidationFailed:
        return None
    return {lang: question_views(checked, lang) for lang in i18n.LOCALES}


def _builder(
    page: WebContext,
    survey: Survey,
    draft: DraftForm,
    *,
    problems: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Response:
    preview: dict[str, list[QuestionView]] | None = _preview(definition_of(draft), survey.kind)
    return render(
        page.request,
        "feedback/survey_builder.html",
        page=page,
        section="surveys",
        survey=survey,
        draft=draft,
        problems=problems or {},
        preview=preview,
        t_ko=_translator("ko"),
        t_en=_translator("en"),
        types=QUESTION_TYPES,
        operators=OPERATORS,
        outcomes=OUTCOMES,
        editable=page.can("surveys:write"),
        has_responses=bool(
            feedback.response_counts(
                page.db, workspace_id=page.workspace.id, survey_ids=[survey.id]
            )
        ),
        status=status,
    )


@router.get("/surveys/{survey_id:int}")
def builder(page: Page, survey_id: int) -> Response:
    """The survey's current version in the builder, with its preview in both languages."""
    require(page.principal, "surveys:read")
    survey = _load(page, survey_id)
    definition = feedback.current_definition(page.db, survey=survey)
    return _builder(page, survey, draft_from(survey, definition))


@router.post("/surveys/{survey_id:int}")
def builder_post(page: Page, survey_id: int, form: PostedForm) -> Response:
    """Save the draft (a changed definition becomes a new version), or add, remove or move a
    question and show the draft again."""
    require(page.principal, "surveys:write")
    survey = _load(page, survey_id)
    draft = draft_from_form(form)
    action = _field(form, "action", 20)
    if action != "save":
        apply_action(draft, action)
        return _builder(page, survey, draft)
    problems: dict[str, list[str]] = {}
    if not draft.questions:
        problems.setdefault("general", []).append(page.t("surveys.err_no_questions"))
    if problems:
        return _builder(page, survey, draft, problems=problems, status=422)
    before = survey.current_version
    try:
        with page.db.begin_nested():
            feedback.update_survey(
                page.db,
                survey=survey,
                name=draft.name,
                owner_team=draft.owner_team,
                definition=definition_of(draft),
            )
    except ValidationFailed as exc:
        page.db.refresh(survey)
        for error in exc.errors or [{"field": "general", "message": exc.detail}]:
            field = str(error.get("field", ""))
            problems.setdefault(builder_field(field), []).append(
                page.t(FIELD_MESSAGES[field])
                if field in FIELD_MESSAGES
                else errors.field_message(page.locale, error)
            )
        return _builder(page, survey, draft, problems=problems, status=422)
    if survey.current_version != before:
        page.flash("success", "surveys.saved_version", version=survey.current_version)
    else:
        page.flash("info", "surveys.saved_same")
    return redirect(f"/surveys/{survey.id}")


@router.post("/surveys/{survey_id:int}/status")
def change_status(page: Page, survey_id: int, status: Annotated[str, Form()] = "") -> Response:
    """Publish, close, reopen or take a survey back to draft."""
    require(page.principal, "surveys:write")
    survey = _load(page, survey_id)
    try:
        with page.db.begin_nested():
            feedback.set_status(page.db, survey=survey, status=status, principal=page.principal)
    except (Conflict, ValidationFailed) as exc:
        flash_text(page.request, "error", errors.describe(page.locale, exc))
    else:
        page.flash("success", "surveys.status_changed")
    return redirect(f"/surveys/{survey.id}")


# --- distribution ------------------------------------------------------------------------------


@dataclass
class FilterRow:
    property: str = ""
    op: str = "=="
    value: str = ""


@dataclass
class DistributionForm:
    channels: list[str]
    trigger_event: str
    filters: list[FilterRow]
    delay_value: str
    delay_unit: str
    sample_percent: str
    expires_days: str
    reminder_after_days: str
    public_link: bool


def _delay_parts(minutes: int) -> tuple[str, str]:
    for unit in ("days", "hours"):
        size = DELAY_UNITS[unit]
        if minutes and minutes % size == 0:
            return str(minutes // size), unit
    return str(minutes), "minutes"


def _percent(rate: float) -> str:
    text = f"{rate * 100:.4f}".rstrip("0").rstrip(".")
    return text or "0"


def distribution_form_of(survey: Survey) -> DistributionForm:
    settings = parse_distribution(survey.distribution)
    delay_value, delay_unit = _delay_parts(settings.delay_minutes)
    filters = [
        FilterRow(f.property, f.op, _value_text(f.value))
        for f in (settings.trigger.where if settings.trigger else [])
    ]
    return DistributionForm(
        channels=list(settings.channels),
        trigger_event=settings.trigger.event if settings.trigger else "",
        filters=filters,
        delay_value=delay_value,
        delay_unit=delay_unit,
        sample_percent=_percent(settings.sample_rate),
        expires_days=str(settings.expires_days),
        reminder_after_days=_value_text(settings.reminder_after_days),
        public_link=settings.public_link,
    )


def distribution_form_from(form: FormData) -> DistributionForm:
    count = _field(form, "filter_count", 3)
    total = min(int(count), 20) if count.isdigit() else 0
    filters = [
        FilterRow(
            _field(form, f"filter-{i}-property", 300).strip(),
            _field(form, f"filter-{i}-op", 4),
            _field(form, f"filter-{i}-value", 2000).strip(),
        )
        for i in range(total)
    ]
    return DistributionForm(
        channels=[c for c in form.getlist("channels") if isinstance(c, str)][:5],
        trigger_event=_field(form, "trigger_event", 300).strip(),
        filters=[f for f in filters if f.property],
        delay_value=_field(form, "delay_value", 20).strip(),
        delay_unit=_field(form, "delay_unit", 10),
        sample_percent=_field(form, "sample_percent", 20).strip(),
        expires_days=_field(form, "expires_days", 20).strip(),
        reminder_after_days=_field(form, "reminder_after_days", 20).strip(),
        public_link=form.get("public_link") == "on",
    )


def _filter_value(op: str, text: str) -> Any:
    if op == "in":
        return [_number(part.strip()) for part in text.split(",") if part.strip()]
    if text in ("true", "false"):
        return text == "true"
    return _number(text)


def settings_of_form(data: DistributionForm) -> dict[str, Any]:
    """The DistributionSettings the form describes (the service checks them)."""
    delay: Any = _number(data.delay_value or "0")
    if isinstance(delay, int) and data.delay_unit in DELAY_UNITS:
        delay = min(delay * DELAY_UNITS[data.delay_unit], MAX_DELAY_MINUTES + 1)
    percent = _number(data.sample_percent or "100")
    settings: dict[str, Any] = {
        "channels": data.channels,
        "delay_minutes": delay,
        "sample_rate": percent / 100 if isinstance(percent, int | float) else percent,
        "expires_days": _number(data.expires_days or "14"),
        "reminder_after_days": (
            _number(data.reminder_after_days) if data.reminder_after_days else None
        ),
        "public_link": data.public_link,
    }
    if data.trigger_event or data.filters:
        settings["trigger"] = {
            "event": data.trigger_event,
            "where": [
                {"property": f.property, "op": f.op, "value": _filter_value(f.op, f.value)}
                for f in data.filters
            ],
        }
    return settings


def distribution_field(name: str) -> str:
    parts = name.removeprefix("distribution.").split(".")
    head = parts[0]
    if head == "trigger":
        if len(parts) > 2 and parts[1] == "where" and parts[2].isdigit():
            return f"filter-{parts[2]}"
        return "trigger_event"
    return {
        "channels": "channels",
        "delay_minutes": "delay",
        "sample_rate": "sample_percent",
        "expires_days": "expires_days",
        "reminder_after_days": "reminder_after_days",
        "public_link": "public_link",
    }.get(head, "general")


def _distribution_error(page: WebContext, field: str, error: dict[str, Any]) -> str:
    """A distribution problem in the form's own terms: the form asks for a percentage and a
    delay in the unit chosen, where the settings hold a rate and minutes."""
    if field == "sample_percent" and error.get("code") != "value.float_parsing":
        return page.t("fielderr.percent")
    if field == "delay" and error.get("code") != "value.int_parsing":
        return page.t("fielderr.delay", days=MAX_DELAY_MINUTES // (60 * 24))
    return errors.field_message(page.locale, error)


def _distribution_page(
    page: WebContext,
    survey: Survey,
    data: DistributionForm,
    *,
    problems: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Response:
    rows = list(data.filters) + [FilterRow() for _ in range(EXTRA_FILTER_ROWS)]
    return render(
        page.request,
        "feedback/survey_distribution.html",
        page=page,
        section="surveys",
        survey=survey,
        data=data,
        filter_rows=rows,
        problems=problems or {},
        channels=CHANNELS,
        operators=OPERATORS,
        units=tuple(DELAY_UNITS),
        public_url=public_url(page.request, page, survey),
        editable=page.can("surveys:write"),
        status=status,
    )


@router.get("/surveys/{survey_id:int}/distribution")
def distribution(page: Page, survey_id: int) -> Response:
    """How the survey goes out: channels, trigger, delay, sample, expiry, reminder, link."""
    require(page.principal, "surveys:read")
    survey = _load(page, survey_id)
    return _distribution_page(page, survey, distribution_form_of(survey))


@router.post("/surveys/{survey_id:int}/distribution")
def distribution_post(page: Page, survey_id: int, form: PostedForm) -> Response:
    require(page.principal, "surveys:write")
    survey = _load(page, survey_id)
    data = distribution_form_from(form)
    try:
        with page.db.begin_nested():
            feedback.update_survey(page.db, survey=survey, distribution=settings_of_form(data))
    except ValidationFailed as exc:
        page.db.refresh(survey)
        problems: dict[str, list[str]] = {}
        for error in exc.errors or [{"field": "general", "message": exc.detail}]:
            field = distribution_field(str(error.get("field", "")))
            problems.setdefault(field, []).append(_distribution_error(page, field, error))
        return _distribution_page(page, survey, data, problems=problems, status=422)
    page.flash("success", "surveys.distribution_saved")
    return redirect(f"/surveys/{survey.id}/distribution")


# --- responses ---------------------------------------------------------------------------------


def _score(text: str) -> int | None:
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d{1,4}", text) else None


def _day(text: str) -> datetime | None:
    """A YYYY-MM-DD filter day; None when it is not one or lies outside 1970–2999 (a day
    at the calendar's end would overflow the day after it)."""
    try:
        day = datetime.strptime(text.strip()[:10], "%Y-%m-%d")
    except ValueError:
        return None
    return day if 1970 <= day.year <= 2999 else None


@router.get("/surveys/{survey_id:int}/responses")
def responses(
    page: Page,
    survey_id: int,
    metric: str = "",
    score_min: str = "",
    score_max: str = "",
    state: str = "",
    comment: str = "",
    since: str = "",
    until: str = "",
    q: str = "",
    cursor: str = "",
) -> Response:
    """The survey's answers, newest first, with their verbatims, filtered and paged."""
    require(page.principal, "responses:read")
    survey = _load(page, survey_id)
    metric = (
        survey.kind
        if survey.kind in ("nps", "csat", "ces")
        else (metric if metric in ("nps", "csat", "ces") else "nps")
    )
    tz = zone(page.workspace.timezone)
    since_day, until_day = _day(since), _day(until)
    q = q.strip()[:200]
    filters = feedback.ResponseFilter(
        completed={"completed": True, "partial": False}.get(state),
        metric=metric,
        score_min=_score(score_min),
        score_max=_score(score_max),
        since=datetime.combine(since_day.date(), time(0), tzinfo=tz) if since_day else None,
        until=(
            datetime.combine(until_day.date() + timedelta(days=1), time(0), tzinfo=tz)
            if until_day
            else None
        ),
        has_comment={"yes": True, "no": False}.get(comment),
        text=q or None,
    )
    rows, next_cursor = feedback.list_responses(
        page.db, survey=survey, filters=filters, cursor=cursor[:500] or None, limit=RESPONSES_PAGE
    )
    filtered = any((score_min, score_max, state, comment, since, until, q))
    question_labels, option_labels = _answer_labels(page, survey)
    return render(
        page.request,
        "feedback/survey_responses.html",
        page=page,
        section="surveys",
        survey=survey,
        rows=rows,
        next_cursor=next_cursor,
        cursor=cursor,
        metric=metric,
        score_min=score_min[:5],
        score_max=score_max[:5],
        state=state if state in ("completed", "partial") else "",
        comment=comment if comment in ("yes", "no") else "",
        since=since_day.strftime("%Y-%m-%d") if since_day else "",
        until=until_day.strftime("%Y-%m-%d") if until_day else "",
        q=q,
        filtered=filtered,
        outcome=score_outcome,
        definition_questions=question_labels,
        option_labels=option_labels,
        tags=text_tags(page, source_type=SURVEY_TEXTS, source_ids=[r.id for r in rows]),
    )


def score_outcome(kind: str, value: int | None) -> str:
    """promoter, passive or detractor for a headline score (its chip's colour)."""
    if value is None:
        return ""
    low, high = {"nps": (6, 8), "csat": (2, 3), "ces": (3, 4)}[kind]
    return "detractor" if value <= low else "passive" if value <= high else "promoter"


def _answer_labels(
    page: WebContext, survey: Survey
) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """In the user's language (current version; older ids fall back): question id → its text,
    and (question id, option id) → the option's label, so a choice answer reads as what the
    respondent picked."""
    definition = load_definition(feedback.get_version(page.db, survey=survey).definition)
    ko = page.locale == "ko"
    questions = {q.id: (q.text.ko if ko else q.text.en) for q in definition.questions}
    options = {
        (q.id, o.id): (o.label.ko if ko else o.label.en)
        for q in definition.questions
        for o in q.options or []
    }
    return questions, options
