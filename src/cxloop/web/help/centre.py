"""The public help centre of a workspace, without signing in: ``/help/{workspace}`` (a search
box and the categories), a category, an article, the search results, and ``suggest`` (JSON) for
the search box's suggestions as the reader types.

Pages are in the reader's language (``?lang=ko|en``, else the browser's, else Korean), and
every link on them carries that choice. They are written for search engines as much as for
phones: a description, a canonical address per language with its ``hreflang`` alternates, and
the article as schema.org JSON-LD. Only published articles are shown; anything else is a 404 in
the reader's language. Searching runs the bot's retrieval, so it is rate-limited per client.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.accounts.dependencies import DbSession
from cxloop.core import i18n
from cxloop.core.errors import NotFound
from cxloop.core.http import client_address
from cxloop.help import centre, markup, votes
from cxloop.models import Workspace
from cxloop.web.rendering import SECURITY_HEADERS, Formatter, environment, link, zone
from cxloop.web.session import settings_of

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
SUGGESTIONS = 8
MAX_QUERY = 200
HOME_TITLES = 6  # a category's titles on the home page; the category page lists them all
# Each search runs BM25 over the workspace's articles; a reader types a few a second at most.
SEARCH_LIMIT = "120 per minute"
VOTE_LIMIT = "30 per minute"  # "was this helpful?" per client address
READER_COOKIE = "cxloop_reader"  # the reader's anonymous id, for one vote per article
READER_MAX_AGE = 365 * 24 * 3600

# Public pages with nothing personal on them: a browser may keep them a minute; which language
# an address without ?lang= answers in depends on the browser's.
PUBLIC_HEADERS = {
    **SECURITY_HEADERS,
    "Cache-Control": "public, max-age=60",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Vary": "Accept-Language",
}
_JSON_IN_HTML = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}
_JSON_IN_HTML |= {0x2028: "\\u2028", 0x2029: "\\u2029"}


# --- the reader and the workspace --------------------------------------------------------------


def reader_language(request: Request) -> str:
    """?lang=ko|en, else the browser's language, else Korean."""
    chosen = request.query_params.get("lang")
    if chosen in i18n.LOCALES:
        return str(chosen)
    return i18n.negotiate_locale(request.headers.get("accept-language", ""), "ko")


def _workspace(db: Session, slug: str) -> Workspace | None:
    """The workspace whose slug is ``slug`` (not its id: the address is the slug)."""
    if len(slug) > 64:
        return None
    try:
        workspace = accounts.find_workspace(db, slug=slug)
    except NotFound:
        return None
    return workspace if workspace.slug == slug else None


def category_label(lang: str, slug: str) -> str:
    """A category's name: the catalogue's for the usual ones, else its slug in words."""
    name = i18n.lookup(lang, "help_centre.category." + slug)
    if name:
        return name
    return slug.replace("-", " ").replace("_", " ").strip().capitalize() or slug


def json_ld(data: dict[str, Any]) -> Markup:
    """``data`` as JSON for a <script type="application/ld+json">: no text in it can close
    the element or open another."""
    return Markup(json.dumps(data, ensure_ascii=False).translate(_JSON_IN_HTML))  # noqa: S704


class _Centre:
    """One workspace's help centre in the reader's language: its addresses and its pages."""

    def __init__(self, request: Request, workspace: Workspace, lang: str) -> None:
        self.request = request
        self.workspace = workspace
        self.lang = lang
        self.base = f"/help/{workspace.slug}"
        self.origin = settings_of(request).public_url.rstrip("/")

    def url(self, path: str = "", **params: Any) -> str:
        """An address in this help centre, in the reader's language."""
        return link(self.base + path, lang=self.lang, **params)

    def article_path(self, external_id: str) -> str:
        return "/articles/" + quote(external_id, safe="")

    def category_path(self, category: str) -> str:
        return "/categories/" + quote(category, safe="")

    def absolute(self, path: str = "", lang: str | None = None) -> str:
        return self.origin + link(self.base + path, lang=lang)

    def alternates(self, path: str, langs: tuple[str, ...] = i18n.LOCALES) -> list[list[str]]:
        """hreflang alternates of a page written in ``langs``, and its address without one."""
        return [[lang, self.absolute(path, lang)] for lang in langs] + [
            ["x-default", self.absolute(path)]
        ]

    def crumbs(self, *trail: tuple[str, str]) -> list[tuple[str, str]]:
        """The breadcrumb: the help centre's home, then ``trail`` of (name, path)."""
        home = (i18n.gettext(self.lang, "help_centre.home"), "")
        return [home, *trail]

    def render(self, template: str, *, path: str, **values: Any) -> HTMLResponse:
        """``template`` for the page at ``path`` (below the help centre's address)."""
        lang = self.lang

        def lang_link(other: str) -> str:
            params = {k: v for k, v in self.request.query_params.items() if k != "lang"}
            return link(self.base + path, **params, lang=other)

        values.setdefault("canonical", None)
        values.setdefault("alternates", [])
        values.setdefault("jsonld", None)
        values.setdefault("description", "")
        values.setdefault("noindex", False)
        html = environment.get_template(template).render(
            request=self.request,
            lang=lang,
            locale=lang,
            locales=i18n.LOCALES,
            t=i18n.translator(lang),
            fmt=Formatter(lang, zone(self.workspace.timezone)),
            workspace=self.workspace,
            base=self.base,
            hc=self.url,
            article_url=lambda external_id: self.url(self.article_path(external_id)),
            category_url=lambda category: self.url(self.category_path(category)),
            lang_link=lang_link,
            category_label=lambda slug: category_label(lang, slug),
            excerpt=markup.summary,
            **values,
        )
        return HTMLResponse(html, headers=PUBLIC_HEADERS)


def _not_found(request: Request, workspace: Workspace | None, lang: str) -> HTMLResponse:
    """The 404 page in the reader's language (the help centre's frame when it exists)."""

    html = environment.get_template("help/not_found.html").render(
        request=request,
        lang=lang,
        t=i18n.translator(lang),
        workspace=workspace,
        home=link(f"/help/{workspace.slug}", lang=lang) if workspace else None,
        lang_link=lambda other: link(quote(request.url.path), lang=other),
    )
    headers = {k: v for k, v in PUBLIC_HEADERS.items() if k != "Cache-Control"}
    return HTMLResponse(html, status_code=404, headers={**headers, "Cache-Control": "no-store"})


def _counted_search(request: Request) -> None:
    """Count a search against the client's allowance (RateLimited, a 429, when over)."""
    request.app.state.rate_limiter.check(
        SEARCH_LIMIT, "help-search", client_address(request), detail="Too many searches."
    )


def _query(q: str) -> str:
    return " ".join(q.split())[:MAX_QUERY]


# --- the pages ---------------------------------------------------------------------------------


def _page(
    request: Request, db: Session, slug: str, build: Callable[[_Centre], HTMLResponse]
) -> HTMLResponse:
    """A page of the help centre ``slug`` built by ``build``, or the 404 page when there is no
    such help centre or ``build`` finds nothing to show (NotFound)."""
    lang = reader_language(request)
    workspace = _workspace(db, slug)
    if workspace is None:
        return _not_found(request, None, lang)
    try:
        return build(_Centre(request, workspace, lang))
    except NotFound:
        return _not_found(request, workspace, lang)


@router.get("/help/{slug}")
def home(request: Request, db: DbSession, slug: str) -> Response:
    """The help centre's home: the search box and every category with its articles."""

    def build(hc: _Centre) -> HTMLResponse:
        lang, workspace = hc.lang, hc.workspace
        title = i18n.gettext(lang, "help_centre.title", workspace=workspace.name)
        return hc.render(
            "help/home.html",
            path="",
            page_title=title,
            description=i18n.gettext(lang, "help_centre.description", workspace=workspace.name),
            canonical=hc.absolute("", lang),
            alternates=hc.alternates(""),
            jsonld=json_ld(
                {
                    "@context": "https://schema.org",
                    "@type": "WebSite",
                    "name": title,
                    "url": hc.absolute("", lang),
                    "inLanguage": lang,
                    "potentialAction": {
                        "@type": "SearchAction",
                        "target": hc.absolute("/search", lang) + "&q={query}",
                        "query-input": "required name=query",
                    },
                }
            ),
            categories=centre.categories(db, workspace_id=workspace.id, locale=lang),
            home_titles=HOME_TITLES,
        )

    return _page(request, db, slug, build)


@router.get("/help/{slug}/categories/{category}")
def category_page(request: Request, db: DbSession, slug: str, category: str) -> Response:
    """One category's published articles."""

    def build(hc: _Centre) -> HTMLResponse:
        lang, workspace = hc.lang, hc.workspace
        articles = centre.category_articles(
            db, workspace_id=workspace.id, category=category, locale=lang
        )
        path = hc.category_path(category)
        name = category_label(lang, category)
        crumbs = hc.crumbs((name, path))
        home_title = i18n.gettext(lang, "help_centre.title", workspace=workspace.name)
        return hc.render(
            "help/category.html",
            path=path,
            page_title=f"{name} · {home_title}",
            description=i18n.gettext(
                lang, "help_centre.category_description", category=name, count=len(articles)
            ),
            canonical=hc.absolute(path, lang),
            alternates=hc.alternates(path),
            jsonld=json_ld({"@context": "https://schema.org", **_breadcrumb_ld(hc, crumbs)}),
            crumbs=crumbs,
            category=category,
            name=name,
            articles=articles,
        )

    return _page(request, db, slug, build)


def _breadcrumb_ld(hc: _Centre, crumbs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "@type": "BreadcrumbList",
        "itemListElement": [
            {
                "@type": "ListItem",
                "position": position,
                "name": name,
                "item": hc.absolute(path, hc.lang),
            }
            for position, (name, path) in enumerate(crumbs, start=1)
        ],
    }


@router.get("/help/{slug}/articles/{external_id}")
def article_page(request: Request, db: DbSession, slug: str, external_id: str) -> Response:
    """A published article in the reader's language, else in the one it is written in."""

    def build(hc: _Centre) -> HTMLResponse:
        lang, workspace = hc.lang, hc.workspace
        article = centre.published_article(
            db, workspace_id=workspace.id, external_id=external_id, locale=lang
        )
        path = hc.article_path(external_id)
        description = markup.summary(article.body)
        trail = [(article.title, path)]
        if article.category:
            category = (category_label(lang, article.category), hc.category_path(article.category))
            trail.insert(0, category)
        crumbs = hc.crumbs(*trail)
        canonical = hc.absolute(path, article.locale)
        related = [
            a
            for a in centre.category_articles(
                db, workspace_id=workspace.id, category=article.category, locale=lang
            )
            if a.external_id != article.external_id
        ][:5]
        return hc.render(
            "help/article.html",
            path=path,
            page_title=f"{article.title} · {workspace.name}",
            description=description,
            canonical=canonical,
            alternates=hc.alternates(path, article.locales),
            jsonld=json_ld(
                {
                    "@context": "https://schema.org",
                    "@graph": [
                        {
                            "@type": "Article",
                            "headline": article.title,
                            "description": description,
                            "inLanguage": article.locale,
                            "dateModified": article.updated_at.isoformat(timespec="seconds"),
                            "mainEntityOfPage": canonical,
                            "keywords": list(article.tags),
                            "publisher": {"@type": "Organization", "name": workspace.name},
                        },
                        _breadcrumb_ld(hc, crumbs),
                    ],
                }
            ),
            crumbs=crumbs,
            article=article,
            body=Markup(markup.article_html(article.body)),  # noqa: S704 (sanitised by nh3)
            related=related,
            voted=request.query_params.get("voted") == "1",
            vote_url=hc.base + path + "/vote?" + urlencode({"lang": lang}),
        )

    return _page(request, db, slug, build)


@router.post("/help/{slug}/articles/{external_id}/vote")
def vote_on_article(
    request: Request,
    db: DbSession,
    slug: str,
    external_id: str,
    helpful: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """A reader's "was this helpful?" (``helpful`` 1 or 0), once per reader and article (a
    second vote changes the first), then back to the article thanking them."""
    request.app.state.rate_limiter.check(
        VOTE_LIMIT, "help-vote", client_address(request), detail="Too many votes."
    )
    lang = reader_language(request)
    workspace = _workspace(db, slug)
    if workspace is None or helpful not in ("0", "1"):
        return _not_found(request, workspace, lang)
    reader = request.cookies.get(READER_COOKIE, "")
    if not 16 <= len(reader) <= 64 or not reader.isascii():
        reader = secrets.token_urlsafe(24)
    try:
        votes.vote(
            db,
            workspace_id=workspace.id,
            external_id=external_id,
            locale=lang,
            helpful=helpful == "1",
            voter=votes.voter_key(settings_of(request).resolved_secret_key(), reader),
        )
    except NotFound:
        return _not_found(request, workspace, lang)
    back = f"/help/{workspace.slug}/articles/{quote(external_id, safe='')}"
    response = RedirectResponse(link(back, lang=lang, voted=1) + "#hc-vote", status_code=303)
    response.set_cookie(
        READER_COOKIE,
        reader,
        max_age=READER_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path=f"/help/{workspace.slug}",
    )
    return response


@router.get("/help/{slug}/search")
def search_page(
    request: Request,
    db: DbSession,
    slug: str,
    q: Annotated[str, Query(max_length=2000)] = "",
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> Response:
    """The articles that match ``q``, best first, 20 a page."""

    def build(hc: _Centre) -> HTMLResponse:
        lang = hc.lang
        query = _query(q)
        if query:
            _counted_search(request)
        results = centre.search_articles(
            db, settings_of(request), workspace_id=hc.workspace.id, text=query, locale=lang
        )
        pages = max(1, -(-len(results) // PAGE_SIZE))
        shown = min(page, pages)
        search = i18n.gettext(lang, "help_centre.search")
        return hc.render(
            "help/search.html",
            path="/search",
            page_title=(
                i18n.gettext(lang, "help_centre.search_title", query=query) if query else search
            ),
            noindex=True,  # result pages are not content of their own
            crumbs=hc.crumbs((search, "/search")),
            query=query,
            results=results[(shown - 1) * PAGE_SIZE : shown * PAGE_SIZE],
            total=len(results),
            page=shown,
            pages=pages,
            first=(shown - 1) * PAGE_SIZE + 1,
        )

    return _page(request, db, slug, build)


@router.get("/help/{slug}/suggest")
def suggest(
    request: Request,
    db: DbSession,
    slug: str,
    q: Annotated[str, Query(max_length=2000)] = "",
) -> JSONResponse:
    """Up to 8 articles for what is typed in the search box: ``{"items": [{"title", "url"}]}``
    (the bot's ranking; titles in ``?lang=`` where the article has it)."""
    lang = reader_language(request)
    workspace = _workspace(db, slug)
    if workspace is None:
        raise NotFound(f"No help centre {slug!r}.")
    query = _query(q)
    items = []
    if query:
        _counted_search(request)
        hc = _Centre(request, workspace, lang)
        found = centre.search_articles(
            db,
            settings_of(request),
            workspace_id=workspace.id,
            text=query,
            locale=lang,
            limit=SUGGESTIONS,
        )
        items = [{"title": a.title, "url": hc.url(hc.article_path(a.external_id))} for a in found]
    return JSONResponse({"items": items}, headers={"Cache-Control": "no-store"})
