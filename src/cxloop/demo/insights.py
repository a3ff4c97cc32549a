"""Demo phase: the customer models run over the demo year, then a marketer's first segments
(the first drawing of a segment announces nothing, so the run comes first)."""

from __future__ import annotations

from typing import Any

from cxloop.accounts.access import Principal
from cxloop.demo.context import DemoContext
from cxloop.insights import runs
from cxloop.insights.segments import service as segments

# (name, description, rule): what a Korean shop's marketer builds first.
SEGMENTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "VIP 재구매 관리",
        "VIP 등급이거나 예측 CLV 상위 10%이고, 90일 안에 샀지만 마지막 NPS가 6 이하인 고객",
        {
            "type": "all",
            "rules": [
                {
                    "type": "any",
                    "rules": [
                        {"type": "trait", "key": "tier", "value": "vip"},
                        {
                            "type": "prediction",
                            "field": "clv_percentile",
                            "op": "top_percent",
                            "value": 10,
                        },
                    ],
                },
                {"type": "order", "within_days": 90},
                {"type": "score", "metric": "nps", "op": "lte", "value": 6},
            ],
        },
    ),
    (
        "이탈 위험 고객",
        "이탈 위험이 70% 이상인 고객",
        {"type": "prediction", "field": "churn_risk", "op": "gte", "value": 0.7},
    ),
    (
        "챔피언",
        "RFM 챔피언 셀",
        {"type": "prediction", "field": "rfm_cell", "op": "in", "value": ["champions"]},
    ),
    (
        "마케팅 동의 · 최근 30일 상품 조회",
        "이메일 마케팅 수신에 동의했고 30일 안에 상품을 본 고객",
        {
            "type": "all",
            "rules": [
                {"type": "consent", "purpose": "marketing", "channel": "email"},
                {"type": "event", "name": "Product Viewed", "within_days": 30},
            ],
        },
    ),
)


def add_insights(ctx: DemoContext) -> None:
    """Phase: run every customer model as of the demo's today, then save the segments."""
    task = ctx.task("Insights (models and segments)", 1 + len(SEGMENTS))
    owner = Principal(workspace_id=ctx.workspace_id, role="owner", user_id=ctx.owner_id)
    with ctx.database.session() as session:
        run_id = runs.start_run(
            session, principal=owner, workspace_id=ctx.workspace_id, as_of=ctx.now
        ).id
    runs.perform_run(ctx.database, run_id=run_id)
    task.advance(1)
    for name, description, rule in SEGMENTS:
        with ctx.database.session() as session:
            segments.create_segment(
                session, principal=owner, name=name, description=description, rule=rule
            )
        task.advance(1)
    task.finish()
