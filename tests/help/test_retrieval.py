"""The bot's retrieval on its own: the terms customers' wording is read into, an index saved and
loaded that answers the same, and a second knowledge base (a telecom's) it was never tuned on."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cxloop.help import retrieval
from cxloop.help.bot import asks_for_person, decide, is_upset
from cxloop.help.calibrate import at_threshold
from cxloop.help.retrieval import Calibration, Doc, KnowledgeIndex, _calibration
from cxloop.help.terms import MAX_CHARS, clip, gram_terms, question_words, word_terms

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


def test_meaning_finds_the_article_a_question_shares_no_telling_word_with(
    telecom: KnowledgeIndex,
) -> None:
    question = "I think someone took my phone"  # the article says lost or stolen
    shipped = _calibration()
    words_only = Calibration(
        {**shipped.ranking, "meaning": 0.0}, shipped.weights, shipped.intercept
    )

    found = telecom.search(question)
    by_words = telecom.search(question, calibration=words_only)

    assert found.best is not None and found.best.article == "tel-lost-phone"
    assert by_words.best is None or by_words.best.article != "tel-lost-phone"


def test_an_index_built_again_reads_only_the_passages_it_has_not_read(
    monkeypatch: pytest.MonkeyPatch, telecom: KnowledgeIndex
) -> None:
    read: list[str] = []

    def recording(texts: list[str]) -> object:
        read.extend(texts)
        return embed(texts)

    embed = retrieval.embed
    monkeypatch.setattr(retrieval, "embed", recording)
    monkeypatch.setattr(retrieval, "_recent", OrderedDict())  # nothing read earlier remembered
    docs = telecom_docs()
    edited = [
        replace(d, body=f"{d.body}\n\n분실 신고는 24시간 받습니다.") if i == 0 else d
        for i, d in enumerate(docs)
    ]

    again = KnowledgeIndex(edited, telecom.meaning.by_text())

    assert read == ["분실 신고는 24시간 받습니다."]
    before, after = telecom.meaning.by_text(), again.meaning.by_text()
    assert set(after) - set(before) == {"분실 신고는 24시간 받습니다."}
    assert all(np.array_equal(after[text], before[text]) for text in before)
    fresh = KnowledgeIndex(docs[:2])  # its passages were read just now, for the edited index
    assert read == ["분실 신고는 24시간 받습니다."] and len(fresh.meaning.texts) > 2


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


# --- a small knowledge base of its own, for what any knowledge base must do -----------------------

GAME = [
    Doc(
        "refund",
        "ko",
        "인게임 결제 환불 받을 수 있나요?",
        "구매 후 7일 안에 쓰지 않은 상품은 환불을 신청할 수 있습니다.",
        ("환불",),
    ),
    Doc(
        "ban",
        "ko",
        "계정이 정지됐어요 (이용 제한과 이의 신청)",
        "잘못 제재됐다면 14일 안에 이의 신청을 해 주세요.",
        ("제재",),
    ),
    Doc(
        "coupon",
        "ko",
        "쿠폰 코드는 어디에 입력하나요?",
        "설정 > 쿠폰 입력에 코드를 넣으면 보상이 우편함으로 들어옵니다.",
        ("쿠폰",),
    ),
    Doc("coupon", "en", "Where do I enter a coupon code?", "Enter it in Settings > Redeem coupon."),
]


@pytest.fixture(scope="module")
def game() -> KnowledgeIndex:
    return KnowledgeIndex(GAME)


# Greetings, emoji, laughter, other scripts, nothing at all, a lone surrogate (from a file).
NOTHING_TO_MATCH = (
    "안녕하세요 문의드립니다", "😀😀🙏", "ㅋㅋㅋㅋ", "こんにちは", "Привет", "", " \n\t", "?!…",
    "thanks!", "\ud800",
)  # fmt: skip


@pytest.mark.parametrize("text", NOTHING_TO_MATCH)
def test_a_question_with_nothing_to_match_is_handed_over(game: KnowledgeIndex, text: str) -> None:
    decision = decide(game, text)

    assert decision.handoff and decision.reason in ("no_match", "not_sure")


def test_the_customers_words_their_readings_and_the_scene_setting_words() -> None:
    read = question_words("어제 친구가 ㅎㅂ 신청했대요 진짜")

    assert read.own == {"ㅎㅂ": "slang", "신청": "noun"}  # 어제, 친구, 진짜 set the scene
    assert read.readings["ㅎㅂ"] == ("환불",)
    assert set(read.weights) == {"ㅎㅂ", "신청", "환불"}
    assert "get" not in question_words("got nothing yesterday").own  # a stop word once lemmatised


def test_the_lexicons_reading_of_slang_is_matched_as_ngrams_too(game: KnowledgeIndex) -> None:
    # 신청 is in the appeal article's title; ㅎㅂ is read as 환불, in the refund article's title
    found = game.search("ㅎㅂ 신청")

    assert found.best is not None and found.best.article == "refund"


def test_an_index_saved_by_another_analysis_is_not_loaded(
    tmp_path: Path, game: KnowledgeIndex
) -> None:
    game.save(tmp_path / "index")
    terms = tmp_path / "index/terms.json"
    saved = json.loads(terms.read_text("utf-8"))
    terms.write_text(json.dumps({**saved, "analysis": saved["analysis"] - 1}), "utf-8")

    with pytest.raises(ValueError, match="another version"):
        KnowledgeIndex.load(tmp_path / "index")


def test_the_precision_coverage_curve_of_held_out_answers() -> None:
    answers = [
        {"set": "a", "reason": "article", "confidence": 0.9, "right": True},
        {"set": "a", "reason": "article", "confidence": 0.6, "right": False},
        {"set": "a", "reason": "article", "confidence": None, "right": True},  # a rule handed over
        {"set": "a", "reason": "unanswerable", "confidence": 0.7, "right": False},
        {"set": "a", "reason": "unanswerable", "confidence": 0.2, "right": False},
    ]

    assert at_threshold(answers, 0.5) == {
        "threshold": 0.5,
        "top1": 0.5,
        "coverage": 0.6667,
        "unanswerable_handed_over": 0.5,
    }
    assert at_threshold(answers, 0.8) == {
        "threshold": 0.8,
        "top1": 1.0,
        "coverage": 0.3333,
        "unanswerable_handed_over": 1.0,
    }


def test_a_search_page_lists_only_the_articles_sharing_a_word_with_the_query() -> None:
    index = KnowledgeIndex(
        [
            Doc("track", "ko", "배송 조회는 어떻게 하나요?", "주문 내역에서 배송 조회를 누르세요."),
            Doc("password", "ko", "비밀번호를 잊어버렸어요", "로그인 화면에서 찾을 수 있어요."),
            Doc("leave", "ko", "회원 탈퇴는 어떻게 하나요?", "설정에서 탈퇴할 수 있어요."),
        ]
    )

    listed = index.ranked("배송")

    assert [hit.article for hit in listed] == ["track"]  # not the others, close only in meaning
    assert index.ranked("택배 어디쯤 왔나요")[0].article == "track"
