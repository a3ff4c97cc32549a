"""The business-KPIs block: retention, churn, repeat purchase, order value and cohorts of the
period (from :mod:`cxloop.metrics.kpis`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cxloop.metrics import kpis
from cxloop.metrics.dashboard.scope import Scope, make_scope
from cxloop.models import Workspace


@dataclass(frozen=True, slots=True)
class BusinessKpis:
    scope: Scope
    currency: str
    retention: kpis.Retention
    churn: kpis.Churn
    repeat_purchase: kpis.RepeatPurchase
    order_values: list[kpis.OrderValue]
    cohorts: kpis.CohortTable

    @property
    def order_value(self) -> kpis.OrderValue | None:
        """The average order value in the dashboard's currency, if anyone paid in it."""
        return next((v for v in self.order_values if v.currency == self.currency), None)


@dataclass(frozen=True, slots=True)
class KpiWork:
    """The business KPIs as independent pieces of work (each takes a session), to be run one
    after another or side by side, then put together by :meth:`result`."""

    scope: Scope
    currency: str
    parts: dict[str, Callable[[Session], Any]]

    def result(self, done: Mapping[str, Any]) -> BusinessKpis:
        return BusinessKpis(scope=self.scope, currency=self.currency, **done)


def business_kpi_work(
    *,
    workspace: Workspace,
    start: datetime,
    end: datetime,
    tz: str | None = None,
    currency: str | None = None,
) -> KpiWork:
    """The pieces of :func:`business_kpis`; the workspace's settings are read here, so the
    pieces touch no ORM object of the caller's session."""
    scope = make_scope(workspace_id=workspace.id, start=start, end=end)
    code = (currency or workspace.default_currency or "KRW").upper()
    workspace_id, churn_days = workspace.id, workspace.churn_after_days
    zone = tz or workspace.timezone or kpis.DEFAULT_TZ
    return KpiWork(
        scope=scope,
        currency=code,
        parts={
            "retention": lambda session: kpis.retention_rate(
                session, workspace_id=workspace_id, start=scope.start, end=scope.end
            ),
            "churn": lambda session: kpis.churn_rate(
                session, workspace_id=workspace_id, as_of=scope.end, inactive_days=churn_days
            ),
            "repeat_purchase": lambda session: kpis.repeat_purchase_rate(
                session, workspace_id=workspace_id, start=scope.start, end=scope.end
            ),
            "order_values": lambda session: kpis.average_order_value(
                session, workspace_id=workspace_id, start=scope.start, end=scope.end
            ),
            "cohorts": lambda session: kpis.cohort_table(
                session, workspace_id=workspace_id, as_of=scope.end, currency=code, tz=zone
            ),
        },
    )


def business_kpis(
    session: Session,
    *,
    workspace: Workspace,
    start: datetime,
    end: datetime,
    tz: str | None = None,
    currency: str | None = None,
) -> BusinessKpis:
    """Retention, churn (the workspace's inactivity window, as of the period's end), repeat
    purchase rate, average order value and cumulative value per customer by monthly cohort."""
    work = business_kpi_work(workspace=workspace, start=start, end=end, tz=tz, currency=currency)
    return work.result({name: run(session) for name, run in work.parts.items()})
