"""An article's Markdown as HTML a stranger's browser may show, and as the plain text of its
summary (the page's meta description).

Articles come from import files anyone with the key may write, and the help centre is public:
raw HTML in the source is shown as text (markdown-it with ``html`` off, which also drops
``javascript:`` and ``data:`` links), and the HTML made from it is sanitised again (nh3) so a
renderer bug cannot let a script, an event handler or a style through. Links to other sites
get ``rel="nofollow noopener"``; the article's headings move one level down, under the page's
own <h1>."""

from __future__ import annotations

import html
import re
from functools import cache
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

from cxloop.help.service import passage_of

SUMMARY_LENGTH = 160
EXTERNAL_REL = "nofollow noopener"
_TAGS = {
    *("p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code"),
    *("ul", "ol", "li", "strong", "em", "del", "a", "img"),
    *("table", "thead", "tbody", "tr", "th", "td"),
}
_ATTRIBUTES = {"a": {"href", "title", "rel"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
_SPACES = re.compile(r"\s+")


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def _is_external(href: str) -> bool:
    parts = urlsplit(href)
    return bool(parts.scheme or parts.netloc) and parts.scheme not in ("mailto", "tel")


def article_html(markdown: str) -> str:
    """The article's body as safe HTML."""
    parser = _parser()
    tokens = parser.parse(markdown or "")
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
        for child in token.children or ():
            if child.type == "link_open" and _is_external(str(child.attrGet("href") or "")):
                child.attrSet("rel", EXTERNAL_REL)
    rendered = parser.renderer.render(tokens, parser.options, {})
    return nh3.clean(
        rendered,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel=None,  # set above, on links to other sites only
        strip_comments=True,
    )


def plain_text(markdown: str) -> str:
    """Markdown as one line of plain text (no markup, spaces folded)."""
    text = nh3.clean(_parser().render(markdown or ""), tags=set())
    return _SPACES.sub(" ", html.unescape(text)).strip()


def summary(markdown: str, limit: int = SUMMARY_LENGTH) -> str:
    """The article's first paragraph as plain text of at most ``limit`` characters, cut
    between words."""
    text = plain_text(passage_of(markdown)) or plain_text(markdown)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,.;:·") + "…"
