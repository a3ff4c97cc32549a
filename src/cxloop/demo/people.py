"""The demo's people: members (Korean and English speakers) and visitors who never sign up.

Each person gets a persona that fixes how often they visit and how many orders they place, so
the shares of browsers, one-time and repeat buyers and churned customers are the same for any
seed; names and details come from Faker (ko_KR, en_US) seeded with the build's seed.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from random import Random
from typing import Any

import phonenumbers
from faker import Faker

from cxloop.core.timeutil import KST
from cxloop.demo.calendar import DAY, Calendar
from cxloop.demo.catalogue import DEPARTMENTS
from cxloop.demo.stories import source_weights

KOREAN_SHARE = 0.8
VISITORS_PER_MEMBER = 0.1  # anonymous visitors who never identify, per member
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")  # never a real mailbox
TIERS = ("basic", "silver", "gold", "vip")

# Per block of 20 members: the persona of each, so the shares hold exactly for any seed.
PERSONA_BLOCK = (
    ("churned",) * 3 + ("browser",) * 4 + ("one_time",) * 5 + ("occasional",) * 5 + ("loyal",) * 3
)
# persona: (fewest visits, most visits, order counts to pick from, share signed up before the
# window, latest in-window sign-up in days before now)
PERSONAS: dict[str, tuple[int, int, tuple[int, ...], float, int]] = {
    "browser": (1, 4, (0,), 0.35, 10),
    "one_time": (2, 4, (1,), 0.35, 10),
    "occasional": (3, 7, (2, 2, 3), 0.35, 30),
    "loyal": (7, 15, (3, 4, 5, 6, 7, 9), 0.7, 150),
    "churned": (2, 4, (0, 1, 1, 2, 3), 0.6, 0),
}
CHURNED_DAYS = (200, 320)  # churned members were last active this many days before now

REGIONS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("서울특별시", 19, ("강남구", "송파구", "마포구", "서초구", "관악구", "강서구", "노원구",
                   "영등포구", "성동구", "용산구")),
    ("경기도", 26, ("수원시", "성남시", "고양시", "용인시", "부천시", "화성시", "남양주시",
                 "안양시", "파주시", "김포시")),
    ("인천광역시", 6, ("연수구", "남동구", "부평구", "서구")),
    ("부산광역시", 7, ("해운대구", "부산진구", "수영구", "동래구", "사하구")),
    ("대구광역시", 5, ("수성구", "달서구", "북구", "중구")),
    ("대전광역시", 3, ("유성구", "서구", "중구")),
    ("광주광역시", 3, ("서구", "북구", "광산구")),
    ("울산광역시", 2, ("남구", "울주군")),
    ("세종특별자치시", 1, ("세종시",)),
    ("강원특별자치도", 3, ("춘천시", "원주시", "강릉시")),
    ("충청북도", 3, ("청주시", "충주시")),
    ("충청남도", 4, ("천안시", "아산시")),
    ("전북특별자치도", 3, ("전주시", "익산시")),
    ("전라남도", 3, ("여수시", "순천시", "목포시")),
    ("경상북도", 5, ("포항시", "구미시", "경주시")),
    ("경상남도", 6, ("창원시", "김해시", "진주시")),
    ("제주특별자치도", 1.5, ("제주시", "서귀포시")),
)  # fmt: skip
US_CITIES = (
    ("New York", "NY", "America/New_York"),
    ("Los Angeles", "CA", "America/Los_Angeles"),
    ("San Francisco", "CA", "America/Los_Angeles"),
    ("Seattle", "WA", "America/Los_Angeles"),
    ("Chicago", "IL", "America/Chicago"),
    ("Austin", "TX", "America/Chicago"),
    ("Boston", "MA", "America/New_York"),
    ("Honolulu", "HI", "Pacific/Honolulu"),
)
AGE_BANDS = (("10-19", 3), ("20-29", 25), ("30-39", 32), ("40-49", 22), ("50-59", 12), ("60+", 6))
MARKETING_SOURCES = (
    ("naver_search", 25),
    ("organic", 18),
    ("instagram", 15),
    ("kakao_channel", 12),
    ("google_search", 8),
    ("youtube", 7),
    ("referral", 8),
    ("naver_blog", 7),
)
# (platform, library name, library version): what the real Segment SDKs report.
LIBRARIES = {
    "web": ("analytics.js", "4.1.0"),
    "ios": ("analytics-ios", "4.1.8"),
    "android": ("analytics-android", "4.11.3"),
}
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/25.0 Chrome/121.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
)
PHONE_MODELS = {
    "ios": (("Apple", "iPhone15,2", "iOS", "17.5"), ("Apple", "iPhone16,1", "iOS", "18.1")),
    "android": (
        ("samsung", "SM-S918N", "Android", "14"),
        ("samsung", "SM-A546S", "Android", "14"),
        ("Google", "Pixel 8", "Android", "15"),
    ),
}


@dataclass(slots=True)
class Device:
    """A browser or an app install: its own anonymous id, logged in or not."""

    platform: str
    anonymous_id: str
    context: dict[str, Any]
    logged_in: bool = False


@dataclass(slots=True)
class Person:
    """Someone the demo shop sees: who they are, and the plan their behaviour follows."""

    index: int
    user_id: str | None  # None: a visitor who never signs up
    persona: str
    name: str
    korean: bool
    email: str | None
    phone: str | None  # 010-1234-5678
    locale: str
    timezone: str
    traits: dict[str, Any]
    devices: list[Device]
    signup_at: float | None  # epoch seconds; before the window for long-time members
    active_from: float
    active_until: float
    visits: int
    orders_planned: int
    favourites: tuple[str, ...]
    marketing_source: str
    second_device_from: int | None = None  # the visit from which the second device is used
    # What the behaviour phase made of them.
    tier: str = "basic"
    orders: list[tuple[str, float, int]] = field(default_factory=list)  # (order id, at, total)
    customer_id: int | None = None  # the member's profile, once the events are stored
    owed_orders: int = 0  # orders whose payment failed, tried again on a later visit
    # Support chats opened from the shop: (when, topic, the device's anonymous id).
    chats: list[tuple[float, str, str]] = field(default_factory=list)

    @property
    def is_member(self) -> bool:
        return self.user_id is not None

    def active_at(self, moment: datetime) -> bool:
        """Whether they still deal with the shop at ``moment`` (churned members went quiet)."""
        return moment.timestamp() <= self.active_until


def _weighted(rng: Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _anonymous_id(rng: Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def mobile_number(rng: Random, taken: set[str]) -> str:
    """A Korean mobile number (010-XXXX-XXXX) that ``phonenumbers`` accepts, not yet used."""
    while True:
        number = f"010-{rng.randint(2000, 9999)}-{rng.randint(0, 9999):04d}"
        if number not in taken and phonenumbers.is_valid_number(phonenumbers.parse(number, "KR")):
            taken.add(number)
            return number


def _device(rng: Random, platform: str, locale: str, timezone: str) -> Device:
    library, version = LIBRARIES[platform]
    context: dict[str, Any] = {
        "library": {"name": library, "version": version},
        "locale": locale,
        "timezone": timezone,
    }
    if platform == "web":
        context["userAgent"] = rng.choice(USER_AGENTS)
    else:
        maker, model, os_name, os_version = rng.choice(PHONE_MODELS[platform])
        context["app"] = {"name": "데모몰", "version": "3.12.0", "build": "3120"}
        context["device"] = {"manufacturer": maker, "model": model, "type": platform}
        context["os"] = {"name": os_name, "version": os_version}
    return Device(platform=platform, anonymous_id=_anonymous_id(rng), context=context)


class PeopleFactory:
    """Makes people one at a time from one random stream and two seeded Fakers."""

    def __init__(self, rng: Random, seed: int, calendar: Calendar) -> None:
        self.rng = rng
        self.calendar = calendar
        self.korean_faker = Faker("ko_KR")
        self.korean_faker.seed_instance(seed)
        self.english_faker = Faker("en_US")
        self.english_faker.seed_instance(seed)
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.channel_ids: set[str] = set()

    def _email(self, korean: bool) -> str:
        faker = self.korean_faker if korean else self.english_faker
        while True:
            local = faker.user_name()
            if len(local) < 6 or self.rng.random() < 0.3:
                local += str(self.rng.randint(1, 999))
            email = f"{local}@{self.rng.choice(EMAIL_DOMAINS)}"
            if email not in self.emails:
                self.emails.add(email)
                return email

    def _channel_id(self, make: str) -> str:
        while True:
            value = (
                str(self.rng.randint(1_000_000_000, 4_999_999_999))
                if make == "kakao"
                else "".join(self.rng.choices(string.ascii_letters + string.digits, k=16))
            )
            if value not in self.channel_ids:
                self.channel_ids.add(value)
                return value

    def member(self, index: int, persona: str) -> Person:
        rng, calendar = self.rng, self.calendar
        korean = rng.random() < KOREAN_SHARE
        gender = rng.choice(("female", "female", "female", "male", "male"))  # shoppers skew female
        faker = self.korean_faker if korean else self.english_faker
        name = faker.name_female() if gender == "female" else faker.name_male()
        abroad = not korean and rng.random() < 0.4
        if abroad:
            city, region, timezone = rng.choice(US_CITIES)
            country = "US"
        else:
            region, _, cities = rng.choices(REGIONS, weights=[r[1] for r in REGIONS])[0]
            city, timezone, country = rng.choice(cities), "Asia/Seoul", "KR"
        locale = "ko-KR" if korean else "en-US"
        phone = mobile_number(rng, self.phones) if not abroad and rng.random() < 0.9 else None
        fewest, most, order_counts, before_share, latest_signup = PERSONAS[persona]

        end, start = calendar.end, calendar.start
        active_until = end
        if persona == "churned":
            active_until = end - rng.uniform(*CHURNED_DAYS) * DAY
        if rng.random() < before_share:
            signup_at = start - rng.uniform(30, 4 * 365) * DAY
            active_from = start
        else:
            latest = min(end - latest_signup * DAY, active_until - 14 * DAY)
            signup_at = calendar.sample(rng, start + 3 * DAY, latest)
            active_from = signup_at - rng.choice((0, 0, 1, 2, 4, 7)) * DAY
        orders = rng.choice(order_counts)
        visits = max(rng.randint(fewest, most), orders + 1)

        platforms = ("web", "android", "ios")
        primary = rng.choices(platforms, weights=(45, 35, 20) if korean else (55, 15, 30))[0]
        devices = [_device(rng, primary, locale, timezone)]
        second_device_from = None
        if visits >= 4 and rng.random() < 0.25:
            other = rng.choice(("android", "ios")) if primary == "web" else "web"
            devices.append(_device(rng, other, locale, timezone))
            second_device_from = rng.randint(1, visits - 2)

        source = _weighted(rng, source_weights(MARKETING_SOURCES, persona))
        signup_day = datetime.fromtimestamp(signup_at, UTC).astimezone(KST).date()
        traits: dict[str, Any] = {
            "name": name,
            "email": self._email(korean),
            "gender": gender,
            "age_band": _weighted(rng, AGE_BANDS),
            "country": country,
            "region": region,
            "city": city,
            "marketing_source": source,
            "signup_date": signup_day.isoformat(),
        }
        if phone:
            traits["phone"] = phone
        if korean and rng.random() < 0.5:
            traits["kakao_id"] = self._channel_id("kakao")
        if korean and rng.random() < 0.3:
            traits["naver_id"] = self._channel_id("naver")
        tier = "basic"
        if signup_at < start:  # long-time members already earned a tier
            tier = {"loyal": rng.choice(("silver", "gold", "vip")), "occasional": "silver"}.get(
                persona, "basic"
            )
        traits["tier"] = tier
        return Person(
            index=index,
            user_id=f"M{1_000_001 + index}",
            persona=persona,
            name=name,
            korean=korean,
            email=traits["email"],
            phone=phone,
            locale=locale,
            timezone=timezone,
            traits=traits,
            devices=devices,
            signup_at=signup_at,
            active_from=active_from,
            active_until=active_until,
            visits=visits,
            orders_planned=orders,
            favourites=tuple(sorted(rng.sample(DEPARTMENTS, k=2), key=DEPARTMENTS.index)),
            marketing_source=source,
            second_device_from=second_device_from,
            tier=tier,
        )

    def visitor(self, index: int) -> Person:
        """Someone who looks around once or twice and never signs up."""
        rng = self.rng
        korean = rng.random() < KOREAN_SHARE
        locale = "ko-KR" if korean else "en-US"
        platform = rng.choices(("web", "android", "ios"), weights=(85, 10, 5))[0]
        return Person(
            index=index,
            user_id=None,
            persona="visitor",
            name="",
            korean=korean,
            email=None,
            phone=None,
            locale=locale,
            timezone="Asia/Seoul",
            traits={},
            devices=[_device(rng, platform, locale, "Asia/Seoul")],
            signup_at=None,
            active_from=self.calendar.start,
            active_until=self.calendar.end,
            visits=rng.randint(1, 3),
            orders_planned=0,
            favourites=tuple(sorted(rng.sample(DEPARTMENTS, k=2), key=DEPARTMENTS.index)),
            marketing_source=_weighted(rng, MARKETING_SOURCES),
        )


def visitor_count(members: int) -> int:
    """How many anonymous visitors come with ``members`` members."""
    return round(members * VISITORS_PER_MEMBER)


def make_people(rng: Random, seed: int, calendar: Calendar, members: int) -> Iterator[Person]:
    """``members`` members in persona blocks, then the visitors who never sign up."""
    factory = PeopleFactory(rng, seed, calendar)
    for block_start in range(0, members, len(PERSONA_BLOCK)):
        personas = list(PERSONA_BLOCK)
        rng.shuffle(personas)
        for offset, persona in enumerate(personas[: members - block_start]):
            yield factory.member(block_start + offset, persona)
    for i in range(visitor_count(members)):
        yield factory.visitor(members + i)
