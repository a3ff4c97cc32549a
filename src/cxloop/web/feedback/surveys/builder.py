"""The survey builder: questions in Korean and English, branching, hidden fields, thank-you
messages, a preview in both languages, publish and close.

The builder is a plain form: adding, removing and moving questions post the whole draft back
and the server renders it again, so it works without JavaScript; nothing is saved until "Save".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response
from starlette.datastructures import FormData

from cxloop.accounts.access import require
from cxloop.core import i18n
from cxloop.core.errors import Conflict, ValidationFailed
from cxloop.feedback.responses import summaries as response_summaries
from cxloop.feedback.surveys import service as survey_service
from cxloop.feedback.surveys.definition import (
    CHOICE_TYPES,
    SCORED_TYPES,
    SurveyDefinition,
    parse_definition,
)
from cxloop.models import Survey
from cxloop.models.feedback import QUESTION_TYPES
from cxloop.web import errors
from cxloop.web.feedback.respond.shared import QuestionView, question_views
from cxloop.web.feedback.surveys.shared import (
    FIELD_MESSAGES,
    OPERATORS,
    PostedForm,
    _field,
    _load,
    _number,
    _value_text,
)
from cxloop.web.rendering import redirect, render
from cxloop.web.session import Page, WebContext, flash_text, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

MAX_QUESTIONS = 100
MAX_CHOICES = 50
EXTRA_CHOICE_ROWS = 2  # empty rows a choice question offers (the page's script adds more)
OUTCOMES = ("promoter", "passive", "detractor", "default")
# The comparisons a condition offers on an earlier question of each type.
CONDITION_OPERATORS = {
    "scored": ("<=", ">=", "<", ">", "==", "!=", "in"),
    "choice": ("==", "!=", "in"),
    "text": ("==", "!=", "in"),
}


# --- the builder's form ------------------------------------------------------------------------


@dataclass
class ChoiceRow:
    """One choice of a choice question: the code stored with answers and its two labels."""

    id: str = ""
    ko: str = ""
    en: str = ""

    def is_empty(self) -> bool:
        return not (self.id or self.ko or self.en)


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
    options: list[ChoiceRow] = field(default_factory=list)
    cond_question: str = ""
    cond_op: str = "<="
    cond_value: str = ""  # a score or text (a comma-separated list for "is one of")
    cond_choices: list[str] = field(default_factory=list)  # on a choice question

    def choice_rows(self) -> list[ChoiceRow]:
        """The choices and a few empty rows for new ones."""
        return self.options + [ChoiceRow() for _ in range(EXTRA_CHOICE_ROWS)]


@dataclass
class DraftForm:
    name: str
    owner_team: str
    questions: list[QuestionForm]
    hidden_fields: str
    thank_you: dict[str, dict[str, str]] = field(default_factory=dict)


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
                options=[ChoiceRow(o.id, o.label.ko, o.label.en) for o in q.options or []],
                cond_question=q.show_if.question if q.show_if else "",
                cond_op=q.show_if.op if q.show_if else "<=",
                cond_value=_value_text(q.show_if.value) if q.show_if else "",
                cond_choices=_condition_choices(q.show_if.value) if q.show_if else [],
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


def _condition_choices(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def choice_code(label: str, taken: set[str]) -> str:
    """A code for a choice left without one, made from its English label (``Fast delivery``
    → ``fast_delivery``), or ``choice_N``; never one the question already uses."""
    base = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:32].rstrip("_")
    if not base or not base[0].isalpha():
        base = f"choice_{len(taken) + 1}" if not base else f"c_{base}"
    code, n = base, 2
    while code in taken:
        code, n = f"{base}_{n}", n + 1
    return code


def _choices_from_form(form: FormData, prefix: str) -> list[ChoiceRow]:
    count = _field(form, prefix + "opt_count", 3)
    # Rows past the definition's limit are read too, so its check says there are too many.
    total = min(int(count), 4 * MAX_CHOICES) if count.isdigit() else 0
    rows = [
        ChoiceRow(
            _field(form, f"{prefix}opt-{j}-id", 60).strip(),
            _field(form, f"{prefix}opt-{j}-ko", 2000).strip(),
            _field(form, f"{prefix}opt-{j}-en", 2000).strip(),
        )
        for j in range(total)
    ]
    rows = [row for row in rows if not row.is_empty()]
    taken = {row.id for row in rows if row.id}
    for row in rows:  # codes already given stay as they are
        if not row.id and (row.en or row.ko):
            row.id = choice_code(row.en, taken)
            taken.add(row.id)
    return rows


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
                options=_choices_from_form(form, p),
                cond_question=_field(form, p + "cond_question", 60).strip(),
                cond_op=_field(form, p + "cond_op", 4),
                cond_value=_field(form, p + "cond_value", 2000).strip(),
                cond_choices=[
                    c[:60]
                    for c in form.getlist(p + "cond_choice")[:MAX_CHOICES]
                    if isinstance(c, str)
                ],
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


def condition_kind(question_type: str | None) -> str:
    """Which comparisons and value field a condition on this type of question offers."""
    if question_type in SCORED_TYPES:
        return "scored"
    if question_type in CHOICE_TYPES:
        return "choice"
    return "text"


def _condition_value(q: QuestionForm, target: QuestionForm | None) -> Any:
    if target is not None and target.type in CHOICE_TYPES:
        if q.cond_op == "in":
            return list(q.cond_choices)
        return q.cond_choices[0] if len(q.cond_choices) == 1 else ""
    if q.cond_op == "in":
        return [_number(part.strip()) for part in q.cond_value.split(",") if part.strip()]
    return _number(q.cond_value)


def condition_problems(draft: DraftForm, t: Any) -> dict[str, list[str]]:
    """What the condition pickers lack (a choice to compare with, a value), in words."""
    problems: dict[str, list[str]] = {}
    by_id = {q.id: q for q in draft.questions}
    for i, q in enumerate(draft.questions):
        if not q.cond_question:
            continue
        target = by_id.get(q.cond_question)
        message = None
        if target is not None and target.type in CHOICE_TYPES:
            if not q.cond_choices:
                message = t("surveys.err_pick_some")
            elif q.cond_op != "in" and len(q.cond_choices) > 1:
                message = t("surveys.err_pick_one", op=condition_op_words(t, q.cond_op, target))
        elif not q.cond_value:
            message = t("surveys.err_value_missing")
        if message:
            problems.setdefault(f"questions-{i}-show_if", []).append(message)
    return problems


def condition_op_words(t: Any, op: str, target: QuestionForm) -> str:
    if target.type == "multiple":
        words = {"==": "surveys.op_picked", "!=": "surveys.op_not_picked"}
    else:
        words = {"==": "surveys.op_eq", "!=": "surveys.op_ne"}
    return t(words[op]) if op in words else op


def definition_of(draft: DraftForm) -> dict[str, Any]:
    """The definition the draft describes, for the service to check."""
    questions: list[dict[str, Any]] = []
    by_id = {q.id: q for q in draft.questions}
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
            question["options"] = [
                {"id": o.id, "label": {"ko": o.ko, "en": o.en}} for o in q.options
            ]
        if q.cond_question:
            question["show_if"] = {
                "question": q.cond_question,
                "op": q.cond_op,
                "value": _condition_value(q, by_id.get(q.cond_question)),
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


def outcome_metric(survey: Survey, draft: DraftForm) -> str:
    """The metric that decides a response's outcome (NPS first, then CSAT, then CES, as
    ``definition.outcome`` does), so the thank-you groups are named in its words."""
    types = {q.type for q in draft.questions}
    return next((m for m in ("nps", "csat", "ces") if m in types), survey.kind)


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
        t_ko=i18n.translator("ko"),
        t_en=i18n.translator("en"),
        types=QUESTION_TYPES,
        operators=OPERATORS,
        outcomes=OUTCOMES,
        outcome_metric=outcome_metric(survey, draft),
        condition_kind=condition_kind,
        condition_operators=CONDITION_OPERATORS,
        questions_by_id={q.id: q for q in draft.questions},
        editable=page.can("surveys:write"),
        has_responses=bool(
            response_summaries.response_counts(
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
    definition = survey_service.current_definition(page.db, survey=survey)
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
    problems = condition_problems(draft, page.t)
    if not draft.questions:
        problems.setdefault("general", []).append(page.t("surveys.err_no_questions"))
    if problems:
        return _builder(page, survey, draft, problems=problems, status=422)
    before = survey.current_version
    try:
        with page.db.begin_nested():
            survey_service.update_survey(
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
            survey_service.set_status(
                page.db, survey=survey, status=status, principal=page.principal
            )
    except (Conflict, ValidationFailed) as exc:
        flash_text(page.request, "error", errors.describe(page.locale, exc))
    else:
        page.flash("success", "surveys.status_changed")
    return redirect(f"/surveys/{survey.id}")
