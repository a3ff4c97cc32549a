"""The stories the demo's events tell, for a user to find with funnels, paths and retention.

- The mobile checkout loop: in the apps, the hand-over to a card or pay app often returns to
  the cart instead of the order form, so shoppers enter their payment again and again
  (``Payment Info Entered`` → the cart screen → ``Checkout Started`` …) and most give up, some
  opening the support chat (``Support Chat Started``): checkout converts about half as well on
  mobile as on the web. There is no ``Payment Failed``: the app never hears back.
- The payment incident: for ``INCIDENT_DAYS`` days from ``INCIDENT_STARTS_DAYS_BEFORE`` days
  before the build's day, the payment gateway times out; on every platform about a third of
  the usual checkouts go through, the others end in ``Payment Failed`` (with a ``reason``),
  and payment chats spike (real conversations in the chat inbox, see ``care``).
- Cohorts that retain differently: who a channel brings depends on the channel. Brand searches
  on Naver bring people who came looking for the shop and stay; Instagram reels ads bring
  impulse sign-ups who seldom come back; and those from Naver come back within their first
  weeks (``Signed Up`` carries ``marketing_source``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from cxloop.core.timeutil import KST
from cxloop.demo.calendar import DAY, Calendar

# The payment incident: KST days [build day − 28, build day − 15], inside the care month.
INCIDENT_STARTS_DAYS_BEFORE = 28
INCIDENT_DAYS = 14
INCIDENT_PAID_SHARE = 0.15  # of the checkouts that would have been paid
INCIDENT_CHAT_SHARE = 0.6  # of the shoppers whose payment failed, who open the support chat
# Why the payment gateway turned a payment down, as its error codes are mapped in the shop.
FAILURE_REASONS = (
    ("pg_timeout", 60),  # PG사 응답 시간 초과
    ("pg_server_error", 25),
    ("card_approval_timeout", 15),  # 카드사 승인 지연
)

# The mobile checkout loop: the share of app checkouts sent back to the cart, how many rounds
# a shopper tries, the share who finally get through, and of the rest who open the chat.
MOBILE_LOOP_SHARE = 0.75
MOBILE_LOOP_ROUNDS = (1, 2, 2, 3)
MOBILE_LOOP_RECOVERS = 0.1
MOBILE_LOOP_CHAT_SHARE = 0.35

# Topics of ``Support Chat Started`` (and of the chat conversations the care phase writes).
PAYMENT_FAILED = "payment_failed"
APP_PAYMENT_LOOP = "app_payment_loop"

# How likely each persona is among the members a channel brings (1 where not named); over the
# personas' shares each channel's factors average 1, so it brings as many members as before.
SOURCE_PERSONAS: dict[str, dict[str, float]] = {
    "naver_search": {
        "loyal": 2.6,
        "occasional": 1.7,
        "one_time": 0.5,
        "browser": 0.3,
        "churned": 0.2,
    },
    "instagram": {
        "loyal": 0.1,
        "occasional": 0.3,
        "one_time": 1.0,
        "browser": 1.5,
        "churned": 2.6,
    },
}

# The share of a member's visits after signing up that fall in their first weeks, by the
# channel that brought them (none where not named: spread over their active months).
EARLY_RETURNS = {"naver_search": 0.5}
EARLY_WEEKS = 8


def source_weights(
    sources: tuple[tuple[str, float], ...], persona: str
) -> tuple[tuple[str, float], ...]:
    """The marketing sources' weights for someone of ``persona``."""
    return tuple(
        (source, weight * SOURCE_PERSONAS.get(source, {}).get(persona, 1.0))
        for source, weight in sources
    )


def incident_days(now: datetime) -> tuple[date, date]:
    """The incident's first and last KST day, for a build at ``now``."""
    today = now.astimezone(KST).date()
    first = today - timedelta(days=INCIDENT_STARTS_DAYS_BEFORE)
    return first, first + timedelta(days=INCIDENT_DAYS - 1)


def incident_window(calendar: Calendar) -> tuple[float, float]:
    """The incident as epoch seconds [start, end) (the calendar's days start at KST midnight)."""
    start = calendar.end - INCIDENT_STARTS_DAYS_BEFORE * DAY
    return start, start + INCIDENT_DAYS * DAY
