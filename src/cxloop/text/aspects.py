"""Aspect sentiment: which category each clause talks about, and how it feels about it.

"배송은 늦었지만 상담원은 친절했어요" → (delivery, negative), (customer_service, positive).
A text is split into clauses at sentence ends and contrasts (see
:func:`cxloop.text.lexicon.split_clauses`); each clause gets the categories its seeds name and
its own lexicon sentiment. A clause naming no category lends its sentiment to its neighbour in
the same sentence ("앱이 자꾸 꺼져서 | 너무 불편해요").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cxloop.text.categories import SeedMatcher
from cxloop.text.features import Doc
from cxloop.text.lexicon import SCORE_SCALE, label_of, split_clauses


@dataclass(frozen=True)
class Aspect:
    category: str
    sentiment: str
    clause: str
    score: float = 0.0


def _squash(raw: float) -> float:
    return raw / math.sqrt(raw * raw + SCORE_SCALE)


def aspects(
    doc: Doc, matcher: SeedMatcher, categories: Sequence[str], sentiment: str
) -> list[Aspect]:
    """One aspect per category of the text, with the sentiment of the clauses that name it.

    ``categories`` are the text's categories (seeds and learned) and ``sentiment`` its overall
    label; a category no clause names, or a text of one clause, takes the overall sentiment.
    """
    if not categories:
        return []
    clauses = split_clauses(doc.sentences, doc.lang)
    scores = doc.lexicon.clauses
    if len(clauses) != len(scores) or len(clauses) <= 1:
        return [Aspect(c, sentiment, doc.normalized, doc.lexicon.score) for c in categories]

    named: list[list[str]] = []
    for clause in clauses:
        text = doc.normalized[clause.start : clause.end]
        named.append([c for c in matcher.match(text, clause.morphs, doc.lang) if c in categories])
    values = [s.score for s in scores]
    # a clause without a category lends its sentiment to the neighbour that has one
    ends = [c.ends_sentence for c in clauses]
    for k in range(len(clauses)):
        if named[k] or values[k] == 0:
            continue
        target = None
        if k > 0 and named[k - 1] and not ends[k - 1]:
            target = k - 1
        elif k + 1 < len(clauses) and named[k + 1] and not ends[k]:
            target = k + 1
        if target is not None and values[target] == 0:
            values[target] = values[k]

    found: dict[str, tuple[float, list[str]]] = {}
    for k in range(len(clauses)):
        for cat in named[k]:
            total, texts = found.get(cat, (0.0, []))
            found[cat] = (total + values[k], [*texts, scores[k].text])
    out: list[Aspect] = []
    for cat in categories:
        if cat in found:
            total, texts = found[cat]
            score = _squash(total)
            label = label_of(score) if total != 0 else (sentiment if len(found) == 1 else "neutral")
            out.append(Aspect(cat, label, " ".join(texts), score))
        else:
            out.append(Aspect(cat, sentiment, doc.normalized, doc.lexicon.score))
    return out
