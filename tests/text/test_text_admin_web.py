"""Text analytics administration through the web UI: sentiment and category tags beside survey
comments (response list, customer 360, follow-up board) in Korean and English, correcting them
through the tag's form, the taxonomy editor, the model page with retraining and activation,
roles and workspace isolation."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from huey import Huey
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.feedback import texts as survey_texts
from cxloop.feedback.responses import service as response_service
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import (
    AuditEntry,
    Survey,
    TextAnalysis,
    TextCategory,
    TextCorrection,
    TextModelRun,
    User,
    Workspace,
)
from cxloop.text.registry import service as text_registry
from cxloop.text.store import service as text_store
from cxloop.text.taxonomy import service as text_taxonomy
from cxloop.text.training import service as retrain
from cxloop.text.training import tasks as text_tasks
from tests.factories import held_jobs, make_customer, make_user, make_workspace, unique
from tests.helpers.text import LATE, definition
from tests.helpers.web import flashes, get, login, post, text_of

KIND = "상담원분이 정말 친절하게 도와주셨어요 감사합니다"


@dataclass
class Shop:
    workspace: Workspace
    owner: User
    survey: Survey
    customer_id: int
    late_id: int  # response ids
    kind_id: int

    def analysis(self, session: Session, response_id: int) -> TextAnalysis:
        session.expire_all()
        return session.scalars(
            select(TextAnalysis).where(
                TextAnalysis.workspace_id == self.workspace.id,
                TextAnalysis.source_id == response_id,
            )
        ).one()


def make_shop(session: Session, *, locale: str = "ko") -> Shop:
    """A workspace with an owner, a live NPS survey of one customer's two analysed comments
    (an unhappy one about delivery that opened a follow-up, a happy one about service)."""
    workspace = make_workspace(session, name=unique("텍스트 상점 "))
    owner = make_user(session, workspace=workspace, role="owner", locale=locale)
    survey = survey_service.create_survey(
        session,
        workspace_id=workspace.id,
        key=unique("nps-"),
        name="구매 후 설문",
        kind="nps",
        definition=definition(),
        owner_team="cs",
    )
    survey_service.set_status(session, survey=survey, status="live")
    customer = make_customer(session, workspace=workspace)
    ids = []
    for nps, comment in ((2, LATE), (10, KIND)):
        response = response_service.submit_response(
            session,
            survey=survey,
            answers={"nps": nps, "comment": comment},
            customer_id=customer.id,
        )
        session.flush()
        ids.append(response.id)
    text_store.analyse_and_store(
        session,
        workspace_id=workspace.id,
        source_type=survey_texts.SOURCE,
        items=survey_texts.survey_texts.fetch(session, workspace_id=workspace.id, ids=ids),
    )
    session.flush()
    return Shop(workspace, owner, survey, customer.id, ids[0], ids[1])


@pytest.fixture
def shop(session: Session) -> Shop:
    return make_shop(session)


def sign_in(client: TestClient, user: User) -> TestClient:
    assert login(client, user.email).status_code == 303
    return client


def member(session: Session, shop: Shop, role: str, locale: str = "ko") -> User:
    user = make_user(session, workspace=shop.workspace, role=role, locale=locale)
    session.flush()
    return user


def tags_block(html: str, analysis_id: int) -> str:
    """The HTML of one text's tags (up to the end of its correction form, if any)."""
    match = re.search(
        rf'<div class="text-tags" id="text-{analysis_id}".*?(?=<div class="text-tags"|</li>)',
        html,
        flags=re.S,
    )
    assert match, f"no tags for analysis {analysis_id}"
    return match.group(0)


def correct_form(shop: Shop, analysis: TextAnalysis, **fields: Any) -> dict[str, Any]:
    return {
        "next": f"/surveys/{shop.survey.id}/responses",
        "categories_shown": "1",
        "sentiment": analysis.sentiment,
        "categories": list(analysis.categories),
        **fields,
    }


# --- tags --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "negative", "positive", "delivery", "service", "correct"),
    [
        ("ko", "부정", "긍정", "배송", "고객 서비스", "태그 수정"),
        ("en", "Negative", "Positive", "Delivery", "Customer service", "Correct tags"),
    ],
    ids=["korean", "english"],
)
def test_tags_show_beside_each_comment_in_the_readers_language(
    client: TestClient,
    session: Session,
    locale: str,
    negative: str,
    positive: str,
    delivery: str,
    service: str,
    correct: str,
) -> None:
    shop = make_shop(session, locale=locale)
    late, kind = shop.analysis(session, shop.late_id), shop.analysis(session, shop.kind_id)
    assert (late.sentiment, kind.sentiment) == ("negative", "positive")
    sign_in(client, shop.owner)

    page = get(client, f"/surveys/{shop.survey.id}/responses")

    assert page.status_code == 200
    late_tags, kind_tags = tags_block(page.text, late.id), tags_block(page.text, kind.id)
    assert 'class="tt-chip tt-sent tt-negative"' in late_tags
    assert re.search(rf'tt-negative".*?{negative}</span>', late_tags, re.S)
    assert 'data-category="delivery"><span class="sr-only">' in late_tags
    assert delivery in text_of_html(late_tags)
    assert 'class="tt-chip tt-sent tt-positive"' in kind_tags
    assert positive in text_of_html(kind_tags) and service in text_of_html(kind_tags)
    assert "tt-corrected" not in late_tags + kind_tags
    # The owner may correct: the form offers every active category, the current ones checked.
    assert f"<summary>{correct}</summary>" in late_tags
    assert late_tags.count('type="checkbox" name="categories"') == 8
    assert 'value="delivery" checked' in late_tags
    assert 'value="negative" checked' in late_tags


def text_of_html(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))


def test_tags_show_on_the_customer_360_page_and_the_follow_up_board(
    client: TestClient, session: Session, shop: Shop
) -> None:
    late = shop.analysis(session, shop.late_id)
    kind = shop.analysis(session, shop.kind_id)
    sign_in(client, shop.owner)

    customer = get(client, f"/customers/{shop.customer_id}")
    assert customer.status_code == 200
    answers = customer.text.split('id="answers"', 1)[1].split('id="timeline"', 1)[0]
    assert f'id="text-{late.id}"' in answers and f'id="text-{kind.id}"' in answers
    assert "tt-negative" in tags_block(answers, late.id)

    board = get(client, "/follow-ups")
    assert board.status_code == 200
    # Only the unhappy answer opened a follow-up: its card carries its tags.
    assert f'id="text-{late.id}"' in board.text
    assert f'id="text-{kind.id}"' not in board.text
    follow_up_id = re.search(r'href="/follow-ups/(\d+)"', board.text)
    assert follow_up_id
    detail = get(client, f"/follow-ups/{follow_up_id.group(1)}")
    assert f'id="text-{late.id}"' in detail.text


# --- corrections -------------------------------------------------------------------------------


def test_correcting_through_the_form_changes_the_analysis_and_the_page(
    client: TestClient, session: Session, shop: Shop
) -> None:
    late = shop.analysis(session, shop.late_id)
    sign_in(client, shop.owner)

    # 1. The sentiment: only what changed is recorded.
    reply = post(
        client, f"/text/analyses/{late.id}/correct", correct_form(shop, late, sentiment="neutral")
    )
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/surveys/{shop.survey.id}/responses#text-{late.id}"
    late = shop.analysis(session, shop.late_id)
    assert (late.sentiment, late.corrected, late.categories) == (
        "neutral",
        ["sentiment"],
        ["delivery"],
    )
    corrections = session.scalars(
        select(TextCorrection).where(TextCorrection.analysis_id == late.id)
    ).all()
    assert [(c.field, c.previous, c.value, c.user_id) for c in corrections] == [
        ("sentiment", "negative", "neutral", shop.owner.id)
    ]
    audit = session.scalars(
        select(AuditEntry).where(
            AuditEntry.workspace_id == shop.workspace.id, AuditEntry.action == "text.correct"
        )
    ).one()
    assert (audit.target_type, audit.target_id, audit.actor_user_id) == (
        "text_analysis",
        str(late.id),
        shop.owner.id,
    )
    assert audit.detail == {"sentiment": {"from": "negative", "to": "neutral"}}

    page = get(client, f"/surveys/{shop.survey.id}/responses")
    assert flashes(page) == [("success", "태그를 수정했습니다. 다음 재학습에 반영됩니다.")]
    tags = tags_block(page.text, late.id)
    assert 'class="tt-chip tt-sent tt-neutral tt-corrected"' in tags
    assert "중립" in text_of_html(tags)

    # 2. The categories: delivery off, price and payment on (kept in taxonomy order).
    reply = post(
        client,
        f"/text/analyses/{late.id}/correct",
        correct_form(shop, late, categories=["payment_refund", "price"]),
    )
    assert reply.status_code == 303
    late = shop.analysis(session, shop.late_id)
    assert late.categories == ["price", "payment_refund"]
    assert late.corrected == ["sentiment", "categories"]
    tags = tags_block(get(client, f"/surveys/{shop.survey.id}/responses").text, late.id)
    assert 'data-category="delivery"' not in tags
    assert re.search(r'tt-cat tt-corrected" data-category="price"', tags)
    assert "결제/환불" in text_of_html(tags)

    # 3. No category at all is a correction too; the form always says its categories were shown.
    post(client, f"/text/analyses/{late.id}/correct", correct_form(shop, late, categories=[]))
    assert shop.analysis(session, shop.late_id).categories == []
    tags = tags_block(get(client, f"/surveys/{shop.survey.id}/responses").text, late.id)
    assert "분류 없음" in text_of_html(tags)

    # 4. Sending the form unchanged records nothing.
    late = shop.analysis(session, shop.late_id)
    before = len(session.scalars(select(TextCorrection.id)).all())
    reply = post(client, f"/text/analyses/{late.id}/correct", correct_form(shop, late))
    assert reply.status_code == 303
    assert len(session.scalars(select(TextCorrection.id)).all()) == before
    assert flashes(get(client, f"/surveys/{shop.survey.id}/responses")) == [
        ("info", "바뀐 내용이 없어 저장하지 않았습니다.")
    ]

    # The correction is a strong label for the next retraining.
    [label] = text_store.strong_labels(session, workspace_id=shop.workspace.id)
    assert (label.source_id, label.sentiment, label.categories) == (shop.late_id, "neutral", ())


def test_a_sentiment_correction_keeps_a_category_since_deactivated(
    client: TestClient, session: Session, shop: Shop
) -> None:
    late = shop.analysis(session, shop.late_id)
    delivery = category(session, shop, "delivery")
    assert delivery is not None
    text_taxonomy.update_category(session, category=delivery, active=False)
    session.flush()
    sign_in(client, shop.owner)
    form = correct_form(shop, late, sentiment="neutral", categories=[])  # delivery not offered
    assert post(client, f"/text/analyses/{late.id}/correct", form).status_code == 303
    late = shop.analysis(session, shop.late_id)
    assert (late.sentiment, late.categories, late.corrected) == (
        "neutral",
        ["delivery"],
        ["sentiment"],
    )


def test_the_form_returns_only_to_this_site(
    client: TestClient, session: Session, shop: Shop
) -> None:
    late = shop.analysis(session, shop.late_id)
    sign_in(client, shop.owner)
    reply = post(
        client,
        f"/text/analyses/{late.id}/correct",
        correct_form(shop, late, sentiment="positive", next="https://evil.example/x"),
    )
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/surveys#text-{late.id}"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sentiment": "great"}, "감정은 긍정, 중립, 부정 중 하나여야 합니다."),
        ({"categories": ["delivery", "no_such_thing"]}, "Unknown categories: no_such_thing."),
    ],
    ids=["unknown-sentiment", "unknown-category"],
)
def test_bad_corrections_say_why_and_change_nothing(
    client: TestClient, session: Session, shop: Shop, fields: dict[str, Any], message: str
) -> None:
    late = shop.analysis(session, shop.late_id)
    sign_in(client, shop.owner)
    reply = post(client, f"/text/analyses/{late.id}/correct", correct_form(shop, late, **fields))
    assert reply.status_code == 303
    assert flashes(get(client, f"/surveys/{shop.survey.id}/responses")) == [("error", message)]
    late = shop.analysis(session, shop.late_id)
    assert (late.sentiment, late.categories, late.corrected) == ("negative", ["delivery"], [])


def test_a_viewer_sees_tags_but_cannot_correct(
    client: TestClient, session: Session, shop: Shop
) -> None:
    late = shop.analysis(session, shop.late_id)
    sign_in(client, member(session, shop, "viewer"))

    page = get(client, f"/surveys/{shop.survey.id}/responses")
    tags = tags_block(page.text, late.id)
    assert "tt-negative" in tags
    assert "tt-fix" not in page.text and "/correct" not in page.text

    reply = post(client, f"/text/analyses/{late.id}/correct", correct_form(shop, late))
    assert reply.status_code == 403
    assert shop.analysis(session, shop.late_id).corrected == []


def test_an_agent_may_correct(client: TestClient, session: Session, shop: Shop) -> None:
    late = shop.analysis(session, shop.late_id)
    sign_in(client, member(session, shop, "agent"))
    assert "tt-fix" in get(client, f"/surveys/{shop.survey.id}/responses").text
    post(client, f"/text/analyses/{late.id}/correct", correct_form(shop, late, sentiment="neutral"))
    assert shop.analysis(session, shop.late_id).sentiment == "neutral"


def test_another_workspaces_analysis_cannot_be_corrected(
    client: TestClient, session: Session, shop: Shop
) -> None:
    other = make_shop(session)
    theirs = other.analysis(session, other.late_id)
    sign_in(client, shop.owner)
    for analysis_id in (theirs.id, 2**60, 0):
        reply = post(
            client,
            f"/text/analyses/{analysis_id}/correct",
            correct_form(shop, theirs, sentiment="positive"),
        )
        assert reply.status_code == 404, analysis_id
    assert other.analysis(session, other.late_id).sentiment == "negative"


# --- taxonomy ----------------------------------------------------------------------------------


def category(session: Session, shop: Shop, key: str) -> TextCategory | None:
    session.expire_all()
    return session.scalars(
        select(TextCategory).where(
            TextCategory.workspace_id == shop.workspace.id, TextCategory.key == key
        )
    ).one_or_none()


def test_the_taxonomy_lists_the_seeded_categories_read_only_for_a_viewer(
    client: TestClient, session: Session, shop: Shop
) -> None:
    sign_in(client, member(session, shop, "viewer", locale="en"))
    page = get(client, "/text/taxonomy")
    assert page.status_code == 200
    shown = text_of(page)
    for key, ko, en in (("delivery", "배송", "Delivery"), ("price", "가격", "Price")):
        assert f'id="cat-{key}"' in page.text
        assert ko in shown and en in shown
    assert "Only admins and analysts can change the taxonomy." in shown
    assert 'action="/text/taxonomy"' not in page.text
    assert "/deactivate" not in page.text
    reply = post(
        client, "/text/taxonomy", {"key": "shipping_box", "name_ko": "박스", "name_en": "Box"}
    )
    assert reply.status_code == 403
    assert get(client, "/text/taxonomy/delivery").status_code == 403
    assert category(session, shop, "shipping_box") is None


def test_creating_editing_and_deactivating_a_category(
    client: TestClient, session: Session, shop: Shop
) -> None:
    sign_in(client, member(session, shop, "analyst"))
    late = shop.analysis(session, shop.late_id)

    reply = post(
        client,
        "/text/taxonomy",
        {
            "key": "packaging",
            "name_ko": " 포장 ",
            "name_en": "Packaging",
            "seeds_ko": "포장, 박스\n뽁뽁이",
            "seeds_en": "Packaging, box",
        },
    )
    assert reply.status_code == 303 and reply.headers["location"] == "/text/taxonomy#cat-packaging"
    made = category(session, shop, "packaging")
    assert made is not None
    assert (made.name_ko, made.name_en, made.seeds_ko, made.seeds_en, made.active) == (
        "포장",
        "Packaging",
        ["포장", "박스", "뽁뽁이"],
        ["packaging", "box"],
        True,
    )
    page = get(client, "/text/taxonomy")
    assert flashes(page) == [("success", "'포장' 범주를 추가했습니다.")]
    assert 'id="cat-packaging"' in page.text
    # A new category is offered at once by the tags' correction form.
    responses = get(client, f"/surveys/{shop.survey.id}/responses").text
    assert 'value="packaging"' in tags_block(responses, late.id)

    # Edit the names and seeds.
    form = get(client, "/text/taxonomy/packaging")
    assert form.status_code == 200 and "뽁뽁이" in form.text
    reply = post(
        client,
        "/text/taxonomy/packaging",
        {"name_ko": "포장 상태", "name_en": "Packing", "seeds_ko": "포장", "seeds_en": ""},
    )
    assert reply.status_code == 303
    made = category(session, shop, "packaging")
    assert made is not None
    assert (made.name_ko, made.name_en, made.seeds_ko, made.seeds_en) == (
        "포장 상태",
        "Packing",
        ["포장"],
        [],
    )

    # Deactivate after a confirmation; the correction form stops offering it.
    confirm = get(client, "/text/taxonomy/packaging/deactivate")
    assert confirm.status_code == 200
    assert "'포장 상태' (packaging) 범주를 사용 중지할까요?" in text_of(confirm)
    assert post(client, "/text/taxonomy/packaging/deactivate").status_code == 303
    made = category(session, shop, "packaging")
    assert made is not None and made.active is False
    page = get(client, "/text/taxonomy")
    assert re.search(r'id="cat-packaging" class="tx-inactive"', page.text)
    assert (
        "packaging"
        not in text_taxonomy.workspace_taxonomy(session, workspace_id=shop.workspace.id).keys
    )
    responses = get(client, f"/surveys/{shop.survey.id}/responses").text
    assert 'value="packaging"' not in tags_block(responses, late.id)

    # And back on.
    assert post(client, "/text/taxonomy/packaging/activate").status_code == 303
    made = category(session, shop, "packaging")
    assert made is not None and made.active is True
    actions = session.scalars(
        select(AuditEntry.action)
        .where(
            AuditEntry.workspace_id == shop.workspace.id, AuditEntry.target_type == "text_category"
        )
        .order_by(AuditEntry.id)
    ).all()
    assert actions == [
        "text_category.create",
        "text_category.update",
        "text_category.deactivate",
        "text_category.activate",
    ]


def field_errors(page: str) -> dict[str, str]:
    found = re.findall(
        r'<span class="field-error" role="alert" id="err-(\w+)">([^<]*)</span>', page
    )
    return {name: html.unescape(message) for name, message in found}


def test_a_bad_new_category_is_a_422_with_each_error_beside_its_field(
    client: TestClient, session: Session, shop: Shop
) -> None:
    sign_in(client, shop.owner)
    reply = post(
        client,
        "/text/taxonomy",
        {
            "key": "Bad Key",
            "name_ko": "  ",
            "name_en": "Fine",
            "seeds_ko": "가" * 51,
            "seeds_en": "ok",
        },
    )
    assert reply.status_code == 422
    assert field_errors(reply.text) == {
        "key": "키는 영문 소문자로 시작하고 영문 소문자, 숫자, _ 만 쓸 수 있습니다 (2–64자).",
        "name_ko": "이름은 1–100자로 입력하세요.",
        "seeds_ko": "시드 하나는 50자 이하여야 합니다.",
    }
    # What was typed stays in the form, and the fields say they are invalid.
    assert 'name="key" value="Bad Key"' in reply.text
    assert 'name="name_en" value="Fine"' in reply.text
    assert 'aria-invalid="true" aria-describedby="err-key"' in reply.text
    assert category(session, shop, "Bad Key") is None

    taken = post(client, "/text/taxonomy", {"key": "delivery", "name_ko": "배송2", "name_en": "D2"})
    assert taken.status_code == 409
    assert field_errors(taken.text) == {
        "key": "'delivery' 범주가 이미 있습니다. 목록에서 편집하세요."
    }
    delivery = category(session, shop, "delivery")
    assert delivery is not None and delivery.name_ko == "배송"

    too_many = post(
        client,
        "/text/taxonomy/delivery",
        {"name_ko": "배송", "name_en": "", "seeds_ko": ",".join(f"s{i}" for i in range(201))},
    )
    assert too_many.status_code == 422
    assert field_errors(too_many.text) == {
        "name_en": "이름은 1–100자로 입력하세요.",
        "seeds_ko": "시드는 언어별로 200개까지입니다.",
    }
    assert get(client, "/text/taxonomy/no_such_key").status_code == 404
    assert get(client, "/text/taxonomy/Bad-Key!").status_code == 404


def test_taxonomies_are_per_workspace(client: TestClient, session: Session, shop: Shop) -> None:
    other = make_shop(session)
    sign_in(client, shop.owner)
    post(client, "/text/taxonomy", {"key": "ours_only", "name_ko": "우리", "name_en": "Ours"})
    assert category(session, shop, "ours_only") is not None
    client.cookies.clear()
    sign_in(client, other.owner)
    assert "ours_only" not in get(client, "/text/taxonomy").text
    assert get(client, "/text/taxonomy/ours_only").status_code == 404


# --- models ------------------------------------------------------------------------------------


@pytest.fixture
def waiting_jobs() -> Iterator[Huey]:
    """The training job waits in the queue: the tests look at the queued run, or train it."""
    with held_jobs() as huey:
        yield huey


def test_the_model_page_shows_the_shipped_model_and_queues_a_retraining(
    client: TestClient, session: Session, shop: Shop, waiting_jobs: Huey
) -> None:
    shipped = text_registry.shipped_run(session)
    assert shipped.macro_f1 is not None
    sign_in(client, shop.owner)

    page = get(client, "/text/models")
    assert page.status_code == 200
    shown = text_of(page)
    assert "사용 중인 모델: 기본 제공 모델" in shown
    assert f"보류 텍스트 {shipped.holdout_size}개에서 감정 macro-F1 {shipped.macro_f1:.3f}" in shown
    run_card = page.text.split(f'id="run-{shipped.id}"', 1)[1]
    assert "tm-lang-ko" in run_card and "tm-lang-en" in run_card
    assert f"{shipped.per_language['ko']['macro_f1']:.3f}" in run_card
    assert f"{shipped.category_micro_f1:.3f}" in run_card
    assert 'http-equiv="refresh"' not in page.text

    reply = post(client, "/text/models/retrain")
    assert reply.status_code == 303 and reply.headers["location"] == "/text/models"
    session.expire_all()
    run = session.scalars(
        select(TextModelRun).where(TextModelRun.workspace_id == shop.workspace.id)
    ).one()
    assert (run.status, run.trigger, run.requested_by_id) == ("queued", "manual", shop.owner.id)
    [job] = waiting_jobs.pending()  # enqueued as the request committed, to start at once
    assert (job.name, job.args, job.eta) == (
        text_tasks.train_model_run.task_class.__name__,
        (run.id,),
        None,
    )
    page = get(client, "/text/models")
    assert flashes(page) == [
        ("success", f"재학습 #{run.id}을(를) 요청했습니다. 잠시 후 학습이 시작됩니다.")
    ]
    assert f"재학습 #{run.id}이(가) 대기 중입니다." in text_of(page)
    assert '<meta http-equiv="refresh" content="15">' in page.text
    assert re.search(r'<button class="btn primary" type="submit" disabled', page.text)

    # Asking again while it waits does not queue a second run.
    post(client, "/text/models/retrain")
    assert flashes(get(client, "/text/models")) == [
        ("info", f"재학습 #{run.id}이(가) 이미 대기 중이거나 학습 중입니다.")
    ]
    count = session.scalars(
        select(TextModelRun.id).where(TextModelRun.workspace_id == shop.workspace.id)
    ).all()
    assert count == [run.id]


def test_a_viewer_reads_the_model_page_without_actions(
    client: TestClient, session: Session, shop: Shop
) -> None:
    shipped = text_registry.shipped_run(session)
    sign_in(client, member(session, shop, "viewer", locale="en"))
    page = get(client, "/text/models")
    assert page.status_code == 200
    assert "Model in use: Shipped model" in text_of(page)
    assert "/text/models/retrain" not in page.text and "/activate" not in page.text
    assert post(client, "/text/models/retrain").status_code == 403
    assert post(client, f"/text/models/{shipped.id}/activate").status_code == 403
    assert get(client, f"/text/models/{shipped.id}/activate").status_code == 403


def test_a_trained_run_shows_its_figures_and_is_switched_with_a_confirmation(
    client: TestClient, session: Session, shop: Shop, tx_database: Database, waiting_jobs: Huey
) -> None:
    shipped = text_registry.shipped_run(session)
    sign_in(client, shop.owner)
    post(client, "/text/models/retrain")
    run_id = session.scalars(
        select(TextModelRun.id).where(TextModelRun.workspace_id == shop.workspace.id)
    ).one()
    assert retrain.run_training(tx_database, run_id=run_id).status == "ready"
    session.expire_all()
    run = session.get(TextModelRun, run_id)
    assert run is not None and run.macro_f1 is not None

    page = get(client, "/text/models")
    card = page.text.split(f'id="run-{run.id}"', 1)[1].split("</li>", 1)[0]
    shown = text_of_html(card)
    assert f"재학습 모델 #{run.id}" in shown and "준비됨" in shown
    assert f"기본 {run.base_labels:,}개 · 약한 정답 {run.weak_labels:,}개" in shown
    assert f"{run.macro_f1:.3f}" in shown and f"{run.per_language['ko']['macro_f1']:.3f}" in shown
    against = run.comparison["against_macro_f1"]
    assert (
        f"같은 보류 텍스트 {run.comparison['holdout_size']}개에서 macro-F1 {run.macro_f1:.3f}, "
        f"당시 사용 중이던 모델(#{shipped.id})은 {against:.3f}."
    ) in shown
    assert ("사용하기 시작했습니다" in shown) is run.comparison["activated"]

    # Switch to whichever model is not in use, through its confirmation page.
    in_use = text_registry.active_run(session, workspace_id=shop.workspace.id)
    target = shipped if in_use.id == run.id else run
    confirm = get(client, f"/text/models/{target.id}/activate")
    assert confirm.status_code == 200 and "사용할 모델 바꾸기" in text_of(confirm)
    assert post(client, f"/text/models/{target.id}/activate").status_code == 303
    session.expire_all()
    assert text_registry.active_run(session, workspace_id=shop.workspace.id).id == target.id
    page = get(client, "/text/models")
    expected = (
        "기본 제공 모델로 되돌렸습니다."
        if target.id == shipped.id
        else f"재학습 모델 #{run.id}을(를) 사용합니다."
    )
    assert flashes(page) == [("success", expected)]
    in_use_card = page.text.split(f'id="run-{target.id}"', 1)[1].split("</li>", 1)[0]
    assert "tm-in-use" in in_use_card
    assert session.scalars(
        select(AuditEntry.action).where(
            AuditEntry.workspace_id == shop.workspace.id,
            AuditEntry.target_type == "text_model_run",
        )
    ).all() == ["text_model.retrain", "text_model.activate"]


def test_runs_not_ready_or_of_another_workspace_cannot_be_activated(
    client: TestClient, session: Session, shop: Shop
) -> None:
    other = make_shop(session)
    theirs = text_registry.request_retraining(session, workspace_id=other.workspace.id)
    ours = text_registry.request_retraining(session, workspace_id=shop.workspace.id)
    session.flush()
    sign_in(client, shop.owner)
    assert get(client, f"/text/models/{theirs.id}/activate").status_code == 404
    assert post(client, f"/text/models/{theirs.id}/activate").status_code == 404
    assert get(client, "/text/models/99999999999/activate").status_code == 404
    assert f'id="run-{theirs.id}"' not in get(client, "/text/models").text

    assert post(client, f"/text/models/{ours.id}/activate").status_code == 303
    assert flashes(get(client, "/text/models")) == [
        ("error", f"모델 #{ours.id}은(는) 준비되지 않아 사용할 수 없습니다.")
    ]
    session.expire_all()
    assert text_registry.active_run(session, workspace_id=shop.workspace.id).workspace_id is None


def test_the_model_runs_page_in_pages(client: TestClient, session: Session, shop: Shop) -> None:
    for _ in range(23):
        session.add(
            TextModelRun(
                workspace_id=shop.workspace.id,
                status="failed",
                error="boom",
                per_language={},
                comparison={},
            )
        )
    session.flush()
    sign_in(client, shop.owner)
    first = get(client, "/text/models")
    assert first.text.count('class="card tm-run') == 20
    cursor = re.search(r'href="(/text/models\?cursor=[^"]+)"', first.text)
    assert cursor
    second = get(client, cursor.group(1).replace("&amp;", "&"))
    # 23 failed runs and the shipped model: 4 on the second page.
    assert second.text.count('class="card tm-run') == 4
    assert "학습에 실패했습니다." in text_of(second)
