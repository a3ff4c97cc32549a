"""Finding the one article that answers a question, and how sure that is.

Each language version of an article is one document: its title three times (titles say what
an article answers), its tags twice, its body once. Two BM25 indexes (bm25s) are built over the
documents, one of word terms and one of character n-grams (``terms``). A question's score for a
document in each index is divided by the most the question could score — the sum of its terms'
IDF, a term no document has counting as the rarest — so it says how much of the question the
document covers, comparable between questions and knowledge bases. An article scores as its
best language version; the two indexes' shares are added.

The answer is the best article with a confidence: a logistic function of scale-free features
(both shares, the lead over the runner-up, how many terms the question has), whose weights
ship in ``calibration.json`` and are fitted by ``cxloop.help.calibrate`` on a knowledge base
and questions of their own — never on the benchmark's.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import bm25s
import numpy as np

from cxloop.help.terms import gram_terms, word_terms

K1, B = 1.2, 0.75
TITLE_WEIGHT, TAG_WEIGHT = 3, 2
GRAM_WEIGHT = 1.0  # how much the n-gram share adds to the word share in the ranking
FEATURES = ("word_share", "gram_share", "lead", "word_lead", "unknown", "terms")


@dataclass(frozen=True)
class Doc:
    """One language version of an article, as the index reads it."""

    article: str  # the article's key (its external id)
    locale: str
    title: str
    body: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hit:
    article: str
    score: float  # word share + n-gram share of the best language version
    word_share: float
    gram_share: float
    locale: str


@dataclass(frozen=True)
class Found:
    """The best article for a question (None when nothing matched) and how sure that is."""

    best: Hit | None
    confidence: float
    runners_up: tuple[Hit, ...]
    features: dict[str, float]


class _Side:
    """One BM25 index and the document frequencies its shares are computed with."""

    def __init__(self, docs_terms: Sequence[list[str]]) -> None:
        self.n = len(docs_terms)
        self.df: Counter[str] = Counter()
        for terms in docs_terms:
            self.df.update(set(terms))
        self.bm25: bm25s.BM25 | None = None
        if docs_terms:  # bm25s cannot index nothing; an empty knowledge base matches nothing
            self.bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
            self.bm25.index([list(t) or [""] for t in docs_terms], show_progress=False)

    def idf(self, term: str) -> float:
        df = self.df.get(term, 0)
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def shares(self, query: list[str]) -> np.ndarray:
        """Per document: its BM25 score over the most the query could score."""
        unique = list(dict.fromkeys(query))
        if not unique or self.bm25 is None:
            return np.zeros(self.n)
        # bm25s sums a term once per occurrence in the query: ask with each term once.
        known = [t for t in unique if t in self.df]
        most = sum(self.idf(t) for t in unique)
        if not known or most <= 0:
            return np.zeros(self.n)
        scores = np.asarray(self.bm25.get_scores(known), dtype=float)
        return scores / most


class KnowledgeIndex:
    """The searchable form of a knowledge base's published articles."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        self.docs = list(docs)
        self.articles = sorted({d.article for d in self.docs})
        self._article_of = np.array([self.articles.index(d.article) for d in self.docs])
        self.words = _Side([_doc_terms(d, word_terms) for d in self.docs])
        self.grams = _Side([_doc_terms(d, gram_terms) for d in self.docs])

    def search(self, question: str, *, limit: int = 3) -> Found:
        """The best article for ``question``, the runners-up, and the confidence."""
        query_words = word_terms(question, typos=True)
        query_grams = gram_terms(question)
        if not self.docs or not (query_words or query_grams):
            return Found(None, 0.0, (), dict.fromkeys(FEATURES, 0.0))
        word = self.words.shares(query_words)
        gram = self.grams.shares(query_grams)
        combined = word + GRAM_WEIGHT * gram
        best_doc: dict[int, int] = {}
        for doc, article in enumerate(self._article_of):
            held = best_doc.get(int(article))
            if held is None or combined[doc] > combined[held]:
                best_doc[int(article)] = doc
        ranked = sorted(best_doc.values(), key=lambda d: -combined[d])[: max(limit, 2)]
        hits = [
            Hit(
                article=self.docs[d].article,
                score=float(combined[d]),
                word_share=float(word[d]),
                gram_share=float(gram[d]),
                locale=self.docs[d].locale,
            )
            for d in ranked
        ]
        top = hits[0]
        second = hits[1].score if len(hits) > 1 else 0.0
        word_second = max((h.word_share for h in hits[1:]), default=0.0)
        unique_words = set(query_words)
        features = {
            "word_share": top.word_share,
            "gram_share": top.gram_share,
            "lead": (top.score - second) / top.score if top.score > 0 else 0.0,
            "word_lead": top.word_share - word_second,
            # the share of the question's words no article uses: what it asks about is not here
            "unknown": (
                sum(1 for t in unique_words if t not in self.words.df) / len(unique_words)
                if unique_words
                else 1.0
            ),
            "terms": math.log1p(len(unique_words)),
        }
        if top.score <= 0:
            return Found(None, 0.0, tuple(hits[1:limit]), features)
        return Found(top, confidence(features), tuple(hits[1:limit]), features)

    # --- kept on the disk ---------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Keep the index's documents in ``folder`` (read back by :meth:`load`)."""
        folder.mkdir(parents=True, exist_ok=True)
        rows = [
            {"article": d.article, "locale": d.locale, "title": d.title, "body": d.body,
             "tags": list(d.tags)}
            for d in self.docs
        ]  # fmt: skip
        (folder / "docs.json").write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
        for side, name in ((self.words, "words"), (self.grams, "grams")):
            if side.bm25 is not None:
                side.bm25.save(str(folder / name), show_progress=False)
        terms = {"words": self.words.df, "grams": self.grams.df, "n": len(self.docs)}
        (folder / "terms.json").write_text(json.dumps(terms, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, folder: Path) -> KnowledgeIndex:
        """An index saved by :meth:`save`, without analysing the articles again."""
        rows = json.loads((folder / "docs.json").read_text("utf-8"))
        terms = json.loads((folder / "terms.json").read_text("utf-8"))
        index = cls.__new__(cls)
        index.docs = [
            Doc(r["article"], r["locale"], r["title"], r["body"], tuple(r["tags"])) for r in rows
        ]
        index.articles = sorted({d.article for d in index.docs})
        index._article_of = np.array([index.articles.index(d.article) for d in index.docs])
        index.words = _Side.__new__(_Side)
        index.grams = _Side.__new__(_Side)
        for side, name in ((index.words, "words"), (index.grams, "grams")):
            side.n = int(terms["n"])
            side.df = Counter(terms[name])
            side.bm25 = bm25s.BM25.load(str(folder / name), show_progress=False) if side.n else None
        return index


def _doc_terms(doc: Doc, extract: Callable[[str], list[str]]) -> list[str]:
    title = extract(doc.title)
    tags = [t for tag in doc.tags for t in extract(tag)]
    return title * TITLE_WEIGHT + tags * TAG_WEIGHT + extract(doc.body)


@cache
def _calibration() -> tuple[np.ndarray, float]:
    data = json.loads((Path(__file__).parent / "calibration.json").read_text("utf-8"))
    weights = data["weights"]
    return np.array([weights.get(name, 0.0) for name in FEATURES]), float(data["intercept"])


def confidence(features: dict[str, float]) -> float:
    """How likely the best article is the right answer, from the shipped calibration."""
    weights, intercept = _calibration()
    x = np.array([features[name] for name in FEATURES])
    return float(1 / (1 + math.exp(-(float(weights @ x) + intercept))))
