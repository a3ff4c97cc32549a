"""Finding the one article that answers a question, and how sure that is.

Each language version of an article is one document, read four ways, each a BM25 index
(bm25s): the word terms of its title (with its tags), of its body, and the character n-grams of
both (``terms``). A question's score in an index is divided by the most the question could
score there — the sum of its terms' IDF, a term no document has counting as the rarest — so it
says how much of the question the document covers, comparable between questions and knowledge
bases. A document's score weighs the four shares; an article scores as its best language
version.

The answer is the best article with a confidence: a logistic function of scale-free features
(the score, the lead over the runner-up, the share of the question's words no article uses,
how many words it has, the four shares). The weights of both ship in ``calibration.json`` and
are fitted by ``cxloop.help.calibrate`` on knowledge bases and questions of their own, never on
the benchmark's.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import bm25s
import numpy as np

from cxloop.help.terms import gram_terms, word_terms, word_terms_many

K1, B = 1.2, 0.75
# The four indexes: word terms and n-grams, of the title with the tags, and of the body.
SIDES = ("title_words", "body_words", "title_grams", "body_grams")
FEATURES = ("score", "lead", "unknown", "uncovered", "rarest_missing", "terms", *SIDES)


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
    score: float  # the weighted shares of the best language version
    shares: dict[str, float]
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


def _question_terms(question: str) -> tuple[list[str], list[str]]:
    """A question's word terms (read with Kiwi's typo model when it looks odd) and n-grams,
    analysed once per question."""
    return word_terms(question, typos=True), gram_terms(question)


def _sides_terms(docs: Sequence[Doc]) -> dict[str, list[list[str]]]:
    """Each index's terms of every document (the word terms analysed in one batch)."""
    titles = [" \n".join([d.title, *d.tags]) for d in docs]
    bodies = [d.body for d in docs]
    return {
        "title_words": word_terms_many(titles),
        "body_words": word_terms_many(bodies),
        "title_grams": [gram_terms(t) for t in titles],
        "body_grams": [gram_terms(b) for b in bodies],
    }


class KnowledgeIndex:
    """The searchable form of a knowledge base's published articles."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        self.docs = list(docs)
        self._place()
        terms = _sides_terms(self.docs)
        self.sides = {side: _Side(terms[side]) for side in SIDES}
        self._words_of_article(terms["title_words"], terms["body_words"])

    def _words_of_article(self, titles: list[list[str]], bodies: list[list[str]]) -> None:
        """Each article's words (all its versions) and in how many articles each word is."""
        words: dict[str, set[str]] = {}
        for doc, title, body in zip(self.docs, titles, bodies, strict=True):
            words.setdefault(doc.article, set()).update(title, body)
        self.article_words = {article: frozenset(w) for article, w in words.items()}
        self.article_df: Counter[str] = Counter()
        for held in self.article_words.values():
            self.article_df.update(held)

    def _article_idf(self, term: str) -> float:
        n = len(self.article_words)
        df = self.article_df.get(term, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def _place(self) -> None:
        self.articles = sorted({d.article for d in self.docs})
        position = {article: i for i, article in enumerate(self.articles)}
        self._article_of = np.array([position[d.article] for d in self.docs], dtype=int)

    def _missing(self, words: set[str], article: str) -> dict[str, float]:
        """How much of the question the best article leaves out: the IDF share of the
        question's words it does not use, and the rarest such word's IDF (a specific word the
        article never mentions, as in a question next to it, not about it)."""
        if not words:
            return {"uncovered": 1.0, "rarest_missing": 1.0}
        held = self.article_words.get(article, frozenset())
        weight = {t: self._article_idf(t) for t in words}
        top = math.log(1 + (len(self.article_words) + 0.5) / 0.5)
        missing = [w for t, w in weight.items() if t not in held]
        return {
            "uncovered": sum(missing) / sum(weight.values()),
            "rarest_missing": max(missing, default=0.0) / top,
        }

    def shares(self, question: str) -> dict[str, np.ndarray]:
        """Per index, each document's share of the question."""
        return self._shares(*_question_terms(question))

    def _shares(self, words: list[str], grams: list[str]) -> dict[str, np.ndarray]:
        return {
            side: self.sides[side].shares(words if side.endswith("words") else grams)
            for side in SIDES
        }

    def search(
        self, question: str, *, limit: int = 3, calibration: Calibration | None = None
    ) -> Found:
        """The best article for ``question``, the runners-up, and the confidence (by the
        shipped calibration unless one is given, as when fitting one)."""
        calibration = calibration or _calibration()
        query_words, query_grams = _question_terms(question)
        if not self.docs or not (query_words or query_grams):
            return Found(None, 0.0, (), dict.fromkeys(FEATURES, 0.0))
        hits = self._hits(self._shares(query_words, query_grams), calibration, max(limit, 2))
        top = hits[0]
        second = hits[1].score if len(hits) > 1 else 0.0
        unique_words = set(query_words)
        features = {
            "score": top.score,
            "lead": (top.score - second) / top.score if top.score > 0 else 0.0,
            # the share of the question's words no article uses: what it asks about is not here
            "unknown": (
                sum(1 for t in unique_words if t not in self.article_df) / len(unique_words)
                if unique_words
                else 1.0
            ),
            **self._missing(unique_words, top.article),
            "terms": math.log1p(len(unique_words)),
            **top.shares,
        }
        if top.score <= 0:
            return Found(None, 0.0, tuple(hits[1:limit]), features)
        return Found(top, confidence(features, calibration), tuple(hits[1:limit]), features)

    def ranked(
        self, question: str, *, limit: int = 20, calibration: Calibration | None = None
    ) -> list[Hit]:
        """Up to ``limit`` articles that match ``question`` at all, best first, each as its best
        language version: the order :meth:`search` picks its answer from, for a search page."""
        calibration = calibration or _calibration()
        words, grams = _question_terms(question)
        if not self.docs or not (words or grams):
            return []
        hits = self._hits(self._shares(words, grams), calibration, limit)
        return [hit for hit in hits if hit.score > 0]

    def _hits(
        self, shares: dict[str, np.ndarray], calibration: Calibration, limit: int
    ) -> list[Hit]:
        """The ``limit`` best articles by their best language version's weighted shares."""
        combined = sum(calibration.ranking[side] * shares[side] for side in SIDES)
        assert isinstance(combined, np.ndarray)
        best_doc: dict[int, int] = {}
        for doc, article in enumerate(self._article_of):
            held = best_doc.get(int(article))
            if held is None or combined[doc] > combined[held]:
                best_doc[int(article)] = doc
        ranked = sorted(best_doc.values(), key=lambda d: -combined[d])[:limit]
        return [
            Hit(
                article=self.docs[d].article,
                score=float(combined[d]),
                shares={side: float(shares[side][d]) for side in SIDES},
                locale=self.docs[d].locale,
            )
            for d in ranked
        ]

    # --- kept on the disk ---------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Keep the index in ``folder`` (read back by :meth:`load`)."""
        folder.mkdir(parents=True, exist_ok=True)
        rows = [
            {"article": d.article, "locale": d.locale, "title": d.title, "body": d.body,
             "tags": list(d.tags)}
            for d in self.docs
        ]  # fmt: skip
        (folder / "docs.json").write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
        for name, side in self.sides.items():
            if side.bm25 is not None:
                side.bm25.save(str(folder / name), show_progress=False)
        terms: dict[str, object] = {name: side.df for name, side in self.sides.items()}
        terms["n"] = len(self.docs)
        terms["article_words"] = {a: sorted(w) for a, w in self.article_words.items()}
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
        index._place()
        index.article_words = {a: frozenset(w) for a, w in terms["article_words"].items()}
        index.article_df = Counter()
        for held in index.article_words.values():
            index.article_df.update(held)
        index.sides = {}
        for name in SIDES:
            side = _Side.__new__(_Side)
            side.n = int(terms["n"])
            side.df = Counter(terms[name])
            side.bm25 = bm25s.BM25.load(str(folder / name), show_progress=False) if side.n else None
            index.sides[name] = side
        return index


@dataclass(frozen=True)
class Calibration:
    ranking: dict[str, float]  # each index's weight in an article's score
    weights: dict[str, float]  # the confidence's logistic weights of FEATURES
    intercept: float


CALIBRATION = Path(__file__).parent / "calibration.json"


@cache
def _calibration() -> Calibration:
    data = json.loads(CALIBRATION.read_text("utf-8"))
    return Calibration(
        ranking={side: float(data["ranking"].get(side, 0.0)) for side in SIDES},
        weights={name: float(data["weights"].get(name, 0.0)) for name in FEATURES},
        intercept=float(data["intercept"]),
    )


def confidence(features: dict[str, float], calibration: Calibration | None = None) -> float:
    """How likely the best article is the right answer (by the shipped calibration)."""
    calibration = calibration or _calibration()
    z = calibration.intercept + sum(calibration.weights[n] * features[n] for n in FEATURES)
    return 1 / (1 + math.exp(-z))
