"""The public help centre through HTTP, without signing in: the home page's categories, an
article in Korean, in English and in its other language when one is missing, search and its
suggestions ranked as the bot ranks, 404s for drafts, other workspaces and unknown addresses,
Markdown that cannot run anything, and JSON-LD that cannot be broken out of."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.help import kb
from tests.factories import Tenant
from tests.help import test_knowledge_base

HTML = {"Accept": "text/html"}
shop_kb = test_knowledge_base.shop_kb  # the demo shop's 30 articles, imported by the API


def line(external_id: str, locale: str, title: str, body: str, **extra: object) -> str:
    row = {"external_id": external_id, "locale": locale, "title": title, "body": body}
    return json.dumps({"category": "general", **row, **extra}, ensure_ascii=False)


def get(client: TestClient, path: str, **headers: str) -> tuple[int, str]:
    response = client.get(path, headers={**HTML, **headers})
    return response.status_code, response.text


def json_ld(page: str) -> object:
    found = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert len(found) == 1
    return json.loads(found[0])


def test_the_home_page_lists_the_categories_with_their_counts_and_titles(
    client: TestClient, shop_kb: Tenant
) -> None:
    status, page = get(client, f"/help/{shop_kb.workspace.slug}?lang=ko")

    assert status == 200
    assert '<html lang="ko">' in page
    assert 'action="/help/' in page and 'name="q"' in page  # searching works without script
    assert "배송</a>" in page and "도움말 7개" in page  # the largest category first
    assert page.index("배송</a>") < page.index("회원·계정</a>")
    assert "배송은 얼마나 걸리나요?" in page
    assert f'href="/help/{shop_kb.workspace.slug}/categories/delivery?lang=ko"' in page
    assert "7개 모두 보기" in page  # six titles shown of seven


def test_a_category_lists_its_articles_and_an_empty_one_is_not_found(
    client: TestClient, shop_kb: Tenant
) -> None:
    base = f"/help/{shop_kb.workspace.slug}/categories"

    status, page = get(client, f"{base}/account?lang=en")
    missing, _ = get(client, f"{base}/no-such-category?lang=en")

    assert status == 200
    assert "<h1>Account</h1>" in page and "4 articles" in page
    assert "I forgot my password" in page
    assert missing == 404


@pytest.mark.parametrize(
    ("query", "headers", "lang", "title"),
    [
        ("?lang=ko", {}, "ko", "비밀번호를 잊어버렸어요"),
        ("?lang=en", {}, "en", "I forgot my password"),
        ("", {"Accept-Language": "en-US,en;q=0.9,ko;q=0.5"}, "en", "I forgot my password"),
        ("", {"Accept-Language": "fr-FR"}, "ko", "비밀번호를 잊어버렸어요"),
    ],
    ids=["lang-ko", "lang-en", "browser-en", "default-korean"],
)
def test_an_article_is_in_the_readers_language(
    client: TestClient,
    shop_kb: Tenant,
    query: str,
    headers: dict[str, str],
    lang: str,
    title: str,
) -> None:
    slug = shop_kb.workspace.slug
    status, page = get(client, f"/help/{slug}/articles/shop-reset-password{query}", **headers)

    assert status == 200
    assert f'<html lang="{lang}">' in page
    assert f"<title>{title} · {shop_kb.workspace.name}</title>" in page
    assert f"<h1>{title}</h1>" in page
    canonical = f"http://127.0.0.1:8000/help/{slug}/articles/shop-reset-password?lang={lang}"
    assert f'<link rel="canonical" href="{canonical}">' in page
    for other in ("ko", "en"):
        assert f'hreflang="{other}" href="http://127.0.0.1:8000/help/{slug}/articles/' in page
    assert 'hreflang="x-default"' in page
    assert '<nav class="hc-crumbs"' in page
    assert "?lang=ko" in page and "?lang=en" in page  # the language switch


def test_the_description_is_the_first_paragraph_in_plain_text(
    client: TestClient, shop_kb: Tenant
) -> None:
    status, page = get(
        client, f"/help/{shop_kb.workspace.slug}/articles/shop-reset-password?lang=en"
    )

    description = re.search(r'<meta name="description" content="([^"]*)">', page)
    assert status == 200 and description is not None
    text = unescape(description[1])
    assert text.startswith("Tap Forgot password on the Log in screen")  # no ** or [](…)
    assert len(text) <= 160
    data = json_ld(page)
    assert isinstance(data, dict)
    article = data["@graph"][0]
    assert article["@type"] == "Article" and article["headline"] == "I forgot my password"
    assert article["description"] == text and article["inLanguage"] == "en"
    crumbs = [item["name"] for item in data["@graph"][1]["itemListElement"]]
    assert crumbs == ["Help Centre", "Account", "I forgot my password"]


def test_an_article_without_the_readers_language_is_shown_in_its_other_one(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    kb.import_articles(
        session,
        workspace_id=tenant.id,
        lines=[line("only-korean", "ko", "한국어로만 쓴 안내", "이 안내는 한국어로만 있습니다.")],
    )

    status, page = get(client, f"/help/{tenant.workspace.slug}/articles/only-korean?lang=en")

    assert status == 200
    assert '<html lang="en">' in page  # the page around it stays in English
    assert '<article class="hc-article" lang="ko">' in page
    assert "<h1>한국어로만 쓴 안내</h1>" in page
    assert "This article is not available in English" in page
    assert f"/help/{tenant.workspace.slug}/articles/only-korean?lang=ko" in page  # canonical
    assert 'hreflang="en"' not in page.split("</head>")[0]  # no English alternate to offer


def test_drafts_other_workspaces_and_unknown_addresses_are_not_found(
    client: TestClient, session: Session, shop_kb: Tenant
) -> None:
    other = Tenant(session)
    kb.import_articles(
        session,
        workspace_id=shop_kb.id,
        lines=[line("secret-draft", "ko", "아직 쓰는 중", "공개 전입니다.", status="draft")],
    )
    kb.import_articles(
        session,
        workspace_id=other.id,
        lines=[line("elsewhere", "ko", "다른 가게의 안내", "다른 가게입니다.")],
    )
    slug = shop_kb.workspace.slug

    paths = [
        f"/help/{slug}/articles/secret-draft",
        f"/help/{slug}/articles/elsewhere",
        f"/help/{other.workspace.slug}/articles/shop-reset-password",
        f"/help/{slug}/articles/{'x' * 300}",
        "/help/no-such-workspace",
        "/help/no-such-workspace/articles/shop-reset-password",
        f"/help/{shop_kb.id}",  # a workspace's id is not its address
    ]
    answers = [get(client, path + "?lang=ko") for path in paths]

    assert [status for status, _ in answers] == [404] * len(paths)
    assert all("페이지를 찾을 수 없습니다" in page for _, page in answers)
    assert "아직 쓰는 중" not in get(client, f"/help/{slug}?lang=ko")[1]
    found = client.get(f"/help/{slug}/suggest", params={"q": "아직 쓰는 중"}).json()
    assert "아직 쓰는 중" not in [item["title"] for item in found["items"]]
    unknown = client.get("/help/no-such-workspace/suggest", params={"q": "배송"})
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("query", "lang", "title"),
    [
        ("비밀번호", "ko", "비밀번호를 잊어버렸어요"),
        ("비밀번호를 까먹었어요", "ko", "비밀번호를 잊어버렸어요"),
        ("forgot password", "en", "I forgot my password"),
        ("배송 조회", "ko", "주문한 상품의 배송 조회는 어떻게 하나요?"),
    ],
    ids=["word", "sentence", "english", "two-words"],
)
def test_search_and_suggestions_rank_the_expected_article_first(
    client: TestClient, shop_kb: Tenant, query: str, lang: str, title: str
) -> None:
    slug = shop_kb.workspace.slug

    status, page = get(client, f"/help/{slug}/search?q={query}&lang={lang}")
    suggested = client.get(f"/help/{slug}/suggest", params={"q": query, "lang": lang})

    assert status == 200
    assert '<meta name="robots" content="noindex, follow">' in page
    listed = page.split('<ol class="hc-results"')[1]
    results = re.findall(r'<li(?: lang="\w+")?>\s*<a href="([^"]+)">([^<]+)</a>', listed)
    assert results[0][1] == title
    assert suggested.status_code == 200
    items = suggested.json()["items"]
    assert 1 <= len(items) <= 8
    assert items[0]["title"] == title
    assert items[0]["url"] == unescape(results[0][0])
    assert items[0]["url"].startswith(f"/help/{slug}/articles/")
    assert items[0]["url"].endswith(f"?lang={lang}")


def test_an_empty_search_asks_for_words_and_suggests_nothing(
    client: TestClient, shop_kb: Tenant
) -> None:
    slug = shop_kb.workspace.slug

    status, page = get(client, f"/help/{slug}/search?q=++&lang=en")
    suggested = client.get(f"/help/{slug}/suggest", params={"q": " "})

    assert status == 200 and "Type what you are looking for" in page
    assert suggested.json() == {"items": []}


def test_search_results_come_20_a_page(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    kb.import_articles(
        session,
        workspace_id=tenant.id,
        lines=[
            line(f"gift-{n:02d}", "ko", f"선물 포장 안내 {n}", f"선물 포장은 {n}번 방법입니다.")
            for n in range(45)
        ],
    )
    base = f"/help/{tenant.workspace.slug}/search?q=선물 포장&lang=ko"

    pages = [get(client, f"{base}&page={n}") for n in (1, 2, 3)]
    beyond = get(client, f"{base}&page=9")

    counts = [len(re.findall(r'<a href="[^"]+/articles/gift-', page)) for _, page in pages]
    assert [status for status, _ in pages] == [200, 200, 200]
    assert counts == [20, 20, 5]
    assert "도움말 45개 중 1–20" in pages[0][1] and "도움말 45개 중 41–45" in pages[2][1]
    assert "3페이지 중 2페이지" in pages[1][1]
    assert 'rel="next"' in pages[0][1] and 'rel="prev"' not in pages[0][1]
    assert 'rel="prev"' in pages[2][1] and 'rel="next"' not in pages[2][1]
    assert beyond[0] == 200 and "3페이지 중 3페이지" in beyond[1]  # past the end: the last
    listed = {
        slug
        for _, page in pages
        for slug in re.findall(r"/articles/(gift-\d+)", page.split("</header>")[1])
    }
    assert len(listed) == 45  # every article once


HOSTILE = (
    "Click <script>alert('body')</script> here.\n\n"
    "[a link](javascript:alert('link')) and [data](data:text/html;base64,PHNjcmlwdD4=)\n\n"
    '<img src="x" onerror="alert(\'img\')">\n\n'
    "<a href=\"javascript:alert('raw')\" onclick=\"alert('raw')\">raw</a>\n\n"
    "![pic](javascript:alert('img2')) [ok](https://example.com/guide) [mine](/orders)\n\n"
    '<iframe src="https://evil.example"></iframe><style>body{display:none}</style>'
)


def test_a_hostile_article_body_renders_inert(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    kb.import_articles(
        session, workspace_id=tenant.id, lines=[line("hostile", "en", "Hostile", HOSTILE)]
    )

    status, page = get(client, f"/help/{tenant.workspace.slug}/articles/hostile?lang=en")

    body = page.split('<div class="hc-body">')[1].split("</div>")[0]
    assert status == 200
    assert re.findall(r"<(\w+)", body) == ["p", "p", "p", "p", "p", "a", "a", "p"]
    assert not re.search(r"<[^>]*\son\w+=", body)  # no event handler on any element
    assert not re.search(r"<[^>]*(href|src)=\"(javascript|data):", body)  # no such link
    assert "&lt;script&gt;alert('body')&lt;/script&gt;" in body  # shown as text
    assert '&lt;img src="x" onerror=' in body and "&lt;iframe" in body
    assert '<a href="https://example.com/guide" rel="nofollow noopener">ok</a>' in body
    assert '<a href="/orders">mine</a>' in body  # the site's own link: no rel
    assert (
        "script-src 'self'"
        in client.get(f"/help/{tenant.workspace.slug}/articles/hostile?lang=en").headers[
            "Content-Security-Policy"
        ]
    )


def test_a_script_end_tag_in_a_title_cannot_leave_the_json_ld(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    title = "Refunds</script><script>alert(1)</script> & more"
    kb.import_articles(
        session,
        workspace_id=tenant.id,
        lines=[line("tricky", "en", title, "A <b>bold</b> claim & </script> again.")],
    )

    status, page = get(client, f"/help/{tenant.workspace.slug}/articles/tricky?lang=en")

    head = page.split("</head>")[0]
    assert status == 200
    assert head.count("<script") == 2 and head.count("</script>") == 2  # help-centre.js, JSON-LD
    raw = re.search(r'<script type="application/ld\+json">(.*?)</script>', head, re.S)
    assert raw is not None and "<" not in raw[1] and ">" not in raw[1]
    data = json_ld(page)
    assert isinstance(data, dict) and data["@graph"][0]["headline"] == title
    assert "<title>Refunds&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in head


def test_a_reader_votes_once_per_article_and_changes_their_mind(
    client: TestClient, session: Session, shop_kb: Tenant
) -> None:
    from datetime import timedelta

    from sqlalchemy import select

    from cxloop.core.timeutil import utcnow
    from cxloop.help.votes import vote_counts
    from cxloop.models import HelpArticleVote

    slug = shop_kb.workspace.slug
    status, page = get(client, f"/help/{slug}/articles/shop-points")
    assert status == 200 and "이 도움말이 도움이 되었나요?" in page
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    assert action == f"/help/{slug}/articles/shop-points/vote?lang=ko"

    first = client.post(action, data={"helpful": "1"}, follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == f"/help/{slug}/articles/shop-points?lang=ko&voted=1#hc-vote"
    assert "cxloop_reader" in first.cookies or client.cookies.get("cxloop_reader")
    _, thanked = get(client, first.headers["location"].split("#")[0])
    assert "의견을 보내 주셔서 감사합니다." in thanked

    again = client.post(action, data={"helpful": "0"}, follow_redirects=False)  # same reader
    assert again.status_code == 303
    stored = session.scalars(
        select(HelpArticleVote).where(HelpArticleVote.workspace_id == shop_kb.id)
    ).all()
    assert [(v.helpful, v.locale, v.channel) for v in stored] == [(False, "ko", "web")]
    assert len(stored[0].voter) == 64 and client.cookies.get("cxloop_reader") not in stored[0].voter

    client.cookies.clear()  # another reader
    client.post(action, data={"helpful": "1"}, follow_redirects=False)
    counts = vote_counts(
        session,
        workspace_id=shop_kb.id,
        since=utcnow() - timedelta(hours=1),
        until=utcnow() + timedelta(minutes=1),
    )
    assert counts == {"shop-points": (1, 1)}

    for bad in ({"helpful": "yes"}, {}):
        assert client.post(action, data=bad, follow_redirects=False).status_code in (404, 422)
    missing = client.post(f"/help/{slug}/articles/no-such/vote", data={"helpful": "1"})
    assert missing.status_code == 404
    assert len(session.scalars(select(HelpArticleVote)).all()) == 2
