"""Fitting the bot's ranking and confidence on knowledge bases and labelled questions of their
own (``benchmarks/data/help_tuning``: businesses other than the ones the benchmark asks about),
never on the benchmark's sets:

1. ranking: how much each index (words and n-grams of titles and of bodies) and the article's
   share of the question's words weigh in an article's score — a logistic regression on pairs
   of each question's expected article and another of its best candidates;
2. confidence: a logistic regression from the best article's scale-free features to whether it
   was the expected one (a question no article answers never has a right one).

    python -m cxloop.help.calibrate KB.jsonl QUESTIONS.jsonl [KB.jsonl QUESTIONS.jsonl …]
    python -m cxloop.help.calibrate --cross-validate KB.jsonl QUESTIONS.jsonl …

``--cross-validate`` writes nothing: each knowledge base in turn is answered with weights fitted
on the others, and the pooled held-out precision–coverage curve is printed (the threshold is
picked on it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from cxloop.help.retrieval import CALIBRATION, FEATURES, RANKING, Calibration, Doc, KnowledgeIndex

CANDIDATES = 10
CONFIDENCE_C = 1.0
UNIFORM = Calibration(
    ranking={name: 1.0 if name != "covered" else 0.0 for name in RANKING}, weights={}, intercept=0
)
Sets = list[tuple[KnowledgeIndex, list[dict[str, Any]]]]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def docs_of(rows: list[dict[str, Any]]) -> list[Doc]:
    return [
        Doc(r["external_id"], r["locale"], r["title"], r["body"], tuple(r.get("tags") or ()))
        for r in rows
    ]


def _candidates(index: KnowledgeIndex, text: str) -> dict[str, list[float]]:
    """The question's best candidate articles by equal weights, each with its best version's
    ranking features."""
    hits = index.ranked(text, limit=CANDIDATES, calibration=UNIFORM, matching_only=False)
    return {hit.article: [hit.shares[name] for name in RANKING] for hit in hits}


def fit_ranking(sets: Sets) -> dict[str, float]:
    """Weights under which the expected article outscores the other candidates."""
    x, y = [], []
    for index, questions in sets:
        for question in questions:
            if question["reason"] != "article":
                continue
            candidates = _candidates(index, question["text"])
            expected = candidates.get(question["expected"])
            if expected is None:
                continue
            for article, features in candidates.items():
                if article != question["expected"]:
                    difference = np.subtract(expected, features)
                    x += [difference, -difference]
                    y += [1, 0]
    model = LogisticRegression(C=1.0, max_iter=2000, fit_intercept=False)
    model.fit(np.array(x), np.array(y))
    weights = np.clip(model.coef_[0], 0.0, None)
    weights = weights / weights.sum()  # scale-free: the confidence takes the scale
    return dict(zip(RANKING, (round(float(w), 4) for w in weights), strict=True))


def _features(sets: Sets, ranking: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
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
    return np.array(x), np.array(y)


def fit_confidence(sets: Sets, ranking: dict[str, float]) -> tuple[dict[str, float], float]:
    x, y = _features(sets, ranking)
    # Fitted on standardised features, so the penalty weighs them alike, then put back on the
    # features' own scale for the shipped weights.
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=CONFIDENCE_C, max_iter=5000).fit((x - mean) / scale, y)
    coef = model.coef_[0] / scale
    intercept = float(model.intercept_[0] - (coef * mean).sum())
    weights = {n: round(float(w), 4) for n, w in zip(FEATURES, coef, strict=True)}
    return weights, round(intercept, 4)


def fit(sets: Sets) -> Calibration:
    ranking = fit_ranking(sets)
    weights, intercept = fit_confidence(sets, ranking)
    return Calibration(ranking=ranking, weights=weights, intercept=intercept)


def held_out(named: dict[str, tuple[KnowledgeIndex, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Each question of each knowledge base answered with weights fitted on the others: its
    kind, the confidence (None when a rule or no match hands it over) and whether it was right."""
    from cxloop.help.bot import asks_for_person, is_upset

    out = []
    for name, (index, questions) in named.items():
        calibration = fit([s for other, s in named.items() if other != name])
        for question in questions:
            if question["reason"] == "human":
                continue
            found = index.search(question["text"], calibration=calibration)
            ruled = asks_for_person(question["text"]) or is_upset(question["text"])
            out.append(
                {
                    "set": name,
                    "reason": question["reason"],
                    "confidence": None if ruled or found.best is None else found.confidence,
                    "right": found.best is not None
                    and found.best.article == question.get("expected"),
                }
            )
    return out


def at_threshold(answers: list[dict[str, Any]], threshold: float) -> dict[str, float]:
    """Top-1 of the answerable questions answered, the share answered, and the share of the
    unanswerable handed over, at ``threshold``."""

    def answered(a: dict[str, Any]) -> bool:
        return a["confidence"] is not None and a["confidence"] >= threshold

    answerable = [a for a in answers if a["reason"] == "article"]
    unanswerable = [a for a in answers if a["reason"] == "unanswerable"]
    given = [a for a in answerable if answered(a)]
    return {
        "threshold": round(threshold, 2),
        "top1": round(sum(a["right"] for a in given) / len(given), 4) if given else 1.0,
        "coverage": round(len(given) / max(1, len(answerable)), 4),
        "unanswerable_handed_over": round(
            sum(not answered(a) for a in unanswerable) / max(1, len(unanswerable)), 4
        ),
    }


def _sets(paths: list[str]) -> dict[str, tuple[KnowledgeIndex, list[dict[str, Any]]]]:
    return {
        Path(questions).name: (
            KnowledgeIndex(docs_of(read_jsonl(Path(kb)))),
            read_jsonl(Path(questions)),
        )
        for kb, questions in zip(paths[::2], paths[1::2], strict=True)
    }


def main(argv: list[str]) -> int:
    cross = argv[:1] == ["--cross-validate"]
    paths = argv[1:] if cross else argv
    if not paths or len(paths) % 2:
        print("usage: python -m cxloop.help.calibrate [--cross-validate] KB.jsonl Q.jsonl [...]")
        return 2
    named = _sets(paths)
    if cross:
        answers = held_out(named)
        for name in named:
            mine = [a for a in answers if a["set"] == name]
            right = [a["right"] for a in mine if a["reason"] == "article"]
            print(f"{name}: top-1 at any confidence {sum(right) / len(right):.1%}")
            print("  ", json.dumps([at_threshold(mine, t / 20) for t in range(6, 15)]))
        print("pooled:")
        for t in range(6, 15):
            print("  ", json.dumps(at_threshold(answers, t / 20)))
        return 0
    calibration = fit(list(named.values()))
    fitted = {
        "ranking": calibration.ranking,
        "weights": calibration.weights,
        "intercept": calibration.intercept,
        "fitted_on": list(named),
    }
    CALIBRATION.write_text(json.dumps(fitted, indent=2) + "\n", "utf-8")
    print(json.dumps(fitted))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
