"""A segment rule in plain Korean or English, for the builder and the segment pages: "최근 90일
안에 구매함 그리고 마지막 NPS 점수가 6 이하임". The words and sentences are in ``wording.toml``;
this module picks them, fills them in and joins them (``not`` turned inwards by De Morgan, as the
compiler does)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxloop.insights.rfm import cell_name
from cxloop.insights.segments.language import (
    AllGroup,
    AnyGroup,
    Condition,
    ConsentCondition,
    EventCondition,
    IdentityCondition,
    LifecycleCondition,
    NotGroup,
    OrderCondition,
    PredictionCondition,
    Rule,
    ScoreCondition,
    SegmentCondition,
    TextCondition,
    TraitCondition,
    ValueTest,
    parse_rule,
)

# language ("ko", "en") → its words and sentences
_WORDING: dict[str, dict[str, Any]] = tomllib.loads(
    (Path(__file__).parent / "wording.toml").read_text("utf-8")
)


@dataclass(frozen=True)
class _Words:
    """One condition said both ways."""

    holds: str
    fails: str

    def swapped(self) -> _Words:
        return _Words(self.fails, self.holds)


def _said_both_ways(language: str, key: str, **values: Any) -> _Words:
    """The sentence pair ``key`` of ``language`` with ``values`` filled in."""
    pair = _WORDING[language][key]
    return _Words(pair["holds"].format(**values), pair["fails"].format(**values))


def _figure(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if float(value).is_integer():
            return f"{int(value):,}"
        return f"{value:,.6g}" if abs(value) >= 1000 else f"{value:g}"
    return f'"{value}"'


def _listed(values: Sequence[Any], language: str, *, quote: bool = True) -> str:
    words = [_figure(v) if quote else str(v) for v in values]
    if len(words) <= 1:
        return "".join(words)
    joints = _WORDING[language]["list"]
    return joints["between"].join(words[:-1]) + joints["last"] + words[-1]


def _period(days: int | None, language: str) -> str:
    if days is None:
        return ""
    wording = _WORDING[language]
    return wording["today"] if days == 1 else wording["last_days"].format(days=days)


def _ko_particle(word: str, after_consonant: str, after_vowel: str) -> str:
    """The Korean particle that follows ``word``'s last sound (both forms, "이(가)", when the
    word does not end in Hangul)."""
    last = word[-1:] or " "
    if "가" <= last <= "힣":
        return after_consonant if (ord(last) - ord("가")) % 28 else after_vowel
    return f"{after_consonant}({after_vowel})"


def _subject_particle(word: str) -> str:
    """이 or 가 after ``word`` (only Korean sentences use it)."""
    return _ko_particle(word, "이", "가")


def _compared(subject: str, op: str, value: Any, language: str, unit: str = "") -> _Words:
    """ "subject op value", and its negation, in ``language``."""
    shown = _figure(value) + unit
    if op in ("eq", "neq"):
        words = _said_both_ways(
            language,
            "equal",
            subject=subject,
            subject_particle=_subject_particle(subject),
            value=shown,
            value_particle=_subject_particle(shown),
        )
        return words if op == "eq" else words.swapped()
    comparison = _WORDING[language]["comparisons"][op]
    return _said_both_ways(
        language,
        "ordered",
        subject=subject,
        subject_particle=_subject_particle(subject),
        value=shown,
        comparison=comparison,
        comparison_particle=_subject_particle(comparison),
    )


def _value_words(test: ValueTest, subject: str, language: str) -> _Words:
    if test.op == "exists":
        return _said_both_ways(language, "exists", subject=subject)
    if test.op == "in":
        return _said_both_ways(
            language,
            "one_of",
            subject=subject,
            subject_particle=_subject_particle(subject),
            values=_listed(test.value, language),
        )
    if test.op == "contains":
        return _said_both_ways(language, "contains", subject=subject, value=_figure(test.value))
    return _compared(subject, test.op, test.value, language)


def _condition_words(rule: Condition, language: str, names: Mapping[int, str]) -> _Words:
    wording = _WORDING[language]
    match rule:
        case TraitCondition():
            return _value_words(rule, wording["trait_subject"].format(key=rule.key), language)
        case LifecycleCondition():
            stages = _listed([wording["stages"][s] for s in rule.stages], language, quote=False)
            return _said_both_ways(language, "lifecycle", stages=stages)
        case ConsentCondition():
            words = _said_both_ways(
                language,
                "consent",
                purpose=wording["purposes"][rule.purpose],
                channel=wording["channels"][rule.channel],
            )
            return words if rule.granted else words.swapped()
        case IdentityCondition():
            kind = wording["identities"].get(rule.kind, rule.kind)
            words = _said_both_ways(language, "identity", kind=kind)
            return words if rule.exists else words.swapped()
        case EventCondition():
            return _event_words(rule, language)
        case OrderCondition():
            return _order_words(rule, language)
        case ScoreCondition():
            subject = wording["score_subject"].format(metric=rule.metric.upper())
            words = _compared(subject, rule.op, rule.value, language)
            if rule.within_days is None:
                return words
            period = _period(rule.within_days, language)
            within = wording["score_within"]
            return _Words(
                within.format(period=period, said=words.holds),
                within.format(period=period, said=words.fails),
            )
        case TextCondition():
            return _said_both_ways(
                language,
                "text",
                period=_period(rule.within_days, language),
                category=rule.category,
                how=wording["sentiments"][rule.sentiment],
            )
        case PredictionCondition():
            return _prediction_words(rule, language)
        case SegmentCondition():
            name = (
                f'"{names[rule.segment_id]}"' if rule.segment_id in names else f"#{rule.segment_id}"
            )
            words = _said_both_ways(language, "segment", name=name)
            return words if rule.member else words.swapped()
    raise AssertionError(f"unknown condition {rule!r}")


def describe_properties(tests: Sequence[ValueTest], language: str) -> str:
    """Tests of an event's properties in words, joined ('"platform" 값이 "mobile"임, …'); empty
    when there are none."""
    wording = _WORDING[language]
    return wording["event_filters"]["between"].join(
        _value_words(t, wording["property_subject"].format(key=t.key), language).holds
        for t in tests
    )


def _event_words(rule: EventCondition, language: str) -> _Words:
    wording = _WORDING[language]
    filters = ""
    if rule.where:
        joints = wording["event_filters"]
        filters = joints["start"] + describe_properties(rule.where, language) + joints["end"]
    words = _said_both_ways(
        language,
        "event_once" if rule.at_least == 1 else "event_often",
        period=_period(rule.within_days, language),
        name=rule.name,
        filters=filters,
        times=rule.at_least,
    )
    return words if rule.did else words.swapped()


def _order_words(rule: OrderCondition, language: str) -> _Words:
    wording = _WORDING[language]
    period = _period(rule.within_days, language)
    items = ""
    if rule.sku is not None:
        items = wording["order_sku"].format(sku=rule.sku)
    if rule.category is not None:
        items += wording["order_category"].format(category=rule.category)
    bought = rule.measure == "count" and (rule.op, rule.value) in (("gte", 1), ("gt", 0))
    if bought:
        return _said_both_ways(language, "bought", period=period, items=items)
    if rule.measure == "count":
        measure = wording["order_count"]
        shown: Any = int(rule.value)
        unit = wording["order_count_unit"]
    else:
        measure = wording["order_revenue"]
        shown = rule.value
        unit = wording["order_revenue_unit"].format(currency=rule.currency)
    for as_object, as_modifier in wording["order_items_before_measure"].items():
        items = items.replace(as_object, as_modifier)
    subject = wording["order_subject"].format(period=period, items=items, measure=measure)
    return _compared(subject, rule.op, shown, language, unit)


def _prediction_words(rule: PredictionCondition, language: str) -> _Words:
    if rule.field == "rfm_cell":
        cells = _listed([cell_name(c, language) for c in rule.value], language, quote=False)
        return _said_both_ways(language, "rfm_cell", cells=cells)
    if rule.field == "cluster":
        return _said_both_ways(language, "cluster", clusters=_listed(rule.value, language))
    if rule.op == "top_percent":
        return _said_both_ways(language, "top_percent", share=_figure(rule.value))
    wording = _WORDING[language]
    subject = wording["prediction_subject"].format(prediction=wording["predictions"][rule.field])
    return _compared(subject, rule.op, rule.value, language)


def _said(rule: Rule, language: str, names: Mapping[int, str], negated: bool, nested: bool) -> str:
    if isinstance(rule, NotGroup):
        return _said(rule.rule, language, names, not negated, nested)
    if isinstance(rule, AllGroup | AnyGroup):
        if not rule.rules:
            everyone = isinstance(rule, AllGroup) != negated
            return _WORDING[language]["everyone" if everyone else "nobody"]
        if len(rule.rules) == 1:
            return _said(rule.rules[0], language, names, negated, nested)
        conjunction = isinstance(rule, AllGroup) != negated  # De Morgan, as the compiler does
        joiner = _WORDING[language]["all" if conjunction else "any"]
        text = joiner.join(_said(r, language, names, negated, True) for r in rule.rules)
        return f"({text})" if nested else text
    words = _condition_words(rule, language, names)
    return words.fails if negated else words.holds


def describe(
    rule: Rule | Mapping[str, Any],
    language: str = "ko",
    *,
    segment_names: Mapping[int, str] | None = None,
) -> str:
    """The rule in plain Korean (``ko``) or English (any other language), for the builder:
    "최근 90일 안에 구매함 그리고 마지막 NPS 점수가 6 이하임". Segments are named by
    ``segment_names`` where given, else by their id."""
    lang = "ko" if language.lower().startswith("ko") else "en"
    return _said(parse_rule(rule), lang, segment_names or {}, False, False)
