"""High-risk words (报警, 律师, 12315, 曝光, 起诉 ...): an explicit handoff trigger checked on
every customer message, independent of intent and emotion. Word list, negations and benign
phrases in bot/high_risk.yml.

The rule, kept simple on purpose: a message is high-risk when one of the words occurs in it
outside a benign phrase and not right after a negation; numeric words (12315) count only as a
whole number, not inside an order or phone number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

WORDS_FILE = Path(__file__).resolve().parent / "high_risk.yml"
# What may stand between a negation and the word: 不会(去)报警, 没打算(找)律师.
_BRIDGE = "(?:去|找|打|要|想|再)?"


@dataclass(frozen=True)
class HighRiskWords:
    """The configured words, negations and benign phrases."""

    words: tuple[str, ...]
    negations: tuple[str, ...]
    benign: tuple[str, ...]

    def matches(self, text: str | None) -> bool:
        """Whether the message names the police, a lawyer, 12315, the media or a lawsuit
        as something the customer may do."""
        text = text or ""
        negated = re.compile(
            "(?:" + "|".join(map(re.escape, sorted(self.negations, key=len, reverse=True)))
            + ")" + _BRIDGE + "$") if self.negations else None
        for word in self.words:
            pattern = rf"(?<!\d){re.escape(word)}(?!\d)" if word.isdigit() else re.escape(word)
            for found in re.finditer(pattern, text):
                if self._inside_benign(text, found.start(), found.end()):
                    continue
                if negated and negated.search(text[max(0, found.start() - 6):found.start()]):
                    continue
                return True
        return False

    def _inside_benign(self, text: str, start: int, end: int) -> bool:
        for phrase in self.benign:
            for found in re.finditer(re.escape(phrase), text):
                if found.start() <= start and end <= found.end():
                    return True
        return False


@lru_cache(maxsize=4)
def load_words(path: str | Path = WORDS_FILE) -> HighRiskWords:
    """The word lists of `path` (bot/high_risk.yml by default), read once."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return HighRiskWords(
        words=tuple(str(w) for w in data.get("words") or ()),
        negations=tuple(str(w) for w in data.get("negations") or ()),
        benign=tuple(str(w) for w in data.get("benign") or ()),
    )


def high_risk(text: str | None) -> bool:
    """Whether the customer's message is high-risk by the configured lists."""
    return load_words().matches(text)
