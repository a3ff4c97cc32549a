"""Keywords of customer texts: Korean nouns and roots from Kiwi, English content lemmas;
ranked within a text, and across many texts by how many of them mention each keyword."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from cxloop.text.lang import Language
from cxloop.text.tokens import Morph


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_KO_TAGS = frozenset({"NNG", "NNP", "XR", "SL"})
_KO_STOP = _words(
    "것 수 거 때 분 번 점 좀 이번 정도 진짜 정말 너무 그냥 오늘 어제 내일 지금 여기 저기 거기 "
    "뭐 무엇 이거 저거 그거 부분 경우 생각 사람 하나 다음 처음 자체 기분 느낌 확인 부탁 문의 "
    "말씀 감사 우리 저희 제가 고객님 고객 안녕 안녕하세요 ㅋㅋ ㅎㅎ 요즘 매번 계속 한번 동안 "
    "이상 이하 전 후 중 등 및 때문 주일 달 년 개 전반 솔직"
)
_EN_STOP = _words(
    "a an the and or but if so of to in on at by for with from into about as is be am are was "
    "were been being have has had do does did not no never i me my mine we us our you your he "
    "him his she her it its they them their this that these those there here what which who "
    "whom when where why how all any both each few more most other some such only own same "
    "than too very can will just would should could shall may might must get got go going one "
    "two also even again still yet really much many well back out up down off over then now "
    "time day thing lot bit way make made take want need say said like know think please "
    "thanks thank hi hello dear regard ok okay yes yeah im ive dont cant let would"
)


def keywords(morphs: Sequence[Morph], lang: Language, top_k: int = 8) -> list[str]:
    """The text's keywords, most frequent first, then in order of appearance."""
    candidates: list[str] = []
    if lang == "ko":
        for m in morphs:
            if m.tag in _KO_TAGS and m.form not in _KO_STOP:
                word = m.form.lower() if m.tag == "SL" else m.form
                if len(word) >= 2 or m.tag == "XR":
                    candidates.append(word)
    else:
        for m in morphs:
            if (
                m.tag == "W"
                and len(m.lemma) >= 3
                and m.lemma not in _EN_STOP
                and (m.form not in _EN_STOP)
            ):
                candidates.append(m.lemma)
    counts = Counter(candidates)
    first = {w: i for i, w in reversed(list(enumerate(candidates)))}
    return sorted(counts, key=lambda w: (-counts[w], first[w]))[:top_k]


def rank_keywords(per_text: Iterable[Sequence[str]], top_k: int = 20) -> list[tuple[str, int]]:
    """Keywords of many texts ranked by the number of texts that mention them."""
    counts: Counter[str] = Counter()
    for words in per_text:
        counts.update(set(words))
    return counts.most_common(top_k)
