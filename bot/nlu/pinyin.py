"""Pinyin typed with the input method off (「kuaidi dao na le」, 「wo yao tuikuan」) read as
the characters the customer meant (「快递到哪了」, 「我要退款」), for the classifiers only
(`bot.nlu.normalize.classifier_text`): slots and the transcript keep the customer's text.

The word list is `bot/nlu/pinyin.yml`. A run of letters standing on its own (not part of an
e-mail address, a link, a code such as 91440300MA5G2RNT42 or a hyphenated name) is read when
it splits wholly into entries of the list (「wode」 = wo + de). Runs that hold a `words` entry
(pinyin that is not English: dingdan, tuikuan, zenme) are always read; single `syllables`
(wo, le, you) only when every run of letters in the message splits into entries, so English
stays English: 「can you send me the fapiao」 reads only 「发票」, and 「order 573262229751 where
is my package」 nothing. Neighbouring read runs are joined without the space, as the
characters would have been typed.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

LEXICON_PATH = Path(__file__).with_name("pinyin.yml")
# A run of Latin letters standing on its own: not inside an e-mail address, a link, a code or a
# hyphenated name (digits may follow: 「dingdan573262229751」).
_TOKEN = re.compile(r"(?<![A-Za-z0-9@./:_\-])[A-Za-z]+(?![A-Za-z@./:_\-])")
_LETTERS = re.compile(r"[A-Za-z]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
# Longer runs of letters are not typed pinyin (the longest words here have 10 letters); they
# are left as they are, which also keeps a huge pasted run from costing time.
MAX_TOKEN_LETTERS = 40


@lru_cache(maxsize=1)
def lexicon() -> tuple[dict[str, str], dict[str, str]]:
    """The `words` of pinyin.yml, and every entry (`syllables` and `words`), read once."""
    data = yaml.safe_load(LEXICON_PATH.read_text(encoding="utf-8")) or {}
    words = {str(k).lower(): str(v) for k, v in (data.get("words") or {}).items()}
    syllables = {str(k).lower(): str(v) for k, v in (data.get("syllables") or {}).items()}
    return words, {**syllables, **words}


def split_token(token: str, entries: dict[str, str]) -> list[str] | None:
    """The token as the fewest entries that make it up exactly, or None (also for a token
    too long to be typed pinyin)."""
    if len(token) > MAX_TOKEN_LETTERS:
        return None
    token = token.lower()
    best: list[list[str] | None] = [None] * (len(token) + 1)
    best[0] = []
    for end in range(1, len(token) + 1):
        for start in range(max(0, end - 12), end):
            head = best[start]
            if head is not None and token[start:end] in entries:
                candidate = [*head, token[start:end]]
                if best[end] is None or len(candidate) < len(best[end]):
                    best[end] = candidate
    return best[len(token)]


def read_pinyin(text: str) -> str:
    """The text with its pinyin read as characters (unchanged when it holds none)."""
    if not _TOKEN.search(text):
        return text
    words, entries = lexicon()
    tokens = list(_TOKEN.finditer(text))
    splits = [split_token(match.group(), entries) for match in tokens]
    if not any(parts and any(part in words for part in parts) for parts in splits):
        return text
    if len(tokens) < len(_LETTERS.findall(text)) or any(parts is None for parts in splits):
        # English (or a code) beside the pinyin: read only the runs that hold a pinyin word.
        splits = [parts if parts and any(part in words for part in parts) else None
                  for parts in splits]
    pieces: list[str] = []
    position = 0
    previous_read = False
    for match, parts in zip(tokens, splits):
        between = text[position:match.start()]
        if parts is None:
            pieces.append(between + match.group())
            previous_read = False
        else:
            # Join read tokens that only a space separates, as the characters would be typed.
            if previous_read and not between.strip():
                between = ""
            elif between.endswith(" ") and _CJK.search(between[-2:-1] or ""):
                between = between.rstrip(" ")
            pieces.append(between + "".join(entries[part] for part in parts))
            previous_read = True
        position = match.end()
    pieces.append(text[position:])
    return "".join(pieces)
