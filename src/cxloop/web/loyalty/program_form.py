"""The loyalty program's settings form: the program, its tiers and its earning rules as typed
(so a refused form comes back as it was), read into the API's ``ProgramIn``, and the reasons a
form is refused in the reader's language."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from cxloop.core.errors import ValidationFailed
from cxloop.loyalty.schemas import ProgramIn, ProgramOut, RuleIn, TierOut
from cxloop.web import errors

MAX_ROWS = 100  # ProgramIn takes at most 100 rules and 20 tiers; more rows are never read
MAX_TEXT = 20_000
MEASURES = ("spend", "orders", "points")
KINDS = ("order", "event")
# Field names a refusal may point at, with their labels (loyalty_pages.field.<name>), in
# alphabetical order; a field not listed is named as itself.
FIELDS = (
    "active",
    "birthday_bonus",
    "cap_per_day",
    "cap_per_month",
    "currency",
    "direction",
    "ends_at",
    "event",
    "excluded_categories",
    "excluded_products",
    "expiry_months",
    "free_shipping",
    "key",
    "kind",
    "leaderboard",
    "measure",
    "min_order",
    "multiplier",
    "name",
    "once_per_member",
    "pending_days",
    "point_type",
    "point_types",
    "point_value",
    "points",
    "rate_by_category",
    "rate_by_tier",
    "rate_percent",
    "reason",
    "rules",
    "starts_at",
    "threshold",
    "tier_window_days",
    "tiers",
    "where",
)
# pydantic's error types worded by the catalog (loyalty_pages.err.<type>); others keep their text.
ERROR_TYPES = (
    "greater_than_equal",
    "greater_than",
    "less_than_equal",
    "less_than",
    "string_pattern_mismatch",
    "string_too_long",
    "string_too_short",
    "int_parsing",
    "int_from_float",
    "decimal_parsing",
    "too_long",
    "missing",
    "literal_error",
)
# The program's own refusals (schemas.py), worded by the catalog: loyalty_pages.rule_err.<key>.
RULE_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r'^an order rule earns on "Order Completed"'), "order_event"),
    (re.compile(r"^an event rule needs points"), "event_points"),
    (re.compile(r"^an order rule needs a rate"), "order_rate"),
    (re.compile(r"^ends_at must come after starts_at"), "window"),
    (re.compile(r"^tier keys must differ"), "tier_keys"),
    (re.compile(r"^tier '(?P<higher>[^']*)' must need more than '(?P<lower>[^']*)'"), "tier_order"),
    (re.compile(r"^rule keys must differ"), "rule_keys"),
    (re.compile(r"^rule '(?P<rule>[^']*)' earns '(?P<type>[^']*)', not a point type"), "type"),
    (re.compile(r"^rule '(?P<rule>[^']*)' names unknown tiers: (?P<tiers>.*?)\.?$"), "tiers"),
    (re.compile(r"^a tier's rate is a percentage"), "tier_rate"),
)

Translate = Callable[..., str]


@dataclass
class TierRow:
    key: str = ""
    name: str = ""
    measure: str = "spend"
    threshold: str = ""
    free_shipping: bool = False
    birthday_bonus: str = ""

    def blank(self) -> bool:
        return not (self.key or self.name or self.threshold or self.birthday_bonus)


@dataclass
class RuleRow:
    key: str = ""
    name: str = ""
    kind: str = "order"
    event: str = ""
    rate_percent: str = ""
    rate_by_tier: str = ""
    rate_by_category: str = ""
    points: str = ""
    min_order: str = ""
    excluded_categories: str = ""
    excluded_products: str = ""
    where: str = ""
    point_type: str = "points"
    once_per_member: bool = False
    cap_per_day: str = ""
    cap_per_month: str = ""
    starts_at: str = ""
    ends_at: str = ""
    multiplier: str = "1"
    active: bool = True

    def blank(self) -> bool:
        return not (self.key or self.name or self.event or self.rate_percent or self.points)


@dataclass
class ProgramForm:
    """The whole settings form as typed."""

    name: str = ""
    active: bool = True
    currency: str = "KRW"
    point_types: str = "points"
    pending_days: str = "14"
    expiry_months: str = "12"
    tier_window_days: str = "365"
    point_value: str = "1"
    leaderboard: bool = False
    tiers: list[TierRow] = field(default_factory=list)
    rules: list[RuleRow] = field(default_factory=list)

    def with_blank_rows(self, tiers: int = 1, rules: int = 1) -> ProgramForm:
        """The form with empty rows at the end to add a tier or a rule in."""
        self.tiers += [TierRow() for _ in range(tiers)]
        self.rules += [RuleRow() for _ in range(rules)]
        return self


def plain_number(value: Decimal | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def local_input(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if value else ""


def _tier_row(tier: TierOut) -> TierRow:
    return TierRow(
        key=tier.key,
        name=tier.name,
        measure=tier.measure,
        threshold=plain_number(tier.threshold),
        free_shipping=tier.free_shipping,
        birthday_bonus=plain_number(tier.birthday_bonus) if tier.birthday_bonus else "",
    )


def _rule_row(rule: RuleIn, zone: ZoneInfo) -> RuleRow:
    return RuleRow(
        key=rule.key,
        name=rule.name,
        kind=rule.kind,
        event=rule.event if rule.kind == "event" else "",
        rate_percent=plain_number(rule.rate_percent) if rule.rate_percent else "",
        rate_by_tier=_rates_text(rule.rate_by_tier),
        rate_by_category=_rates_text(rule.rate_by_category),
        points=plain_number(rule.points) if rule.points else "",
        min_order=plain_number(rule.min_order),
        excluded_categories=", ".join(rule.excluded_categories),
        excluded_products=", ".join(rule.excluded_products),
        where=json.dumps([c.model_dump(mode="json") for c in rule.where], ensure_ascii=False)
        if rule.where
        else "",
        point_type=rule.point_type,
        once_per_member=rule.once_per_member,
        cap_per_day=plain_number(rule.cap_per_day),
        cap_per_month=plain_number(rule.cap_per_month),
        starts_at=local_input(rule.starts_at, zone),
        ends_at=local_input(rule.ends_at, zone),
        multiplier=plain_number(rule.multiplier),
        active=rule.active,
    )


def form_of(program: ProgramOut, zone: ZoneInfo) -> ProgramForm:
    """The saved program as the form shows it."""
    return ProgramForm(
        name=program.name,
        active=program.active,
        leaderboard=program.leaderboard,
        currency=program.currency,
        point_types=", ".join(program.point_types),
        pending_days=str(program.pending_days),
        expiry_months=plain_number(program.expiry_months),
        tier_window_days=str(program.tier_window_days),
        point_value=plain_number(program.point_value),
        tiers=[_tier_row(t) for t in program.tiers],
        rules=[_rule_row(r, zone) for r in program.rules],
    )


def starting_form(locale: str) -> ProgramForm:
    """A program to start from when the workspace has none: 1 % of orders, 500 points for a
    first review, 300 for a survey answer, points kept 12 months, Silver from ₩300,000 and Gold
    from ₩1,000,000 spent over a year."""
    korean = locale == "ko"
    return ProgramForm(
        name="멤버십" if korean else "Membership",
        tiers=[
            TierRow(key="basic", name="일반" if korean else "Basic"),
            TierRow(key="silver", name="Silver", threshold="300000"),
            TierRow(key="gold", name="Gold", threshold="1000000", free_shipping=True),
        ],
        rules=[
            RuleRow(key="orders", name="주문 적립" if korean else "Orders", rate_percent="1"),
            RuleRow(
                key="first-review",
                name="첫 리뷰" if korean else "First review",
                kind="event",
                event="Product Reviewed",
                points="500",
                once_per_member=True,
            ),
            RuleRow(
                key="survey",
                name="설문 응답" if korean else "Survey answer",
                kind="event",
                event="Survey Answered",
                points="300",
            ),
        ],
    )


# --- reading the posted form -------------------------------------------------------------------


def _text(form: FormData, name: str, limit: int = 2_000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _indices(form: FormData, prefix: str) -> list[int]:
    pattern = re.compile(rf"^{prefix}-(\d{{1,3}})-")
    found = {int(m[1]) for key in form if (m := pattern.match(key))}
    return sorted(found)[:MAX_ROWS]


def _row(cls: type[Any], form: FormData, prefix: str, index: int) -> Any:
    values: dict[str, Any] = {}
    for spec in fields(cls):
        name = f"{prefix}-{index}-{spec.name}"
        if spec.type == "bool":
            values[spec.name] = form.get(name) is not None
        else:
            values[spec.name] = _text(form, name, MAX_TEXT if spec.name == "where" else 2_000)
    return cls(**values)


def posted_form(form: FormData) -> ProgramForm:
    """The form as posted, rows marked for removal left out."""
    tiers = [
        _row(TierRow, form, "tiers", i)
        for i in _indices(form, "tiers")
        if form.get(f"tiers-{i}-remove") is None
    ]
    rules = [
        _row(RuleRow, form, "rules", i)
        for i in _indices(form, "rules")
        if form.get(f"rules-{i}-remove") is None
    ]
    return ProgramForm(
        name=_text(form, "name"),
        active=form.get("active") is not None,
        leaderboard=form.get("leaderboard") is not None,
        currency=_text(form, "currency") or "KRW",
        point_types=_text(form, "point_types") or "points",
        pending_days=_text(form, "pending_days"),
        expiry_months=_text(form, "expiry_months"),
        tier_window_days=_text(form, "tier_window_days"),
        point_value=_text(form, "point_value"),
        tiers=tiers,
        rules=rules,
    )


class FormRefused(Exception):
    """The form cannot be read into a program; ``reasons`` say why, in the reader's words."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def save_or_refusals(db: Session, locale: str, save: Callable[[], object]) -> list[str]:
    """Read a form and save it (``save``) in a savepoint; the reasons it was refused, in the
    reader's words (nothing is written then), or none when it was saved."""
    try:
        with db.begin_nested():
            save()
    except FormRefused as exc:
        return exc.reasons
    except ValidationFailed as exc:
        return [errors.describe(locale, exc)]
    return []


def _listed(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]


def _optional(text: str) -> str | None:
    return text or None


def _rates_text(rates: dict[str, Decimal]) -> str:
    return ", ".join(f"{name}={plain_number(rate)}" for name, rate in rates.items())


def _rates(text: str) -> dict[str, str] | None:
    """``gold=2, silver=1.5`` as {name: rate}, or None when it is not written so (or names
    one twice)."""
    rates: dict[str, str] = {}
    for part in _listed(text):
        key, sep, value = part.replace(":", "=").partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            return None
        if key.casefold() in {k.casefold() for k in rates}:
            return None
        rates[key] = value.strip()
    return rates


def moment_of(text: str, zone: ZoneInfo) -> datetime | str | None:
    """A local ``YYYY-MM-DDTHH:MM`` as an aware instant; the text itself when it is not one."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _rule_data(
    row: RuleRow, number: int, zone: ZoneInfo, t: Translate, problems: list[str]
) -> dict[str, Any]:
    where_at = t("loyalty_pages.at_rule", n=number)
    data: dict[str, Any] = {
        "key": row.key,
        "name": row.name,
        "kind": row.kind,
        "point_type": row.point_type or "points",
        "once_per_member": row.once_per_member,
        "active": row.active,
        "excluded_categories": _listed(row.excluded_categories),
        "excluded_products": _listed(row.excluded_products),
        "multiplier": row.multiplier or "1",
    }
    if row.kind == "event" or row.event:
        data["event"] = row.event
    for name in ("rate_percent", "points", "min_order", "cap_per_day", "cap_per_month"):
        value = getattr(row, name)
        if value:
            data[name] = value
    for name in ("rate_by_tier", "rate_by_category"):
        if text := getattr(row, name):
            rates = _rates(text)
            if rates is None:
                problems.append(
                    t(
                        "loyalty_pages.err_rates",
                        where=where_at,
                        field=t(f"loyalty_pages.field.{name}"),
                    )
                )
            else:
                data[name] = rates
    if row.where:
        try:
            conditions = json.loads(row.where)
        except ValueError:
            conditions = None
        if not isinstance(conditions, list):
            problems.append(t("loyalty_pages.err_where", where=where_at))
        else:
            data["where"] = conditions
    for name in ("starts_at", "ends_at"):
        moment = moment_of(getattr(row, name), zone)
        if isinstance(moment, str):
            problems.append(t("loyalty_pages.err_moment", where=where_at, value=moment[:40]))
        elif moment is not None:
            data[name] = moment
    return data


def program_data(form: ProgramForm, zone: ZoneInfo, t: Translate) -> dict[str, Any]:
    """The form as the API's program body; FormRefused when a field is not written right."""
    problems: list[str] = []
    tiers = [row for row in form.tiers if not row.blank()]
    rules = [(n, row) for n, row in enumerate(form.rules, 1) if not row.blank()]
    data: dict[str, Any] = {
        "name": form.name,
        "active": form.active,
        "leaderboard": form.leaderboard,
        "currency": form.currency,
        "point_types": _listed(form.point_types),
        "pending_days": form.pending_days,
        "expiry_months": _optional(form.expiry_months),
        "tier_window_days": form.tier_window_days,
        "point_value": form.point_value,
        "tiers": [
            {
                "key": row.key,
                "name": row.name,
                "measure": row.measure,
                "threshold": row.threshold or "0",
                "free_shipping": row.free_shipping,
                "birthday_bonus": row.birthday_bonus or "0",
            }
            for row in tiers
        ],
        "rules": [_rule_data(row, n, zone, t, problems) for n, row in rules],
    }
    if problems:
        raise FormRefused(problems)
    return data


def _number(value: Any) -> str:
    if isinstance(value, Decimal | float):
        return plain_number(Decimal(str(value)))
    return str(value)


def _where(loc: Iterable[Any], t: Translate) -> str:
    """("tiers", 1, "threshold") as "Tier 2 · Threshold"."""
    parts = []
    loc = list(loc)
    if len(loc) >= 2 and loc[0] in ("tiers", "rules") and isinstance(loc[1], int):
        row = "loyalty_pages.at_tier" if loc[0] == "tiers" else "loyalty_pages.at_rule"
        parts.append(t(row, n=loc[1] + 1))
        loc = loc[2:]
    for part in loc:
        if isinstance(part, str) and part in FIELDS:
            parts.append(t(f"loyalty_pages.field.{part}"))
        else:
            parts.append(str(part))
    return " · ".join(parts)


def program_message(error: Any, t: Translate) -> str:
    kind = str(error.get("type", ""))
    text = str(error.get("msg", "")).removeprefix("Value error, ")
    if kind in ERROR_TYPES:
        context = {k: _number(v) for k, v in (error.get("ctx") or {}).items()}
        return t(f"loyalty_pages.err.{kind}", **context)
    for pattern, key in RULE_ERRORS:
        found = pattern.match(text)
        if found:
            return t(f"loyalty_pages.rule_err.{key}", **found.groupdict())
    return text


def refusal_words(exc: ValidationError, t: Translate) -> list[str]:
    """Why the program was refused, one line per problem (at most 20)."""
    reasons = []
    for error in exc.errors()[:20]:
        where = _where(error.get("loc", ()), t)
        message = program_message(error, t)
        reasons.append(
            t("loyalty_pages.err_at", where=where, message=message) if where else message
        )
    return reasons


def read_program(form: ProgramForm, zone: ZoneInfo, t: Translate) -> ProgramIn:
    """The program the form describes; FormRefused with the reasons otherwise."""
    data = program_data(form, zone, t)
    try:
        return ProgramIn.model_validate(data)
    except ValidationError as exc:
        raise FormRefused(refusal_words(exc, t)) from None
