"""The text analysis library: language, normalisation, negation, contrast, sarcasm, categories,
keywords, batching, the lexicon fallback, training and the shipped model's floor."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxloop.text.categories import load_taxonomy
from cxloop.text.lang import detect_language
from cxloop.text.normalize import normalize, split_sentences
from cxloop.text.pipeline import Analyzer, analyze, analyze_many
from cxloop.text.sentiment import MODEL_PATH, Example, macro_f1, train
from cxloop.text.training.dataset import LABELLED_PATH, load_labelled, split_labelled


@pytest.fixture(scope="module")
def lexicon_only() -> Analyzer:
    return Analyzer(model_path=None, use_transformers=False)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        pytest.param("배송이 너무 늦어요", "ko", id="korean"),
        pytest.param("배송 speed 최악이에요", "ko", id="korean-with-english-word"),
        pytest.param("ㅋㅋㅋㅋ", "ko", id="jamo-only"),
        pytest.param("The delivery was late", "en", id="english"),
        pytest.param("great service ㅋㅋ", "en", id="english-with-jamo"),
        pytest.param("Доставка задержалась", "other", id="russian"),
        pytest.param("12345 !!", "other", id="no-letters"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_korean_normalisation_restores_spacing_and_squeezes_repeats() -> None:
    assert normalize("배송은늦었지만상담원은친절했어요ㅋㅋㅋㅋ", "ko") == (
        "배송은 늦었지만 상담원은 친절했어요 ㅋㅋ"
    )


def test_korean_normalisation_keeps_emoticons() -> None:
    assert normalize("감사합니다^^ ㅠㅠㅠㅠ", "ko") == "감사합니다^^ ㅠㅠ"


def test_english_normalisation_lowercases_and_expands_contractions() -> None:
    assert normalize("I CAN'T believe it, sooooo bad!!!! dont buy", "en") == (
        "i can not believe it, soo bad!! do not buy"
    )


def test_sentence_split() -> None:
    assert split_sentences("배송이 늦었어요. 그래도 상담원은 친절했어요", "ko") == [
        "배송이 늦었어요.",
        "그래도 상담원은 친절했어요",
    ]
    assert split_sentences("it was late. but ok! great", "en") == [
        "it was late.",
        "but ok!",
        "great",
    ]


@pytest.mark.parametrize(
    ("text", "not_expected"),
    [
        pytest.param("나쁘지 않아요", "negative", id="ko-not-bad"),
        pytest.param("문제 없이 잘 받았어요", "negative", id="ko-no-problem"),
        pytest.param("안 좋아요", "positive", id="ko-not-good"),
        pytest.param("좋지 못했어요", "positive", id="ko-ji-mot"),
        pytest.param("not good", "positive", id="en-not-good"),
        pytest.param("It's not bad at all", "negative", id="en-not-bad"),
    ],
)
def test_negation_in_the_lexicon(lexicon_only: Analyzer, text: str, not_expected: str) -> None:
    assert lexicon_only.analyze(text).sentiment != not_expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("안 좋아요", "negative", id="ko-not-good"),
        pytest.param("not good", "negative", id="en-not-good"),
        pytest.param("직원분이 불친절 했어요", "negative", id="ko-prefix-negation"),
    ],
)
def test_negation_turns_praise_into_complaint(
    lexicon_only: Analyzer, text: str, expected: str
) -> None:
    assert lexicon_only.analyze(text).sentiment == expected


def test_contrast_gives_each_clause_its_aspect(lexicon_only: Analyzer) -> None:
    result = lexicon_only.analyze("배송은 늦었지만 상담원은 친절했어요")
    pairs = {(a.category, a.sentiment) for a in result.aspects}
    assert pairs == {("delivery", "negative"), ("customer_service", "positive")}
    assert result.sentiment == "positive"  # the clause after -지만 weighs more


def test_contrast_aspects_with_the_shipped_pipeline() -> None:
    result = analyze("배송은 늦었지만 상담원은 친절했어요")
    pairs = {(a.category, a.sentiment) for a in result.aspects}
    assert ("delivery", "negative") in pairs
    assert ("customer_service", "positive") in pairs


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("참 빠르네요 일주일 걸렸어요 ^^", id="speed-praise-long-wait"),
        pytest.param("답장이 하나도 없네요. 정말 친절하시네요^^", id="ironic-thanks"),
        pytest.param("So fast, only took three weeks", id="en-speed"),
        pytest.param("Thanks for nothing", id="en-stock-phrase"),
    ],
)
def test_sarcasm_is_negative(lexicon_only: Analyzer, text: str) -> None:
    result = lexicon_only.analyze(text)
    assert result.sarcasm
    assert result.sentiment == "negative"


def test_sincere_praise_after_contrast_is_not_sarcasm(lexicon_only: Analyzer) -> None:
    result = lexicon_only.analyze("배송은 늦었지만 상담원은 정말 친절했어요^^")
    assert not result.sarcasm


@pytest.mark.parametrize(
    ("text", "category"),
    [
        pytest.param("택배가 아직도 안 왔어요", "delivery", id="ko-delivery"),
        pytest.param("가격이 너무 비싸요", "price", id="ko-price"),
        pytest.param("앱이 자꾸 튕겨요", "website_app", id="ko-app"),
        pytest.param("환불은 언제 되나요?", "payment_refund", id="ko-refund"),
        pytest.param("포인트 적립이 안 됐어요", "loyalty_rewards", id="ko-points"),
        pytest.param("매장 직원이 친절했어요", "store_experience", id="ko-store"),
        pytest.param("The app keeps crashing at login", "website_app", id="en-app"),
        pytest.param("I was charged twice and need a refund", "payment_refund", id="en-refund"),
        pytest.param("The support agent was very helpful", "customer_service", id="en-service"),
    ],
)
def test_categories_of_clear_examples(text: str, category: str) -> None:
    assert category in analyze(text).categories


def test_keywords() -> None:
    assert analyze("배송이 늦어서 배송 문의를 했어요").keywords[0] == "배송"
    assert "refund" in analyze("I want a refund for the broken blender").keywords
    assert "the" not in analyze("The refund was late").keywords


def test_analysis_shape() -> None:
    result = analyze("배송이 빨라요. 포장도 꼼꼼했어요")
    assert result.lang == "ko"
    assert result.sentences == ("배송이 빨라요.", "포장도 꼼꼼했어요")
    assert "빠르다/VA" in result.tokens
    assert result.sentiment == "positive"
    assert 0 < result.score <= 1


def test_analyze_many_equals_analyze_per_text() -> None:
    texts = [
        "배송은 늦었지만 상담원은 친절했어요",
        "The app keeps crashing",
        "환불 언제 돼요?",
        "",
        "가격 대비 괜찮네요 ㅎㅎ",
    ]
    assert analyze_many(texts, batch_size=2) == [analyze(t) for t in texts]


def test_lexicon_fallback_when_the_model_is_missing(tmp_path: Path) -> None:
    analyzer = Analyzer(model_path=tmp_path / "missing.joblib", use_transformers=False)
    assert analyzer.model is None
    assert analyzer.source == "lexicon"
    result = analyzer.analyze("상담원이 정말 친절했어요")
    assert result.sentiment == "positive"
    assert result.categories == ("customer_service",)
    assert result.source == "lexicon"


def test_train_on_a_tiny_set_returns_quality_figures(tmp_path: Path) -> None:
    texts = [
        ("배송이 빨라서 좋아요", "positive"), ("상담원이 친절했어요", "positive"),
        ("품질이 정말 만족스러워요", "positive"), ("가격 대비 훌륭해요", "positive"),
        ("배송이 너무 늦어요", "negative"), ("상담원이 불친절했어요", "negative"),
        ("품질이 별로예요", "negative"), ("너무 비싸요 실망", "negative"),
        ("배송 언제 와요?", "neutral"), ("환불 절차 알려주세요", "neutral"),
        ("영업시간이 어떻게 되나요?", "neutral"), ("주소 변경 가능한가요?", "neutral"),
        ("Great service, thanks", "positive"), ("Terrible delivery", "negative"),
        ("When does the store open?", "neutral"), ("Love this product", "positive"),
        ("Awful quality", "negative"), ("How do I reset my password?", "neutral"),
    ]  # fmt: skip
    examples = [Example(t, label, 1.0 if i % 3 else 0.5) for i, (t, label) in enumerate(texts)]
    result = train(examples, holdout=0.34)
    assert result.quality.n > 0
    assert 0.0 <= result.quality.accuracy <= 1.0
    assert 0.0 <= result.quality.macro_f1 <= 1.0
    assert set(result.quality.per_language) <= {"ko", "en"}
    assert result.model.quality["holdout"]["n"] == result.quality.n
    path = result.model.save(tmp_path / "m.joblib")
    analyzer = Analyzer(model_path=path, use_transformers=False)
    assert analyzer.analyze("배송이 빨라서 좋아요").sentiment in ("positive", "neutral", "negative")


def test_train_accepts_plain_triples_and_rejects_unknown_labels() -> None:
    with pytest.raises(ValueError, match="unknown sentiment labels"):
        train([("좋아요", "great", 1.0), ("싫어요", "negative", 1.0)])


def test_taxonomy_has_the_default_keys() -> None:
    assert load_taxonomy().keys == (
        "delivery", "price", "product_quality", "customer_service", "website_app",
        "payment_refund", "loyalty_rewards", "store_experience",
    )  # fmt: skip


@pytest.mark.skipif(not LABELLED_PATH.exists(), reason="no labelled data")
def test_shipped_model_reaches_its_floor_on_the_test_split() -> None:
    assert MODEL_PATH.exists(), "train it: python -m cxloop.text.training.train"
    _, test_rows = split_labelled(load_labelled())
    analyzer = Analyzer(use_transformers=False)
    assert analyzer.source == "model"
    results = analyzer.analyze_many([r.text for r in test_rows], [r.lang for r in test_rows])  # type: ignore[arg-type]
    for lang in ("ko", "en"):
        idx = [i for i, r in enumerate(test_rows) if r.lang == lang]
        f1 = macro_f1([test_rows[i].sentiment for i in idx], [results[i].sentiment for i in idx])
        assert f1 >= 0.6, f"{lang} macro-F1 {f1:.3f} below the floor"
