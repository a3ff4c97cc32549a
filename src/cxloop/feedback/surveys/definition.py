"""What a survey version asks: questions, branching, hidden fields and thank-you messages in
Korean and English, with the checks that keep a definition sound and the answers to it valid.

Rules a respondent's answers follow (``validate_answers``):

- Questions are shown in order; a question with ``show_if`` is visible only when its
  condition holds on the *cleaned* answers to earlier questions. A condition on a question
  that was not answered (or was itself hidden) is false, so the question stays hidden.
- Answers to questions hidden by branching are **dropped**, not rejected: a widget often keeps
  the stale answer of a branch after the respondent changes an earlier answer, and refusing
  the whole submission for it would lose a real response. Dropped answers are never stored,
  so they cannot skew the scores of the branch.
- ``None``, an empty string and an empty list mean "not answered".
- Answers to unknown question ids are rejected (422), as are out-of-range scores, values of
  the wrong type and options the question does not offer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from cxloop.core.errors import ValidationFailed, value_error_code

QuestionType = Literal["nps", "csat", "ces", "rating", "single", "multiple", "text"]
Operator = Literal["==", "!=", "<", "<=", ">", ">=", "in"]
Outcome = Literal["promoter", "passive", "detractor", "default"]
Language = Literal["ko", "en"]

# Fixed scales of the headline metrics (inclusive).
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
SCORED_TYPES = ("nps", "csat", "ces", "rating")
CHOICE_TYPES = ("single", "multiple")
DEFAULT_TEXT_LENGTH = 2000
MAX_TEXT_LENGTH = 10_000


def storable_text(value: str) -> str:
    """Refuse text no database can store: NUL characters and lone UTF-16 surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def shown_key(key: object) -> str:
    """A client-supplied key made safe to echo in an error's field name."""
    return str(key)[:60].encode("utf-8", "replace").decode("utf-8").replace("\x00", "?")


StorableText = Annotated[str, AfterValidator(storable_text)]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", max_length=40)]
ConditionValue = int | float | StorableText | list[int | StorableText]

DEFAULT_THANKS = {
    "ko": "소중한 의견 감사합니다.",
    "en": "Thank you for your feedback.",
}


class LocalText(BaseModel):
    """The same text in Korean and English; both are required."""

    model_config = ConfigDict(extra="forbid")
    ko: StorableText = Field(min_length=1, max_length=2000)
    en: StorableText = Field(min_length=1, max_length=2000)


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Identifier
    label: LocalText


class Condition(BaseModel):
    """Show a question only if an earlier question's answer satisfies ``op value``.

    On a multiple-choice question ``==`` means "this option was picked", ``!=`` "it was not",
    and ``in`` "any of these was picked".
    """

    model_config = ConfigDict(extra="forbid")
    question: Identifier
    op: Operator
    value: ConditionValue


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Identifier
    type: QuestionType
    text: LocalText
    required: bool = False
    min: int | None = Field(default=None, ge=-1000, le=1000, description="rating only")
    max: int | None = Field(default=None, ge=-1000, le=1000, description="rating only")
    options: list[Option] | None = Field(
        default=None, max_length=50, description="single and multiple choice only"
    )
    max_length: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TEXT_LENGTH,
        description=f"text only; {DEFAULT_TEXT_LENGTH} if unset",
    )
    show_if: Condition | None = None

    def scale(self) -> tuple[int, int] | None:
        """The inclusive range of a scored question."""
        if self.type in SCALES:
            return SCALES[self.type]
        if self.type == "rating" and self.min is not None and self.max is not None:
            return (self.min, self.max)
        return None

    def option_ids(self) -> list[str]:
        return [o.id for o in self.options or []]


class ThankYou(BaseModel):
    """Thank-you messages per outcome; ``default`` covers any outcome without its own."""

    model_config = ConfigDict(extra="forbid")
    promoter: LocalText | None = None
    passive: LocalText | None = None
    detractor: LocalText | None = None
    default: LocalText | None = None


class SurveyDefinition(BaseModel):
    """One version of a survey: its questions in order, hidden fields and thank-you texts."""

    model_config = ConfigDict(extra="forbid")
    questions: list[Question] = Field(min_length=1, max_length=100)
    hidden_fields: list[Identifier] = Field(
        default_factory=list,
        max_length=30,
        description="Names of values carried with a response, e.g. order_id, touchpoint, channel",
    )
    thank_you: ThankYou = Field(default_factory=ThankYou)

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


# --- checking a definition ---------------------------------------------------------------------


def _error(field: str, message: str, code: str | None = None, **params: Any) -> dict[str, Any]:
    """A field-level problem: the English ``message``, and for the pages a ``code`` with its
    ``params`` to say it in the reader's language."""
    error: dict[str, Any] = {"field": field, "message": message}
    if code is not None:
        error["code"] = code
        error["params"] = params
    return error


def _pydantic_errors(exc: PydanticValidationError, prefix: str) -> list[dict[str, Any]]:
    return [
        _error(".".join([prefix, *(str(p) for p in err["loc"])]).strip("."), err["msg"])
        | value_error_code(err)
        for err in exc.errors()
    ]


def _question_errors(question: Question, where: str) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    if question.type == "rating":
        if question.min is None or question.max is None:
            errors.append(_error(where, "a rating question needs min and max", "rating_scale"))
        elif question.min >= question.max:
            errors.append(_error(f"{where}.max", "max must be greater than min", "rating_order"))
        elif question.max - question.min > 100:
            errors.append(
                _error(f"{where}.max", "a rating scale has at most 101 points", "rating_size")
            )
    elif question.min is not None or question.max is not None:
        errors.append(
            _error(
                where,
                f"min and max apply to rating questions, not {question.type}",
                "scale_not_rating",
            )
        )
    if question.type in CHOICE_TYPES:
        ids = question.option_ids()
        if len(ids) < 2:
            errors.append(
                _error(
                    f"{where}.options", "a choice question needs at least 2 options", "options_few"
                )
            )
        seen: set[str] = set()
        for i, option_id in enumerate(ids):
            if option_id in seen:
                errors.append(
                    _error(
                        f"{where}.options.{i}.id",
                        f"option id {option_id!r} is used twice",
                        "option_twice",
                        id=option_id,
                    )
                )
            seen.add(option_id)
    elif question.options is not None:
        errors.append(
            _error(f"{where}.options", f"{question.type} questions have no options", "no_options")
        )
    if question.max_length is not None and question.type != "text":
        errors.append(
            _error(f"{where}.max_length", "max_length applies to text questions", "length_not_text")
        )
    return errors


def _condition_errors(
    condition: Condition, target: Question | None, later: bool, where: str
) -> list[dict[str, Any]]:
    if target is None:
        return [
            _error(
                f"{where}.question",
                f"unknown question {condition.question!r}",
                "show_if_unknown",
                id=condition.question,
            )
        ]
    if later:
        return [
            _error(
                f"{where}.question",
                f"a condition can only refer to an earlier question; {target.id!r} comes later",
                "show_if_later",
                id=target.id,
            )
        ]
    value, op = condition.value, condition.op
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if op == "in":
        if not isinstance(value, list) or not value:
            return [_error(f"{where}.value", "'in' needs a non-empty list of values", "in_list")]
        values: list[Any] = value
    else:
        if isinstance(value, list):
            return [
                _error(f"{where}.value", f"{op!r} needs a single value, not a list", "one_value")
            ]
        values = [value]
    if target.type in SCORED_TYPES:
        scale = target.scale()
        for v in values:
            if isinstance(v, str | bool):
                return [
                    _error(
                        f"{where}.value",
                        f"{target.id!r} is answered with a number",
                        "value_number",
                        id=target.id,
                    )
                ]
            if isinstance(v, float) and not math.isfinite(v):
                return [
                    _error(f"{where}.value", "the value must be a finite number", "value_finite")
                ]
            if op != "in" and not numeric:
                return [_error(f"{where}.value", "the value must be a number", "value_number_only")]
        if scale and op in ("==", "!=", "in"):
            low, high = scale
            outside = [v for v in values if not low <= v <= high]
            if outside:
                return [
                    _error(
                        f"{where}.value",
                        f"{outside[0]} is outside the {low}–{high} scale of {target.id!r}",
                        "value_outside",
                        value=str(outside[0]),
                        low=low,
                        high=high,
                        id=target.id,
                    )
                ]
        return []
    if op not in ("==", "!=", "in"):
        return [
            _error(
                f"{where}.op",
                f"{op!r} only compares numbers; {target.id!r} is {target.type}",
                "op_numbers",
                op=op,
                id=target.id,
            )
        ]
    if target.type in CHOICE_TYPES:
        offered = set(target.option_ids())
        for v in values:
            if not isinstance(v, str) or v not in offered:
                return [
                    _error(
                        f"{where}.value",
                        f"{v!r} is not an option of {target.id!r}",
                        "value_not_option",
                        value=str(v),
                        id=target.id,
                    )
                ]
        return []
    # text
    if any(not isinstance(v, str) for v in values):
        return [
            _error(
                f"{where}.value", f"{target.id!r} is answered with text", "value_text", id=target.id
            )
        ]
    return []


def definition_errors(definition: SurveyDefinition, *, kind: str) -> list[dict[str, Any]]:
    """Every problem of a structurally valid definition, as field-level messages."""
    errors: list[dict[str, Any]] = []
    positions: dict[str, int] = {}
    for index, question in enumerate(definition.questions):
        where = f"questions.{index}"
        if question.id in positions:
            errors.append(
                _error(
                    f"{where}.id",
                    f"question id {question.id!r} is used twice",
                    "question_twice",
                    id=question.id,
                )
            )
        else:
            positions[question.id] = index
        errors.extend(_question_errors(question, where))
    for index, question in enumerate(definition.questions):
        if question.show_if is None:
            continue
        target_index = positions.get(question.show_if.question)
        target = definition.questions[target_index] if target_index is not None else None
        errors.extend(
            _condition_errors(
                question.show_if,
                target,
                later=target_index is not None and target_index >= index,
                where=f"questions.{index}.show_if",
            )
        )
    seen_hidden: set[str] = set()
    for index, name in enumerate(definition.hidden_fields):
        if name in seen_hidden:
            errors.append(
                _error(
                    f"hidden_fields.{index}",
                    f"hidden field {name!r} is listed twice",
                    "hidden_twice",
                    name=name,
                )
            )
        seen_hidden.add(name)
    if kind in SCALES and not any(q.type == kind for q in definition.questions):
        errors.append(
            _error(
                "questions",
                f"a survey of kind {kind} needs an {kind} question",
                "kind_question",
                kind=kind.upper(),
            )
        )
    return errors


def parse_definition(raw: SurveyDefinition | Mapping[str, Any], *, kind: str) -> SurveyDefinition:
    """A checked definition for a survey of ``kind``; ValidationFailed lists every problem
    under ``definition.…`` fields."""
    if isinstance(raw, SurveyDefinition):
        definition = raw
    else:
        try:
            definition = SurveyDefinition.model_validate(raw)
        except PydanticValidationError as exc:
            errors = _pydantic_errors(exc, "definition")
            raise ValidationFailed(
                _summary("The survey definition is invalid", errors), errors=errors
            ) from None
    errors = [
        e | {"field": f"definition.{e['field']}"} for e in definition_errors(definition, kind=kind)
    ]
    if errors:
        raise ValidationFailed(_summary("The survey definition is invalid", errors), errors=errors)
    return definition


def load_definition(stored: Mapping[str, Any]) -> SurveyDefinition:
    """A definition as stored in a SurveyVersion (checked when it was saved)."""
    return SurveyDefinition.model_validate(stored)


def dump_definition(definition: SurveyDefinition) -> dict[str, Any]:
    return definition.model_dump(mode="json", exclude_none=True)


def _summary(lead: str, errors: list[dict[str, Any]]) -> str:
    shown = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return f"{lead}: {shown}{more}."


# --- answers -----------------------------------------------------------------------------------


def _is_blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def _condition_holds(condition: Condition, answer: Any) -> bool:
    """Whether a cleaned ``answer`` satisfies ``condition`` (False when unanswered)."""
    if _is_blank(answer):
        return False
    op, value = condition.op, condition.value
    if isinstance(answer, list):  # multiple choice: membership
        picked = set(answer)
        if op == "==":
            return value in picked
        if op == "!=":
            return value not in picked
        if op == "in" and isinstance(value, list):
            return bool(picked & set(value))
        return False
    if op == "in":
        return isinstance(value, list) and answer in value
    if op == "==":
        return bool(answer == value)
    if op == "!=":
        return bool(answer != value)
    if isinstance(answer, str) or isinstance(value, str | list):
        return False
    if op == "<":
        return bool(answer < value)
    if op == "<=":
        return bool(answer <= value)
    if op == ">":
        return bool(answer > value)
    return bool(answer >= value)


def is_visible(question: Question, answers: Mapping[str, Any]) -> bool:
    """Whether ``question`` is shown, given the cleaned answers to earlier questions."""
    if question.show_if is None:
        return True
    return _condition_holds(question.show_if, answers.get(question.show_if.question))


def visible_questions(definition: SurveyDefinition, answers: Mapping[str, Any]) -> list[Question]:
    """The questions shown to a respondent who gave ``answers`` (branching applied in order)."""
    shown: list[Question] = []
    answered: dict[str, Any] = {}
    for question in definition.questions:
        if is_visible(question, answered):
            shown.append(question)
            if question.id in answers:
                answered[question.id] = answers[question.id]
    return shown


def _clean_one(question: Question, value: Any) -> tuple[Any, str | None]:
    """The stored form of one non-blank answer, or an error message."""
    if question.type in SCORED_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, "must be a whole number"
        if isinstance(value, float):
            if not value.is_integer():
                return None, "must be a whole number"
            value = int(value)
        scale = question.scale()
        assert scale is not None
        low, high = scale
        if not low <= value <= high:
            return None, f"must be between {low} and {high}; got {value}"
        return value, None
    if question.type == "single":
        if not isinstance(value, str):
            return None, "must be one option id"
        if value not in question.option_ids():
            return None, f"{value[:40]!r} is not an option of this question"
        return value, None
    if question.type == "multiple":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None, "must be a list of option ids"
        offered = question.option_ids()
        unknown = [v for v in value if v not in offered]
        if unknown:
            return None, f"{unknown[0][:40]!r} is not an option of this question"
        # Stored in the order the options are offered, each once.
        return [o for o in offered if o in set(value)], None
    # text
    if not isinstance(value, str):
        return None, "must be text"
    try:
        text = storable_text(value).strip()
    except ValueError as exc:
        return None, str(exc)
    limit = question.max_length or DEFAULT_TEXT_LENGTH
    if len(text) > limit:
        return None, f"must be at most {limit} characters; got {len(text)}"
    return text, None


def validate_answers(
    definition: SurveyDefinition, answers: Mapping[str, Any], *, partial: bool
) -> dict[str, Any]:
    """The cleaned answers to the visible questions, in question order.

    Raises ValidationFailed with one error per field (``answers.<question id>``): unknown
    question, wrong type, out of range, option not offered, and, unless ``partial``, a
    required visible question left unanswered. Answers to questions hidden by branching are
    dropped (see the module docstring).
    """
    if not isinstance(answers, Mapping):
        raise ValidationFailed(
            "answers must be an object of question id → answer.",
            errors=[_error("answers", "must be an object")],
        )
    errors: list[dict[str, Any]] = []
    known = {q.id for q in definition.questions}
    for key in answers:
        if key not in known:
            errors.append(_error(f"answers.{shown_key(key)}", "unknown question"))
    cleaned: dict[str, Any] = {}
    for question in definition.questions:
        if not is_visible(question, cleaned):
            continue
        value = answers.get(question.id)
        if isinstance(value, str) and question.type != "text":
            value = value.strip() or None
        if _is_blank(value):
            if question.required and not partial:
                errors.append(_error(f"answers.{question.id}", "an answer is required"))
            continue
        clean, message = _clean_one(question, value)
        if message is not None:
            errors.append(_error(f"answers.{question.id}", message))
        elif not _is_blank(clean):
            cleaned[question.id] = clean
        elif question.required and not partial:
            errors.append(_error(f"answers.{question.id}", "an answer is required"))
    if errors:
        raise ValidationFailed(_summary("Some answers are invalid", errors), errors=errors)
    return cleaned


# --- scores, outcome and language ----------------------------------------------------------------


def headline_scores(
    definition: SurveyDefinition, answers: Mapping[str, Any]
) -> tuple[int | None, int | None, int | None]:
    """(nps, csat, ces): the answer to the first question of each kind, if answered."""
    found: dict[str, int | None] = {"nps": None, "csat": None, "ces": None}
    for question in definition.questions:
        if question.type in found and found[question.type] is None:
            value = answers.get(question.id)
            if isinstance(value, int) and not isinstance(value, bool):
                found[question.type] = value
    return found["nps"], found["csat"], found["ces"]


def outcome(definition: SurveyDefinition, answers: Mapping[str, Any]) -> Outcome:
    """Promoter, passive or detractor by the headline score, or default without one.

    NPS decides first (9–10, 7–8, 0–6); else CSAT (4–5, 3, 1–2); else CES, where a higher
    score means an easier experience (5–7, 4, 1–3).
    """
    nps, csat, ces = headline_scores(definition, answers)
    if nps is not None:
        return "promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor"
    if csat is not None:
        return "promoter" if csat >= 4 else "passive" if csat == 3 else "detractor"
    if ces is not None:
        return "promoter" if ces >= 5 else "passive" if ces == 4 else "detractor"
    return "default"


def language_of(locale: str | None) -> Language:
    """Korean for any ``ko`` locale (ko, ko-KR, ko_KR), English otherwise."""
    if locale and locale.strip().lower().replace("_", "-").split("-")[0] == "ko":
        return "ko"
    return "en"


def text_for(text: LocalText, locale: str | None) -> str:
    """The Korean or English ``text`` for a respondent's ``locale``."""
    return text.ko if language_of(locale) == "ko" else text.en


def thank_you_message(
    definition: SurveyDefinition, answers: Mapping[str, Any], locale: str | None
) -> tuple[Outcome, str]:
    """The outcome of these answers and the thank-you text to show for it."""
    result = outcome(definition, answers)
    messages = definition.thank_you
    chosen = getattr(messages, result) if result != "default" else None
    chosen = chosen or messages.default
    if chosen is None:
        return result, DEFAULT_THANKS[language_of(locale)]
    return result, text_for(chosen, locale)
