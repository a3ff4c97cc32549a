"""What the segment builder needs besides the rule language itself: the description of each
condition type's fields (labels in the user's language) that the builder's script draws its
rows from, reading the rule typed into the form, and rule errors in the user's language."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cxloop.core.errors import ValidationFailed
from cxloop.insights.rfm import CELL_KEYS, cell_name
from cxloop.insights.segments import parse_rule
from cxloop.models import Segment
from cxloop.models.customer import (
    CONSENT_CHANNELS,
    CONSENT_PURPOSES,
    IDENTITY_KINDS,
    LIFECYCLE_STAGES,
)
from cxloop.web import errors
from cxloop.web.session import WebContext

MAX_RULE_TEXT = 100_000  # characters of rule JSON read from a form
# The condition types in the order the builder offers them.
CONDITION_TYPES = (
    "trait",
    "order",
    "score",
    "prediction",
    "event",
    "lifecycle",
    "consent",
    "identity",
    "text",
    "segment",
)
VALUE_OPS = ("eq", "neq", "gt", "gte", "lt", "lte", "contains", "exists", "in")
COMPARE_OPS = ("eq", "neq", "gt", "gte", "lt", "lte")
PREDICTION_OPS = ("top_percent", "gte", "gt", "lte", "lt", "eq", "in")
PREDICTION_FIELDS = (
    "clv_percentile",
    "clv_12m",
    "clv_6m",
    "clv_3m",
    "churn_risk",
    "p_alive",
    "expected_purchases_12m",
    "expected_purchases_6m",
    "expected_purchases_3m",
    "rfm_cell",
    "cluster",
)
METRICS = ("nps", "csat", "ces")
SENTIMENTS = ("negative", "neutral", "positive")
MEASURES = ("count", "revenue")
# Problems of the rule language the catalog words itself (``insights.rule_err.<name>``).
RULE_CODES = (
    "shape",
    "depth",
    "conditions",
    "unknown_segment",
    "archived_segment",
    "cycle",
    "segment_chain",
    "time_zone",
    "json",
    "unknown_type",
)
# Field problems whose catalog text needs no parameters (the rule parser gives none).
_PLAIN_FIELD_CODES = {
    "value.missing",
    "value.int_parsing",
    "value.int_type",
    "value.int_from_float",
    "value.float_parsing",
    "value.float_type",
    "value.finite_number",
    "value.string_pattern_mismatch",
    "value.bool_parsing",
    "value.bool_type",
    "value.extra_forbidden",
    "value.string_type",
}


def _options(page: WebContext, prefix: str, values: Sequence[str]) -> list[list[str]]:
    return [[value, page.t(prefix + value)] for value in values]


def _field(name: str, kind: str, label: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "kind": kind, "label": label, **more}


def builder_spec(page: WebContext, segments: Sequence[Segment]) -> dict[str, Any]:
    """The condition types and their fields, as the builder's script draws them."""
    t = page.t
    yes_no = [["true", t("insights.builder.yes")], ["false", t("insights.builder.no")]]
    within = _field("within_days", "number", t("insights.field.within_days"), optional=True, min=1)
    value_ops = _options(page, "insights.op.", VALUE_OPS)
    compare_ops = _options(page, "insights.op.", COMPARE_OPS)
    types: dict[str, list[dict[str, Any]]] = {
        "trait": [
            _field("key", "text", t("insights.field.trait_key"), placeholder="tier"),
            _field("op", "select", t("insights.field.op"), options=value_ops, default="eq"),
            _field("value", "value", t("insights.field.value"), placeholder="VIP"),
        ],
        "order": [
            _field(
                "measure",
                "select",
                t("insights.field.measure"),
                options=_options(page, "insights.measure.", MEASURES),
                default="count",
            ),
            _field("op", "select", t("insights.field.op"), options=compare_ops, default="gte"),
            _field("value", "number", t("insights.field.amount"), default=1, min=0),
            within,
            _field("sku", "text", t("insights.field.sku"), optional=True),
            _field("category", "text", t("insights.field.category"), optional=True),
        ],
        "score": [
            _field(
                "metric",
                "select",
                t("insights.field.metric"),
                options=[[m, m.upper()] for m in METRICS],
                default="nps",
            ),
            _field("op", "select", t("insights.field.op"), options=compare_ops, default="lte"),
            _field("value", "integer", t("insights.field.score"), default=6),
            within,
        ],
        "prediction": [
            _field(
                "field",
                "select",
                t("insights.field.prediction"),
                options=_options(page, "insights.prediction.", PREDICTION_FIELDS),
                default="clv_percentile",
            ),
            _field(
                "op",
                "select",
                t("insights.field.op"),
                options=_options(page, "insights.op.", PREDICTION_OPS),
                default="top_percent",
            ),
            _field(
                "value",
                "value",
                t("insights.field.value"),
                placeholder="10",
                hint=t(
                    "insights.builder.prediction_hint",
                    cells=", ".join(f"{k} ({cell_name(k, page.locale)})" for k in CELL_KEYS),
                ),
            ),
        ],
        "event": [
            _field("name", "text", t("insights.field.event_name"), placeholder="Order Completed"),
            _field("did", "bool", t("insights.field.did"), options=yes_no, default="true"),
            _field("at_least", "integer", t("insights.field.at_least"), default=1, min=1),
            within,
        ],
        "lifecycle": [
            _field(
                "stages",
                "multi",
                t("insights.field.stages"),
                options=[[s, t("stage." + s)] for s in LIFECYCLE_STAGES],
            )
        ],
        "consent": [
            _field(
                "purpose",
                "select",
                t("insights.field.purpose"),
                options=[[p, t("purpose." + p)] for p in CONSENT_PURPOSES],
                default="marketing",
            ),
            _field(
                "channel",
                "select",
                t("insights.field.channel"),
                options=[[c, t("channel." + c)] for c in CONSENT_CHANNELS],
                default="email",
            ),
            _field("granted", "bool", t("insights.field.granted"), options=yes_no, default="true"),
        ],
        "identity": [
            _field(
                "kind",
                "select",
                t("insights.field.identity"),
                options=[[k, t("identity." + k)] for k in IDENTITY_KINDS],
                default="email",
            ),
            _field("exists", "bool", t("insights.field.exists"), options=yes_no, default="true"),
        ],
        "text": [
            _field("category", "text", t("insights.field.text_category"), placeholder="delivery"),
            _field(
                "sentiment",
                "select",
                t("insights.field.sentiment"),
                options=_options(page, "insights.sentiment.", SENTIMENTS),
                default="negative",
            ),
            within,
        ],
        "segment": [
            _field(
                "segment_id",
                "segment",
                t("insights.field.segment"),
                options=[[str(s.id), s.name] for s in segments],
            ),
            _field("member", "bool", t("insights.field.member"), options=yes_no, default="true"),
        ],
    }
    return {
        "types": [[name, t("insights.type." + name), types[name]] for name in CONDITION_TYPES],
        "words": {
            "all": t("insights.builder.all"),
            "any": t("insights.builder.any"),
            "not": t("insights.builder.not"),
            "add_condition": t("insights.builder.add_condition"),
            "add_group": t("insights.builder.add_group"),
            "remove": t("insights.builder.remove"),
            "type": t("insights.builder.type"),
            "join": t("insights.builder.join"),
            "group": t("insights.builder.group"),
            "too_complex": t("insights.builder.too_complex"),
            "bad_json": t("insights.rule_err.json", detail=""),
            "counting": t("insights.builder.counting"),
            "failed": t("insights.builder.failed"),
            "empty_group": t("insights.builder.empty_group"),
        },
    }


def read_rule(text: str) -> dict[str, Any]:
    """The rule typed into the form (its JSON text), or ValidationFailed saying why not."""
    if len(text) > MAX_RULE_TEXT:
        raise ValidationFailed(
            f"The rule is longer than {MAX_RULE_TEXT} characters.",
            errors=[{"field": "rule", "message": "too long", "code": "segment_rule.shape"}],
        )
    try:
        data = json.loads(text) if text.strip() else {"type": "all", "rules": []}
    except ValueError as exc:
        raise ValidationFailed(
            f"The rule is not JSON: {exc}.",
            errors=[
                {
                    "field": "rule",
                    "message": str(exc),
                    "code": "segment_rule.json",
                    "params": {"detail": str(exc)},
                }
            ],
        ) from None
    if not isinstance(data, dict):
        parse_rule(data)  # raises the language's own "a rule is a JSON object" error
    return data


def rule_problems(page: WebContext, exc: ValidationFailed) -> list[dict[str, str]]:
    """Each problem of a refused rule as {"field", "message"}, the message in the user's
    language where the catalog knows it (else as the rule language words it)."""
    found = []
    for error in exc.errors or [{"field": "rule", "message": exc.detail}]:
        field = str(error.get("field") or "rule")
        code = str(error.get("code", ""))
        params = error.get("params") if isinstance(error.get("params"), dict) else {}
        name = code.removeprefix("segment_rule.")
        if code.startswith("segment_rule.") and name in RULE_CODES:
            message = page.t(f"insights.rule_err.{name}", **{"detail": "", **(params or {})})
        elif code == "value.union_tag_invalid":
            message = page.t("insights.rule_err.unknown_type")
        elif page.locale != "en" and code in _PLAIN_FIELD_CODES:
            message = errors.field_message(page.locale, error)
        else:
            message = str(error.get("message", ""))
        found.append({"field": field, "message": message})
    return found


def rule_summary(page: WebContext, problems: list[dict[str, str]]) -> str:
    """One line for the form: the first problem and where it is."""
    if not problems:
        return ""
    first = problems[0]
    if first["field"] == "rule":
        return page.t("insights.rule_err.summary_plain", message=first["message"])
    return page.t("insights.rule_err.summary", where=first["field"], message=first["message"])
