"""Bus consumer: segments kept current as events arrive.

Each batch names the customers it touched; every active segment of their workspaces is
re-evaluated for those customers only (one compiled query per segment, narrowed to them), so a
purchase, a survey answer or a new prediction moves a customer in or out within a bus cycle.
A profile merged away leaves its segments and its survivor is evaluated in its place. Rules
that change with time alone ("bought in the last 90 days") are caught by the periodic full
refresh (``insights.tasks``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.core.batching import chunked
from cxloop.insights.segments import service
from cxloop.models import Customer, Event, Segment


class SegmentFreshness:
    name = "insights_segments"
    columns: tuple[str, ...] | None = ("workspace_id", "customer_id")

    def handle(self, session: Session, events: Sequence[Event]) -> None:
        touched: dict[int, set[int]] = defaultdict(set)
        for event in events:
            touched[event.workspace_id].add(event.customer_id)
        with_segments = set(
            session.scalars(
                select(Segment.workspace_id)
                .where(Segment.workspace_id.in_(sorted(touched)), Segment.archived_at.is_(None))
                .distinct()
            )
        )
        for workspace_id in sorted(with_segments):
            customers = set(touched[workspace_id])
            for chunk in chunked(sorted(customers), 1_000):
                customers.update(
                    session.scalars(
                        select(func.coalesce(Customer.merged_into_id, Customer.id)).where(
                            Customer.id.in_(chunk), Customer.workspace_id == workspace_id
                        )
                    )
                )
            service.refresh_workspace(
                session, workspace_id=workspace_id, customer_ids=sorted(customers)
            )


segment_freshness = SegmentFreshness()
