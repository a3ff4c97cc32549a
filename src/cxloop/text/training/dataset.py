"""The project's labelled texts, shipped in the package (``corpus/``), and the fixed train/test
split of them.

``corpus/labelled.jsonl`` is split once (fixed seed) into train and test rows; the files of
``corpus/train/`` are training texts only, written to widen the styles, businesses and registers
the model learns from, and are never measured on. They ship with cxloop because a workspace's
retraining (``service.py``) starts from them on any installation. The independent evaluation
sets (``tests/data/text_eval/``) and ``tests/data/text_unseen.jsonl`` are never trained on and
stay with the tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxloop.text.sentiment import SEED, Example, stratified_split

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
LABELLED_PATH = CORPUS_DIR / "labelled.jsonl"
TRAIN_ONLY_DIR = CORPUS_DIR / "train"
# A source checkout's held-out texts in another style (absent from an installed package).
UNSEEN_PATH = Path(__file__).resolve().parents[4] / "tests" / "data" / "text_unseen.jsonl"
TEST_SIZE = 0.25


@dataclass(frozen=True)
class LabelledText:
    id: str
    lang: str
    text: str
    sentiment: str
    categories: tuple[str, ...]
    aspects: tuple[tuple[str, str], ...]
    source: str

    def example(self) -> Example:
        lang = self.lang if self.lang in ("ko", "en") else None
        return Example(self.text, self.sentiment, 1.0, lang, self.categories)  # type: ignore[arg-type]


def load_labelled(path: Path = LABELLED_PATH) -> list[LabelledText]:
    rows: list[LabelledText] = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw: dict[str, Any] = json.loads(line)
                rows.append(
                    LabelledText(
                        id=str(raw.get("id", n)),
                        lang=str(raw["lang"]),
                        text=str(raw["text"]),
                        sentiment=str(raw["sentiment"]),
                        categories=tuple(raw.get("categories") or ()),
                        aspects=tuple(
                            (str(a["category"]), str(a["sentiment"]))
                            for a in raw.get("aspects") or ()
                        ),
                        source=str(raw.get("source", "")),
                    )
                )
            except (KeyError, TypeError, json.JSONDecodeError) as exc:
                raise ValueError(f"{path}:{n}: not a labelled text ({exc})") from exc
    return rows


def split_labelled(
    rows: list[LabelledText], test_size: float = TEST_SIZE, seed: int = SEED
) -> tuple[list[LabelledText], list[LabelledText]]:
    """The fixed split (stratified by language and label): train rows, test rows."""
    train_idx, test_idx = stratified_split(
        [f"{r.lang}:{r.sentiment}" for r in rows], test_size, seed
    )
    return [rows[i] for i in train_idx], [rows[i] for i in test_idx]


def training_split(
    rows: list[LabelledText] | None = None, train_only_dir: Path = TRAIN_ONLY_DIR
) -> tuple[list[LabelledText], list[LabelledText]]:
    """The rows to train on (the labelled train split and every training-only file) and the
    labelled test split."""
    train_rows, test_rows = split_labelled(load_labelled() if rows is None else rows)
    if train_only_dir.is_dir():
        for path in sorted(train_only_dir.glob("*.jsonl")):
            train_rows.extend(load_labelled(path))
    return train_rows, test_rows
