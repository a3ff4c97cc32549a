"""The bot's retrieval on its own: the terms customers' wording is read into, an index saved and
loaded that answers the same, and a second knowledge base (a telecom's) it was never tuned on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cxloop.help.bot import asks_for_person, decide, is_upset
from cxloop.help.retrieval import Doc, KnowledgeIndex
from cxloop.help.terms import MAX_CHARS, clip, gram_terms, word_terms

TELECOM_KB = Path(__file__).parents[1] / "data/help/telecom_kb.jsonl"


def telecom_docs() -> list[Doc]:
    rows = [json.loads(line) for line in TELECOM_KB.read_text("utf-8").splitlines()]
    return [
        Doc(r["external_id"], r["locale"], r["title"], r["body"], tuple(r["tags"])) for r in rows
    ]


@pytest.fixture(scope="module")
def telecom() -> KnowledgeIndex:
    return KnowledgeIndex(telecom_docs())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("환불ㄱㄴ?", {"환불", "가능"}, id="slang-possible"),
        pytest.param("택배 언제 와요", {"택배", "배송"}, id="courier-is-delivery"),
        pytest.param("비번 까먹었어요", {"비밀", "번호", "잊다"}, id="password-forgotten"),
        pytest.param("where is my package??", {"package", "delivery"}, id="english-phrase"),
        pytest.param("ＳＭＳ 요금", {"sms", "요금"}, id="full-width-letters"),
    ],
)
def test_customer_wording_is_read_into_the_words_articles_use(
    text: str, expected: set[str]
) -> None:
    assert expected <= set(word_terms(text))


def test_ngrams_survive_missing_spaces_and_long_texts_are_read_at_both_ends() -> None:
    assert {"배송", "조회"} <= set(gram_terms("배송조회어케해요"))
    long = "안녕하세요 " + "잡담 " * 2_000 + "결국 질문은 환불입니다"
    clipped = clip(long)
    assert len(clipped) <= MAX_CHARS + 1 and clipped.endswith("환불입니다")
    assert "환불" in word_terms(long)
    assert "배송" in word_terms("\ud800배송", typos=True)  # a lone surrogate (from a file)


def test_an_index_saved_and_loaded_answers_the_same(
    tmp_path: Path, telecom: KnowledgeIndex
) -> None:
    telecom.save(tmp_path / "index")
    loaded = KnowledgeIndex.load(tmp_path / "index")

    for question in ("해외 나가서 데이터 쓰는 법", "유심 고장났어요", "자동이체 바꾸고 싶어요"):
        a, b = telecom.search(question), loaded.search(question)
        assert a.best is not None and b.best is not None
        assert (a.best.article, round(a.confidence, 6)) == (b.best.article, round(b.confidence, 6))
    empty = KnowledgeIndex([])
    empty.save(tmp_path / "empty")
    assert KnowledgeIndex.load(tmp_path / "empty").search("배송").best is None


@pytest.mark.parametrize(
    ("question", "article"),
    [
        pytest.param("해외 여행 가는데 데이터 로밍 어떻게 켜요?", "tel-roaming-data", id="roaming"),
        pytest.param("폰을 잃어버렸어요 어떡하죠", "tel-lost-phone", id="lost-phone"),
        pytest.param("인터넷 설치 신청하려면요?", "tel-internet-install", id="install"),
        pytest.param("약정 중에 해지하면 위약금 얼마에요", "tel-contract-penalty", id="penalty"),
    ],
)
def test_a_knowledge_base_it_was_never_tuned_on_answers_plain_questions(
    telecom: KnowledgeIndex, question: str, article: str
) -> None:
    decision = decide(telecom, question)

    assert decision.article == article


def test_hand_over_when_asked_for_a_person_or_when_angry_not_when_only_unhappy() -> None:
    asking = ("상담원 연결해주세요", "챗봇 말고 사람이요", "I want to talk to a human", "ㅅㄷㅇ")
    for text in asking:
        assert asks_for_person(text), text
    for text in ("사람이 많아서 배송이 늦나요?", "담당 택배 기사님 연락처"):
        assert not asks_for_person(text), text
    assert is_upset("진짜 최악이네요 몇 번을 말해야 돼요 화나네")
    assert is_upset("소비자원에 신고하겠습니다")
    assert not is_upset("로그인이 계속 안돼요 ㅠㅠ")
