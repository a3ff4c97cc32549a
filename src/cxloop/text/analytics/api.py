"""REST of text analytics: weekly trends per category and theme, spikes, the "fix first"
priority, the emotion curve, themes (list, recompute, promote to a category), the verbatims
behind each number, and the team that owns a category."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as FastPath

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession, SessionlessApiPrincipal
from cxloop.core.http import database_of
from cxloop.models import TextTheme
from cxloop.text.analytics import service as analytics
from cxloop.text.analytics import themes
from cxloop.text.analytics.schemas import (
    EmotionCurveOut,
    EmotionPointOut,
    PriorityListOut,
    PriorityOut,
    PromotedOut,
    PromoteIn,
    SeriesOut,
    SpikeOut,
    SpikesOut,
    TeamIn,
    TeamOut,
    ThemeOut,
    ThemePage,
    TrendsOut,
    VerbatimOut,
    VerbatimPage,
    WeekOut,
)

router = APIRouter(prefix="/api/v1/text", tags=["text analytics"])

Lang = Literal["ko", "en", "other"]
Weeks = Annotated[int, Query(ge=1, le=analytics.MAX_WEEKS, description="Weeks up to this one")]
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=200)]
ThemeId = Annotated[int, FastPath(ge=1, le=2**31 - 1, description="Theme id")]
CategoryKeyPath = Annotated[str, FastPath(min_length=1, max_length=64, description="Category key")]


def _series_out(series: analytics.Series) -> SeriesOut:
    return SeriesOut(
        key=series.key,
        volume=series.volume,
        negative=series.negative,
        negative_share=series.negative_share,
        mean_score=series.mean_score,
        weeks=[
            WeekOut(
                week=w.start,
                volume=w.volume,
                negative=w.negative,
                negative_share=w.negative_share,
                mean_score=w.mean_score,
            )
            for w in series.weeks
        ],
    )


def _theme_out(theme: TextTheme) -> ThemeOut:
    return ThemeOut.model_validate({name: getattr(theme, name) for name in ThemeOut.model_fields})


@router.get("/trends", response_model=TrendsOut)
def trends(
    principal: ApiPrincipal, session: DbSession, weeks: Weeks = 12, lang: Lang | None = None
) -> TrendsOut:
    """Weekly volume, negative share and mean score of every text, per category and per
    current theme, for the last ``weeks`` weeks (this one included)."""
    require(principal, "text:read")
    window = analytics.workspace_window(session, workspace_id=principal.workspace_id, weeks=weeks)
    return TrendsOut(
        tz=window.tz,
        weeks=list(window.weeks),
        overall=_series_out(analytics.overall_trend(session, window=window, lang=lang)),
        categories=[
            _series_out(s)
            for s in analytics.category_trends(session, window=window, lang=lang).values()
        ],
        themes=[
            _series_out(s)
            for s in analytics.theme_trends(session, window=window, lang=lang).values()
        ],
    )


@router.get("/spikes", response_model=SpikesOut)
def spikes(principal: ApiPrincipal, session: DbSession, lang: Lang | None = None) -> SpikesOut:
    """Categories whose negative texts this week are significantly above the 8 weeks before
    (Poisson test, at least 5 texts and 1.5 times the baseline)."""
    require(principal, "text:read")
    found = analytics.detect_spikes(session, workspace_id=principal.workspace_id, lang=lang)
    return SpikesOut(
        items=[
            SpikeOut(
                category=s.category,
                week=s.week,
                count=s.count,
                expected=s.expected,
                ratio=round(s.ratio, 3),
                p_value=s.p_value,
                z=s.z,
            )
            for s in found
        ]
    )


@router.get("/priority", response_model=PriorityListOut)
def priority(
    principal: ApiPrincipal, session: DbSession, weeks: Weeks = 12, lang: Lang | None = None
) -> PriorityListOut:
    """The "fix first" list: per category, volume × negativity × value of the customers who
    complained, normalised to 100, with its parts."""
    require(principal, "text:read")
    window = analytics.workspace_window(session, workspace_id=principal.workspace_id, weeks=weeks)
    rows = analytics.priority(session, window=window, lang=lang)
    return PriorityListOut(
        items=[
            PriorityOut.model_validate({n: getattr(p, n) for n in PriorityOut.model_fields})
            for p in rows
        ]
    )


@router.get("/emotion-curve", response_model=EmotionCurveOut)
def emotion_curve(
    principal: ApiPrincipal, session: DbSession, weeks: Weeks = 12, lang: Lang | None = None
) -> EmotionCurveOut:
    """Mean sentiment per journey stage and per touchpoint, with 95% intervals."""
    require(principal, "text:read")
    window = analytics.workspace_window(session, workspace_id=principal.workspace_id, weeks=weeks)
    curve = analytics.emotion_curve(
        session,
        workspace_id=principal.workspace_id,
        start=window.start,
        end=window.end,
        lang=lang,
    )

    def out(p: analytics.EmotionPoint) -> EmotionPointOut:
        return EmotionPointOut.model_validate(
            {n: getattr(p, n) for n in EmotionPointOut.model_fields}
        )

    return EmotionCurveOut(
        stages=[out(p) for p in curve.stages], touchpoints=[out(p) for p in curve.touchpoints]
    )


@router.get("/themes", response_model=ThemePage)
def list_themes(
    principal: ApiPrincipal,
    session: DbSession,
    lang: Lang | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> ThemePage:
    """The themes found in the recent texts, largest first."""
    require(principal, "text:read")
    rows, next_cursor = themes.list_themes(
        session, workspace_id=principal.workspace_id, lang=lang, cursor=cursor, limit=limit
    )
    return ThemePage(items=[_theme_out(t) for t in rows], next_cursor=next_cursor)


@router.post("/themes/recompute", response_model=ThemePage)
def recompute_themes(principal: SessionlessApiPrincipal, request: Request) -> ThemePage:
    """Cluster the last 12 weeks of texts again now (a daily job does it too)."""
    require(principal, "text:manage")
    rows = themes.recompute_themes_in(database_of(request), workspace_id=principal.workspace_id)
    return ThemePage(items=[_theme_out(t) for t in rows], next_cursor=None)


@router.post("/themes/{theme_id}/promote", response_model=PromotedOut, status_code=201)
def promote_theme(
    theme_id: ThemeId, principal: ApiPrincipal, session: DbSession, body: PromoteIn | None = None
) -> PromotedOut:
    """Make the theme a category seeded with its keywords (key and names optional)."""
    require(principal, "text:manage")
    body = body or PromoteIn()
    category = themes.promote_theme(
        session,
        workspace_id=principal.workspace_id,
        theme_id=theme_id,
        key=body.key,
        name_ko=body.name_ko,
        name_en=body.name_en,
        principal=principal,
    )
    theme = themes.get_theme(session, workspace_id=principal.workspace_id, theme_id=theme_id)
    return PromotedOut(theme=_theme_out(theme), category_key=category.key)


@router.get("/verbatims", response_model=VerbatimPage)
def verbatims(
    principal: ApiPrincipal,
    session: DbSession,
    category: Annotated[str | None, Query(max_length=64)] = None,
    theme_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    sentiment: Literal["positive", "neutral", "negative"] | None = None,
    lang: Lang | None = None,
    weeks: Annotated[int | None, Query(ge=1, le=analytics.MAX_WEEKS)] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> VerbatimPage:
    """The texts behind a number, newest first: of a category or theme, a sentiment, the last
    ``weeks`` weeks; each with its words and its customer."""
    require(principal, "text:read")
    since = (
        analytics.workspace_window(session, workspace_id=principal.workspace_id, weeks=weeks).start
        if weeks
        else None
    )
    rows, next_cursor = analytics.verbatims(
        session,
        workspace_id=principal.workspace_id,
        category=category,
        theme_id=theme_id,
        sentiment=sentiment,
        lang=lang,
        since=since,
        cursor=cursor,
        limit=limit,
    )
    return VerbatimPage(
        items=[
            VerbatimOut(
                analysis_id=v.analysis.id,
                source_type=v.analysis.source_type,
                source_id=v.analysis.source_id,
                customer_id=v.analysis.customer_id,
                text=v.text,
                lang=v.analysis.lang,
                sentiment=v.analysis.sentiment,
                score=v.analysis.score,
                categories=list(v.analysis.categories),
                keywords=list(v.analysis.keywords),
                occurred_at=v.analysis.occurred_at,
            )
            for v in rows
        ],
        next_cursor=next_cursor,
    )


@router.put("/categories/{key}/team", response_model=TeamOut)
def set_team(
    key: CategoryKeyPath, body: TeamIn, principal: ApiPrincipal, session: DbSession
) -> TeamOut:
    """Name the team that owns a category: its spikes notify that team's members. Audited."""
    require(principal, "text:manage")
    category = analytics.set_category_team(
        session, workspace_id=principal.workspace_id, key=key, team=body.team, principal=principal
    )
    return TeamOut(key=category.key, team=category.team)
