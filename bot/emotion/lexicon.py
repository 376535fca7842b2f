"""The emotion lexicon: weighted terms with negation and degree adverbs, punctuation runs and
emoji, turned into a small feature vector; plus the plain keyword baseline it is compared with."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.nlu.normalize import normalize

LEXICON_FILE = Path(__file__).resolve().parent / "lexicon.yml"
LABELS = ("calm", "upset", "angry")
# Term categories in the YAML; each one becomes one feature.
CATEGORIES = (
    "insults", "threats", "anger", "urging", "complaints", "sarcasm", "rhetorical", "positives",
    "calm_markers",
)
ANGRY_CATEGORIES = ("insults", "threats", "anger")
UPSET_CATEGORIES = ("urging", "complaints", "sarcasm", "rhetorical")
FEATURE_NAMES = (
    "insults", "threats", "anger", "urging", "complaints", "sarcasm", "rhetorical",
    "negated_positive", "calm_markers", "negated_negative", "exclamation_run", "question_run",
    "mixed_run", "ellipsis", "angry_emoji", "upset_emoji",
)
# A degree adverb boosts a term that starts at most this many characters after it.
DEGREE_REACH = 3
# Hits in one category add up, but a single message cannot pile up without bound.
CATEGORY_CAP = 3.0

_EXCLAMATION = re.compile(r"!{2,}")
_QUESTION = re.compile(r"\?{2,}")
_MIXED = re.compile(r"[?!]*(\?!|!\?)[?!]*")
_ELLIPSIS = re.compile(r"(\.{3,}|。{2,}|…+)")
_ASCII_TERM = re.compile(r"^[0-9a-z]+$")


@dataclass(frozen=True)
class Hit:
    """One lexicon term found in a message."""

    category: str
    term: str
    start: int
    weight: float
    negated: bool


@dataclass
class Lexicon:
    """Weighted terms per category, negators, degree adverbs and emoji."""

    terms: dict[str, dict[str, float]]
    negators: list[str]
    negation_gap: list[str]
    degree: dict[str, float]
    angry_emoji: list[str]
    upset_emoji: list[str]
    # Words that contain a term but carry no emotion: 空气炸锅 (气炸), 垃圾桶 (垃圾), 联系客服了
    # (服了). Matched like terms, longest first, and then dropped, so they hide what they contain.
    neutral: frozenset[str] = frozenset()
    _pattern: re.Pattern[str] = field(init=False, repr=False)
    _category: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._category = {}
        for category in CATEGORIES:
            for term in self.terms.get(category, {}):
                self._category.setdefault(term, category)
        # Longest terms first, so "太麻烦" wins over "麻烦" and "麻烦" over "烦".
        words = set(self._category) | set(self.neutral)
        alternatives = [_term_regex(t) for t in sorted(words, key=len, reverse=True)]
        self._pattern = re.compile("|".join(alternatives))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lexicon:
        """Build a lexicon from the parsed YAML (see lexicon.yml for the format)."""
        terms = {
            category: _weights(data.get(category) or {}) for category in CATEGORIES
        }
        return cls(
            terms=terms,
            negators=sorted(map(str, data.get("negators") or []), key=len, reverse=True),
            negation_gap=sorted(map(str, data.get("negation_gap") or []), key=len, reverse=True),
            degree={str(k): float(v) for k, v in (data.get("degree") or {}).items()},
            # Matched on lower-cased text, like the terms: "[Sob]" is found as "[sob]".
            angry_emoji=[str(e).lower() for e in data.get("angry_emoji") or []],
            upset_emoji=[str(e).lower() for e in data.get("upset_emoji") or []],
            neutral=frozenset(str(w).lower() for w in data.get("neutral") or []),
        )

    def hits(self, text: str) -> list[Hit]:
        """Non-overlapping term hits in the normalised, lower-cased text, longest term first."""
        hits = []
        for match in self._pattern.finditer(text):
            term = match.group(0)
            if term not in self._category:
                continue  # a neutral word: the term inside it is not meant
            category = self._category[term]
            weight = self.terms[category][term] * self._degree_before(text, match.start())
            # An insult stays an insult after 不/别 ("别特么忽悠我").
            negated = category != "insults" and self._negated(text, match.start())
            hits.append(Hit(category, term, match.start(), weight, negated))
        return hits

    def _negated(self, text: str, start: int) -> bool:
        for gap in ["", *self.negation_gap]:
            if gap and not text[:start].endswith(gap):
                continue
            end = start - len(gap)
            for negator in self.negators:
                if text[:end].endswith(negator) and not _a_not_a(text, end - len(negator), end):
                    return True
        return False

    def _degree_before(self, text: str, start: int) -> float:
        window = text[max(0, start - DEGREE_REACH - 2) : start]
        reach = len(window) - DEGREE_REACH
        boosts = [
            value
            for adverb, value in self.degree.items()
            if adverb in window and window.rindex(adverb) + len(adverb) >= reach
        ]
        return max(boosts, default=1.0)

    def features(self, text: str) -> list[float]:
        """The lexicon feature vector of a message, in FEATURE_NAMES order."""
        text = prepare(text)
        scores = dict.fromkeys(FEATURE_NAMES, 0.0)
        for hit in self.hits(text):
            if hit.category == "positives":
                if hit.negated:
                    scores["negated_positive"] += hit.weight
            elif hit.category == "calm_markers":
                if not hit.negated:
                    scores["calm_markers"] += hit.weight
            elif hit.negated:
                scores["negated_negative"] += hit.weight
            else:
                scores[hit.category] += hit.weight
        scores["exclamation_run"] = _longest(_EXCLAMATION, text) / 2
        scores["question_run"] = _longest(_QUESTION, text) / 2
        scores["mixed_run"] = float(bool(_MIXED.search(text)))
        scores["ellipsis"] = float(bool(_ELLIPSIS.search(text)))
        scores["angry_emoji"] = float(sum(text.count(e) for e in self.angry_emoji))
        scores["upset_emoji"] = float(sum(text.count(e) for e in self.upset_emoji))
        return [min(scores[name], CATEGORY_CAP) for name in FEATURE_NAMES]

    def plain_counts(self, text: str) -> dict[str, int]:
        """Baseline matching: every term counted on its own, without negation, degree adverbs
        or longest-match resolution."""
        text = prepare(text)
        return {
            category: sum(
                len(re.findall(_term_regex(term), text)) for term in self.terms[category]
            )
            for category in CATEGORIES
        }


def load_lexicon(path: str | Path = LEXICON_FILE) -> Lexicon:
    """Read a lexicon YAML file."""
    return Lexicon.from_dict(read_lexicon_data(path))


def read_lexicon_data(path: str | Path = LEXICON_FILE) -> dict[str, Any]:
    """The parsed lexicon YAML, as persisted with a trained model."""
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def prepare(text: str) -> str:
    """Normalise a message the way the tokenizer does, lower-cased for matching."""
    return normalize(text or "").lower()


def baseline_predict(lexicon: Lexicon, text: str) -> tuple[str, float]:
    """Plain keyword baseline: any insult, threat or anger word is angry, any other negative
    term or a run of ?? / !! is upset, everything else calm."""
    counts = lexicon.plain_counts(text)
    prepared = prepare(text)
    angry = sum(counts[c] for c in ANGRY_CATEGORIES)
    upset = sum(counts[c] for c in UPSET_CATEGORIES)
    upset += bool(_EXCLAMATION.search(prepared) or _QUESTION.search(prepared))
    if angry:
        return "angry", min(1.0, 0.6 + 0.2 * angry)
    if upset:
        return "upset", min(1.0, 0.5 + 0.2 * upset)
    return "calm", 0.6


def _weights(entries: dict[Any, Any] | Iterable[Any]) -> dict[str, float]:
    if isinstance(entries, dict):
        return {str(term).lower(): float(weight) for term, weight in entries.items()}
    return {str(term).lower(): 1.0 for term in entries}


def _term_regex(term: str) -> str:
    # ASCII terms must not match inside longer tokens: "sb" in "usb", "12315" in an order number.
    if _ASCII_TERM.match(term):
        return rf"(?<![0-9a-z]){re.escape(term)}(?![0-9a-z])"
    return re.escape(term)


def _a_not_a(text: str, start: int, end: int) -> bool:
    """Tell whether the negator at text[start:end] is the middle of an A-not-A question
    ("能不能", "是不是", "有没有"), which asks rather than negates."""
    return 0 < start and end < len(text) and text[start - 1] == text[end]


def _longest(pattern: re.Pattern[str], text: str) -> float:
    return float(max((len(m.group(0)) for m in pattern.finditer(text)), default=0))
