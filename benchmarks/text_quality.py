"""Quality of the text analytics, Korean and English apart, against two baselines in the same run.

    python benchmarks/text_quality.py                     # every set
    python benchmarks/text_quality.py --eval-set reviews  # one independent set only
    python benchmarks/text_quality.py --agreement         # the two labelling passes' agreement

The sets: the test split of ``src/cxloop/text/training/corpus/labelled.jsonl`` (never trained on),
``tests/data/text_unseen.jsonl`` (held-out texts in another style), and the independent
evaluation sets of ``tests/data/text_eval/`` — each written in one style by its own writer who
saw only the label definitions (``GUIDE.md``), labelled twice independently
(``NAME.first.jsonl``, ``NAME.second.jsonl``) and resolved (``NAME.jsonl``), frozen before any
change to the analysis. Whoever changes the analysis reads the aggregate figures of one of them
at most (``--eval-set``) and reports all of them at the end. ``social`` (social posts, survey
answers and e-mails) came after the other three had been read: it is half English, to measure
English on more texts, and most of its Korean half says in Korean what its English half says.
``marketplace`` (marketplace and app-store reviews, seller Q&A) came after all four had been
read: half English, its two halves written apart.

Three systems on each: a majority-class baseline (the commonest label of the train split), the
lexicon alone (lexicon sentiment, taxonomy seeds for categories), and the shipped pipeline
(lexicon + trained model). Printed: sentiment accuracy and macro-F1, category micro-F1, aspect
accuracy (share of labelled (category, sentiment) pairs found exactly), and for the independent
sets the shipped pipeline's sentiment confusion matrix per language (rows: the label, columns:
the prediction). ``--agreement`` prints Cohen's κ of the two labelling passes on sentiment and
on each category.
Goals (the text issue): Korean sentiment macro-F1 ≥ 0.85 and English ≥ 0.80 on the independent
sets, category micro-F1 ≥ 0.80.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from sklearn.metrics import cohen_kappa_score

from cxloop.text.pipeline import Analysis, Analyzer
from cxloop.text.sentiment import LABELS, MODEL_PATH, accuracy, macro_f1, micro_f1
from cxloop.text.training.dataset import (
    LABELLED_PATH,
    UNSEEN_PATH,
    LabelledText,
    load_labelled,
    split_labelled,
)

EVAL_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "text_eval"
EVAL_SETS = ("reviews", "chat", "complaints", "social", "marketplace")
CATEGORIES = (
    "delivery", "price", "product_quality", "customer_service", "website_app",
    "payment_refund", "loyalty_rewards", "store_experience",
)  # fmt: skip


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
    *,
    confusion: bool = False,
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
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
        if confusion:
            results[lang]["confusion"] = {
                truth: {
                    guess: sum(
                        r.sentiment == truth and a.sentiment == guess
                        for r, a in zip(part, by_model, strict=True)
                    )
                    for guess in LABELS
                }
                for truth in LABELS
            }
    print(f"\n{name}")
    print(
        f"  {'lang':4} {'system':9} {'n':>4} {'acc':>6} {'macroF1':>8} {'catF1':>6} {'aspect':>7}"
    )
    for lang, systems in results.items():
        for system, f in systems.items():
            if system == "confusion":
                continue
            aspect = f"{f['aspect_accuracy']:.3f}" if "aspect_accuracy" in f else "     -"
            print(
                f"  {lang:4} {system:9} {int(f['n']):>4} {f['accuracy']:6.3f} {f['macro_f1']:8.3f} "
                f"{f.get('category_micro_f1', 0.0):6.3f} {aspect:>7}"
            )
    for lang, systems in results.items():
        if "confusion" in systems:
            print(f"  {lang} confusion (label → prediction): " + "; ".join(
                f"{truth} → " + " ".join(f"{g[:3]} {n}" for g, n in row.items())
                for truth, row in systems["confusion"].items()
            ))  # fmt: skip
    return results


def _by_id(path: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return {str(r["id"]): r for r in rows}


def agreement(name: str) -> dict[str, Any] | None:
    """Cohen's κ between the two labelling passes of one evaluation set, on the sentiment and
    on each category (present or not), over the texts both passes labelled."""
    first_path, second_path = EVAL_DIR / f"{name}.first.jsonl", EVAL_DIR / f"{name}.second.jsonl"
    if not (first_path.exists() and second_path.exists()):
        return None
    first, second = _by_id(first_path), _by_id(second_path)
    ids = sorted(first.keys() & second.keys())
    out: dict[str, Any] = {
        "n": len(ids),
        "sentiment_agreement": sum(first[i]["sentiment"] == second[i]["sentiment"] for i in ids)
        / len(ids),
        "sentiment_kappa": float(
            cohen_kappa_score(
                [first[i]["sentiment"] for i in ids], [second[i]["sentiment"] for i in ids]
            )
        ),
    }
    kappas = {}
    for category in CATEGORIES:
        a = [category in first[i]["categories"] for i in ids]
        b = [category in second[i]["categories"] for i in ids]
        kappas[category] = float(cohen_kappa_score(a, b)) if any(a) or any(b) else 1.0
    out["category_kappa"] = kappas
    out["category_kappa_mean"] = sum(kappas.values()) / len(kappas)
    print(
        f"{name}: {out['n']} texts, sentiment agreement {out['sentiment_agreement']:.3f}, "
        f"κ {out['sentiment_kappa']:.3f}; categories κ mean {out['category_kappa_mean']:.3f} ("
        + ", ".join(f"{c} {k:.2f}" for c, k in kappas.items())
        + ")"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="text analytics quality")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--eval-set", choices=EVAL_SETS, help="of the independent sets, evaluate this one alone"
    )
    parser.add_argument(
        "--agreement", action="store_true", help="only the labelling passes' agreement"
    )
    parser.add_argument(
        "--model", type=Path, default=MODEL_PATH, help="the trained model to measure (a .joblib)"
    )
    args = parser.parse_args()
    if args.agreement:
        found = {name: agreement(name) for name in EVAL_SETS}
        if args.json:
            args.json.write_text(json.dumps(found, indent=2))
        return

    train_rows, test_rows = split_labelled(load_labelled(LABELLED_PATH))
    majority = {
        lang: Counter(r.sentiment for r in train_rows if r.lang == lang).most_common(1)[0][0]
        for lang in ("ko", "en")
    }
    model = Analyzer(model_path=args.model, use_transformers=False)
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
    for name in (args.eval_set,) if args.eval_set else EVAL_SETS:
        path = EVAL_DIR / f"{name}.jsonl"
        if path.exists():
            out[f"eval_{name}"] = evaluate(
                f"independent set: {name}",
                load_labelled(path),
                majority,
                model,
                lexicon,
                confusion=True,
            )
    print(
        "\ngoals: independent sets ko sentiment macro-F1 >= 0.85, en >= 0.80, "
        "category micro-F1 >= 0.80"
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
