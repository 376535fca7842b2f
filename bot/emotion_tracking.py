"""Conversation-level emotion: frustration that builds over the customer's turns, the
escalation decision, and the short acknowledgement an upset or angry customer gets.

Pure functions over the per-message `emotion` of the parse result; the actions call them
with the customer turns of the tracker (see `customer_turns`).
"""
from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.nlu.normalize import normalize
from bot.nlu.other_request import replayed

THRESHOLDS_FILE = Path(__file__).resolve().parent / "emotion" / "frustration.yml"
CALM, UPSET, ANGRY = "calm", "upset", "angry"
# Escalation reasons, for the handoff payload.
REASON_NONE = "none"
REASON_ANGRY = "angry_message"
REASON_FRUSTRATION = "frustration"
REASON_RISING = "rising_frustration"

_NOT_WORD = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")

# Short, sincere lines a good agent writes before answering; grouped by what upset the
# customer so the line fits. Several per group so the customer does not read the same one twice.
_WAITING = (
    "让您久等了，非常抱歉。",
    "抱歉让您等了这么久，我马上帮您查。",
    "理解您着急的心情，我这就帮您跟进。",
    "耽误您的时间了，真的很抱歉。",
)
_REPEATING = (
    "抱歉让您重复说明了，这次我仔细帮您看。",
    "不好意思让您说了好几遍，我认真帮您处理。",
    "抱歉之前没能帮您解决，我这次一定跟进到底。",
)
_GENERAL = (
    "理解您的心情，我来帮您处理。",
    "给您添麻烦了，非常抱歉。",
    "抱歉给您带来不好的体验，我这就帮您看看。",
    "明白您的感受，我们一起把问题解决。",
)
# For angry customers, before the handoff message (which says what happens next).
_APOLOGIES = (
    "非常抱歉给您带来这么不好的体验。",
    "真的很抱歉让您这么生气，这件事我们一定负责处理。",
    "实在抱歉，让您受委屈了。",
    "给您造成这么大的困扰，我们非常抱歉。",
)
# For customers angry at something that is not the shop (「堵车两个小时 气死我了」): an apology
# for "the experience" would blame the shop for the traffic; an agent would say this instead.
_ELSEWHERE = (
    "听得出来您现在很生气，先消消气。",
    "遇到这种事确实让人窝火。",
    "理解您现在心里不痛快。",
)
_WAITING_CUES = ("还没", "等", "催", "多久", "几天", "什么时候", "啥时候", "慢", "急", "延迟")
_REPEATING_CUES = ("说了", "问了", "几遍", "多少遍", "好几次", "又", "重复", "答非所问")


@dataclass(frozen=True)
class Thresholds:
    """Conversation-level settings, read from frustration.yml."""

    angry_escalate_score: float = 0.8
    escalate_frustration: float = 2.4
    rising_turns: int = 3
    rising_min_frustration: float = 1.6
    min_escalation_score: float = 0.7
    label_weights: dict[str, float] = field(
        default_factory=lambda: {CALM: 0.0, UPSET: 1.0, ANGRY: 1.6}
    )
    carry: float = 0.9
    calm_decay: float = 0.7
    repeat_similarity: float = 0.6
    repeat_weight: float = 0.6
    repeat_weight_calm: float = 0.2
    repeat_min_chars: int = 4
    repeat_cues: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        """Thresholds from parsed YAML; missing keys keep their defaults."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "repeat_cues" in known:
            known["repeat_cues"] = tuple(str(cue) for cue in known["repeat_cues"] or ())
        return cls(**known)


@lru_cache(maxsize=8)
def load_thresholds(path: str | Path | None = None) -> Thresholds:
    """Read the thresholds YAML (the project's frustration.yml by default)."""
    data = yaml.safe_load(Path(path or THRESHOLDS_FILE).read_text(encoding="utf-8")) or {}
    return Thresholds.from_dict(data)


@dataclass(frozen=True)
class Assessment:
    """The emotional state of a conversation after its latest customer turn."""

    frustration: float
    rising: bool
    escalate: bool
    reason: str
    # The most negative customer turn so far: {"label", "score", "turn", "text"}.
    peak: dict[str, Any]
    # The latest turn's emotion: {"label", "score"}.
    latest: dict[str, Any]
    turn: int
    repeated: bool = False

    @property
    def priority(self) -> str:
        """Handoff priority for this conversation: "high" when emotion escalates it."""
        return "high" if self.escalate else "normal"


def assess(turns: Sequence[dict[str, Any]], thresholds: Thresholds | None = None) -> Assessment:
    """Assess a conversation from its customer turns, oldest first.

    Each turn is `{"text": str, "emotion": {"label": ..., "score": ...}}` as in the parse
    result. An empty conversation is calm.
    """
    trajectory = assess_each(turns, thresholds)
    if trajectory:
        return trajectory[-1]
    calm = {"label": CALM, "score": 0.0}
    return Assessment(0.0, False, False, REASON_NONE, {**calm, "turn": -1, "text": ""}, calm, -1)


def assess_each(
    turns: Sequence[dict[str, Any]], thresholds: Thresholds | None = None
) -> list[Assessment]:
    """The assessment after every customer turn (for replays: where would the bot escalate?)."""
    settings = thresholds or load_thresholds()
    frustration, rises = 0.0, 0
    peak: dict[str, Any] = {}
    earlier: list[set[str]] = []
    results = []
    for index, turn in enumerate(turns):
        text = str(turn.get("text") or "")
        emotion = _emotion(turn)
        bigrams = _bigrams(text, settings.repeat_min_chars)
        repeated = _repeats(bigrams, earlier, settings) or _has_cue(text, settings)
        if bigrams:
            earlier.append(bigrams)
        previous = frustration
        if emotion["label"] == CALM:
            frustration *= settings.calm_decay
            frustration += settings.repeat_weight_calm if repeated else 0.0
        else:
            weight = settings.label_weights.get(emotion["label"], 1.0)
            frustration = frustration * settings.carry + weight * emotion["score"]
            frustration += settings.repeat_weight if repeated else 0.0
        rises = rises + 1 if frustration > previous + 1e-9 else 0
        if not peak or _negativity(emotion, settings) > _negativity(peak, settings):
            peak = {**emotion, "turn": index, "text": text}
        results.append(_decide(frustration, rises, emotion, peak, index, repeated, settings))
    return results


def _decide(
    frustration: float,
    rises: int,
    emotion: dict[str, Any],
    peak: dict[str, Any],
    index: int,
    repeated: bool,
    settings: Thresholds,
) -> Assessment:
    rising = rises >= settings.rising_turns and frustration >= settings.rising_min_frustration
    reason = REASON_NONE
    # A calm turn never escalates: the customer has calmed down or is just asking. Nor does a
    # borderline one: built-up frustration hands over on a turn that is itself clearly upset.
    clearly_upset = emotion["label"] != CALM and emotion["score"] >= settings.min_escalation_score
    if emotion["label"] == ANGRY and emotion["score"] >= settings.angry_escalate_score:
        reason = REASON_ANGRY
    elif clearly_upset and frustration >= settings.escalate_frustration:
        reason = REASON_FRUSTRATION
    elif clearly_upset and rising:
        reason = REASON_RISING
    return Assessment(
        frustration=round(frustration, 3),
        rising=rising,
        escalate=reason != REASON_NONE,
        reason=reason,
        peak=peak,
        latest=emotion,
        turn=index,
        repeated=repeated,
    )


def _emotion(turn: dict[str, Any]) -> dict[str, Any]:
    emotion = turn.get("emotion") or {}
    label = emotion.get("label") if emotion.get("label") in (CALM, UPSET, ANGRY) else CALM
    score = min(1.0, max(0.0, float(emotion.get("score") or 0.0)))
    return {"label": label, "score": score}


def _negativity(emotion: dict[str, Any] | None, settings: Thresholds) -> float:
    if not emotion or emotion["label"] == CALM:
        return 0.0
    return settings.label_weights.get(emotion["label"], 1.0) * emotion["score"]


def _bigrams(text: str, min_chars: int) -> set[str]:
    chars = _NOT_WORD.sub("", normalize(text).lower())
    if len(chars) < min_chars:
        return set()
    return {chars[i : i + 2] for i in range(len(chars) - 1)}


def _repeats(bigrams: set[str], earlier: list[set[str]], settings: Thresholds) -> bool:
    if not bigrams:
        return False
    return any(
        2 * len(bigrams & other) / (len(bigrams) + len(other)) >= settings.repeat_similarity
        for other in earlier
    )


def _has_cue(text: str, settings: Thresholds) -> bool:
    return any(cue in text for cue in settings.repeat_cues)


def acknowledgement(
    label: str, seed_or_history: int | str | Sequence[str] | None = None, text: str = "",
    at_shop: bool = True,
) -> str | None:
    """A short, sincere line to put before the answer: for "upset" an acknowledgement that
    fits what the customer wrote (waiting, repeating, other), for "angry" an apology (the
    handoff message follows it), or, when the anger is not about the shop (`at_shop` False),
    sympathy without an apology; None for calm customers.

    `seed_or_history` is either the bot's earlier messages in this conversation (the line
    last used is never chosen again, unused ones first) or a seed for a repeatable choice.
    """
    variants: tuple[str, ...]
    if label == ANGRY:
        variants = _APOLOGIES if at_shop else _ELSEWHERE
    elif label == UPSET:
        variants = _variants_for(text)
    else:
        return None
    if seed_or_history is None or isinstance(seed_or_history, (int, str)):
        return random.Random(seed_or_history).choice(variants)
    return _least_used(variants, list(seed_or_history))


def _variants_for(text: str) -> tuple[str, ...]:
    if any(cue in text for cue in _REPEATING_CUES):
        return _REPEATING
    if any(cue in text for cue in _WAITING_CUES):
        return _WAITING
    return _GENERAL


def _least_used(variants: Sequence[str], history: list[str]) -> str:
    every_line = (*_WAITING, *_REPEATING, *_GENERAL, *_APOLOGIES, *_ELSEWHERE)
    used = [line for message in history for line in every_line if line in message]
    last = used[-1] if used else None
    candidates = [v for v in variants if v != last] or list(variants)
    # Unused lines first; among equals, rotate with the conversation's length.
    fewest = min(used.count(v) for v in candidates)
    candidates = [v for v in candidates if used.count(v) == fewest]
    return candidates[len(history) % len(candidates)]


def customer_turns(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The customer turns (`text`, `emotion`) of a Rasa tracker's events, oldest first (an
    offered request the bot put back is not a turn: the customer's answer to the offer was)."""
    turns = []
    for event in events:
        if event.get("event") == "user" and not replayed(event):
            parse = event.get("parse_data") or {}
            turns.append({"text": event.get("text") or "", "emotion": parse.get("emotion")})
    return turns


def bot_texts(events: Iterable[dict[str, Any]]) -> list[str]:
    """The bot's messages of a Rasa tracker's events, oldest first (for `acknowledgement`)."""
    return [e.get("text") or "" for e in events if e.get("event") == "bot"]
