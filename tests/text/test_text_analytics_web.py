"""The text analytics page (/text) and its verbatims over HTTP: Korean and English, plots with
text alternatives, the "fix first" list with its parts, spikes highlighted, themes and the
promote button (text:manage only), verbatims linked to their customers, escaping, bad
parameters as messages, and another workspace's texts never shown."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.models import TextCategory, TextTheme, Workspace
from cxloop.text.analytics import themes
from tests.factories import make_customer, make_user, make_workspace
from tests.helpers.text import comment, make_analysis, store, topic_texts
from tests.helpers.web import flashes, get, login, post, text_of


def _shop(session: Session, *, locale: str, role: str = "owner") -> tuple[Workspace, str]:
    """A workspace with 8 weeks of complaints about refunds, a burst of them this week, and
    two themes found in 50 comments (late parcels, failing sign-ins)."""
    ws = make_workspace(session, name="나눔 스토어")
    user = make_user(session, workspace=ws, role=role, locale=locale)
    now = datetime.now(UTC)
    for back in range(1, 9):
        make_analysis(
            session, ws, at=now - timedelta(weeks=back), sentiment="negative", score=-0.7,
            categories=("payment_refund",),
        )  # fmt: skip
    for i in range(8):
        make_analysis(
            session, ws, at=now - timedelta(seconds=10 + i), sentiment="negative", score=-0.9,
            categories=("payment_refund",),
        )  # fmt: skip
    labelled = topic_texts()
    store(session, ws, [text for _, text in labelled], start=900_000)
    themes.recompute_themes(session, workspace_id=ws.id)
    return ws, user.email


def test_the_page_needs_a_sign_in(client: TestClient) -> None:
    reply = client.get("/text", headers={"Accept": "text/html"}, follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=%2Ftext"


@pytest.mark.parametrize(
    ("locale", "phrases"),
    [
        (
            "ko",
            [
                "텍스트 분석",
                "급증한 불만",
                "결제/환불: 이번 주 부정 의견 8건 (평소 주 1.0건의 8.0배)",
                "먼저 고칠 것",
                "16건 × 부정 100% × 고객 가치 1.00배",
                "고객 매출 정보 없음 (가치는 1배로 계산)",
                "새로 보이는 테마",
                "로그인",
                "감정 곡선",
                "접점별 평균 감성",
            ],
        ),
        (
            "en",
            [
                "Text analytics",
                "Rising complaints",
                "Payment & refund: 8 negative texts this week (8.0× the usual 1.0 a week)",
                "Fix first",
                "16 texts × 100% negative × customer value 1.00×",
                "Emerging themes",
                "Mean sentiment by customer stage",
            ],
        ),
    ],
    ids=["ko", "en"],
)
def test_the_page_shows_trends_spikes_priority_and_themes(
    client: TestClient, session: Session, locale: str, phrases: list[str]
) -> None:
    _, email = _shop(session, locale=locale)
    login(client, email)

    reply = get(client, "/text")

    assert reply.status_code == 200, reply.text
    text = text_of(reply)
    for phrase in phrases:
        assert phrase in text
    assert '<a href="/text" aria-current="page">' in reply.text
    # the plots are images with words: the weekly chart and one sparkline per category
    assert re.search(
        r'<svg class="chart tx-volume"[^>]*aria-labelledby="tx-vol-t tx-vol-d"', reply.text
    )
    assert len(re.findall(r'<svg class="tx-spark"[^>]*role="img"', reply.text)) >= 4
    assert '<li class="tx-fix-row tx-rising" data-category="payment_refund">' in reply.text
    assert reply.text.count('action="/text/themes/') >= 2  # promote buttons (owner)


def test_a_viewer_sees_no_promote_button_and_cannot_promote(
    client: TestClient, session: Session
) -> None:
    ws, email = _shop(session, locale="en", role="viewer")
    login(client, email)
    theme = session.scalars(select(TextTheme).where(TextTheme.workspace_id == ws.id)).first()
    assert theme is not None

    page = get(client, "/text")
    reply = post(client, f"/text/themes/{theme.id}/promote")

    assert "Make it a category" not in page.text
    assert reply.status_code == 403


def test_the_promote_button_makes_a_category(client: TestClient, session: Session) -> None:
    ws, email = _shop(session, locale="ko")
    login(client, email)
    theme = session.scalars(
        select(TextTheme).where(TextTheme.workspace_id == ws.id).order_by(TextTheme.id)
    ).first()
    assert theme is not None

    reply = post(client, f"/text/themes/{theme.id}/promote")
    again = post(client, f"/text/themes/{theme.id}/promote")
    page = get(client, "/text")

    assert reply.status_code == 303 and reply.headers["location"] == "/text#themes"
    key = f"theme_{theme.id}"
    category = session.scalar(
        select(TextCategory).where(TextCategory.workspace_id == ws.id, TextCategory.key == key)
    )
    assert category is not None and category.seeds_ko == theme.keywords
    assert again.status_code == 303
    shown = flashes(page)
    assert (
        "success",
        f"테마를 카테고리 '{key}'(으)로 등록했습니다. 새로 분석되는 글부터 적용됩니다.",
    ) in shown
    assert any(kind == "error" for kind, _ in shown)  # the second press: already promoted


def test_verbatims_list_the_words_with_tags_and_customer_links(
    client: TestClient, session: Session
) -> None:
    ws = make_workspace(session)
    user = make_user(session, workspace=ws, role="agent", locale="en")
    who = make_customer(session, workspace=ws)
    now = datetime.now(UTC)
    for i in range(23):
        comment(
            session,
            ws,
            f"배송이 {i + 2}일이나 늦었어요 너무 답답해요",
            at=now - timedelta(hours=i + 1),
            customer=who,
        )
    comment(
        session,
        ws,
        "<script>alert(1)</script> 배송이 너무 늦어서 화가 나요",
        at=now - timedelta(minutes=5),
    )
    login(client, user.email)

    first = get(client, "/text/verbatims?category=delivery&sentiment=negative")
    nxt = re.search(r'<a class="btn subtle" rel="next" href="([^"]+)"', first.text)
    assert nxt is not None
    second = get(client, nxt.group(1).replace("&amp;", "&"))

    assert first.status_code == 200
    text = text_of(first)
    assert "Texts about 'Delivery'" in text
    assert (
        "<script>alert(1)" not in first.text
        and "&lt;script&gt;alert(1)&lt;/script&gt;" in first.text
    )
    assert first.text.count('class="tx-verbatim"') == 20
    assert f'href="/customers/{who.id}"' in first.text
    assert "Negative (" in text
    assert second.text.count('class="tx-verbatim"') == 4
    assert "배송이 24일이나 늦었어요" in text_of(second)  # the oldest, last


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/text?weeks=7", "Choose a period of 4, 8, 12, 26, 52 weeks"),
        ("/text?lang=fr", "The language must be Korean or English"),
        ("/text?themes_cursor=nonsense", "That page link is not valid"),
        ("/text/verbatims?category=nope", "That category is not in this workspace"),
        ("/text/verbatims?theme=99999999", "That theme was not found"),
        ("/text/verbatims?sentiment=angry", "The sentiment must be positive, neutral or negative"),
        ("/text/verbatims?cursor=nonsense", "That page link is not valid"),
    ],
    ids=["weeks", "lang", "themes-cursor", "category", "theme", "sentiment", "cursor"],
)
def test_bad_parameters_are_explained_not_a_500(
    client: TestClient, session: Session, path: str, message: str
) -> None:
    ws = make_workspace(session)
    user = make_user(session, workspace=ws, role="viewer", locale="en")
    login(client, user.email)

    reply = get(client, path)

    assert reply.status_code == 200
    assert message in text_of(reply)


def test_another_workspaces_texts_never_show(client: TestClient, session: Session) -> None:
    _shop(session, locale="en")
    mine = make_workspace(session)
    user = make_user(session, workspace=mine, role="viewer", locale="en")
    login(client, user.email)

    page = text_of(get(client, "/text"))
    verbatims = text_of(get(client, "/text/verbatims"))

    assert "Rising complaints" not in page and "로그인" not in page
    assert "No texts were analysed in this period." in page
    assert "No themes yet." in page
    assert "No texts match." in verbatims


@pytest.mark.parametrize(
    ("path", "current"),
    [
        ("/text", "/text"),
        ("/text/verbatims", "/text"),
        ("/text/taxonomy", "/text/taxonomy"),
        ("/text/models", "/text/models"),
    ],
    ids=["analytics", "verbatims", "taxonomy", "models"],
)
def test_every_text_page_has_the_tabs_to_the_others(
    client: TestClient, session: Session, path: str, current: str
) -> None:
    workspace = make_workspace(session)
    user = make_user(session, workspace=workspace, role="owner", locale="en")
    login(client, user.email)

    reply = get(client, path)

    assert reply.status_code == 200
    tabs = re.search(r'<nav class="tabs text-tabs"[^>]*>(.*?)</nav>', reply.text, re.S)
    assert tabs is not None
    links = re.findall(r'<a href="([^"]+)"( aria-current="page")?>', tabs.group(1))
    assert [href for href, _ in links] == ["/text", "/text/taxonomy", "/text/models"]
    assert [href for href, on in links if on] == [current]
