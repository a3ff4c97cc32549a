"""Train the shipped text model: ``python -m cxloop.text.training.train``.

Trains sentiment and categories on the train split of ``corpus/labelled.jsonl`` (fixed
seed, stratified by language and label; the test split is never trained on) and the training-only
texts of ``corpus/train/``, prints the held-out figures per language and saves
``models/sentiment.joblib`` with them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cxloop.text.sentiment import MODEL_PATH, micro_f1, sentiment_quality, train
from cxloop.text.training.dataset import LABELLED_PATH, load_labelled, training_split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=LABELLED_PATH)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)

    rows = load_labelled(args.data)
    train_rows, test_rows = training_split(rows)
    print(
        f"{len(rows)} labelled texts and {len(train_rows) + len(test_rows) - len(rows)} "
        f"training-only: {len(train_rows)} to train, {len(test_rows)} to test"
    )
    result = train([r.example() for r in train_rows], progress=lambda msg: print("  " + msg))
    model = result.model

    from cxloop.text.pipeline import Analyzer

    analyzer = Analyzer(model, use_transformers=False)
    analyses = analyzer.analyze_many([r.text for r in test_rows], [r.lang for r in test_rows])  # type: ignore[misc]
    quality = sentiment_quality(
        [r.lang for r in test_rows],
        [r.sentiment for r in test_rows],
        [a.sentiment for a in analyses],
    )
    per_lang_cat = {}
    for lang in sorted({r.lang for r in test_rows}):
        idx = [i for i, r in enumerate(test_rows) if r.lang == lang]
        per_lang_cat[lang] = micro_f1(
            [test_rows[i].categories for i in idx], [analyses[i].categories for i in idx]
        )
        quality.per_language[lang]["category_micro_f1"] = per_lang_cat[lang]
    quality.category_micro_f1 = micro_f1(
        [r.categories for r in test_rows], [a.categories for a in analyses]
    )
    model.quality["test"] = quality.as_dict()

    print("held-out test split:")
    for lang, figures in quality.per_language.items():
        print(
            f"  {lang}: n={int(figures['n'])} accuracy={figures['accuracy']:.3f} "
            f"macro-F1={figures['macro_f1']:.3f} "
            f"category micro-F1={figures['category_micro_f1']:.3f}"
        )
    print(
        f"  all: n={quality.n} accuracy={quality.accuracy:.3f} macro-F1={quality.macro_f1:.3f} "
        f"category micro-F1={quality.category_micro_f1:.3f}"
    )
    path = model.save(args.out)
    print(f"saved {path} ({path.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
