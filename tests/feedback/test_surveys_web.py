"""The team's survey pages through HTTP: the list, a new survey from a starter, the builder
(server-side add/remove/move, saving a live survey makes a version, field errors, preview in
both languages, status changes), the distribution form, the response list and its filters,
roles and workspace isolation."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.timeutil import utcnow
from cxloop.feedback.responses import service as response_service
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import Event, Response, Survey, SurveyVersion, User, Workspace
from tests.factories import make_customer, make_user, make_workspace, unique
from tests.helpers.respondent import respondent_definition
from tests.helpers.web import flashes, get, login, post, text_of


@pytest.fixture
def workspace(session: Session) -> Workspace:
    return make_workspace(session, name=unique("설문 상점 "))


@pytest.fixture
def owner(session: Session, workspace: Workspace) -> User:
    return make_user(session, workspace=workspace, role="owner", locale="ko")


@pytest.fixture
def signed_in(client: TestClient, owner: User) -> TestClient:
    assert login(client, owner.email).status_code == 303
    return client


def make_survey(
    session: Session,
    workspace: Workspace,
    *,
    status: str = "draft",
    name: str = "구매 후 설문",
    kind: str = "nps",
    definition: dict[str, Any] | None = None,
) -> Survey:
    survey = survey_service.create_survey(
        session,
        workspace_id=workspace.id,
        key=unique("s-"),
        name=name,
        kind=kind,
        definition=definition or respondent_definition(),
        owner_team="cs",
    )
    if status != "draft":
        survey_service.set_status(session, survey=survey, status=status)
    session.flush()
    return survey


def answer(
    session: Session,
    survey: Survey,
    answers: dict[str, Any],
    *,
    customer_id: int | None = None,
    partial: bool = False,
) -> Response:
    response = response_service.submit_response(
        session, survey=survey, answers=answers, customer_id=customer_id, partial=partial
    )
    session.flush()
    return response


def builder_form(page_html: str) -> dict[str, Any]:
    """The builder form's fields as the browser would send them (without the buttons)."""
    form = re.search(
        r'<form method="post" action="/surveys/\d+" class="builder".*?</form>',
        page_html,
        flags=re.S,
    )
    assert form, page_html[:300]
    body = form.group(0)
    data: dict[str, Any] = {}
    for tag in re.finditer(r"<input [^>]*>", body):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', tag.group(0)))
        name = attrs.get("name")
        if not name or name == "csrf_token":
            continue
        if attrs.get("type") == "checkbox":
            if " checked" in tag.group(0):
                value = _unescape(attrs.get("value", "on"))
                if name in data:  # a group of boxes of one name posts each ticked one
                    data[name] = [*_as_list(data[name]), value]
                else:
                    data[name] = value
            continue
        data[name] = _unescape(attrs.get("value", ""))
    for tag in re.finditer(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', body, flags=re.S):
        data[tag.group(1)] = _unescape(tag.group(2))
    for tag in re.finditer(r'<select name="([^"]+)"[^>]*>(.*?)</select>', body, flags=re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', tag.group(2))
        first = re.search(r'<option value="([^"]*)"', tag.group(2))
        data[tag.group(1)] = _unescape((chosen or first).group(1)) if (chosen or first) else ""
    return data


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


# --- the list and a new survey -----------------------------------------------------------------


def test_the_list_shows_status_chips_counts_and_filters_by_status(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    live = make_survey(session, workspace, status="live", name="배송 만족도")
    make_survey(session, workspace, name="초안 설문")
    answer(session, live, {"nps": 9})
    answer(session, live, {"nps": 3, "why_low": "늦음"})
    answer(session, live, {"nps": 5}, partial=True)

    page = get(signed_in, "/surveys")

    assert page.status_code == 200
    row = re.search(rf"<tr>\s*<td><a href=\"/surveys/{live.id}\">.*?</tr>", page.text, re.S)
    assert row
    row_text = text_of_html(row.group(0))
    assert "배송 만족도" in row_text and "진행 중" in row_text
    assert "2 (작성 중 1)" in row_text
    only_drafts = text_of(get(signed_in, "/surveys?status=draft"))
    assert "초안 설문" in only_drafts and "배송 만족도" not in only_drafts
    assert '<a href="/surveys"' in get(signed_in, "/customers").text  # the nav entry


def text_of_html(fragment: str) -> str:
    import html

    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def test_the_list_is_paged(signed_in: TestClient, session: Session, workspace: Workspace) -> None:
    for i in range(31):
        make_survey(session, workspace, name=f"설문 {i:02d}")
    first = get(signed_in, "/surveys")
    assert first.text.count('<td><a href="/surveys/') == 30
    next_link = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert next_link
    second = get(signed_in, next_link.group(1).replace("&amp;", "&"))
    assert second.text.count('<td><a href="/surveys/') == 1
    assert "설문 00" in text_of(second)


@pytest.mark.parametrize(
    ("kind", "question_type", "ko", "en"),
    [
        ("nps", "nps", "추천할 가능성", "How likely are you to recommend"),
        ("csat", "csat", "얼마나 만족", "How satisfied"),
        ("ces", "ces", "얼마나 쉬웠나요", "How easy"),
        ("custom", "single", "어떤 일로 연락", "What did you contact us about"),
    ],
    ids=["nps", "csat", "ces", "custom"],
)
def test_a_new_survey_starts_from_a_starter_in_both_languages(
    signed_in: TestClient,
    session: Session,
    workspace: Workspace,
    kind: str,
    question_type: str,
    ko: str,
    en: str,
) -> None:
    reply = post(signed_in, "/surveys/new", {"kind": kind, "name": "새 설문", "key": ""})
    assert reply.status_code == 303, reply.text
    survey = session.scalar(select(Survey).where(Survey.workspace_id == workspace.id))
    assert survey is not None
    assert reply.headers["location"] == f"/surveys/{survey.id}"
    assert (survey.kind, survey.status, survey.name) == (kind, "draft", "새 설문")
    definition = survey_service.current_definition(session, survey=survey)
    first = definition.questions[0]
    assert first.type == question_type
    assert ko in first.text.ko and en in first.text.en
    builder = get(signed_in, reply.headers["location"])
    assert ko in text_of(builder)


def test_a_new_survey_with_bad_fields_shows_them(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    taken = make_survey(session, workspace)
    reply = post(signed_in, "/surveys/new", {"kind": "poll", "name": "", "key": "Bad Key"})
    assert reply.status_code == 422
    assert "설문 종류를 고르세요." in text_of(reply)
    assert "이름을 1–200자로 입력하세요." in text_of(reply)
    assert "키는 영문 소문자" in text_of(reply)
    dup = post(signed_in, "/surveys/new", {"kind": "nps", "name": "x", "key": taken.key})
    assert dup.status_code == 422
    assert "already exists" in text_of(dup)


# --- the builder -------------------------------------------------------------------------------


def test_saving_a_live_survey_makes_a_new_version_and_keeps_answers(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    survey = make_survey(session, workspace, status="live")
    old = answer(session, survey, {"nps": 2, "why_low": "배송 지연"})
    page = get(signed_in, f"/surveys/{survey.id}")
    assert "새 버전(v2)이 되며, 이미 받은 응답은 원래 버전 그대로 유지됩니다" in text_of(page)
    data = builder_form(page.text)
    assert data["questions-0-text_ko"] == "친구에게 추천하시겠어요?"
    data["questions-0-text_ko"] = "저희를 추천하시겠어요?"
    data["name"] = "구매 후 설문 (개정)"

    saved = post(signed_in, f"/surveys/{survey.id}", {**data, "action": "save"})

    assert saved.status_code == 303, text_of(saved)
    session.expire_all()
    assert (survey.current_version, survey.name) == (2, "구매 후 설문 (개정)")
    versions = session.scalars(
        select(SurveyVersion).where(SurveyVersion.survey_id == survey.id)
    ).all()
    assert sorted(v.number for v in versions) == [1, 2]
    assert survey_service.current_definition(session, survey=survey).questions[0].text.ko == (
        "저희를 추천하시겠어요?"
    )
    # everything else came through the form unchanged
    first = survey_service.get_version(session, survey=survey, number=1).definition
    second = survey_service.get_version(session, survey=survey, number=2).definition
    first["questions"][0]["text"]["ko"] = "저희를 추천하시겠어요?"
    assert second == first
    session.refresh(old)
    assert (old.version, old.answers) == (1, {"nps": 2, "why_low": "배송 지연"})
    assert flashes(get(signed_in, f"/surveys/{survey.id}")) == [
        ("success", "저장했습니다. 이제 버전 2이 응답자에게 보입니다.")
    ]

    # saving the same again makes no version
    again = builder_form(get(signed_in, f"/surveys/{survey.id}").text)
    post(signed_in, f"/surveys/{survey.id}", {**again, "action": "save"})
    session.expire_all()
    assert survey.current_version == 2


def test_the_form_round_trips_the_definition_exactly(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    survey = make_survey(session, workspace)
    data = builder_form(get(signed_in, f"/surveys/{survey.id}").text)
    assert post(signed_in, f"/surveys/{survey.id}", {**data, "action": "save"}).status_code == 303
    session.expire_all()
    assert survey.current_version == 1  # nothing changed, so no version
    # a choice a row, in separate fields, and two empty rows for new ones
    assert data["questions-2-opt_count"] == "4"
    assert [
        (data[f"questions-2-opt-{j}-id"], data[f"questions-2-opt-{j}-ko"]) for j in range(4)
    ] == [("speed", "빠른 배송"), ("staff", "친절한 상담"), ("", ""), ("", "")]
    assert data["questions-2-opt-1-en"] == "Kind staff"
    assert (data["questions-1-cond_question"], data["questions-1-cond_op"]) == ("nps", "<=")
    assert data["questions-1-cond_value"] == "6"
    assert data["hidden_fields"] == "order_id, touchpoint"


def test_questions_are_added_moved_and_removed_on_the_server_without_saving(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    survey = make_survey(session, workspace)
    data = builder_form(get(signed_in, f"/surveys/{survey.id}").text)

    added = post(signed_in, f"/surveys/{survey.id}", {**data, "action": "add"})
    assert added.status_code == 200
    data = builder_form(added.text)
    assert data["question_count"] == "4"
    assert (data["questions-3-id"], data["questions-3-type"]) == ("q4", "text")

    data.update(
        {
            "questions-3-type": "single",
            "questions-3-text_ko": "다시 구매하시겠어요?",
            "questions-3-text_en": "Would you buy again?",
            "questions-3-opt_count": "2",
            "questions-3-opt-0-id": "yes",
            "questions-3-opt-0-ko": "네",
            "questions-3-opt-0-en": "Yes",
            "questions-3-opt-1-id": "no",
            "questions-3-opt-1-ko": "아니요",
            "questions-3-opt-1-en": "No",
        }
    )
    moved = builder_form(post(signed_in, f"/surveys/{survey.id}", {**data, "action": "up-3"}).text)
    assert [moved[f"questions-{i}-id"] for i in range(4)] == ["nps", "why_low", "q4", "liked"]
    removed = builder_form(
        post(signed_in, f"/surveys/{survey.id}", {**moved, "action": "remove-0"}).text
    )
    # the branch on the removed question is dropped with it
    assert [removed[f"questions-{i}-id"] for i in range(3)] == ["why_low", "q4", "liked"]
    assert removed["questions-0-cond_question"] == ""
    session.expire_all()
    assert survey.current_version == 1  # nothing saved yet

    saved = post(signed_in, f"/surveys/{survey.id}", {**moved, "action": "save"})
    assert saved.status_code == 303
    session.expire_all()
    definition = survey_service.current_definition(session, survey=survey)
    assert [q.id for q in definition.questions] == ["nps", "why_low", "q4", "liked"]
    assert definition.questions[2].option_ids() == ["yes", "no"]


def test_mistakes_are_shown_next_to_their_fields(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    survey = make_survey(session, workspace)
    data = builder_form(get(signed_in, f"/surveys/{survey.id}").text)
    data.update(
        {
            "questions-0-text_en": "",
            "questions-2-opt-1-id": "",
            "questions-2-opt-1-ko": "",
            "questions-2-opt-1-en": "",
            "questions-1-cond_op": "==",
            "questions-1-cond_value": "99",
            "name": "",
        }
    )
    reply = post(signed_in, f"/surveys/{survey.id}", {**data, "action": "save"})
    assert reply.status_code == 422
    assert "이름을 1–200자로 입력하세요." in text_of(reply)

    data["name"] = "이름"
    reply = post(signed_in, f"/surveys/{survey.id}", {**data, "action": "save"})
    assert reply.status_code == 422

    def errors_in(card: int) -> str:
        block = re.search(
            rf'<fieldset class="card question-card" id="question-{card}".*?</fieldset>',
            reply.text,
            flags=re.S,
        )
        assert block
        return " ".join(re.findall(r'class="field-error"[^>]*>([^<]*)<', block.group(0)))

    # the shape first (a missing text), then the rules between questions
    assert "1자 이상 입력하세요." in errors_in(0)  # in the user's language, not pydantic's
    data["questions-0-text_en"] = "Would you recommend us?"
    reply = post(signed_in, f"/surveys/{survey.id}", {**data, "action": "save"})
    assert reply.status_code == 422
    assert errors_in(0) == ""
    assert "99은(는)" in errors_in(1) and "척도(0–10)를 벗어납니다." in errors_in(1)
    assert "선택형 질문에는 보기가 2개 이상 필요합니다." in errors_in(2)
    assert "질문에 고칠 점이 있어" in text_of(reply)  # no preview of a broken draft
    session.expire_all()
    assert survey.current_version == 1 and survey.name == "구매 후 설문"


def test_a_choice_without_a_code_gets_one_from_its_label_and_given_codes_stay(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    survey = make_survey(session, workspace)
    data = builder_form(get(signed_in, f"/surveys/{survey.id}").text)
    data.update(
        {
            "questions-2-opt-0-ko": "아주 빠른 배송",  # a relabelled choice keeps its code
            "questions-2-opt-2-ko": "꼼꼼한 포장",
            "questions-2-opt-2-en": "Careful packing!",
            "questions-2-opt-3-ko": "선물 포장",
            "questions-2-opt-3-en": "선물",  # no English word to make a code of
        }
    )

    saved = post(signed_in, f"/surveys/{survey.id}", {**data, "action": "save"})

    assert saved.status_code == 303, text_of(saved)
    session.expire_all()
    question = survey_service.current_definition(session, survey=survey).questions[2]
    assert [(o.id, o.label.ko, o.label.en) for o in question.options or []] == [
        ("speed", "아주 빠른 배송", "Fast delivery"),
        ("staff", "친절한 상담", "Kind staff"),
        ("careful_packing", "꼼꼼한 포장", "Careful packing!"),
        ("choice_4", "선물 포장", "선물"),
    ]


def condition_survey(session: Session, workspace: Workspace) -> Survey:
    """The respondent survey with a fourth question asked of those who liked the delivery."""
    definition = respondent_definition()
    definition["questions"].append(
        {
            "id": "delivery_note",
            "type": "text",
            "text": {"ko": "배송에서 무엇이 좋았나요?", "en": "What was good about it?"},
            "show_if": {"question": "liked", "op": "in", "value": ["speed", "staff"]},
        }
    )
    return make_survey(session, workspace, name="조건 설문", definition=definition)


def test_a_condition_is_picked_in_words_and_round_trips(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    survey = condition_survey(session, workspace)
    page = get(signed_in, f"/surveys/{survey.id}")
    card = page.text.split('id="question-3"', 1)[1].split('value="add"', 1)[0]
    # the earlier question by its text, the comparisons in words, the value among its choices
    assert '<option value="liked" selected>3. 좋았던 점</option>' in card
    assert '<option value="in" selected>다음 중 하나라도 선택</option>' in card
    assert '<option value="==">선택함</option>' in card and "&lt;=" not in card
    assert 'name="questions-3-cond_choice" value="speed" checked> 빠른 배송' in card
    why_low = page.text.split('id="question-1"', 1)[1].split('id="question-2"', 1)[0]
    assert '<option value="&lt;=" selected>이하</option>' in why_low
    assert '<option value="&gt;=">이상</option>' in why_low

    data = builder_form(page.text)
    assert data["questions-3-cond_choice"] == ["speed", "staff"]
    saved = post(signed_in, f"/surveys/{survey.id}", {**data, "action": "save"})
    assert saved.status_code == 303
    session.expire_all()
    assert survey.current_version == 1  # the same definition: no new version

    data.update({"questions-3-cond_op": "==", "questions-3-cond_choice": "staff"})
    assert post(signed_in, f"/surveys/{survey.id}", {**data, "action": "save"}).status_code == 303
    session.expire_all()
    show_if = survey_service.current_definition(session, survey=survey).questions[3].show_if
    assert show_if is not None
    assert (show_if.question, show_if.op, show_if.value) == ("liked", "==", "staff")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"questions-3-cond_op": "==", "questions-3-cond_choice": ["speed", "staff"]},
            "'선택함'에는 보기를 하나만 고르세요.",
        ),
        ({"questions-3-cond_choice": []}, "조건의 보기를 하나 이상 고르세요."),
        ({"questions-1-cond_value": ""}, "조건의 값을 입력하세요."),
        ({"questions-1-cond_value": "열"}, "숫자로 답하므로 조건 값도 숫자여야 합니다."),
    ],
    ids=["two-choices-for-is", "no-choice", "no-score", "score-in-words"],
)
def test_an_incomplete_condition_is_refused_in_words_and_nothing_is_saved(
    signed_in: TestClient,
    session: Session,
    workspace: Workspace,
    change: dict[str, Any],
    message: str,
) -> None:
    survey = condition_survey(session, workspace)
    data = builder_form(get(signed_in, f"/surveys/{survey.id}").text)
    data["name"] = "바뀐 이름"

    reply = post(signed_in, f"/surveys/{survey.id}", {**data, **change, "action": "save"})

    assert reply.status_code == 422
    shown = re.findall(r'class="field-error"[^>]*>([^<]*)<', reply.text)
    assert message in _unescape(" ".join(shown))
    session.expire_all()
    assert (survey.current_version, survey.name) == (1, "조건 설문")


@pytest.mark.parametrize(
    ("kind", "question_type", "words", "not_words"),
    [
        ("nps", "nps", ["추천 고객", "중립 고객", "비추천 고객"], ["만족 고객"]),
        ("csat", "csat", ["만족 고객", "보통", "불만족 고객"], ["추천 고객", "중립 고객"]),
        ("ces", "ces", ["쉬웠음", "보통", "어려웠음"], ["추천 고객"]),
    ],
    ids=["nps", "csat", "ces"],
)
def test_the_thank_you_groups_are_named_in_the_surveys_metric(
    signed_in: TestClient,
    session: Session,
    workspace: Workspace,
    kind: str,
    question_type: str,
    words: list[str],
    not_words: list[str],
) -> None:
    question = {"id": "score", "type": question_type, "text": {"ko": "점수", "en": "Score"}}
    survey = make_survey(session, workspace, kind=kind, definition={"questions": [question]})
    page = get(signed_in, f"/surveys/{survey.id}")
    labels = re.findall(r"<label>([^<·]*) · 한국어", page.text)
    assert labels == [*words, "기본"]
    assert not set(not_words) & set(labels)


def test_the_preview_shows_the_survey_in_both_languages_with_the_respondents_markup(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    survey = make_survey(session, workspace)
    page = get(signed_in, f"/surveys/{survey.id}")
    preview = page.text.split('id="preview"', 1)[1]
    assert "친구에게 추천하시겠어요?" in preview and "Would you recommend us?" in preview
    assert "전혀 추천하지 않음" in preview and "Not at all likely" in preview
    assert 'id="pv-ko-q-why_low"' in preview and 'id="pv-en-q-why_low"' in preview
    assert "data-show-if" in preview
    assert '<script src="/static/respond.js" defer></script>' in page.text


def test_publish_and_close_change_the_status(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    survey = make_survey(session, workspace)
    page = get(signed_in, f"/surveys/{survey.id}")
    assert 'data-confirm="이 설문을 게시할까요?' in page.text
    assert post(signed_in, f"/surveys/{survey.id}/status", {"status": "live"}).status_code == 303
    session.expire_all()
    assert survey.status == "live"
    answer(session, survey, {"nps": 10})
    post(signed_in, f"/surveys/{survey.id}/status", {"status": "closed"})
    session.expire_all()
    assert survey.status == "closed"
    refused = post(signed_in, f"/surveys/{survey.id}/status", {"status": "draft"})
    assert refused.status_code == 303
    assert [kind for kind, _ in flashes(get(signed_in, f"/surveys/{survey.id}"))] == [
        "success",
        "success",
        "error",
    ]
    session.expire_all()
    assert survey.status == "closed"


# --- distribution ------------------------------------------------------------------------------


def test_the_distribution_form_saves_settings_and_shows_the_public_link(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    survey = make_survey(session, workspace)
    page = get(signed_in, f"/surveys/{survey.id}/distribution")
    assert page.status_code == 200
    assert f"/p/{workspace.slug}/{survey.key}" in page.text
    reply = post(
        signed_in,
        f"/surveys/{survey.id}/distribution",
        {
            "channels": ["email", "widget"],
            "trigger_event": "Order Completed",
            "filter_count": "3",
            "filter-0-property": "total",
            "filter-0-op": ">=",
            "filter-0-value": "50000",
            "filter-1-property": "products.0.category",
            "filter-1-op": "in",
            "filter-1-value": "shoes, bags",
            "filter-2-property": "",
            "delay_value": "3",
            "delay_unit": "days",
            "sample_percent": "30",
            "expires_days": "14",
            "reminder_after_days": "",
            "public_link": "on",
        },
    )
    assert reply.status_code == 303, text_of(reply)
    session.expire_all()
    assert survey.distribution == {
        "channels": ["email", "widget"],
        "trigger": {
            "event": "Order Completed",
            "where": [
                {"property": "total", "op": ">=", "value": 50000},
                {"property": "products.0.category", "op": "in", "value": ["shoes", "bags"]},
            ],
        },
        "delay_minutes": 4320,
        "sample_rate": 0.3,
        "expires_days": 14,
        "reminder_after_days": None,
        "public_link": True,
    }
    again = get(signed_in, f"/surveys/{survey.id}/distribution")
    assert 'name="sample_percent" value="30"' in again.text
    assert 'name="delay_value" value="3"' in again.text
    assert '<option value="days" selected>' in again.text


def track(
    session: Session,
    workspace: Workspace,
    name: str,
    properties: dict[str, Any],
    *,
    hours_ago: int = 0,
) -> None:
    at = utcnow() - timedelta(hours=hours_ago)
    customer = make_customer(session, workspace=workspace)
    session.add(
        Event(
            workspace_id=workspace.id,
            customer_id=customer.id,
            message_id=unique("m-"),
            type="track",
            name=name,
            timestamp=at,
            received_at=at,
            properties=properties,
            context={},
        )
    )
    session.flush()


def test_trigger_filters_are_picked_from_the_events_recent_properties_in_words(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    survey = make_survey(session, workspace)
    order = {"total": 51000, "products": [{"category": "뷰티", "price": 12000}]}
    track(session, workspace, "Order Completed", order)  # the latest
    track(session, workspace, "Order Completed", {"total": 9000, "coupon": "W"}, hours_ago=2)
    other = make_workspace(session, name=unique("다른 상점 "))
    track(session, other, "Order Completed", {"secret_margin": 0.4})

    # the event is typed (or picked among the workspace's recent ones) and its properties load
    page = get(signed_in, f"/surveys/{survey.id}/distribution")
    assert '<option value="Order Completed">' in page.text
    loaded = post(
        signed_in,
        f"/surveys/{survey.id}/distribution",
        {"trigger_event": "Order Completed", "filter_count": "0", "action": "refresh"},
    )
    assert loaded.status_code == 200
    picker = re.search(
        r'<select name="filter-0-property"[^>]*>(.*?)</select>', loaded.text, flags=re.S
    )
    assert picker
    options = re.findall(r'<option value="([^"]*)">([^<]*)</option>', picker.group(1))
    assert options == [
        ("", "— 고르지 않음 —"),
        ("total", "total (예: 51000)"),
        ("coupon", "coupon (예: W)"),
        ("products.0.category", "products → 1번째 → category (예: 뷰티)"),
        ("products.0.price", "products → 1번째 → price (예: 12000)"),
    ]  # the most common first; another workspace's events are not read
    assert "secret_margin" not in loaded.text
    # empty rows hold no example that looks like a filter; comparisons are words
    assert 'placeholder="50000"' not in loaded.text and 'placeholder="total"' not in loaded.text
    assert '<option value="&gt;=">이상</option>' in loaded.text
    session.expire_all()
    assert survey.distribution.get("trigger") is None  # loading the properties saved nothing

    saved = post(
        signed_in,
        f"/surveys/{survey.id}/distribution",
        {
            "channels": ["email"],
            "trigger_event": "Order Completed",
            "filter_count": "2",
            "filter-0-property": "products.0.category",
            "filter-0-op": "==",
            "filter-0-value": "뷰티",
            "filter-1-property": "",
            "filter-1-op": "==",
            "filter-1-value": "",
            "action": "save",
        },
    )
    assert saved.status_code == 303
    session.expire_all()
    assert survey.distribution["trigger"] == {
        "event": "Order Completed",
        "where": [{"property": "products.0.category", "op": "==", "value": "뷰티"}],
    }
    again = get(signed_in, f"/surveys/{survey.id}/distribution").text
    assert (
        '<option value="products.0.category" selected>products → 1번째 → category (예: 뷰티)'
        in again
    )


def test_a_trigger_event_without_records_takes_a_typed_property(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    survey = make_survey(session, workspace)
    page = post(
        signed_in,
        f"/surveys/{survey.id}/distribution",
        {"trigger_event": "Refund Requested", "filter_count": "0", "action": "refresh"},
    )
    assert '<input type="text" name="filter-0-property" value=""' in page.text
    assert "이 이벤트의 기록이 아직 없어" in text_of(page)


def test_bad_distribution_settings_are_shown_by_field(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    survey = make_survey(session, workspace)
    before = dict(survey.distribution)
    reply = post(
        signed_in,
        f"/surveys/{survey.id}/distribution",
        {
            "channels": ["fax"],
            "sample_percent": "150",
            "expires_days": "soon",
            "delay_value": "1",
            "delay_unit": "days",
        },
    )
    assert reply.status_code == 422
    errors = re.findall(r'class="field-error"[^>]*>([^<]*)<', reply.text)
    assert len(errors) == 3, errors
    # in the form's own terms (a percentage, not the stored rate) and in Korean
    assert "0에서 100 사이의 비율(%)을 입력하세요." in errors
    assert "정수를 입력하세요." in errors
    assert 'name="sample_percent" value="150"' in reply.text  # the typed value stays
    session.expire_all()
    assert survey.distribution == before


# --- responses ---------------------------------------------------------------------------------


def test_the_response_list_shows_verbatims_and_filters(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    survey = make_survey(session, workspace, status="live")
    customer = make_customer(session, workspace=workspace)
    answer(session, survey, {"nps": 2, "why_low": "배송이 너무 느려요"}, customer_id=customer.id)
    answer(session, survey, {"nps": 10, "liked": ["staff"]})
    answer(session, survey, {"nps": 5, "why_low": "포장이 100% 찢어짐"})
    answer(session, survey, {"nps": 4}, partial=True)

    page = get(signed_in, f"/surveys/{survey.id}/responses")
    assert page.status_code == 200
    assert page.text.count('class="verbatim"') == 4
    assert '<blockquote class="verbatim-text">배송이 너무 느려요</blockquote>' in page.text
    assert '<span class="score-chip detractor" title="NPS">NPS 2</span>' in page.text
    assert '<span class="score-chip promoter" title="NPS">NPS 10</span>' in page.text
    assert f'<a href="/customers/{customer.id}">' in page.text
    # a choice answer reads as the option the respondent picked, in the reader's language
    assert "<dd>친절한 상담</dd>" in page.text and "<dd>staff</dd>" not in page.text

    def shown(query: str) -> list[str]:
        reply = get(signed_in, f"/surveys/{survey.id}/responses?{query}")
        assert reply.status_code == 200
        return re.findall(r'title="NPS">NPS (\d+)<', reply.text)

    assert shown("score_max=5") == ["4", "5", "2"]
    assert shown("score_min=5&score_max=10") == ["5", "10"]
    assert shown("state=partial") == ["4"]
    assert shown("state=completed&comment=yes") == ["5", "2"]
    assert shown("comment=no") == ["4", "10"]
    assert shown("q=느려") == ["2"]
    assert shown("q=100%25") == ["5"]  # % is a literal, not a wildcard
    assert shown("q=%25%25%25") == []
    today = (utcnow() + timedelta(hours=9)).date()
    assert len(shown(f"since={today - timedelta(days=1)}&until={today + timedelta(days=1)}")) == 4
    assert shown(f"until={today - timedelta(days=2)}") == []
    assert shown("score_min=abc&since=garbage&cursor=") == ["4", "5", "10", "2"]
    assert get(signed_in, f"/surveys/{survey.id}/responses?cursor=forged").status_code == 422


# --- roles and workspaces ----------------------------------------------------------------------


def test_a_viewer_reads_surveys_but_cannot_change_them(
    client: TestClient, session: Session, workspace: Workspace
) -> None:
    survey = make_survey(session, workspace)
    viewer = make_user(session, workspace=workspace, role="viewer", locale="en")
    assert login(client, viewer.email).status_code == 303
    page = get(client, f"/surveys/{survey.id}")
    assert page.status_code == 200
    assert 'value="save"' not in page.text and "New survey" not in text_of(get(client, "/surveys"))
    data = builder_form(page.text)
    for path, form in [
        (f"/surveys/{survey.id}", {**data, "action": "save", "name": "hacked"}),
        (f"/surveys/{survey.id}/status", {"status": "live"}),
        (f"/surveys/{survey.id}/distribution", {"public_link": "on"}),
        ("/surveys/new", {"kind": "nps", "name": "x"}),
    ]:
        assert post(client, path, form).status_code == 403, path
    assert get(client, "/surveys/new").status_code == 403
    session.expire_all()
    assert (survey.name, survey.status) == ("구매 후 설문", "draft")


def test_another_workspaces_survey_is_not_found(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    other = make_workspace(session, name=unique("남의 상점 "))
    theirs = make_survey(session, other, name="남의 설문")
    for path in (
        f"/surveys/{theirs.id}",
        f"/surveys/{theirs.id}/distribution",
        f"/surveys/{theirs.id}/responses",
        "/surveys/99999999999",
    ):
        assert get(signed_in, path).status_code == 404, path
    assert post(signed_in, f"/surveys/{theirs.id}/status", {"status": "live"}).status_code == 404
    assert "남의 설문" not in get(signed_in, "/surveys").text
    session.expire_all()
    assert theirs.status == "draft"


def test_pages_need_a_signed_in_user(client: TestClient) -> None:
    reply = client.get("/surveys", headers={"Accept": "text/html"}, follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/login")
