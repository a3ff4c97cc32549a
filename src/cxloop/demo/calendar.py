"""The demo's year: a fixed "now", the 365 days before it, and when Korean shoppers shop."""

from __future__ import annotations

import bisect
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from random import Random

from cxloop.core.timeutil import KST

WINDOW_DAYS = 365
DAY = 86_400.0

# 설날 (1st day of the 1st lunar month) and 추석 (15th of the 8th), as observed in Korea.
# A gift season is three weeks long, so a date off by a day would not show in the data.
LUNAR_HOLIDAYS: dict[int, tuple[date, date]] = {
    2024: (date(2024, 2, 10), date(2024, 9, 17)),
    2025: (date(2025, 1, 29), date(2025, 10, 6)),
    2026: (date(2026, 2, 17), date(2026, 9, 25)),
    2027: (date(2027, 2, 7), date(2027, 9, 15)),
    2028: (date(2028, 1, 26), date(2028, 10, 3)),
    2029: (date(2029, 2, 13), date(2029, 9, 22)),
    2030: (date(2030, 2, 3), date(2030, 9, 12)),
}

# Share of visits per hour of the day, KST: lunch break and the late-evening peak.
HOUR_WEIGHTS = (
    2.0, 1.0, 0.5, 0.3, 0.3, 0.4, 0.8, 1.5, 2.2, 2.5, 2.8, 3.0,
    3.8, 3.5, 3.0, 3.0, 3.0, 3.2, 3.5, 4.0, 4.8, 5.2, 4.8, 3.5,
)  # fmt: skip
HOUR_CUM = list(accumulate(HOUR_WEIGHTS))
# Monday … Sunday.
WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.95, 0.9, 1.05)


def demo_now(at: datetime | None = None) -> datetime:
    """The fixed "now" of a build: the start of the current day in Seoul, in UTC.

    Every timestamp is an offset from it, so one seed gives the same data all day long.
    """
    moment = (at or datetime.now(UTC)).astimezone(KST)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(UTC)


def black_friday(year: int) -> date:
    """The fourth Friday of November."""
    first = date(year, 11, 1)
    first_friday = first + timedelta(days=(4 - first.weekday()) % 7)
    return first_friday + timedelta(weeks=3)


def occasion_of(day: date) -> str | None:
    """The shopping occasion a KST calendar day falls in, if any."""
    for holiday_year in (day.year, day.year + 1):
        seollal, chuseok = LUNAR_HOLIDAYS.get(holiday_year, (None, None))
        for name, holiday in (("seollal", seollal), ("chuseok", chuseok)):
            if holiday is not None and 0 < (holiday - day).days <= 21:
                return name
    friday = black_friday(day.year)
    if -2 <= (day - friday).days <= 3:
        return "black_friday"
    if day.month == 11 and 4 <= day.day <= 11:
        return "pepero"  # 빼빼로데이, 11 November
    if day.month == 12 and 14 <= day.day <= 24:
        return "christmas"
    if day.month == 5 and day.day <= 8:
        return "family_month"  # 어린이날 and 어버이날
    if day.month == 2 and 7 <= day.day <= 14:
        return "valentine"
    return None


OCCASION_TRAFFIC = {
    "seollal": 1.5,
    "chuseok": 1.6,
    "black_friday": 1.9,
    "pepero": 1.35,
    "christmas": 1.5,
    "family_month": 1.3,
    "valentine": 1.15,
}


def traffic_weight(day: date, position: float) -> float:
    """How busy a day is relative to an ordinary one; ``position`` 0…1 runs through the year
    (the shop grows by about a third over it)."""
    weight = (0.85 + 0.3 * position) * WEEKDAY_WEIGHTS[day.weekday()]
    occasion = occasion_of(day)
    if occasion is not None:
        weight *= OCCASION_TRAFFIC[occasion]
    elif day.month == 12:
        weight *= 1.2
    elif (day.month == 7 and day.day >= 15) or (day.month == 8 and day.day <= 15):
        weight *= 0.9  # summer holidays
    if any(abs((day - holiday).days) <= 1 for holiday in LUNAR_HOLIDAYS.get(day.year, ())):
        weight *= 0.6  # the holiday itself: families together, fewer visits
    return weight


class Calendar:
    """The 365 KST days before ``now``, with a weight per day for sampling visit times."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.end = now.timestamp()
        self.start = self.end - WINDOW_DAYS * DAY
        first = (now - timedelta(days=WINDOW_DAYS)).astimezone(KST).date()
        self.days = [first + timedelta(days=i) for i in range(WINDOW_DAYS)]
        self.weights = [
            traffic_weight(day, i / (WINDOW_DAYS - 1)) for i, day in enumerate(self.days)
        ]
        self.cumulative = list(accumulate(self.weights))
        self.occasions = [occasion_of(day) for day in self.days]

    def day_index(self, at: float) -> int:
        return min(WINDOW_DAYS - 1, max(0, int((at - self.start) // DAY)))

    def occasion(self, at: float) -> str | None:
        if at < self.start:
            return None
        return self.occasions[self.day_index(at)]

    def weight(self, at: float) -> float:
        return self.weights[self.day_index(at)] if at >= self.start else 1.0

    def sample(self, rng: Random, low: float, high: float) -> float:
        """A moment in [low, high): busier days and hours are likelier."""
        low, high = max(low, self.start), min(high, self.end)
        if high - low < DAY:
            return low + rng.random() * max(0.0, high - low)
        first, last = self.day_index(low), self.day_index(high - 1)
        base = self.cumulative[first - 1] if first else 0.0
        for _ in range(8):
            pick = base + rng.random() * (self.cumulative[last] - base)
            index = min(bisect.bisect_left(self.cumulative, pick), last)
            hour = bisect.bisect_left(HOUR_CUM, rng.random() * HOUR_CUM[-1])
            at = self.start + index * DAY + hour * 3600.0 + rng.random() * 3600.0
            if low <= at < high:
                return at
        return low + rng.random() * (high - low)


def iso(at: float) -> str:
    """An epoch moment as Segment writes timestamps: ISO 8601, milliseconds, ``Z``."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
