"""Fitting the bot's confidence: a logistic regression from the retrieval's scale-free features
to whether the best article was the right one, on a knowledge base and labelled questions of
its own (``benchmarks/data/help_tuning``), never on the benchmark's sets.

    python -m cxloop.help.calibrate KB.jsonl QUESTIONS.jsonl   # writes calibration.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from cxloop.help.retrieval import FEATURES, Doc, KnowledgeIndex

CALIBRATION = Path(__file__).parent / "calibration.json"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def docs_of(rows: list[dict[str, Any]]) -> list[Doc]:
    return [
        Doc(r["external_id"], r["locale"], r["title"], r["body"], tuple(r.get("tags") or ()))
        for r in rows
    ]


def fit(index: KnowledgeIndex, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Weights that make the confidence the chance the best article is the expected one (a
    question no article answers is never right)."""
    x, y = [], []
    for question in questions:
        found = index.search(question["text"])
        x.append([found.features[name] for name in FEATURES])
        right = found.best is not None and found.best.article == question.get("expected")
        y.append(int(right))
    model = LogisticRegression(C=1.0, max_iter=1000).fit(np.array(x), np.array(y))
    return {
        "weights": dict(zip(FEATURES, (round(float(w), 4) for w in model.coef_[0]), strict=True)),
        "intercept": round(float(model.intercept_[0]), 4),
        "fitted_on": len(y),
    }


def main(argv: list[str]) -> int:
    kb, questions = Path(argv[0]), Path(argv[1])
    index = KnowledgeIndex(docs_of(read_jsonl(kb)))
    calibration = fit(index, read_jsonl(questions))
    CALIBRATION.write_text(json.dumps(calibration, indent=2) + "\n", "utf-8")
    print(json.dumps(calibration))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
