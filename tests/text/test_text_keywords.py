"""Keywords leave out the words every customer text has (fillers, greetings, thanks)."""

from __future__ import annotations

from cxloop.text.pipeline import analyze


def test_korean_fillers_and_thanks_are_not_keywords() -> None:
    found = analyze(
        "솔직히 이번에는 배송이 정말 빨라서 감사했어요. 포장도 정말 꼼꼼했어요"
    ).keywords
    assert "배송" in found and "포장" in found
    assert not {"이번", "정말", "감사", "솔직"} & set(found)


def test_english_fillers_are_not_keywords() -> None:
    found = analyze("Thanks, the delivery was really fast and the packaging was great").keywords
    assert "delivery" in found and "packaging" in found
    assert not {"thanks", "really", "the"} & set(found)
