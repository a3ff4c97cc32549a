"""A year of shopping behaviour as Segment messages, in the order a live shop would send them.

Each person's visits are planned first (when, on which device, to buy or not); the visits of
everyone are then played in time order, each turned into the page/screen views, searches,
product, cart, checkout, payment and order events the Segment SDKs would send (each with the
``platform`` it came from), plus the identify calls of sign-ups and logins and the server-side
refunds and tier changes. Checkouts tell the stories of ``stories``: the mobile checkout loop
and the payment incident.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from random import Random
from typing import Any
from urllib.parse import quote

from cxloop.core.timeutil import KST
from cxloop.demo.calendar import DAY, Calendar, iso
from cxloop.demo.catalogue import DEPARTMENT_CODES, SHOP_URL, Catalogue, CatalogueProduct
from cxloop.demo.people import TIERS, Device, Person
from cxloop.demo.stories import (
    APP_PAYMENT_LOOP,
    EARLY_RETURNS,
    EARLY_WEEKS,
    FAILURE_REASONS,
    INCIDENT_CHAT_SHARE,
    INCIDENT_PAID_SHARE,
    MOBILE_LOOP_CHAT_SHARE,
    MOBILE_LOOP_RECOVERS,
    MOBILE_LOOP_ROUNDS,
    MOBILE_LOOP_SHARE,
    PAYMENT_FAILED,
    incident_window,
)

FREE_SHIPPING_FROM = 50_000
SHIPPING_FEE = 3_000
REFUND_SHARE = 0.05
ABANDON_SHARE = 0.15
STILL_ACTIVE = frozenset({"one_time", "occasional", "loyal"})
RECENT = 120  # days: the last visit of a buyer who has not churned is at most this old
# Orders placed (in the window) from which a member moves up to a tier.
TIER_THRESHOLDS = (("silver", 3), ("gold", 6), ("vip", 9))
PAYMENT_METHODS = (
    ("card", 40),
    ("kakaopay", 20),
    ("naverpay", 20),
    ("tosspay", 10),
    ("bank_transfer", 10),
)
SERVER_CONTEXT = {"library": {"name": "analytics-python", "version": "2.3.3"}}
# Where people first came from: context.campaign and the referrer of the landing page.
CAMPAIGNS: dict[str, tuple[dict[str, str] | None, str]] = {
    "naver_search": (
        {"source": "naver", "medium": "cpc", "name": "brand_keyword"},
        "https://search.naver.com/",
    ),
    "google_search": ({"source": "google", "medium": "cpc", "name": "generic"}, "https://www.google.com/"),
    "instagram": (
        {"source": "instagram", "medium": "social", "name": "reels_ad"},
        "https://www.instagram.com/",
    ),
    "kakao_channel": ({"source": "kakao", "medium": "message", "name": "channel_friend"}, ""),
    "youtube": ({"source": "youtube", "medium": "video", "name": "review"}, "https://www.youtube.com/"),
    "naver_blog": ({"source": "naver_blog", "medium": "referral", "name": "blog_review"}, "https://blog.naver.com/"),
    "referral": ({"source": "friend", "medium": "referral", "name": "invite"}, ""),
    "organic": (None, ""),
}  # fmt: skip
OCCASION_EVENTS = {
    "seollal": ("설 선물 기획전", "SEOLLAL10"),
    "chuseok": ("추석 선물 기획전", "CHUSEOK10"),
    "black_friday": ("블랙프라이데이", "BLACKFRIDAY15"),
    "pepero": ("빼빼로데이 특가", "PEPERO10"),
    "christmas": ("크리스마스 선물전", "XMAS10"),
    "family_month": ("가정의 달 선물전", "FAMILY10"),
    "valentine": ("발렌타인데이", "LOVE10"),
}
# name on the web (page) and in the apps (screen), path on the web
VIEWS = {
    "home": ("홈", "Home", "/"),
    "category": ("카테고리", "Category", "/category/"),
    "product": ("상품 상세", "Product Detail", "/products/"),
    "search": ("검색", "Search", "/search?q="),
    "cart": ("장바구니", "Cart", "/cart"),
    "checkout": ("주문서", "Checkout", "/checkout"),
    "complete": ("주문 완료", "Order Complete", "/order/complete"),
    "event": ("기획전", "Event", "/events/"),
    "join": ("회원가입", "Sign Up", "/join"),
    "login": ("로그인", "Login", "/login"),
}


@dataclass(slots=True)
class Visit:
    """One planned visit: pre (before signing up), signup, browse, abandon or buy."""

    person: Person
    number: int
    device: Device
    intent: str


class Behaviour:
    """Plans everyone's visits and plays them, in time order, as Segment messages."""

    def __init__(
        self,
        *,
        seed: int,
        rng: Random,
        calendar: Calendar,
        catalogue: Catalogue,
        people: list[Person],
    ) -> None:
        self.seed = seed
        self.rng = rng
        self.calendar = calendar
        self.catalogue = catalogue
        self.people = people
        self.incident = incident_window(calendar)
        self.messages = 0
        self.order_numbers = 0
        # (when, tie-breaker, a visit or a refund of (person, order id, total))
        self._queue: list[tuple[float, int, Visit | tuple[Person, str, int]]] = []
        self._sequence = 0

    # --- planning ------------------------------------------------------------------------------

    def plan(self) -> int:
        """Plan every visit; returns how many there are."""
        for person in self.people:
            for at, visit in self._plan_person(person):
                self._push(at, visit)
        return len(self._queue)

    def _push(self, at: float, item: Visit | tuple[Person, str, int]) -> None:
        self._sequence += 1
        self._queue.append((at, self._sequence, item))

    def _plan_person(self, person: Person) -> list[tuple[float, Visit]]:
        rng, calendar = self.rng, self.calendar
        last = min(person.active_until, calendar.end - 3600.0)
        times: list[tuple[float, str]] = []
        signup = person.signup_at
        if person.is_member and signup is not None and signup >= calendar.start:
            if person.active_from < signup:
                for _ in range(rng.choice((1, 1, 2))):
                    times.append((calendar.sample(rng, person.active_from, signup), "pre"))
            times.append((signup, "signup"))
            first = signup + 3600.0
            early = EARLY_RETURNS.get(person.marketing_source, 0.0)
        else:
            first = person.active_from
            early = 0.0
        while len(times) < person.visits:
            high = last
            if early and rng.random() < early:  # back within the first weeks
                high = min(last, first + EARLY_WEEKS * 7 * DAY)
            times.append((calendar.sample(rng, first, high), "browse"))
        if person.persona in STILL_ACTIVE and max(at for at, _ in times) < last - RECENT * DAY:
            # Buyers who have not churned came back lately: only churned members (and some
            # browsers) go quiet for the churn window.
            recent = (calendar.sample(rng, max(first, last - RECENT * DAY), last), "browse")
            if times[-1][1] == "browse":
                times[-1] = recent
            else:
                times.append(recent)
        times.sort()
        # Visits of one person never overlap.
        spaced: list[tuple[float, str]] = []
        for at, intent in times:
            if spaced and at < spaced[-1][0] + 1800.0:
                at = spaced[-1][0] + 1800.0
            spaced.append((at, intent))
        intents = [intent for _, intent in spaced]
        # The buying visits: likelier on busy (seasonal) days, never before signing up.
        eligible = [i for i, intent in enumerate(intents) if intent != "pre"]
        keys = sorted(
            eligible,
            key=lambda i: rng.random() ** (1.0 / calendar.weight(spaced[i][0]) ** 1.5),
            reverse=True,
        )
        for i in keys[: person.orders_planned]:
            intents[i] = "buy"
        for i in keys[person.orders_planned :]:
            if intents[i] == "browse" and rng.random() < ABANDON_SHARE:
                intents[i] = "abandon"
        # A second device (an app installed later, say) is first used after signing up, and
        # its first visit logs in: its anonymous profile then merges into the member's.
        second = person.second_device_from
        if second is not None:
            second = max(second, intents.count("pre") + 1)
        visits = []
        for number, ((at, _), intent) in enumerate(zip(spaced, intents, strict=True)):
            device = person.devices[0]
            if second is not None and (
                number == second or (number > second and rng.random() < 0.6)
            ):
                device = person.devices[1]
            visits.append((at, Visit(person, number, device, intent)))
        return visits

    # --- playing -------------------------------------------------------------------------------

    def play(self) -> Iterator[tuple[bool, float, list[dict[str, Any]]]]:
        """Each planned visit and each refund, in time order: whether it is a visit, its
        last moment and its messages."""
        heapq.heapify(self._queue)
        while self._queue:
            at, _, item = heapq.heappop(self._queue)
            if isinstance(item, Visit):
                script = _Script(self, item.person, item.device, at)
                self._visit(script, item)
                yield True, script.clock, script.out
            else:
                person, order_id, total = item
                yield False, at, [self._refund(person, order_id, total, at)]

    def message(
        self, person: Person, device: Device | None, at: float, body: dict[str, Any]
    ) -> dict[str, Any]:
        """One Segment message with the next message id, as ``device`` (or the server) sends it."""
        self.messages += 1
        raw: dict[str, Any] = {
            "messageId": f"demo-{self.seed}-{self.messages}",
            "timestamp": iso(at),
        }
        if device is None:  # sent by the shop's server, which knows only the member
            raw["userId"] = person.user_id
            raw["context"] = SERVER_CONTEXT
        else:
            raw["anonymousId"] = device.anonymous_id
            if device.logged_in:
                raw["userId"] = person.user_id
            raw["context"] = device.context
        raw.update(body)
        return raw

    def _visit(self, script: _Script, visit: Visit) -> None:
        rng = self.rng
        person, device, intent = visit.person, visit.device, visit.intent
        occasion = self.calendar.occasion(script.clock)

        # Landing: the first visit carries the campaign that brought the person here.
        landing: dict[str, Any] = {}
        if visit.number == 0:
            campaign, referrer = CAMPAIGNS[person.marketing_source]
            if campaign:
                landing["campaign"] = campaign
            if referrer and device.platform == "web":
                landing["referrer"] = referrer
        if occasion and rng.random() < 0.5:
            script.view("event", occasion, OCCASION_EVENTS[occasion][0], **landing)
        else:
            script.view("home", **landing)

        # A member signs up, or logs in on a device not used since; visitors never do.
        if person.is_member and not device.logged_in and intent != "pre":
            script.view("join" if intent == "signup" else "login")
            device.logged_in = True
            script.identify({**person.traits, "tier": person.tier})
            if intent == "signup":
                kakao = "kakao_id" in person.traits and rng.random() < 0.6
                method = "kakao" if kakao else "email"
                script.track(
                    "Signed Up", {"method": method, "marketing_source": person.marketing_source}
                )

        if intent in ("browse", "abandon") and person.owed_orders:
            person.owed_orders -= 1  # back for what they could not pay for last time
            intent = "buy"
        viewed = self._browse(script, occasion)
        if intent == "buy":
            self._buy(script, occasion, viewed)
        elif intent == "abandon":
            cart = self._cart(viewed)
            self._add_to_cart(script, cart)
            if rng.random() < 0.5:
                script.view("checkout")
                script.track("Checkout Started", self._amounts(cart, person, occasion))
        elif rng.random() < 0.1:
            script.track("Product Added to Wishlist", viewed[-1].properties())

    def _browse(self, script: _Script, occasion: str | None) -> list[CatalogueProduct]:
        rng = self.rng
        count = rng.choice((1, 1, 1, 2, 2, 3))
        products = self.catalogue.pick(
            rng, favourites=script.person.favourites, occasion=occasion, k=count
        )
        first = products[0]
        roll = rng.random()
        if roll < 0.35:
            script.view("search", first.keyword)
            script.track("Products Searched", {"query": first.keyword})
        elif roll < 0.65:
            code = DEPARTMENT_CODES[first.department].lower()
            script.view("category", code, first.department)
            script.track("Product List Viewed", {"list_id": code, "category": first.department})
        for product in products:
            script.view("product", product.product_id, product.name)
            script.track("Product Viewed", product.properties())
            script.tick(10.0, 120.0)  # reading the page
        return products

    def _cart(self, viewed: list[CatalogueProduct]) -> list[tuple[CatalogueProduct, int]]:
        rng = self.rng
        chosen: dict[str, tuple[CatalogueProduct, int]] = {}
        for product in rng.sample(viewed, k=rng.randint(1, min(3, len(viewed)))):
            quantity = 1 if rng.random() < 0.85 else rng.choice((2, 2, 3))
            chosen[product.product_id] = (product, quantity)
        return list(chosen.values())

    def _add_to_cart(self, script: _Script, cart: list[tuple[CatalogueProduct, int]]) -> None:
        cart_id = f"{self.rng.getrandbits(48):012x}"
        for product, quantity in cart:
            script.track(
                "Product Added", {**product.properties(), "quantity": quantity, "cart_id": cart_id}
            )
        script.view("cart")
        script.track("Cart Viewed", {"cart_id": cart_id, "products": _lines(cart)})

    def _amounts(
        self, cart: list[tuple[CatalogueProduct, int]], person: Person, occasion: str | None
    ) -> dict[str, Any]:
        """Segment's order amounts in whole won: revenue leaves out shipping; VAT is included."""
        rng = self.rng
        subtotal = sum(p.price * quantity for p, quantity in cart)
        coupon = None
        if not person.orders and rng.random() < 0.3:
            coupon = "WELCOME10"
        elif occasion and rng.random() < 0.3:
            coupon = OCCASION_EVENTS[occasion][1]
        percent = 15 if coupon == "BLACKFRIDAY15" else 10
        discount = int(round(subtotal * percent / 100, -2)) if coupon else 0
        revenue = subtotal - discount
        shipping = 0 if revenue >= FREE_SHIPPING_FROM else SHIPPING_FEE
        total = revenue + shipping
        amounts: dict[str, Any] = {
            "total": total,
            "revenue": revenue,
            "shipping": shipping,
            "tax": round(total / 11),
            "discount": discount,
            "currency": "KRW",
            "products": _lines(cart),
        }
        if coupon:
            amounts["coupon"] = coupon
        return amounts

    def _buy(self, script: _Script, occasion: str | None, viewed: list[CatalogueProduct]) -> None:
        rng, person = self.rng, script.person
        cart = self._cart(viewed)
        self._add_to_cart(script, cart)
        amounts = self._amounts(cart, person, occasion)
        self.order_numbers += 1
        script.view("checkout")
        day = datetime.fromtimestamp(script.clock, KST).strftime("%Y%m%d")
        order_id = f"{day}-{self.order_numbers:06d}"
        checkout = {"order_id": order_id, **amounts}
        script.track("Checkout Started", checkout)
        payment = rng.choices(
            [m for m, _ in PAYMENT_METHODS], weights=[w for _, w in PAYMENT_METHODS]
        )[0]
        if not self._pay(script, checkout, payment):
            person.owed_orders += 1
            return
        script.track(
            "Order Completed", {"order_id": order_id, "payment_method": payment, **amounts}
        )
        person.orders.append((order_id, script.clock, amounts["total"]))
        script.view("complete")
        # Members move up a tier as they order more; the shop's server tells the profile.
        for tier, threshold in TIER_THRESHOLDS:
            if len(person.orders) == threshold and TIERS.index(tier) > TIERS.index(person.tier):
                person.tier = tier
                script.identify({"tier": tier}, from_server=True)
        if rng.random() < REFUND_SHARE:
            refund_at = script.clock + rng.uniform(2, 10) * DAY
            if refund_at < self.calendar.end - 3600.0:
                self._sequence += 1
                heapq.heappush(  # into the queue ``play`` is working through
                    self._queue, (refund_at, self._sequence, (person, order_id, amounts["total"]))
                )

    def _pay(self, script: _Script, checkout: dict[str, Any], payment: str) -> bool:
        """The payment step of a checkout: whether the order went through. In the incident
        most payments fail; in the apps many shoppers are sent back to the cart instead."""
        rng = self.rng
        entered = {"order_id": checkout["order_id"], "step": 2, "payment_method": payment}
        if self.incident[0] <= script.clock < self.incident[1]:
            tries = rng.choice((1, 1, 2, 2, 3))
            paid = rng.random() < INCIDENT_PAID_SHARE
            for attempt in range(tries):
                script.track("Payment Info Entered", entered)
                if paid and attempt == tries - 1:
                    return True
                reason = rng.choices(
                    [r for r, _ in FAILURE_REASONS], weights=[w for _, w in FAILURE_REASONS]
                )[0]
                failed = {"order_id": checkout["order_id"], "payment_method": payment}
                script.track("Payment Failed", {**failed, "reason": reason})
            if rng.random() < INCIDENT_CHAT_SHARE:
                self._chat(script, PAYMENT_FAILED, checkout["order_id"])
            return False
        if script.device.platform == "web" or rng.random() >= MOBILE_LOOP_SHARE:
            script.track("Payment Info Entered", entered)
            return True
        # The card app hands back to the cart, not to the order form: round and round.
        rounds = rng.choice(MOBILE_LOOP_ROUNDS)
        for round_ in range(rounds):
            script.track("Payment Info Entered", entered)
            script.view("cart")
            if round_ < rounds - 1:
                script.view("checkout")
                script.track("Checkout Started", checkout)
        if rng.random() < MOBILE_LOOP_RECOVERS:
            script.view("checkout")
            script.track("Checkout Started", checkout)
            script.track("Payment Info Entered", entered)
            return True
        if rng.random() < MOBILE_LOOP_CHAT_SHARE:
            self._chat(script, APP_PAYMENT_LOOP, checkout["order_id"])
        return False

    def _chat(self, script: _Script, topic: str, order_id: str) -> None:
        """The shopper opens the support chat about a payment (the care phase writes some of
        these chats out as conversations)."""
        script.track("Support Chat Started", {"topic": topic, "order_id": order_id})
        script.person.chats.append((script.clock, topic, script.device.anonymous_id))

    def _refund(self, person: Person, order_id: str, total: int, at: float) -> dict[str, Any]:
        reason = self.rng.choice(("단순 변심", "상품 불량", "배송 지연", "사이즈 안 맞음"))
        properties = {"order_id": order_id, "total": total, "currency": "KRW", "reason": reason}
        return self.message(
            person, None, at, {"type": "track", "event": "Order Refunded", "properties": properties}
        )


def _lines(cart: list[tuple[CatalogueProduct, int]]) -> list[dict[str, Any]]:
    """Cart or order lines as Segment's ``products`` array."""
    return [
        {
            "product_id": p.product_id,
            "sku": p.sku,
            "name": p.name,
            "brand": p.brand,
            "category": p.category,
            "price": p.price,
            "quantity": quantity,
        }
        for p, quantity in cart
    ]


class _Script:
    """Writes the messages of one visit, moving its clock on with every step."""

    def __init__(self, behaviour: Behaviour, person: Person, device: Device, at: float) -> None:
        self.behaviour = behaviour
        self.person = person
        self.device = device
        self.clock = at
        self.out: list[dict[str, Any]] = []

    def tick(self, low: float = 4.0, high: float = 75.0) -> float:
        self.clock += self.behaviour.rng.uniform(low, high)
        return self.clock

    def _send(self, body: dict[str, Any], device: Device | None) -> None:
        self.out.append(self.behaviour.message(self.person, device, self.tick(), body))

    def view(self, kind: str, detail: str = "", title: str = "", **context: Any) -> None:
        """A page view on the web, a screen view in the apps."""
        page_name, screen_name, path = VIEWS[kind]
        device = self.device
        body: dict[str, Any]
        if device.platform == "web":
            page = {
                "path": path + quote(detail),
                "url": SHOP_URL + path + quote(detail),
                "title": f"{title or page_name} | 데모몰",
            }
            if "referrer" in context:
                page["referrer"] = context.pop("referrer")
            body = {"type": "page", "name": page_name, "properties": page}
        else:
            context.pop("referrer", None)
            body = {
                "type": "screen",
                "name": screen_name,
                "properties": {"title": title} if title else {},
            }
        if context:
            body["context"] = {**device.context, **context}
        self._send(body, device)

    def track(self, event: str, properties: dict[str, Any]) -> None:
        """A track call, with the ``platform`` (web, ios, android) the shop's SDKs add."""
        properties = {**properties, "platform": self.device.platform}
        self._send({"type": "track", "event": event, "properties": properties}, self.device)

    def identify(self, traits: dict[str, Any], *, from_server: bool = False) -> None:
        self._send({"type": "identify", "traits": traits}, None if from_server else self.device)
