"""The journey map's downloads: the grid as CSV rows (a row per stage, then one per cell) and
as a standalone SVG file drawn on the server (stages as columns, touchpoints as rows, flagged
cells in red with a text marker; every text escaped; no external reference, so the page can
draw it on a canvas for its PNG)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from markupsafe import escape

from cxloop.core.stats import Estimate
from cxloop.journeys.map import Feeling, JourneyMap
from cxloop.journeys.stages import Place

Namer = Callable[[Place, str], str]  # (place, "stage" or "touchpoint") → its name
# Fonts by name only (the file stays standalone: a browser may draw it on a canvas and save it
# as PNG): Korean ones on every system first, then any sans-serif.
SVG_FONTS = (
    "'Noto Sans KR', 'Noto Sans CJK KR', 'NanumGothic', 'Nanum Gothic', 'Apple SD Gothic Neo', "
    "'Malgun Gothic', sans-serif"
)

MAP_CSV_HEADER = (
    "kind",
    "stage",
    "stage_name",
    "touchpoint",
    "touchpoint_name",
    "persons",
    "moved_on",
    "conversion",
    "median_seconds_to_next",
    "p90_seconds_to_next",
    "nps",
    "nps_low",
    "nps_high",
    "csat",
    "csat_low",
    "csat_high",
    "sentiment",
    "sentiment_low",
    "sentiment_high",
    "flagged",
    "behind_p_value",
)


def _estimate(value: Estimate | None) -> list[Any]:
    if value is None:
        return [None, None, None]
    return [value.estimate, value.ci_low, value.ci_high]


def _feeling(feeling: Feeling) -> list[Any]:
    return [*_estimate(feeling.nps), *_estimate(feeling.csat), *_estimate(feeling.sentiment)]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def csv_rows(found: JourneyMap, name: Namer) -> Iterator[list[Any]]:
    """The stages in order, then the cells (touchpoint by touchpoint, stage by stage)."""
    for column in found.stages:
        times = column.time_to_next
        yield [
            "stage",
            column.place.key,
            name(column.place, "stage"),
            None,
            None,
            column.persons,
            column.moved_on,
            _rate(column.moved_on, column.persons),
            times.median if times.n else None,
            times.p90 if times.n else None,
            *_feeling(column.feeling),
            None,
            None,
        ]
    for touchpoint in found.touchpoints:
        for column in found.stages:
            cell = found.cells.get((column.place.key, touchpoint.key))
            if cell is None:
                continue
            yield [
                "cell",
                column.place.key,
                name(column.place, "stage"),
                touchpoint.key,
                name(touchpoint, "touchpoint"),
                cell.persons,
                cell.moved_on,
                _rate(cell.moved_on, cell.persons),
                None,
                None,
                *_feeling(cell.feeling),
                cell.flagged,
                cell.behind.p_value if cell.behind else None,
            ]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(x: float, y: float, words: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{x:.0f}" y="{y:.0f}"{extra}>{escape(words)}</text>'


def grid_svg(
    found: JourneyMap,
    *,
    name: Namer,
    title: str,
    percent: Callable[[float | None], str],
    persons: Callable[[int], str],
    flag: str,
) -> str:
    """The map grid as an SVG document (colours as attributes: it stands alone)."""
    label_w, col_w, head_h, row_h, pad = 190, 170, 64, 58, 8
    stages, touchpoints = found.stages, found.touchpoints
    width = label_w + col_w * len(stages) + pad
    height = head_h + row_h * len(touchpoints) + pad
    font = f'font-family="{SVG_FONTS}" font-size="13"'
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" {font} role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for i, column in enumerate(stages):
        x = label_w + i * col_w
        parts.append(
            f'<rect x="{x + 2}" y="4" width="{col_w - 4}" height="{head_h - 8}" '
            'rx="6" fill="#eef2ff"/>'
        )
        parts.append(_text(x + 10, 26, _clip(name(column.place, "stage"), 20), font_weight="700"))
        parts.append(
            _text(
                x + 10,
                46,
                f"{persons(column.persons)} · → {percent(_rate(column.moved_on, column.persons))}",
                fill="#475569",
            )
        )
    for r, touchpoint in enumerate(touchpoints):
        y = head_h + r * row_h
        parts.append(
            _text(
                pad, y + row_h / 2 + 4, _clip(name(touchpoint, "touchpoint"), 24), font_weight="600"
            )
        )
        for i, column in enumerate(stages):
            x = label_w + i * col_w
            cell = found.cells.get((column.place.key, touchpoint.key))
            fill, stroke = "#f8fafc", "#e2e8f0"
            if cell is not None and cell.flagged:
                fill, stroke = "#fee2e2", "#dc2626"
            elif cell is not None:
                fill = "#ffffff"
            parts.append(
                f'<rect x="{x + 2}" y="{y + 2}" width="{col_w - 4}" height="{row_h - 4}" rx="4" '
                f'fill="{fill}" stroke="{stroke}"/>'
            )
            if cell is None:
                continue
            colour = "#b91c1c" if cell.flagged else "#0f172a"
            parts.append(_text(x + 10, y + 22, persons(cell.persons), fill=colour))
            moved = f"→ {percent(_rate(cell.moved_on, cell.persons))}"
            parts.append(
                _text(
                    x + 10,
                    y + 42,
                    f"{moved} {flag}" if cell.flagged else moved,
                    fill=colour,
                    font_weight="700" if cell.flagged else "400",
                )
            )
    parts.append("</svg>")
    return "\n".join(parts)
