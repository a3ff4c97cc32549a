"""Fitting the bot's ranking and confidence on knowledge bases and labelled questions of their
own (``benchmarks/data/help_tuning``: businesses other than the ones the benchmark asks about),
never on the benchmark's sets:

1. ranking: how much each index (words and n-grams of titles and of bodies) weighs in an
   article's score — a logistic regression telling, among each question's best candidates, the
   expected article from the others;
2. confidence: a logistic regression from the best article's scale-free features to whether it
   was the expected one (a question no article answers never has a right one).

    python -m cxloop.help.calibrate KB.jsonl QUESTIONS.jsonl [KB.jsonl QUESTIONS.jsonl …]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from cxloop.help.retrieval import CALIBRATION, FEATURES, SIDES, Calibration, Doc, KnowledgeIndex

CANDIDATES = 10
UNIFORM = Calibration(ranking=dict.fromkeys(SIDES, 1.0), weights={}, intercept=0.0)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def docs_of(rows: list[dict[str, Any]]) -> list[Doc]:
    return [
        Doc(r["external_id"], r["locale"], r["title"], r["body"], tuple(r.get("tags") or ()))
        for r in rows
    ]


def _candidates(index: KnowledgeIndex, text: str) -> list[tuple[str, list[float]]]:
    """The question's best candidate articles by equal weights, each with its best version's
    shares per index."""
    shares = index.shares(text)
    total = sum(shares[side] for side in SIDES)
    assert isinstance(total, np.ndarray)
    best: dict[str, int] = {}
    for doc, d in enumerate(index.docs):
        if d.article not in best or total[doc] > total[best[d.article]]:
            best[d.article] = doc
    top = sorted(best.items(), key=lambda item: -total[item[1]])[:CANDIDATES]
    return [(article, [float(shares[side][doc]) for side in SIDES]) for article, doc in top]


def fit_ranking(sets: list[tuple[KnowledgeIndex, list[dict[str, Any]]]]) -> dict[str, float]:
    x, y = [], []
    for index, questions in sets:
        for question in questions:
            if question["reason"] != "article":
                continue
            for article, features in _candidates(index, question["text"]):
                x.append(features)
                y.append(int(article == question["expected"]))
    model = LogisticRegression(C=1.0, max_iter=2000).fit(np.array(x), np.array(y))
    weights = np.clip(model.coef_[0], 0.0, None)
    weights = weights / weights.sum()  # scale-free: the confidence takes the scale
    return dict(zip(SIDES, (round(float(w), 4) for w in weights), strict=True))


def fit_confidence(
    sets: list[tuple[KnowledgeIndex, list[dict[str, Any]]]], ranking: dict[str, float]
) -> tuple[dict[str, float], float]:
    calibration = Calibration(ranking=ranking, weights=dict.fromkeys(FEATURES, 0.0), intercept=0)
    x, y = [], []
    for index, questions in sets:
        for question in questions:
            if question["reason"] == "human":  # handed over by the words, whatever matches
                continue
            found = index.search(question["text"], calibration=calibration)
            x.append([found.features[name] for name in FEATURES])
            right = found.best is not None and found.best.article == question.get("expected")
            y.append(int(right))
    model = LogisticRegression(C=1.0, max_iter=2000).fit(np.array(x), np.array(y))
    weights = {n: round(float(w), 4) for n, w in zip(FEATURES, model.coef_[0], strict=True)}
    return weights, round(float(model.intercept_[0]), 4)


def main(argv: list[str]) -> int:
    if not argv or len(argv) % 2:
        print("usage: python -m cxloop.help.calibrate KB.jsonl QUESTIONS.jsonl [...]")
        return 2
    sets = [
        (KnowledgeIndex(docs_of(read_jsonl(Path(kb)))), read_jsonl(Path(questions)))
        for kb, questions in zip(argv[::2], argv[1::2], strict=True)
    ]
    ranking = fit_ranking(sets)
    weights, intercept = fit_confidence(sets, ranking)
    fitted = {
        "ranking": ranking,
        "weights": weights,
        "intercept": intercept,
        "fitted_on": [Path(p).name for p in argv[1::2]],
    }
    CALIBRATION.write_text(json.dumps(fitted, indent=2) + "\n", "utf-8")
    print(json.dumps(fitted))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
