"""Churn risk: the chance that a customer makes no purchase (or, per workspace, shows no activity
at all) in the next ``horizon_days``, from their behaviour features, with the reasons in words.

The model is scikit-learn's histogram gradient boosting of shallow trees on
``behaviour.load_behaviour``'s features (it takes missing values as they are), calibrated by
Platt scaling fitted on out-of-fold scores (stratified folds: three, two from 100,000 rows on),
so a risk of 0.3 means about three in ten such customers stayed away in the period it learnt
from. Everything is seeded: the same data give the same risks.

Validation is a time split, h = ``horizon_days`` before ``as_of``:

    as_of − 2h ─── training labels ───┬── validation labels ──┐ as_of
    features as of as_of − 2h         features as of as_of − h

The model learns from features as of as_of − 2h and who came back in [as_of − 2h, as_of − h),
and is judged on features as of as_of − h and who came back in [as_of − h, as_of), a period
it never saw. On the same customers it is compared with the BG/NBD baseline, 1 −
P(alive), fitted on the purchase history as of as_of − h (``clv``); both ROC AUCs are reported,
and a second BG/NBD score, fewer expected purchases in the horizon, as a stronger baseline. The
model then learns from both periods and scores every customer as of ``as_of``. No data at or
after ``as_of`` is read.

Who is scored: with ``activity="purchase"``, customers with a counted purchase before the
moment of the features (churn is defined for buyers; the BG/NBD baseline covers the same
customers); with ``activity="any"``, customers with a purchase or any event before it (the
baseline then covers the buyers among them, and the model's AUC on those is reported too).

``ChurnResult.metrics``: ``auc`` (the model's, on the validation period), ``baseline_auc`` (1 −
P(alive)), ``baseline_expected_auc``, ``auc_baseline_customers`` (the model on the baseline's
customers, when it covers more), ``n_train``, ``n_validation``, ``n_baseline``, ``n_scored``,
``positive_rate`` (the validation period's churn rate), ``train_positive_rate``,
``mean_predicted_risk``, ``brier``, ``log_loss``, and ``baseline_error`` when BG/NBD could not be
fitted. An AUC is None when it cannot be computed (one outcome only).

Reasons: for each customer, the three features that raise their risk most, each with its value
and effect. A feature's effect is the customer's risk minus the risk with that one feature set
to the population's typical value (the median of the customers the final model learnt from, or
"missing" when most of them have no value), everything else kept. It costs one prediction over
all customers per feature, vectorised, and it reads in plain words: "this customer's risk is
0.21 higher than if their days since the last purchase were typical". Only effects above zero
are reasons; a customer whose every feature is typical has none.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sqlalchemy import Select, select, union
from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits

from cxloop.core.timeutil import as_utc
from cxloop.insights import clv
from cxloop.insights.behaviour import (
    FEATURE_NAMES,
    Behaviour,
    customer_activity_events,
    describe_feature,
    live_customer,
    load_behaviour,
    survivor_id,
)
from cxloop.insights.features import DEFAULT_TZ, VOID_ORDER_STATUSES, load_purchase_history
from cxloop.models import Customer, Event, Order

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

ACTIVITIES = ("purchase", "any")
DEFAULT_HORIZON_DAYS = 90
# Below these a period cannot teach or judge a model: too few customers, or too few of the
# rarer outcome for the calibration folds and a meaningful AUC.
MIN_CUSTOMERS = 50
MIN_PER_CLASS = 10
TOP_REASONS = 3
# A feature with fewer values than this among the rows a model learns from is left out of it.
MIN_VALUES = 20
# With this many rows or more, two calibration folds (the fits are the cost); three below.
LARGE_FIT = 100_000
RANDOM_STATE = 0
# Shallow trees, and as many of them as help on a tenth of the rows held out (stopping after ten
# that do not): a few dozen for a small shop, more for a large one. Deeper or longer-grown
# models learnt the training period's noise on CDNOW and the demo and ranked worse.
MODEL_PARAMETERS: dict[str, Any] = {
    "learning_rate": 0.05,
    "max_iter": 500,
    "max_depth": 3,
    "min_samples_leaf": 20,
    "l2_regularization": 1.0,
    "early_stopping": True,
    "validation_fraction": 0.1,
    "n_iter_no_change": 10,
}
# Platt's sigmoid is smooth, so every feature's effect stays visible (isotonic has steps). The
# folds only fit the sigmoid, on out-of-fold scores; one booster then learns from all rows (an
# average of the folds' boosters, each from fewer rows, ranked worse).
CALIBRATION = "sigmoid"
# Reasons whose effect is below this are no reason (rounding noise of the predictions).
_MIN_EFFECT = 1e-6


class ChurnFitError(clv.FitError):
    """The workspace's data cannot train or judge a churn model (too few customers, one
    outcome only); the message says which, for the run to record."""


@dataclass(frozen=True)
class ChurnWindows:
    """The moments of the time split (see the module docstring)."""

    train_features_at: datetime  # as_of − 2h; training labels from here …
    validation_features_at: datetime  # as_of − h; … to here, and validation labels from here …
    scored_at: datetime  # as_of; … to here
    horizon_days: int


@dataclass(frozen=True)
class ChurnResult:
    """Risk and reasons per scored customer, the figures of the validation and the model.

    ``reason_feature[i, k]`` indexes ``feature_names`` (−1: no k-th reason), with the customer's
    value (NaN when missing) and the effect on their risk in ``reason_value`` and
    ``reason_effect``; ``reasons(i)`` gives them as dicts.
    """

    customer: IntArray
    risk: FloatArray
    reason_feature: IntArray
    reason_value: FloatArray
    reason_effect: FloatArray
    feature_names: tuple[str, ...]
    metrics: dict[str, Any]
    parameters: dict[str, Any]
    windows: ChurnWindows

    def __len__(self) -> int:
        return int(self.customer.shape[0])

    def reasons(self, i: int) -> list[dict[str, Any]]:
        """Customer ``i``'s reasons: [{"feature", "value", "effect"}], strongest first; a
        missing value is None (JSON has no NaN)."""
        found = []
        for k in range(self.reason_feature.shape[1]):
            j = int(self.reason_feature[i, k])
            if j < 0:
                break
            value = float(self.reason_value[i, k])
            found.append(
                {
                    "feature": self.feature_names[j],
                    "value": None if np.isnan(value) else value,
                    "effect": round(float(self.reason_effect[i, k]), 6),
                }
            )
        return found


def reasons_in_words(
    reasons: list[dict[str, Any]], *, language: str = "ko", currency: str = "KRW"
) -> list[str]:
    """Each reason as a sentence: "마지막 구매 후 120일" / "120 days since the last purchase"."""
    return [
        describe_feature(
            r["feature"],
            float("nan") if r["value"] is None else float(r["value"]),
            language=language,
            currency=currency,
        )
        for r in reasons
    ]


# --- labels ---------------------------------------------------------------------------------


def _purchasers(workspace_id: int, start: datetime, end: datetime, currency: str) -> Select[Any]:
    return (
        select(survivor_id().label("customer"))
        .select_from(Order)
        .join(Customer, Customer.id == Order.customer_id)
        .where(
            Order.workspace_id == workspace_id,
            Order.status.not_in(VOID_ORDER_STATUSES),
            Order.currency == currency,
            Order.placed_at >= start,
            Order.placed_at < end,
            *live_customer(workspace_id),
        )
    )


def _visitors(workspace_id: int, start: datetime, end: datetime) -> Select[Any]:
    return (
        select(survivor_id().label("customer"))
        .select_from(Event)
        .join(Customer, Customer.id == Event.customer_id)
        .where(
            *customer_activity_events(workspace_id),
            Event.timestamp >= start,
            Event.timestamp < end,
            *live_customer(workspace_id),
        )
    )


def active_customers(
    session: Session,
    *,
    workspace_id: int,
    start: datetime,
    end: datetime,
    activity: str = "purchase",
    currency: str = "KRW",
) -> IntArray:
    """Ids (survivors) of the customers who bought, or with ``activity="any"`` did anything,
    in [start, end), ascending; one query."""
    if activity not in ACTIVITIES:
        raise ValueError(f"activity must be one of {', '.join(ACTIVITIES)}")
    start, end = as_utc(start), as_utc(end)
    statement: Any = _purchasers(workspace_id, start, end, currency)
    if activity == "any":
        statement = union(statement, _visitors(workspace_id, start, end))
    else:
        statement = statement.distinct()
    ids = session.connection().execute(statement).scalars().all()
    return np.unique(np.asarray(ids, dtype=np.int64))


def churned(customers: npt.ArrayLike, active: IntArray) -> BoolArray:
    """True for each customer not among ``active`` (ascending ids): the churn label."""
    wanted = np.asarray(customers, dtype=np.int64)
    return ~np.isin(wanted, active)


def in_population(behaviour: Behaviour, activity: str) -> BoolArray:
    """The customers a churn model covers: buyers, or with ``activity="any"`` anyone seen."""
    bought = behaviour.column("orders") > 0
    if activity == "purchase":
        return np.asarray(bought)
    return np.asarray(bought | ~np.isnan(behaviour.column("days_since_last_seen")))


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Period:
    """One moment's covered customers, their features and (for a past moment) labels."""

    at: datetime
    customer: IntArray
    features: FloatArray
    label: BoolArray  # churned; empty when not labelled


def _period(
    session: Session,
    *,
    workspace_id: int,
    at: datetime,
    label_end: datetime | None,
    activity: str,
    tz: str,
    currency: str,
) -> _Period:
    behaviour = load_behaviour(
        session, workspace_id=workspace_id, as_of=at, tz=tz, currency=currency
    )
    covered = in_population(behaviour, activity)
    customers = behaviour.customer[covered]
    label = np.zeros(0, dtype=bool)
    if label_end is not None:
        active = active_customers(
            session,
            workspace_id=workspace_id,
            start=at,
            end=label_end,
            activity=activity,
            currency=currency,
        )
        label = churned(customers, active)
    return _Period(at=at, customer=customers, features=behaviour.values[covered], label=label)


def _check(period: _Period, what: str) -> None:
    n = period.customer.shape[0]
    churners = int(period.label.sum())
    if n < MIN_CUSTOMERS:
        raise ChurnFitError(
            f"too few customers for a churn model: {n} in the {what} period "
            f"(at least {MIN_CUSTOMERS} needed, with a history of twice the horizon)"
        )
    if min(churners, n - churners) < MIN_PER_CLASS:
        raise ChurnFitError(
            f"the {what} period has {churners} churned and {n - churners} returning customers; "
            f"at least {MIN_PER_CLASS} of each are needed"
        )


def _folds(n: int, minority: int) -> int:
    return max(2, min(2 if n >= LARGE_FIT else 3, minority))


class RiskModel(Protocol):
    """What ``explain`` needs of a model: the columns it reads and its risk for full rows."""

    @property
    def columns(self) -> IntArray: ...

    def risk(self, features: FloatArray) -> FloatArray: ...


@dataclass(frozen=True)
class _Model:
    """A calibrated booster and the feature columns it reads: a column with fewer than
    ``MIN_VALUES`` values (no events in a shop that sends none) teaches nothing, and an
    all-missing column in a fold would stop the booster's binning."""

    calibrated: CalibratedClassifierCV
    columns: IntArray

    def risk(self, features: FloatArray) -> FloatArray:
        if features.shape[0] == 0:
            return np.zeros(0)
        found = self.calibrated.predict_proba(features[:, self.columns])[:, 1]
        return np.asarray(found, dtype=np.float64)


def _fit(features: FloatArray, label: BoolArray, groups: IntArray | None) -> _Model:
    """A calibrated model of P(churn); rows of one customer (``groups``) stay in one fold."""
    minority = int(min(label.sum(), (~label).sum()))
    n_folds = _folds(label.shape[0], minority)
    y = label.astype(np.int64)
    splitter: Any
    if groups is None:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=RANDOM_STATE)
        folds = list(splitter.split(features, y))
    else:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=RANDOM_STATE)
        folds = list(splitter.split(features, y, groups))
    columns = np.flatnonzero((~np.isnan(features)).sum(axis=0) >= MIN_VALUES).astype(np.int64)
    booster = HistGradientBoostingClassifier(**MODEL_PARAMETERS, random_state=RANDOM_STATE)
    calibrated = CalibratedClassifierCV(booster, method=CALIBRATION, cv=folds, ensemble=False)
    calibrated.fit(features[:, columns], y)
    return _Model(calibrated=calibrated, columns=columns)


def typical_values(features: FloatArray) -> FloatArray:
    """Each feature's typical value: the median, or NaN ("missing") when most values are."""
    if features.shape[0] == 0:
        return np.full(features.shape[1], np.nan)
    mostly_missing = np.isnan(features).mean(axis=0) >= 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: its median is NaN
        medians = np.nanmedian(features, axis=0)
    return np.asarray(np.where(mostly_missing, np.nan, medians), dtype=np.float64)


def explain(
    model: RiskModel,
    features: FloatArray,
    risk: FloatArray,
    typical: FloatArray,
    *,
    top: int = TOP_REASONS,
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Each customer's ``top`` reasons: feature index (−1: none), value and effect on the risk,
    the effect being the risk minus the risk with that feature at its typical value."""
    n, width = features.shape
    effects = np.zeros((n, width), dtype=np.float64)
    changed = features.copy()
    for j in model.columns.tolist():
        differs = ~(
            (features[:, j] == typical[j]) | (np.isnan(features[:, j]) & np.isnan(typical[j]))
        )
        if not differs.any():
            continue
        changed[:, j] = typical[j]
        effects[differs, j] = risk[differs] - model.risk(changed[differs])
        changed[:, j] = features[:, j]
    k = min(top, width)
    strongest = np.argsort(-effects, axis=1, kind="stable")[:, :k]
    rows = np.arange(n)[:, None]
    effect = effects[rows, strongest]
    value = features[rows, strongest]
    is_reason = effect > _MIN_EFFECT
    return (
        np.where(is_reason, strongest, -1).astype(np.int64),
        np.where(is_reason, value, np.nan),
        np.where(is_reason, effect, 0.0),
    )


# --- the baseline ---------------------------------------------------------------------------


def _baseline_scores(
    session: Session,
    *,
    workspace_id: int,
    at: datetime,
    customers: IntArray,
    horizon_days: int,
    tz: str,
    currency: str,
) -> tuple[FloatArray, FloatArray, dict[str, Any]]:
    """BG/NBD 1 − P(alive) and −E[purchases in the horizon] per customer (NaN for customers
    without a purchase), from the purchase history before ``at``."""
    history = load_purchase_history(
        session, workspace_id=workspace_id, as_of=at, currency=currency, tz=tz
    )
    summary = history.summary()
    bg = clv.fit_bgnbd(summary.frequency, summary.recency, summary.age)  # FitError when empty
    rows = np.minimum(np.searchsorted(history.customer, customers), len(history) - 1)
    known = history.customer[rows] == customers
    at_rows = rows[known]
    x, t_x, age = summary.frequency[at_rows], summary.recency[at_rows], summary.age[at_rows]
    not_alive = np.full(customers.shape, np.nan)
    not_alive[known] = 1.0 - clv.probability_alive(bg.params, x, t_x, age)
    fewer = np.full(customers.shape, np.nan)
    with np.errstate(invalid="ignore", over="ignore"):  # not finite: no AUC (see ``_auc``)
        fewer[known] = -clv.expected_purchases(
            bg.params, horizon_days / summary.unit_days, x, t_x, age
        )
    return not_alive, fewer, {k: round(v, 6) for k, v in vars(bg.params).items()}


def _auc(label: BoolArray, score: FloatArray) -> float | None:
    """ROC AUC of a risk score; None with one outcome only or a score that is not a number
    (the BG/NBD expected purchases can overflow for extreme parameters)."""
    if label.size == 0 or label.all() or not label.any() or not np.isfinite(score).all():
        return None
    return round(float(roc_auc_score(label, score)), 6)


# --- fitting --------------------------------------------------------------------------------


def fit_churn(
    session: Session,
    *,
    workspace_id: int,
    as_of: datetime,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    activity: str = "purchase",
    tz: str = DEFAULT_TZ,
    currency: str = "KRW",
) -> ChurnResult:
    """Validate a churn model on a time split against BG/NBD, then score everyone at ``as_of``.

    Raises ``ChurnFitError`` when a period has too few customers or outcomes.
    """
    if activity not in ACTIVITIES:
        raise ValueError(f"activity must be one of {', '.join(ACTIVITIES)}")
    if horizon_days < 1:
        raise ValueError("the horizon is at least one day")
    as_of = as_utc(as_of)
    horizon = timedelta(days=horizon_days)
    windows = ChurnWindows(
        train_features_at=as_of - 2 * horizon,
        validation_features_at=as_of - horizon,
        scored_at=as_of,
        horizon_days=horizon_days,
    )
    common: dict[str, Any] = {
        "workspace_id": workspace_id,
        "activity": activity,
        "tz": tz,
        "currency": currency,
    }
    train = _period(
        session, at=windows.train_features_at, label_end=windows.validation_features_at, **common
    )
    _check(train, "training")
    validation = _period(session, at=windows.validation_features_at, label_end=as_of, **common)
    _check(validation, "validation")
    now = _period(session, at=as_of, label_end=None, **common)

    baseline = _baseline(session, validation, horizon_days, common)
    # One OpenMP thread: the booster's threads mostly wait for each other when the machine is
    # busy (the web server, the worker): 4 to 10 times slower on a loaded two-core machine,
    # from 1,000 to 1,000,000 rows, than one thread alone.
    with threadpool_limits(limits=1, user_api="openmp"):
        judged = _fit(train.features, train.label, None)
        predicted = judged.risk(validation.features)
        both = np.concatenate([train.features, validation.features])
        label = np.concatenate([train.label, validation.label])
        final = _fit(both, label, np.concatenate([train.customer, validation.customer]))
        typical = typical_values(both)
        risk = final.risk(now.features)
        reason_feature, reason_value, reason_effect = explain(final, now.features, risk, typical)

    metrics: dict[str, Any] = {
        "auc": _auc(validation.label, predicted),
        **_baseline_metrics(baseline, validation.label, predicted),
        "n_train": int(train.customer.shape[0]),
        "n_validation": int(validation.customer.shape[0]),
        "n_scored": int(now.customer.shape[0]),
        "positive_rate": round(float(validation.label.mean()), 6),
        "train_positive_rate": round(float(train.label.mean()), 6),
        "mean_predicted_risk": round(float(predicted.mean()), 6),
        "brier": round(float(brier_score_loss(validation.label, predicted)), 6),
        "log_loss": round(float(log_loss(validation.label, predicted, labels=[False, True])), 6),
    }
    parameters = {
        "model": "HistGradientBoostingClassifier",
        **MODEL_PARAMETERS,
        "random_state": RANDOM_STATE,
        "calibration": CALIBRATION,
        "calibration_folds": _folds(label.shape[0], int(min(label.sum(), (~label).sum()))),
        "horizon_days": horizon_days,
        "activity": activity,
        "currency": currency,
        "tz": tz,
        "features": list(FEATURE_NAMES),
        # those with enough values to learn from (see ``MIN_VALUES``)
        "features_used": [FEATURE_NAMES[j] for j in final.columns.tolist()],
        "typical_values": {
            name: (None if np.isnan(v) else float(v))
            for name, v in zip(FEATURE_NAMES, typical, strict=True)
        },
    }
    return ChurnResult(
        customer=now.customer,
        risk=risk,
        reason_feature=reason_feature,
        reason_value=reason_value,
        reason_effect=reason_effect,
        feature_names=FEATURE_NAMES,
        metrics=metrics,
        parameters=parameters,
        windows=windows,
    )


@dataclass(frozen=True)
class _Baseline:
    not_alive: FloatArray  # 1 − P(alive) per validation customer, NaN for non-buyers
    fewer_purchases: FloatArray  # −E[purchases in the horizon]
    parameters: dict[str, float]
    error: str = ""


def _baseline(
    session: Session, validation: _Period, horizon_days: int, common: dict[str, Any]
) -> _Baseline:
    """BG/NBD scores of the validation customers; a fit that fails is recorded, not raised."""
    try:
        not_alive, fewer, params = _baseline_scores(
            session,
            workspace_id=common["workspace_id"],
            at=validation.at,
            customers=validation.customer,
            horizon_days=horizon_days,
            tz=common["tz"],
            currency=common["currency"],
        )
    except clv.FitError as error:
        missing = np.full(validation.customer.shape, np.nan)
        return _Baseline(missing, missing, {}, error=str(error))
    return _Baseline(not_alive, fewer, params)


def _baseline_metrics(
    baseline: _Baseline, label: BoolArray, predicted: FloatArray
) -> dict[str, Any]:
    """The baseline's AUCs on the validation customers it covers (buyers), and the model's AUC
    on the same customers when the model covers more."""
    if baseline.error:
        return {
            "baseline_auc": None,
            "baseline_expected_auc": None,
            "baseline_error": baseline.error,
        }
    covered = ~np.isnan(baseline.not_alive)
    found: dict[str, Any] = {
        "baseline_auc": _auc(label[covered], baseline.not_alive[covered]),
        "baseline_expected_auc": _auc(label[covered], baseline.fewer_purchases[covered]),
        "n_baseline": int(covered.sum()),
        "baseline_parameters": baseline.parameters,
    }
    if not covered.all():
        found["auc_baseline_customers"] = _auc(label[covered], predicted[covered])
    return found


# --- activation -----------------------------------------------------------------------------


def is_not_worse(
    new_metrics: dict[str, Any],
    old_metrics: dict[str, Any] | None,
    *,
    tolerance: float = 0.01,
) -> bool:
    """Whether a new churn model may replace the one in use.

    It must have a validation AUC, be at least as good as the BG/NBD baseline measured on the
    same customers in the same run (``auc_baseline_customers`` when the model covers more
    customers than the baseline), and lose no more than ``tolerance`` of AUC against the model
    in use. The last comparison is across runs, hence different validation periods: an AUC
    moves by about a hundredth between periods without any change in the model, which the
    tolerance allows for. Without a model in use (or its figures) only the first two count.
    """
    auc = new_metrics.get("auc")
    if auc is None:
        return False
    baseline = new_metrics.get("baseline_auc")
    if baseline is not None and new_metrics.get("auc_baseline_customers", auc) < baseline:
        return False
    old = (old_metrics or {}).get("auc")
    return old is None or auc >= old - tolerance
