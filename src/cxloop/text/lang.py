"""Language detection for customer texts: Korean, English or other, from the script of the
letters (no model, nothing to download)."""

from __future__ import annotations

from typing import Literal

Language = Literal["ko", "en", "other"]
LANGUAGES: tuple[Language, ...] = ("ko", "en", "other")


def _is_hangul(ch: str) -> bool:
    code = ord(ch)
    return (
        0xAC00 <= code <= 0xD7A3  # syllables
        or 0x1100 <= code <= 0x11FF  # jamo
        or 0x3131 <= code <= 0x318E  # compatibility jamo (ㅋ, ㅠ)
    )


def _is_compat_jamo(ch: str) -> bool:
    return 0x3131 <= ord(ch) <= 0x318E


def detect_language(text: str) -> Language:
    """``ko`` when Hangul carries the text, ``en`` when Latin letters do, else ``other``.

    Korean customers mix in English words ("배송 speed 최악", "CS 응대"), so a text with a fair
    share of Hangul syllables is Korean even when Latin letters outnumber them. Bare jamo such as
    ㅋㅋ/ㅠㅠ count for little: "good ㅋㅋ" is English.
    """
    syllables = jamo = latin = other_letters = 0
    for ch in text:
        if _is_hangul(ch):
            if _is_compat_jamo(ch):
                jamo += 1
            else:
                syllables += 1
        elif ch.isascii():
            if ch.isalpha():
                latin += 1
        elif ch.isalpha():
            other_letters += 1
    letters = syllables + latin + other_letters
    if letters == 0:
        return "ko" if jamo else "other"
    if syllables and syllables * 3 >= latin:  # one syllable carries about three Latin letters
        return "ko"
    if latin and latin >= other_letters:
        return "en"
    return "other"
