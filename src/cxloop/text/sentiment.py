"""The hybrid sentiment model: the lexicon scorer's figures plus morpheme and character n-grams,
read by a logistic regression; trained together with the category classifier.

:func:`train` takes weighted examples, so a workspace can retrain on its own data: survey scores
give weak labels (NPS 0–6 negative and 9–10 positive, CSAT 1–2 and 4–5; a low weight) and user
corrections strong ones (weight 1). Every run measures itself on a held-out part of its examples
and returns the figures (accuracy, macro-F1, n per language) with the model, so the product can
show them.

An operator may point ``CXLOOP_TEXT_MODEL_DIR`` at a local Hugging Face ``transformers``
text-classification model directory (for instance a fine-tuned KoELECTRA); when that variable
is set and ``transformers`` is installed, :func:`transformers_classifier` returns a classifier the
pipeline uses for the sentiment label and score instead. ``transformers`` is not a dependency of
cxloop and nothing is downloaded.
"""

from __future__ import annotations

import logging
import os
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cxloop.text.categories import CategoryClassifier, Taxonomy, load_taxonomy
from cxloop.text.features import Doc, FeatureBuilder, prepare
from cxloop.text.lang import Language

LABELS = ("negative", "neutral", "positive")
MODEL_PATH = Path(__file__).parent / "models" / "sentiment.joblib"
MODEL_VERSION = 1
SEED = 20240604

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    """One training text: its label, and how much to trust it (weak labels weigh less)."""

    text: str
    label: str  # positive / neutral / negative
    weight: float = 1.0
    lang: Language | None = None
    categories: tuple[str, ...] | None = None  # None: no category label for this text


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float  # P(positive) − P(negative), in [-1, 1]
    probabilities: dict[str, float]


@dataclass
class Quality:
    """Held-out figures of one training run."""

    accuracy: float
    macro_f1: float
    n: int
    per_language: dict[str, dict[str, float]] = field(default_factory=dict)
    category_micro_f1: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "n": self.n,
            "per_language": self.per_language,
            "category_micro_f1": self.category_micro_f1,
        }


@dataclass
class TextModel:
    """Vectorisers, sentiment classifier and category classifier, saved as one joblib file."""

    features: FeatureBuilder
    classifier: Any
    categories: CategoryClassifier | None
    taxonomy_keys: tuple[str, ...]
    quality: dict[str, Any] = field(default_factory=dict)
    trained_at: str = ""
    n_train: int = 0
    version: int = MODEL_VERSION

    def predict(self, docs: Sequence[Doc]) -> tuple[list[Prediction], list[dict[str, float]]]:
        """Sentiment and category probabilities of prepared texts (features built once)."""
        if not docs:
            return [], []
        x = self.features.transform(docs)
        cats = (
            self.categories.predict_proba(x) if self.categories is not None else [{} for _ in docs]
        )
        return self._sentiment(x), cats

    def predict_docs(self, docs: Sequence[Doc]) -> list[Prediction]:
        if not docs:
            return []
        return self._sentiment(self.features.transform(docs))

    def _sentiment(self, x: Any) -> list[Prediction]:
        proba = self.classifier.predict_proba(x)
        classes = list(self.classifier.classes_)
        out = []
        for row in proba:
            probs = {label: float(row[classes.index(label)]) if label in classes else 0.0
                     for label in LABELS}  # fmt: skip
            label = max(probs, key=lambda k: probs[k])
            out.append(Prediction(label, probs["positive"] - probs["negative"], probs))
        return out

    def categories_docs(self, docs: Sequence[Doc]) -> list[dict[str, float]]:
        if self.categories is None or not docs:
            return [{} for _ in docs]
        return self.categories.predict_proba(self.features.transform(docs))

    def save(self, path: Path = MODEL_PATH) -> Path:
        import joblib

        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path, compress=("zlib", 6))
        return path


def load_model(path: Path = MODEL_PATH) -> TextModel | None:
    """The saved model, or None when there is none (the pipeline then uses the lexicon alone)."""
    if not path.exists():
        return None
    import joblib

    try:
        model = joblib.load(path)
    except Exception:  # a model pickled by another scikit-learn release may not load
        log.warning("the text model %s could not be loaded; using the lexicon alone", path)
        return None
    if not isinstance(model, TextModel) or model.version != MODEL_VERSION:
        return None
    return model


def lexicon_prediction(doc: Doc) -> Prediction:
    """The lexicon scorer's answer, used when no model is available."""
    score = doc.lexicon.score
    return Prediction(doc.lexicon.label, score, {})


# --- training -----------------------------------------------------------------------------------


def stratified_split(
    keys: Sequence[str], test_size: float, seed: int = SEED
) -> tuple[list[int], list[int]]:
    """Indexes of a fixed-seed split that keeps each key's share (key: language + label)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        groups[key].append(i)
    rng = random.Random(seed)
    train_idx: list[int] = []
    test_idx: list[int] = []
    for key in sorted(groups):
        idx = groups[key][:]
        rng.shuffle(idx)
        n_test = round(len(idx) * test_size)
        n_test = max(1, min(n_test, len(idx) - 1)) if len(idx) >= 2 else 0
        test_idx.extend(idx[:n_test])
        train_idx.extend(idx[n_test:])
    return sorted(train_idx), sorted(test_idx)


def macro_f1(
    truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str] = LABELS
) -> float:
    present = [lab for lab in labels if lab in truth or lab in predicted]
    scores = []
    for lab in present:
        tp = sum(t == lab and p == lab for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != lab and p == lab for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == lab and p != lab for t, p in zip(truth, predicted, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def accuracy(truth: Sequence[str], predicted: Sequence[str]) -> float:
    return sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth) if truth else 0.0


def micro_f1(truth: Sequence[Iterable[str]], predicted: Sequence[Iterable[str]]) -> float:
    tp = fp = fn = 0
    for t, p in zip(truth, predicted, strict=True):
        ts, ps = set(t), set(p)
        tp += len(ts & ps)
        fp += len(ps - ts)
        fn += len(ts - ps)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def sentiment_quality(
    langs: Sequence[str], truth: Sequence[str], predicted: Sequence[str]
) -> Quality:
    per: dict[str, dict[str, float]] = {}
    for lang in sorted(set(langs)):
        idx = [i for i, la in enumerate(langs) if la == lang]
        t = [truth[i] for i in idx]
        p = [predicted[i] for i in idx]
        per[lang] = {"accuracy": accuracy(t, p), "macro_f1": macro_f1(t, p), "n": len(idx)}
    return Quality(accuracy(truth, predicted), macro_f1(truth, predicted), len(truth), per)


def fit_model(
    docs: Sequence[Doc],
    examples: Sequence[Example],
    taxonomy: Taxonomy,
    *,
    c: float = 2.0,
) -> TextModel:
    """Fit vectorisers and classifiers on prepared docs (no evaluation)."""
    from sklearn.linear_model import LogisticRegression

    weights = np.array([e.weight for e in examples], dtype=float)
    features = FeatureBuilder().fit(docs)
    x = features.transform(docs)
    y = [e.label for e in examples]
    classifier = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
    classifier.fit(x, y, sample_weight=weights)
    cat_idx = [i for i, e in enumerate(examples) if e.categories is not None]
    categories: CategoryClassifier | None = None
    if cat_idx:
        categories = CategoryClassifier(taxonomy.keys)
        categories.fit(
            x[cat_idx], [examples[i].categories or () for i in cat_idx], weights[cat_idx]
        )
    return TextModel(
        features=features,
        classifier=classifier,
        categories=categories,
        taxonomy_keys=taxonomy.keys,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        n_train=len(examples),
    )


@dataclass
class TrainResult:
    model: TextModel
    quality: Quality


def train(
    examples: Iterable[Example | tuple[str, str, float]],
    *,
    taxonomy: Taxonomy | None = None,
    holdout: float = 0.2,
    seed: int = SEED,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train sentiment and categories on weighted examples and measure them on a held-out part.

    The held-out part (``holdout`` of each language and label, fixed seed) gives the quality
    figures; the returned model is then refitted on all examples.
    """
    items = [e if isinstance(e, Example) else Example(e[0], e[1], float(e[2])) for e in examples]
    bad = {e.label for e in items} - set(LABELS)
    if bad:
        raise ValueError(f"unknown sentiment labels: {sorted(bad)}")
    if len({e.label for e in items}) < 2:
        raise ValueError("training needs examples of at least two sentiment labels")
    tax = taxonomy or load_taxonomy()
    say = progress or (lambda _msg: None)
    say(f"analysing {len(items)} texts")
    docs = [prepare(e.text, e.lang) for e in items]
    langs = [d.lang for d in docs]

    train_idx, test_idx = stratified_split(
        [f"{lang}:{e.label}" for lang, e in zip(langs, items, strict=True)], holdout, seed
    )
    # only strong labels measure the model: a weak label is a guess about the text
    test_idx = [i for i in test_idx if items[i].weight >= 1.0] or test_idx
    if len({items[i].label for i in train_idx}) < 2 or not test_idx:
        train_idx, test_idx = list(range(len(items))), []
    quality = Quality(0.0, 0.0, 0)
    if test_idx:
        say(f"fitting on {len(train_idx)}, measuring on {len(test_idx)}")
        probe = fit_model([docs[i] for i in train_idx], [items[i] for i in train_idx], tax)
        test_docs = [docs[i] for i in test_idx]
        predicted = [p.label for p in probe.predict_docs(test_docs)]
        quality = sentiment_quality(
            [langs[i] for i in test_idx], [items[i].label for i in test_idx], predicted
        )
        cat_rows = [k for k, i in enumerate(test_idx) if items[i].categories is not None]
        if cat_rows and probe.categories is not None:
            from cxloop.text.pipeline import categories_for

            found = categories_for([test_docs[k] for k in cat_rows], probe, tax)
            quality.category_micro_f1 = micro_f1(
                [items[test_idx[k]].categories or () for k in cat_rows], found
            )
    say(f"fitting the model on all {len(items)} texts")
    model = fit_model(docs, items, tax)
    model.quality = {"holdout": quality.as_dict(), "labels": dict(Counter(e.label for e in items))}
    return TrainResult(model, quality)


# --- optional transformers hook -----------------------------------------------------------------


def transformers_classifier() -> Callable[[list[str]], list[Prediction]] | None:
    """A classifier over a local transformers model named by ``CXLOOP_TEXT_MODEL_DIR``, if any.

    The model's labels must read as positive/neutral/negative (or POSITIVE/NEGATIVE, LABEL_0..2
    in that order of negative, neutral, positive).
    """
    directory = os.environ.get("CXLOOP_TEXT_MODEL_DIR")
    if not directory:
        return None
    try:
        from transformers import pipeline
    except ImportError:
        return None
    classify = pipeline("text-classification", model=directory, top_k=None, local_files_only=True)
    numbered = {"label_0": "negative", "label_1": "neutral", "label_2": "positive"}

    def run(texts: list[str]) -> list[Prediction]:
        out = []
        for scores in classify(texts, truncation=True):
            probs = dict.fromkeys(LABELS, 0.0)
            for item in scores:
                name = str(item["label"]).lower()
                probs[numbered.get(name, name)] = float(item["score"])
            label = max(probs, key=lambda k: probs[k])
            out.append(Prediction(label, probs["positive"] - probs["negative"], probs))
        return out

    return run
