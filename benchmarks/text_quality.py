"""Quality of the text analytics, Korean and English apart, against two baselines in the same run.

    python benchmarks/text_quality.py

Two sets: the test split of ``tests/data/text_labelled.jsonl`` (never trained on) and
``tests/data/text_unseen.jsonl`` (held-out texts in another style, never used to build
anything). Three systems on each: a majority-class baseline (the commonest label of the train
split), the lexicon alone (lexicon sentiment, taxonomy seeds for categories), and the shipped
pipeline (lexicon + trained model). Printed: sentiment accuracy and macro-F1, category micro-F1,
aspect accuracy (share of labelled (category, sentiment) pairs found exactly).
Goals (issue #4): Korean sentiment macro-F1 ≥ 0.80, category micro-F1 ≥ 0.75.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from cxloop.text.pipeline import Analysis, Analyzer
from cxloop.text.sentiment import accuracy, macro_f1, micro_f1
from cxloop.text.training.dataset import (
    LABELLED_PATH,
    UNSEEN_PATH,
    LabelledText,
    load_labelled,
    split_labelled,
)


def figures(
    rows: list[LabelledText],
    sentiments: list[str],
    cats: list[tuple[str, ...]] | None,
    analyses: list[Analysis] | None,
) -> dict[str, float]:
    truth = [r.sentiment for r in rows]
    out = {
        "n": len(rows),
        "accuracy": accuracy(truth, sentiments),
        "macro_f1": macro_f1(truth, sentiments),
    }
    if cats is not None:
        out["category_micro_f1"] = micro_f1([r.categories for r in rows], cats)
    if analyses is not None:
        wanted = sum(len(r.aspects) for r in rows)
        hit = sum(
            len(set(r.aspects) & {(a.category, a.sentiment) for a in an.aspects})
            for r, an in zip(rows, analyses, strict=True)
        )
        out["aspect_accuracy"] = hit / wanted if wanted else 0.0
    return out


def evaluate(
    name: str,
    rows: list[LabelledText],
    majority: dict[str, str],
    model: Analyzer,
    lexicon: Analyzer,
) -> dict[str, dict[str, dict[str, float]]]:
    results: dict[str, dict[str, dict[str, float]]] = {}
    for lang in ("ko", "en"):
        part = [r for r in rows if r.lang == lang]
        if not part:
            continue
        texts = [r.text for r in part]
        langs = [r.lang for r in part]
        by_model = model.analyze_many(texts, langs)  # type: ignore[arg-type]
        by_lexicon = lexicon.analyze_many(texts, langs)  # type: ignore[arg-type]
        results[lang] = {
            "majority": figures(part, [majority[lang]] * len(part), [()] * len(part), None),
            "lexicon": figures(
                part,
                [a.sentiment for a in by_lexicon],
                [a.categories for a in by_lexicon],
                by_lexicon,
            ),
            "model": figures(
                part, [a.sentiment for a in by_model], [a.categories for a in by_model], by_model
            ),
        }
    print(f"\n{name}")
    print(
        f"  {'lang':4} {'system':9} {'n':>4} {'acc':>6} {'macroF1':>8} {'catF1':>6} {'aspect':>7}"
    )
    for lang, systems in results.items():
        for system, f in systems.items():
            aspect = f"{f['aspect_accuracy']:.3f}" if "aspect_accuracy" in f else "     -"
            print(
                f"  {lang:4} {system:9} {int(f['n']):>4} {f['accuracy']:6.3f} {f['macro_f1']:8.3f} "
                f"{f.get('category_micro_f1', 0.0):6.3f} {aspect:>7}"
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="text analytics quality")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    train_rows, test_rows = split_labelled(load_labelled(LABELLED_PATH))
    majority = {
        lang: Counter(r.sentiment for r in train_rows if r.lang == lang).most_common(1)[0][0]
        for lang in ("ko", "en")
    }
    model = Analyzer(use_transformers=False)
    if model.model is None:
        print("no trained model: run python -m cxloop.text.training.train first")
    lexicon = Analyzer(model_path=None, use_transformers=False)
    out = {
        "labelled_test_split": evaluate("labelled test split", test_rows, majority, model, lexicon)
    }
    if UNSEEN_PATH.exists():
        out["unseen"] = evaluate(
            "unseen texts", load_labelled(UNSEEN_PATH), majority, model, lexicon
        )
    print("\ngoals: ko sentiment macro-F1 >= 0.80, category micro-F1 >= 0.75")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
