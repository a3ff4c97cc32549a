"""The CX dashboard's queries: headline scores with their intervals and the change from the
previous period, response rate, weekly or monthly trends, breakdowns by any dimension, key
drivers, business KPIs, and the CSV tables of each block.

Every query counts completed responses of one workspace, aggregates in the database (counts per
score group, sums for CES) and hands the few aggregated rows to the estimators of
:mod:`cxloop.core.stats`; nothing here reads responses one by one, so the dashboard stays
fast with millions of answers. Periods are half-open, ``start <= submitted_at < end``.

One module per block (``scores``, ``trend``, ``breakdowns``, ``drivers``, ``business``), what
they share (``scope``: filters and periods; ``tally``: counts and the scores made of them), the
filter form's choices (``pickers``) and the CSV export (``export``). This package's names are
what the REST API, the /cx page and the benchmarks use.
"""

from cxloop.metrics.dashboard.breakdowns import (
    MAX_TRAIT_KEY,
    Breakdown,
    Segment,
    breakdown,
)
from cxloop.metrics.dashboard.business import BusinessKpis, business_kpi_work, business_kpis
from cxloop.metrics.dashboard.drivers import Drivers, key_drivers, nps_drivers
from cxloop.metrics.dashboard.export import (
    breakdown_table,
    csv_bytes,
    export_filename,
    export_table,
)
from cxloop.metrics.dashboard.pickers import trait_keys, workspace_surveys
from cxloop.metrics.dashboard.scope import (
    BLOCKS,
    DIMENSIONS,
    METRICS,
    Block,
    Dimension,
    DriverSource,
    Metric,
    Scope,
    make_scope,
    resolve_scope,
    workspace_zone,
)
from cxloop.metrics.dashboard.scores import (
    PeriodScores,
    ResponseRate,
    overall_scores,
    period_scores,
    period_scores_of,
    period_tally,
    response_rate,
)
from cxloop.metrics.dashboard.trend import (
    MAX_TREND_BUCKETS,
    TREND_PERIODS,
    Trend,
    TrendBucket,
    TrendPeriod,
    period_trend,
    score_trend,
    trend_period,
)

__all__ = [
    "BLOCKS",
    "DIMENSIONS",
    "MAX_TRAIT_KEY",
    "MAX_TREND_BUCKETS",
    "METRICS",
    "TREND_PERIODS",
    "Block",
    "Breakdown",
    "BusinessKpis",
    "Dimension",
    "DriverSource",
    "Drivers",
    "Metric",
    "PeriodScores",
    "ResponseRate",
    "Scope",
    "Segment",
    "Trend",
    "TrendBucket",
    "TrendPeriod",
    "breakdown",
    "breakdown_table",
    "business_kpi_work",
    "business_kpis",
    "csv_bytes",
    "export_filename",
    "export_table",
    "key_drivers",
    "make_scope",
    "nps_drivers",
    "overall_scores",
    "period_scores",
    "period_scores_of",
    "period_tally",
    "period_trend",
    "resolve_scope",
    "response_rate",
    "score_trend",
    "trait_keys",
    "trend_period",
    "workspace_surveys",
    "workspace_zone",
]
