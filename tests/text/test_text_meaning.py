"""What a text means, as a vector: the same request in other words or in the other language is
closer than another request."""

from __future__ import annotations

import numpy as np

from cxloop.text.meaning import DIMENSIONS, MAX_CHARS, embed


def test_the_same_request_in_other_words_or_language_is_closer_than_another_request() -> None:
    refund, wanted, english, delivery, payment = embed(
        [
            "환불은 어떻게 받나요?",
            "환불 받고 싶어요",
            "How do I get my money back?",
            "배송이 언제 오나요?",  # the same question form, another request
            "결제 수단을 바꾸고 싶어요",
        ]
    )
    for same in (wanted, english):
        assert refund @ same > max(refund @ delivery, refund @ payment) + 0.2
    assert wanted @ refund > wanted @ delivery


def test_vectors_are_unit_length_and_nothing_is_the_zero_vector() -> None:
    vectors = embed(["배송 언제 와요", "", "   ", "🙂🙂", "x" * (MAX_CHARS * 10)])

    assert vectors.shape == (5, DIMENSIONS) and vectors.dtype == np.float32
    norms = np.linalg.norm(vectors, axis=1)
    assert np.allclose(norms[[0, 3, 4]], 1.0, atol=1e-3)
    assert not vectors[1].any() and not vectors[2].any()
    assert embed([]).shape == (0, DIMENSIONS)
