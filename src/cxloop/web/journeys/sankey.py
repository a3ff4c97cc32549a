"""A Sankey diagram of paths drawn on the server as inline SVG: one column per step (the anchor
event first, or last when the paths lead up to it), a node per event name as tall as its
persons, and bands between the columns as wide as the persons who went that way. The "other"
and "ended" nodes are drawn and labelled apart."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from cxloop.journeys.schemas import PathsOut

NODE_W, COL_GAP, LABEL_W, TOP, GAP, ROW = 12, 190, 190, 10, 12, 30

Key = tuple[int, str, str]  # (step, kind, name); step 0 is the anchor


@dataclass
class _Node:
    key: Key
    persons: int
    x: float = 0.0
    y: float = 0.0
    h: float = 0.0
    left: list[_Link] = field(default_factory=list)  # bands arriving on the node's left side
    right: list[_Link] = field(default_factory=list)


@dataclass
class _Link:
    left: _Node
    right: _Node
    persons: int
    y_left: float = 0.0  # the band's top where it leaves the left node
    y_right: float = 0.0


def _f(value: float) -> str:
    return f"{value:.1f}"


def _clip(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sankey(
    paths: PathsOut,
    *,
    anchor: str,
    label: Callable[[str, str | None], str],
    count: Callable[[int], str],
    title: str,
    desc: str,
    chart_id: str = "paths-sankey",
) -> Markup:
    """The diagram of ``paths`` from (or to) ``anchor``; ``label(kind, name)`` names a node
    (kind event, other, end or anchor) and ``count(n)`` says n persons, both translated."""
    before = paths.direction == "before"
    nodes: dict[Key, _Node] = {(0, "anchor", anchor): _Node((0, "anchor", anchor), paths.persons)}
    for n in paths.nodes:
        key = (n.step, n.kind, n.name or "")
        nodes[key] = _Node(key, n.persons)
    columns = max((k[0] for k in nodes), default=0) + 1
    by_column: dict[int, list[_Node]] = defaultdict(list)
    for node in nodes.values():  # in the report's order: most persons first, other and end last
        by_column[node.key[0]].append(node)
    tallest = max(len(c) for c in by_column.values())
    plot_h = max(260, tallest * ROW)
    scale = (plot_h - GAP * (tallest - 1)) / max(paths.persons, 1)
    width = COL_GAP * (columns - 1) + NODE_W + LABEL_W + 20
    height = plot_h + 2 * TOP
    for step, column in by_column.items():
        x = 10 + COL_GAP * ((columns - 1 - step) if before else step)
        y = float(TOP)
        for node in column:
            node.x, node.y, node.h = x, y, max(node.persons * scale, 2.0)
            y += node.h + GAP

    def band(source: Key, target: Key, persons: int) -> None:
        a, b = nodes.get(source), nodes.get(target)
        if a is None or b is None or persons <= 0:
            return
        left, right = (b, a) if before else (a, b)
        link = _Link(left, right, persons)
        left.right.append(link)
        right.left.append(link)

    for n in paths.nodes:
        if n.step == 1:
            band((0, "anchor", anchor), (1, n.kind, n.name or ""), n.persons)
    for out in paths.links:
        band(
            (out.step, out.source_kind, out.source or ""),
            (out.step + 1, out.target_kind, out.target or ""),
            out.persons,
        )
    for node in nodes.values():
        offset = node.y
        for link in sorted(node.right, key=lambda lk: lk.right.y):
            link.y_left, offset = offset, offset + link.persons * scale
        offset = node.y
        for link in sorted(node.left, key=lambda lk: lk.left.y):
            link.y_right, offset = offset, offset + link.persons * scale

    cid = escape(chart_id)
    parts = [
        f'<svg class="chart sankey" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-labelledby="{cid}-t {cid}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{cid}-t">{escape(title)}</title><desc id="{cid}-d">{escape(desc)}</desc>'
    ]
    for node in nodes.values():
        for link in node.right:
            x0, x1 = link.left.x + NODE_W, link.right.x
            mid = (x0 + x1) / 2
            thick = max(link.persons * scale, 1.0)
            top0, top1 = link.y_left, link.y_right
            towards = link.left if before else link.right
            source = link.right if before else link.left
            tip = (
                f"{label(source.key[1], source.key[2])} → "
                f"{label(towards.key[1], towards.key[2])}: {count(link.persons)}"
            )
            parts.append(
                f'<path class="band to-{towards.key[1]}" d="M{_f(x0)},{_f(top0)} '
                f"C{_f(mid)},{_f(top0)} {_f(mid)},{_f(top1)} {_f(x1)},{_f(top1)} "
                f"L{_f(x1)},{_f(top1 + thick)} C{_f(mid)},{_f(top1 + thick)} "
                f'{_f(mid)},{_f(top0 + thick)} {_f(x0)},{_f(top0 + thick)} Z">'
                f"<title>{escape(tip)}</title></path>"
            )
    for node in nodes.values():
        step, kind, name = node.key
        text = label(kind, name)
        shown = f"{_clip(text)} · {count(node.persons)}"
        parts.append(
            f'<g class="node {kind}" data-step="{step}"><title>{escape(text)} · '
            f"{escape(count(node.persons))}</title>"
            f'<rect x="{_f(node.x)}" y="{_f(node.y)}" width="{NODE_W}" height="{_f(node.h)}" '
            f'rx="2"/><text x="{_f(node.x + NODE_W + 4)}" '
            f'y="{_f(node.y + min(node.h, 24) / 2 + 4)}">'
            f"{escape(shown)}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every text part above is escaped)
