"""A small shop whose funnel is known by heart: who viewed, added, checked out and ordered, on
which platform, with a merged profile and a visit just before the period."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from cxloop.models import Customer, Event
from tests.factories import unique

KST = ZoneInfo("Asia/Seoul")
DAY1 = datetime(2026, 3, 2, tzinfo=KST)  # a Monday; the period is 2 to 8 March
STEPS = "Product Viewed,Product Added,Checkout Started,Order Completed"


def _event(session: Session, customer: Customer, name: str, at: datetime, platform: str) -> None:
    session.add(
        Event(
            workspace_id=customer.workspace_id,
            customer_id=customer.id,
            message_id=unique("m-"),
            type="track",
            name=name,
            channel="web",
            timestamp=at,
            received_at=at,
            properties={"platform": platform},
            context={},
        )
    )


def shop_story(session: Session, workspace_id: int) -> dict[str, int]:
    """Persons by name → profile id; the expected funnel is in the tests."""
    names = ["web1", "web2", "web3", "ios1", "ios2", "and1", "early", "web3-other-device"]
    people = {
        name: Customer(workspace_id=workspace_id, traits={"tier": name[:3]}) for name in names
    }
    session.add_all(people.values())
    session.flush()
    people["web3-other-device"].merged_into_id = people["web3"].id

    def did(who: str, platform: str, *steps: tuple[str, timedelta]) -> None:
        for name, offset in steps:
            _event(session, people[who], name, DAY1 + offset, platform)

    h = timedelta(hours=1)
    m = timedelta(minutes=1)
    d = timedelta(days=1)
    did(
        "web1",
        "web",
        ("Product Viewed", 10 * h),
        ("Product Added", 10 * h + 5 * m),
        ("Checkout Started", 10 * h + 10 * m),
        ("Order Completed", 10 * h + 20 * m),
    )
    did(
        "web2",
        "web",
        ("Product Viewed", 11 * h),
        ("Product Added", 11 * h + 30 * m),
        ("Checkout Started", 12 * h),
        ("Order Completed", d + 11 * h),
    )
    did("web3", "web", ("Product Viewed", d + 9 * h), ("Product Added", d + 10 * h))
    did(
        "web3-other-device",
        "ios",
        ("Checkout Started", d + 14 * h),
        ("Order Completed", d + 15 * h),
    )
    did(
        "ios1",
        "ios",
        ("Product Viewed", 9 * h),
        ("Product Added", 9 * h + m),
        ("Checkout Started", 9 * h + 2 * m),
        ("Support Chat Started", 9 * h + 3 * m),
    )
    did(
        "ios2",
        "ios",
        ("Product Viewed", 2 * d),
        ("Product Added", 2 * d + h),
        ("Checkout Started", 2 * d + 2 * h),
        ("Order Completed", 18 * d),
    )
    did("and1", "android", ("Product Viewed", d + 20 * h), ("Support Chat Started", d + 21 * h))
    # The day before the period: not in this funnel.
    did(
        "early",
        "web",
        ("Product Viewed", -m),
        ("Product Added", 5 * m),
        ("Checkout Started", 6 * m),
        ("Order Completed", 7 * m),
    )
    session.flush()
    return {name: c.id for name, c in people.items()}
