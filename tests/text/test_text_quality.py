"""Sentiment mechanisms for real customer language: contrast, requests and inquiries, praise
slang, complaint constructions, things customers want more of, thanks to named staff, and
English failures after a negation. Each is checked on the lexicon alone (so the rule itself is
tested) and the shipped model must agree on the clear cases."""

from __future__ import annotations

import pytest

from cxloop.text.features import prepare
from cxloop.text.lexicon import FEATURE_NAMES, split_clauses
from cxloop.text.pipeline import Analyzer, analyze


@pytest.fixture(scope="module")
def lexicon_only() -> Analyzer:
    return Analyzer(model_path=None, use_transformers=False)


CASES = [
    # contrast: the clause after "but" weighs more, even after a comma or a full stop
    pytest.param("Nice packaging, but the checkout took forever", "negative", id="en-but-comma"),
    pytest.param(
        "Friendly staff. But I have yet to get my money back", "negative", id="en-but-stop"
    ),
    pytest.param(
        "The app is slow, but the support team was amazing", "positive", id="en-but-praise"
    ),
    pytest.param(
        "포장은 예뻐요. 그런데 내용물이 다 깨져 있었어요", "negative", id="ko-sentence-contrast"
    ),
    # English complaint phrases
    pytest.param("Refunds take forever here", "negative", id="en-take-forever"),
    pytest.param("Still waiting on a replacement part", "negative", id="en-still-waiting"),
    pytest.param("Your returns page needs improvement", "negative", id="en-needs-improvement"),
    pytest.param("I can't log in on my phone anymore", "negative", id="en-cant-log-in"),
    pytest.param("The parcel never arrived", "negative", id="en-never-arrived"),
    # requests and inquiries are neutral
    pytest.param("Could you please check when my parcel will ship?", "neutral", id="en-could-you"),
    pytest.param("Please add gift wrapping at checkout", "neutral", id="en-please-add"),
    pytest.param("It would be nice to have a size guide", "neutral", id="en-would-be-nice"),
    pytest.param("반품 접수 방법 문의드립니다", "neutral", id="ko-inquiry"),
    pytest.param(
        "영수증 재발행 방법을 알려주시면 감사하겠습니다", "neutral", id="ko-thanks-in-advance"
    ),
    pytest.param("다음 시즌에 큰 사이즈도 나왔으면 좋겠어요", "neutral", id="ko-wish"),
    # a complaint inside a request is still a complaint
    pytest.param(
        "결제 오류가 계속 나는데 확인 부탁드립니다 짜증나요", "negative", id="ko-complaint-request"
    ),
    # praise slang
    pytest.param("이 집 식감 미쳤다", "positive", id="ko-michyeotda"),
    pytest.param("미친 가성비 또 삽니다", "positive", id="ko-michin"),
    pytest.param("가격 대비 퀄리티 실화임", "positive", id="ko-silhwa"),
    pytest.param("디자인 갑", "positive", id="ko-gap"),
    pytest.param("카페 분위기 감성 터짐", "positive", id="ko-teojim-praise"),
    pytest.param("결제하려는데 앱 터짐", "negative", id="ko-teojim-crash"),
    pytest.param("하루 종일 연결이 안 돼서 미치겠어요", "negative", id="ko-michigesseo"),
    # complaint constructions
    pytest.param("주문하고 5일째 기다리는 중이에요", "negative", id="ko-waiting-days"),
    pytest.param("대체 언제 보내주시는 건가요", "negative", id="ko-daeche-eonje"),
    pytest.param(
        "교환을 요청하였음에도 아무 조치가 없었습니다", "negative", id="ko-formal-concessive"
    ),
    pytest.param("즉시 재발송하여 주시기 바랍니다", "negative", id="ko-formal-demand"),
    pytest.param("품질이 작년만 못해요", "negative", id="ko-man-mot"),
    # things customers want more of
    pytest.param("사이즈 선택지가 적어요", "negative", id="ko-wanted-few"),
    pytest.param("이벤트 혜택이 없어요", "negative", id="ko-wanted-none"),
    pytest.param("냄새가 적어서 좋아요", "positive", id="ko-less-of-a-bad-thing"),
    # thanks addressed to staff is praise
    pytest.param("오늘 상담해주신 정 팀장님께 감사드립니다", "positive", id="ko-directed-thanks"),
    pytest.param("Special thanks to Jun at the front desk", "positive", id="en-special-thanks"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_lexicon_reads_customer_language(lexicon_only: Analyzer, text: str, expected: str) -> None:
    assert lexicon_only.analyze(text).sentiment == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Great app, but refunds take forever", "negative", id="en-contrast"),
        pytest.param("Please add a dark mode", "neutral", id="en-request"),
        pytest.param("교환 절차를 알려주시면 감사하겠습니다", "neutral", id="ko-request"),
        pytest.param("가성비 미쳤다 진짜", "positive", id="ko-slang"),
        pytest.param("주문한지 2주째 기다리는 중입니다", "negative", id="ko-waiting"),
        pytest.param("김 매니저님께 감사드립니다", "positive", id="ko-thanks"),
    ],
)
def test_shipped_model_agrees_on_clear_cases(text: str, expected: str) -> None:
    assert analyze(text).sentiment == expected


def test_english_contrast_after_a_comma_weighs_the_later_clause() -> None:
    doc = prepare("great app, but refunds take forever", "en")
    clauses = split_clauses(doc.sentences, "en")
    assert [c.weight for c in clauses] == [0.6, 1.5]


def test_have_yet_to_is_no_contrast() -> None:
    doc = prepare("i have yet to receive it", "en")
    assert [c.weight for c in split_clauses(doc.sentences, "en")] == [1.0]


def test_korean_sentence_initial_contrast_turns_the_previous_sentence() -> None:
    doc = prepare("배송이 늦었어요. 그래도 상담원은 친절했어요", "ko")
    assert [c.weight for c in split_clauses(doc.sentences, "ko")] == [0.6, 1.5]


def test_request_and_complaint_are_model_features() -> None:
    request = prepare("Could you please confirm my address?", "en").lexicon.features
    complaint = prepare("3일째 기다리는 중이에요", "ko").lexicon.features
    assert len(request) == len(FEATURE_NAMES)
    assert request[FEATURE_NAMES.index("request")] == 1.0
    assert complaint[FEATURE_NAMES.index("complaint")] > 0


def test_not_yet_tried_is_no_failure(lexicon_only: Analyzer) -> None:
    assert lexicon_only.analyze("아직 안 써봤어요").sentiment == "neutral"
    assert lexicon_only.analyze("결제가 안 돼요").sentiment == "negative"


def test_a_model_saved_before_the_new_features_reads_the_old_layout() -> None:
    """Workspace models stored in the database were fitted on twelve lexicon features and the
    language flag; their feature builder keeps that layout after the lexicon grew."""
    from cxloop.text.features import FeatureBuilder

    docs = [prepare("배송이 빨라요", "ko"), prepare("주문한지 3일째 기다리는 중", "ko")]
    builder = FeatureBuilder().fit(docs)
    new_width = builder.transform(docs).shape[1]
    del builder.n_lexicon  # as pickled by the previous release
    old = builder.transform(docs).toarray()
    assert old.shape[1] == new_width - (len(FEATURE_NAMES) - 12)
    assert list(old[:, -1]) == [3.0, 3.0]  # the Korean flag (× LEXICON_WEIGHT) stays last
