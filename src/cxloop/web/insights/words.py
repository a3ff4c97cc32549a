"""Behaviour features and churn reasons in words for the insights pages. The words live with
the behaviour features (``insights/behaviour_features.toml``); where that module is not there
the pages fall back to the feature's key, so they never fail over a missing label."""

from __future__ import annotations

from typing import Any


def feature_label(feature: str, language: str) -> str:
    """A behaviour feature's short name ("마지막 구매 후 경과일"), else its key in words."""
    try:
        from cxloop.insights.behaviour import feature_name

        return feature_name(feature, language)
    except (ImportError, KeyError):
        return feature.replace("_", " ")


def churn_reasons(reasons: list[Any], *, language: str, currency: str) -> list[str]:
    """Each stored reason ({"feature", "value", "effect"}) as a sentence about the customer."""
    usable = [r for r in reasons if isinstance(r, dict) and isinstance(r.get("feature"), str)]
    try:
        from cxloop.insights.churn import reasons_in_words

        return reasons_in_words(usable, language=language, currency=currency)
    except (ImportError, KeyError, TypeError, ValueError):
        return [str(r["feature"]).replace("_", " ") for r in usable]
