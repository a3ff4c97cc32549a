"""The shapes of the journey map's API beyond the grid itself: the grid with each stage's and
cell's top themes, and the persons and texts behind a stage or cell."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from cxloop.journeys.map import JourneyMap, MapCell, StageColumn, ThemeCount
from cxloop.journeys.map_drill import Outcome, PersonsPage, TextsPage
from cxloop.journeys.schemas import CellOut, JourneyMapOut, PeriodIn, StageOut
from cxloop.journeys.stages import Key
from cxloop.text.analytics.placed import ThemeName


class ThemeCountOut(BaseModel):
    id: int
    label: str
    count: int = Field(description="How many of the texts there show the theme")

    @classmethod
    def of(cls, theme: ThemeCount) -> ThemeCountOut:
        return cls(id=theme.id, label=theme.label, count=theme.count)


class ThemedStageOut(StageOut):
    texts: int = Field(description="Analysed texts written at the stage")
    themes: list[ThemeCountOut] = Field(description="Its top themes, most frequent first")

    @classmethod
    def of(cls, column: StageColumn) -> ThemedStageOut:
        return cls(
            **dict(StageOut.of(column)),
            texts=column.texts,
            themes=[ThemeCountOut.of(t) for t in column.themes],
        )


class ThemedCellOut(CellOut):
    texts: int = Field(description="Analysed texts written at the cell")
    themes: list[ThemeCountOut] = Field(description="Its top themes, most frequent first")

    @classmethod
    def of(cls, cell: MapCell) -> ThemedCellOut:
        return cls(
            **dict(CellOut.of(cell)),
            texts=cell.texts,
            themes=[ThemeCountOut.of(t) for t in cell.themes],
        )


class ThemedJourneyMapOut(JourneyMapOut):
    stages: list[ThemedStageOut]  # type: ignore[assignment]
    cells: list[ThemedCellOut]  # type: ignore[assignment]

    @classmethod
    def of(cls, found: JourneyMap, tz: str) -> ThemedJourneyMapOut:
        grid = JourneyMapOut.of(found, tz)  # the period in local days, the touchpoints
        return cls(
            start=grid.start,
            end=grid.end,
            timezone=grid.timezone,
            touchpoints=grid.touchpoints,
            stages=[ThemedStageOut.of(column) for column in found.stages],
            cells=[ThemedCellOut.of(cell) for cell in found.cells.values()],
        )


class MapSpotIn(PeriodIn):
    stage: Key = Field(description="The stage's key")
    touchpoint: Key | None = Field(None, description="A touchpoint's key: its cell at the stage")


class MapPersonsIn(MapSpotIn):
    outcome: Outcome = Field("all", description="Everyone, those who moved on, or the others")
    after: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = Field(
        None, description="Cursor: the last id of the previous page"
    )
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class MapPersonOut(BaseModel):
    customer_id: int
    moved_on: bool


class MapPersonsOut(BaseModel):
    stage: str
    touchpoint: str | None
    persons: int = Field(description="Everyone behind the stage or cell (the map's count)")
    moved_on: int
    dropped: int
    items: list[MapPersonOut]
    next_after: int | None

    @classmethod
    def of(cls, page: PersonsPage) -> MapPersonsOut:
        return cls(
            stage=page.spot.stage.key,
            touchpoint=page.spot.touchpoint.key if page.spot.touchpoint else None,
            persons=page.persons,
            moved_on=page.moved_on,
            dropped=page.dropped,
            items=[MapPersonOut(customer_id=i, moved_on=moved) for i, moved in page.ids],
            next_after=page.next_after,
        )


class MapVerbatimsIn(MapSpotIn):
    theme: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        None, description="Only the texts of this theme"
    )
    cursor: Annotated[str, Field(max_length=500)] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 20


class ThemeOut(BaseModel):
    id: int
    label: str

    @classmethod
    def of(cls, theme: ThemeName) -> ThemeOut:
        return cls(id=theme.id, label=theme.label)


class MapVerbatimOut(BaseModel):
    analysis_id: int
    occurred_at: datetime
    customer_id: int | None
    text: str | None = Field(description="The words (null when the source no longer has them)")
    lang: str
    sentiment: str
    score: float
    themes: list[ThemeOut]


class MapVerbatimsOut(BaseModel):
    stage: str
    touchpoint: str | None
    theme: ThemeOut | None
    texts: int = Field(description="Every text behind the stage or cell (of the theme, if one)")
    items: list[MapVerbatimOut]
    next_cursor: str | None

    @classmethod
    def of(cls, page: TextsPage) -> MapVerbatimsOut:
        return cls(
            stage=page.spot.stage.key,
            touchpoint=page.spot.touchpoint.key if page.spot.touchpoint else None,
            theme=ThemeOut.of(page.theme) if page.theme else None,
            texts=page.texts,
            items=[
                MapVerbatimOut(
                    analysis_id=item.verbatim.analysis.id,
                    occurred_at=item.verbatim.analysis.occurred_at,
                    customer_id=item.verbatim.analysis.customer_id,
                    text=item.verbatim.text,
                    lang=item.verbatim.analysis.lang,
                    sentiment=item.verbatim.analysis.sentiment,
                    score=round(item.verbatim.analysis.score, 4),
                    themes=[ThemeOut.of(t) for t in item.themes],
                )
                for item in page.items
            ],
            next_cursor=page.next_cursor,
        )
