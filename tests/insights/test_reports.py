"""The RFM report of the insights page: cells as of a moment, and who moved between them over
the month before (every buyer counted once: moved, stayed or new)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from cxloop.insights import reports
from cxloop.models import Order
from tests.factories import make_customer, make_workspace, unique

KST = ZoneInfo("Asia/Seoul")
AS_OF = datetime(2026, 9, 1, tzinfo=KST)


def test_cells_and_movement_count_every_buyer_once(session: Session) -> None:
    workspace = make_workspace(session)
    # 40 buyers: ten spend more and more often; the last five bought first in the last month.
    for n in range(40):
        customer = make_customer(session, workspace=workspace)
        first = AS_OF - timedelta(days=20 if n >= 35 else 300 - n * 5)
        times = 1 + (n % 10 == 0) * 6 + n % 3
        for k in range(times):
            session.add(
                Order(
                    workspace_id=workspace.id,
                    customer_id=customer.id,
                    external_id=unique("O-"),
                    total=Decimal(10_000 * (1 + n % 7)),
                    placed_at=first + timedelta(days=k * 9),
                    properties={},
                )
            )
    session.flush()

    report = reports.rfm_report(session, workspace_id=workspace.id, as_of=AS_OF)

    assert report.buyers == 40
    assert sum(c.customers for c in report.cells) == 40
    assert sum(c.revenue_share for c in report.cells) == pytest.approx(1.0)
    assert {c.key for c in report.cells} >= {"champions", "at_risk", "lost"}
    assert all(c.names["ko"] and c.names["en"] for c in report.cells)
    stayed_or_moved = sum(sum(row.values()) for row in report.movement.values())
    assert stayed_or_moved + sum(report.newcomers.values()) == 40
    assert sum(report.newcomers.values()) == 5


def test_a_workspace_without_buyers_has_an_empty_report(session: Session) -> None:
    workspace = make_workspace(session)

    report = reports.rfm_report(session, workspace_id=workspace.id, as_of=AS_OF)

    assert report.buyers == 0 and report.movement == {} and report.newcomers == {}
    assert all(c.customers == 0 for c in report.cells)
