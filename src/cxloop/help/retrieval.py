"""Finding the one article that answers a question, and how sure that is.

Each language version of an article is one document, read four ways, each a BM25 index
(bm25s): the word terms of its title (with its tags), of its body, and the character n-grams of
both (``terms``; the lexicon's readings of a question's words are matched as n-grams too). A
question's score in an index is divided by the most the question could score there — the sum of
its terms' IDF, a term no document has counting as the rarest — so it says how much of the
question the document covers, comparable between questions and knowledge bases. It is also read
for its meaning (``cxloop.text.meaning``): the cosine between the question's vector and the
closest of the document's passages (its title, each paragraph of its body), which finds the
article a customer describes in words it does not use ("someone took my phone" for a stolen
one). A document's score weighs the four shares, the share of the question's words its article
uses anywhere, the share of its title's words the question uses and that cosine; an article
scores as its best language version. (Reciprocal-rank fusion of the same rankings picked the
right article less often on the tuning sets: 81 % against 89 %.)

The answer is the best article with a confidence: a logistic function of scale-free features
(the score and its lead over the runner-up, whether the word and the n-gram indexes pick the
same article, the question's words and nouns no article knows, the shares of its words and
n-grams the article lacks, how many words it has, the four shares, the cosine and its lead over
the closest other article). The weights of both ship in ``calibration.json`` and are fitted by
``cxloop.help.calibrate`` on knowledge bases and questions of their own, never on the
benchmark's.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import bm25s
import numpy as np

from cxloop.help.terms import QuestionWords, gram_terms, normal, question_words, word_terms_many
from cxloop.text.meaning import DIMENSIONS, ENCODER, embed

K1, B = 1.2, 0.75
# Saved with an index: one saved by another version of the analysis is built again.
ANALYSIS = 3
# The four indexes: word terms and n-grams, of the title with the tags, and of the body.
SIDES = ("title_words", "body_words", "title_grams", "body_grams")
# What an article's score weighs: its best version's four shares, the share of the question's
# words (by IDF over articles) the article uses anywhere, and the share of its version's title
# words (with the tags, by IDF) the question uses: a question about what the title says.
RANKING = (*SIDES, "covered", "title_matched", "meaning")
FEATURES = (
    "score", "gap", "agree", "unknown", "unexplained", "uncovered", "rarest_missing",
    "grams_uncovered", "terms", *SIDES, "meaning", "meaning_gap",
)  # fmt: skip
_PARAGRAPHS = re.compile(r"\n\s*\n")


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

    def shares(self, query: dict[str, float]) -> np.ndarray:
        """Per document: its BM25 score over the most the query could score, each term
        counted once with its weight."""
        out = np.zeros(self.n)
        most = sum(weight * self.idf(term) for term, weight in query.items())
        if self.bm25 is None or most <= 0:
            return out
        scores, vocab = self.bm25.scores, self.bm25.vocab_dict
        data, indices, indptr = scores["data"], scores["indices"], scores["indptr"]
        for term, weight in query.items():
            column = vocab.get(term) if term in self.df else None
            if column is not None:
                start, end = indptr[column], indptr[column + 1]
                out[indices[start:end]] += weight * data[start:end]
        return out / most


def passages(doc: Doc) -> list[str]:
    """What of a document is read for its meaning: its title, and each paragraph of its body
    (a question is usually about one of them; with the title read again before each, the
    tuning sets were answered no better and the passages took a third longer to encode)."""
    return [doc.title.strip() or doc.body.strip()[:200], *paragraphs(doc.body)]


def paragraphs(body: str) -> list[str]:
    """An article body's paragraphs (blocks between blank lines), stripped, none empty."""
    return [text for text in (p.strip() for p in _PARAGRAPHS.split(body.strip())) if text]


# The passages read last in this process (any workspace's), by their text: the same article
# in another workspace (a demo, a copy) or a worker building again is not encoded twice.
RECENT_PASSAGES = 20_000
_recent: OrderedDict[str, np.ndarray] = OrderedDict()
_recent_lock = threading.Lock()


class _Meaning:
    """The vectors of every document's passages (``passages``), kept in document order."""

    def __init__(self, docs: Sequence[Doc], vectors: np.ndarray) -> None:
        self.texts: list[str] = []
        self.first = np.zeros(len(docs), dtype=int)  # each document's first passage
        for i, doc in enumerate(docs):
            self.first[i] = len(self.texts)
            self.texts.extend(passages(doc))
        if vectors.shape != (len(self.texts), DIMENSIONS):
            raise ValueError("the saved vectors are not this index's passages")
        # Held at the half precision they are saved in: a loaded index answers as the built one.
        self.vectors = vectors.astype(np.float16).astype(np.float32)

    @classmethod
    def read(cls, docs: Sequence[Doc], known: Mapping[str, np.ndarray]) -> _Meaning:
        """Encode the documents' passages; one an earlier index read already (``known``, by its
        text) is not encoded again, so editing one article of a thousand takes a moment."""
        texts = [t for doc in docs for t in passages(doc)]
        with _recent_lock:
            vectors = {t: _recent[t] for t in texts if t in _recent and t not in known}
        vectors.update(known)
        new = [t for t in dict.fromkeys(texts) if t not in vectors]
        vectors.update(zip(new, embed(new), strict=True))
        with _recent_lock:
            for text in texts:
                _recent[text] = vectors[text].astype(np.float16)  # as an index holds it
                _recent.move_to_end(text)
            while len(_recent) > RECENT_PASSAGES:
                _recent.popitem(last=False)
        return cls(docs, np.array([vectors[t] for t in texts]).reshape(len(texts), DIMENSIONS))

    def by_text(self) -> dict[str, np.ndarray]:
        return dict(zip(self.texts, self.vectors, strict=True))

    def similarity(self, vector: np.ndarray) -> np.ndarray:
        """Per document: the cosine of its closest passage to ``vector``."""
        if not self.texts:
            return np.zeros(0)
        return np.maximum.reduceat(self.vectors @ vector, self.first)


def _held(side: _Side, terms: dict[str, float], docs: np.ndarray) -> set[str]:
    """Which of ``terms`` any of ``docs`` holds in ``side``'s index."""
    if side.bm25 is None:
        return set()
    scores, vocab = side.bm25.scores, side.bm25.vocab_dict
    indices, indptr = scores["indices"], scores["indptr"]
    held = set()
    for term in terms:
        column = vocab.get(term) if term in side.df else None
        if column is not None and np.isin(indices[indptr[column] : indptr[column + 1]], docs).any():
            held.add(term)
    return held


def _question_terms(question: str) -> tuple[QuestionWords, dict[str, float]]:
    """A question's weighted word terms (read with Kiwi's typo model when it looks odd) and
    n-grams, analysed once per question."""
    words = question_words(question)
    # The lexicon's readings are matched as n-grams too (ㅎㅂ → 환불 → 환불's syllable pair).
    read = " ".join(t for terms in words.readings.values() for t in terms if t not in words.own)
    return words, dict.fromkeys(gram_terms(question) + gram_terms(read), 1.0)


def _question_vector(question: str) -> np.ndarray:
    """What a question means (its beginning and end when long)."""
    return _normal_question_vector(normal(question))


@lru_cache(maxsize=2048)
def _normal_question_vector(text: str) -> np.ndarray:
    """Kept for a question asked again (the help centre's next page of results, a customer
    repeating themselves), by its normal form: at most about 1,200 characters a key."""
    vector = embed([text])[0]
    vector.flags.writeable = False
    return vector


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
    """The searchable form of a knowledge base's published articles (``known``: passage vectors
    an earlier index read, by their text)."""

    def __init__(self, docs: Sequence[Doc], known: Mapping[str, np.ndarray] | None = None) -> None:
        self.docs = list(docs)
        self._place()
        terms = _sides_terms(self.docs)
        self.sides = {side: _Side(terms[side]) for side in SIDES}
        titles = self.sides["title_words"]
        self._title_idf = np.array([sum(map(titles.idf, set(t))) for t in terms["title_words"]])
        self._words_of_article(terms["title_words"], terms["body_words"])
        self.meaning = _Meaning.read(self.docs, known or {})

    def _words_of_article(self, titles: list[list[str]], bodies: list[list[str]]) -> None:
        """Each article's words (all its versions) and in how many articles each word is."""
        words: dict[str, set[str]] = {}
        for doc, title, body in zip(self.docs, titles, bodies, strict=True):
            words.setdefault(doc.article, set()).update(title, body)
        self.article_words = {article: frozenset(w) for article, w in words.items()}
        self._count_articles_words()

    def _count_articles_words(self) -> None:
        self.article_df: Counter[str] = Counter()
        held_by: dict[str, list[int]] = {}
        position = {article: i for i, article in enumerate(self.articles)}
        for article, held in self.article_words.items():
            self.article_df.update(held)
            for word in held:
                held_by.setdefault(word, []).append(position[article])
        self._held_by = {word: np.array(at, dtype=int) for word, at in held_by.items()}

    def _article_idf(self, term: str) -> float:
        n = len(self.article_words)
        df = self.article_df.get(term, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def _place(self) -> None:
        self.articles = sorted({d.article for d in self.docs})
        position = {article: i for i, article in enumerate(self.articles)}
        self._article_of = np.array([position[d.article] for d in self.docs], dtype=int)

    def _covered(self, words: dict[str, float]) -> np.ndarray:
        """Per article: the share of the question's words (weighted, by IDF over articles) it
        uses anywhere in any version; a word no article uses counts as the rarest."""
        covered = np.zeros(len(self.articles))
        weight = {t: w * self._article_idf(t) for t, w in words.items()}
        total = sum(weight.values())
        if total <= 0:
            return covered
        for term, w in weight.items():
            held = self._held_by.get(term)
            if held is not None:
                covered[held] += w
        return covered / total

    def _title_matched(self, words: dict[str, float]) -> np.ndarray:
        """Per document: the IDF share of its title's words (with the tags) the question uses."""
        side = self.sides["title_words"]
        matched = np.zeros(len(self.docs))
        if side.bm25 is None:
            return matched
        scores, vocab = side.bm25.scores, side.bm25.vocab_dict
        indices, indptr = scores["indices"], scores["indptr"]
        for term in words:
            column = vocab.get(term) if term in side.df else None
            if column is not None:
                matched[indices[indptr[column] : indptr[column + 1]]] += side.idf(term)
        return np.divide(matched, self._title_idf, out=matched, where=self._title_idf > 0)

    def _rarest_missing(self, words: dict[str, float], article: str) -> float:
        """The IDF of the rarest of the question's words (the lexicon's readings with them) the
        article never uses (a specific word the article never mentions, as in a question next
        to it, not about it), over the most an IDF can be."""
        held = self.article_words.get(article, frozenset())
        top = math.log(1 + (len(self.article_words) + 0.5) / 0.5)
        missing = [self._article_idf(t) for t in words if t not in held]
        return max(missing, default=0.0) / top if words else 1.0

    def shares(self, question: str) -> dict[str, np.ndarray]:
        """Per index, each document's share of the question, and each document's article's
        share of the question's words (``covered``)."""
        words, grams = _question_terms(question)
        return self._shares(words.weights, grams, _question_vector(question))

    def _shares(
        self, words: dict[str, float], grams: dict[str, float], vector: np.ndarray
    ) -> dict[str, np.ndarray]:
        out = {
            side: self.sides[side].shares(words if side.endswith("words") else grams)
            for side in SIDES
        }
        out["covered"] = self._covered(words)[self._article_of]
        out["title_matched"] = self._title_matched(words)
        out["meaning"] = self.meaning.similarity(vector)
        return out

    def search(
        self, question: str, *, limit: int = 3, calibration: Calibration | None = None
    ) -> Found:
        """The best article for ``question``, the runners-up, and the confidence (by the
        shipped calibration unless one is given, as when fitting one)."""
        calibration = calibration or _calibration()
        read, grams = _question_terms(question)
        words = read.weights
        if not self.docs or not (words or grams):
            return Found(None, 0.0, (), dict.fromkeys(FEATURES, 0.0))
        shares = self._shares(words, grams, _question_vector(question))
        hits = self._hits(shares, calibration, max(limit, 2))
        top = hits[0]
        second = hits[1].score if len(hits) > 1 else 0.0
        others = shares["meaning"][self._article_of != self.articles.index(top.article)]
        features = {
            "score": top.score,
            "gap": top.score - second,
            "agree": float(self._agree(shares, calibration)),
            # the share of the question's words no article uses: what it asks about is not here
            "unknown": (
                sum(w for t, w in words.items() if t not in self.article_df) / sum(words.values())
                if words
                else 1.0
            ),
            "unexplained": math.log1p(self._unexplained(read)),
            "uncovered": 1.0 - top.shares["covered"] if words else 1.0,
            "grams_uncovered": self._grams_uncovered(grams, top.article),
            "rarest_missing": self._rarest_missing(words, top.article),
            "terms": math.log1p(len(words)),  # the question's words and their readings
            **{side: top.shares[side] for side in SIDES},
            "meaning": top.shares["meaning"],
            # how much closer in meaning the best article is than any other (below 0: another)
            "meaning_gap": top.shares["meaning"] - (others.max() if len(others) else 0.0),
        }
        if top.score <= 0:
            return Found(None, 0.0, tuple(hits[1:limit]), features)
        return Found(top, confidence(features, calibration), tuple(hits[1:limit]), features)

    def _unexplained(self, words: QuestionWords) -> int:
        """How many nouns of the question neither any article nor the lexicon's reading of them
        knows: what it asks about is likely not in this knowledge base."""
        return sum(
            1
            for term, kind in words.own.items()
            if kind == "noun"
            and term not in self.article_df
            and not any(t in self.article_df for t in words.readings[term])
        )

    def _grams_uncovered(self, grams: dict[str, float], article: str) -> float:
        """The IDF share of the question's n-grams that no version of ``article`` holds."""
        if not grams:
            return 1.0
        docs = np.flatnonzero(self._article_of == self.articles.index(article))
        held = _held(self.sides["title_grams"], grams, docs)
        held |= _held(self.sides["body_grams"], grams, docs)
        body = self.sides["body_grams"]
        weight = {g: body.idf(g) for g in grams}
        return sum(w for g, w in weight.items() if g not in held) / sum(weight.values())

    def _agree(self, shares: dict[str, np.ndarray], calibration: Calibration) -> bool:
        """Whether the word indexes and the n-gram indexes alone pick the same article."""
        ranking = calibration.ranking
        by_words = sum(ranking[s] * shares[s] for s in ("title_words", "body_words"))
        by_grams = sum(ranking[s] * shares[s] for s in ("title_grams", "body_grams"))
        assert isinstance(by_words, np.ndarray) and isinstance(by_grams, np.ndarray)
        return bool(
            self._article_of[int(by_words.argmax())] == self._article_of[int(by_grams.argmax())]
        )

    def ranked(
        self,
        question: str,
        *,
        limit: int = 20,
        calibration: Calibration | None = None,
        matching_only: bool = True,
    ) -> list[Hit]:
        """Up to ``limit`` articles that share a word or an n-gram with ``question``, best
        first, each as its best language version: the order :meth:`search` picks its answer
        from, for a search page (where an article close only in meaning would be noise: every
        article is somewhat close to any question). Without ``matching_only``, the candidates
        :meth:`search` picks from."""
        calibration = calibration or _calibration()
        words, grams = _question_terms(question)
        if not self.docs or not (words.weights or grams):
            return []
        shares = self._shares(words.weights, grams, _question_vector(question))
        hits = self._hits(shares, calibration, limit, matching_only=matching_only)
        return [hit for hit in hits if hit.score > 0]

    def _hits(
        self,
        shares: dict[str, np.ndarray],
        calibration: Calibration,
        limit: int,
        *,
        matching_only: bool = False,
    ) -> list[Hit]:
        """The ``limit`` best articles by their best language version's weighted shares (with
        ``matching_only``, of the versions that share a word or an n-gram with the question)."""
        combined = sum(calibration.ranking[name] * shares[name] for name in RANKING)
        assert isinstance(combined, np.ndarray)
        matching = np.logical_or.reduce([shares[side] > 0 for side in SIDES])
        if not matching.any():
            combined = np.zeros(len(self.docs))  # covering only words no index holds is nothing
        elif matching_only:
            combined = np.where(matching, combined, 0.0)
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
                shares={name: float(shares[name][d]) for name in RANKING},
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
        terms["analysis"] = ANALYSIS
        terms["encoder"] = ENCODER
        terms["title_idf"] = self._title_idf.tolist()
        terms["article_words"] = {a: sorted(w) for a, w in self.article_words.items()}
        (folder / "terms.json").write_text(json.dumps(terms, ensure_ascii=False), "utf-8")
        np.save(folder / "meaning.npy", self.meaning.vectors.astype(np.float16))

    @classmethod
    def load(cls, folder: Path) -> KnowledgeIndex:
        """An index saved by :meth:`save`, without analysing the articles again."""
        rows = json.loads((folder / "docs.json").read_text("utf-8"))
        terms = json.loads((folder / "terms.json").read_text("utf-8"))
        if (terms.get("analysis"), terms.get("encoder")) != (ANALYSIS, ENCODER):
            raise ValueError("the index was saved by another version of the analysis")
        index = cls.__new__(cls)
        index.docs = [
            Doc(r["article"], r["locale"], r["title"], r["body"], tuple(r["tags"])) for r in rows
        ]
        index._place()
        index.article_words = {a: frozenset(w) for a, w in terms["article_words"].items()}
        index._count_articles_words()
        index._title_idf = np.array(terms["title_idf"], dtype=float)
        index.sides = {}
        for name in SIDES:
            side = _Side.__new__(_Side)
            side.n = int(terms["n"])
            side.df = Counter(terms[name])
            side.bm25 = bm25s.BM25.load(str(folder / name), show_progress=False) if side.n else None
            index.sides[name] = side
        index.meaning = _Meaning(index.docs, np.load(folder / "meaning.npy"))
        return index

    @staticmethod
    def saved_meanings(folder: Path) -> dict[str, np.ndarray]:
        """The passage vectors of the index saved in ``folder``, by their text (none when it
        cannot be read), for building the next one."""
        try:
            terms = json.loads((folder / "terms.json").read_text("utf-8"))
            if (terms.get("analysis"), terms.get("encoder")) != (ANALYSIS, ENCODER):
                return {}  # passages read otherwise, or vectors of another encoder
            rows = json.loads((folder / "docs.json").read_text("utf-8"))
            docs = [Doc(r["article"], r["locale"], r["title"], r["body"]) for r in rows]
            return _Meaning(docs, np.load(folder / "meaning.npy")).by_text()
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            return {}


@dataclass(frozen=True)
class Calibration:
    ranking: dict[str, float]  # the weight of each of RANKING in an article's score
    weights: dict[str, float]  # the confidence's logistic weights of FEATURES
    intercept: float


CALIBRATION = Path(__file__).parent / "calibration.json"


@cache
def _calibration() -> Calibration:
    data = json.loads(CALIBRATION.read_text("utf-8"))
    return Calibration(
        ranking={name: float(data["ranking"].get(name, 0.0)) for name in RANKING},
        weights={name: float(data["weights"].get(name, 0.0)) for name in FEATURES},
        intercept=float(data["intercept"]),
    )


def confidence(features: dict[str, float], calibration: Calibration | None = None) -> float:
    """How likely the best article is the right answer (by the shipped calibration)."""
    calibration = calibration or _calibration()
    z = calibration.intercept + sum(calibration.weights[n] * features[n] for n in FEATURES)
    return 1 / (1 + math.exp(-z))
