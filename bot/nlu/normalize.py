"""Text normalisation for Chinese customer messages, shared by the NLU components."""
from __future__ import annotations

import re
import unicodedata

import zhconv

# Zero-width and bidi control characters that chat apps and copy-paste leave behind.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
_WHITESPACE = re.compile(r"\s+")
# Letters, digits and CJK ideographs: a message without any carries no words to understand.
_WORD_CHAR = re.compile(r"[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def normalize(text: str) -> str:
    """Return the text with full-width forms folded, invisible characters and stray
    whitespace removed, and traditional characters converted to simplified ones."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _WHITESPACE.sub(" ", text).strip()
    return zhconv.convert(text, "zh-hans")


def has_words(text: str) -> bool:
    """Tell whether the text holds at least one letter, digit or Chinese character."""
    return bool(_WORD_CHAR.search(text))
