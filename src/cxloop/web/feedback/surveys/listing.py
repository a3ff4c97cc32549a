"""The survey list and a new survey from a starter (NPS, CSAT, CES or custom, in Korean and
English)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from cxloop.accounts.access import require
from cxloop.core.errors import Conflict, ValidationFailed
from cxloop.feedback.responses import summaries as response_summaries
from cxloop.feedback.surveys import service as survey_service
from cxloop.models.feedback import SURVEY_KINDS, SURVEY_STATUSES
from cxloop.web import errors
from cxloop.web.feedback.surveys.shared import _survey_problems
from cxloop.web.rendering import redirect, render
from cxloop.web.session import Page, WebContext, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

LIST_PAGE = 30


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


# --- the list and a new survey -----------------------------------------------------------------


@router.get("/surveys")
def survey_list(page: Page, status: str = "", cursor: str = "") -> Response:
    """The workspace's surveys: status chips, response counts, the latest answer."""
    require(page.principal, "surveys:read")
    status = status if status in SURVEY_STATUSES else ""
    rows, next_cursor = survey_service.list_surveys(
        page.db,
        workspace_id=page.workspace.id,
        status=status or None,
        cursor=cursor[:500] or None,
        limit=LIST_PAGE,
    )
    counts = response_summaries.response_counts(
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
            survey = survey_service.create_survey(
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
