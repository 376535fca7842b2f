"""A second request in the same message: 「我的快递到哪了 另外发票怎么开」.

The bot answers one request per message: the intent of the whole message. Customers often
write two at once, joined by 另外, 还有, 顺便问下 or 对了, and the second
would be lost. `ShopIntentClassifier` splits such a message into its parts, classifies each
part, and puts a part whose request belongs to another topic under `other_request` in the
parse result: `{"text": ..., "intent": ..., "confidence": ...}`. Once the first request is
answered, `bot.policies.other_request.OtherRequestPolicy` has the bot offer to take up the
second (`action_remind_other_request`). A customer who answers the offer in words (「好的」,
「要」, or the order number the request needs) instead of the button gets the request taken
up all the same (`action_take_other_request`).

Only explicit joins split a message. Spaces and commas join the parts of one request as
often as two requests (「少了一双袜子 清单上有」): splitting on them named a "second request"
in 14 of 503 single-request held-out messages. Sentence ends do too: one request is often
explained over two sentences (「发票信息填错了。能帮我改吗」), and splitting there named
a second request in 3 real messages of topics_dev, none of them right. With joins only: none
in either.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.nlu.normalize import normalize, strip_markup

ROOT = Path(__file__).resolve().parents[2]
OTHER_REQUEST = "other_request"
# The action that offers the second request, and for how many customer messages it stays open
# (shared by bot/policies/other_request.py and bot/actions/other_request.py).
REMIND_ACTION = "action_remind_other_request"
REMIND_WITHIN_TURNS = 6
# The action that takes up the offered request when the customer says yes in words, and the
# parse-result key that marks the request it puts back as the customer's latest message (not a
# message the customer sent now: emotion tracking, the handoff transcript and the traffic
# export skip it).
TAKE_ACTION = "action_take_other_request"
REPLAYED = "replayed_offer"
# Key of a bot message (in its metadata) that offers the customer a next step and waits for the
# answer (「需要的话我可以帮您登记物流异常」 with buttons): the second request waits for it, so
# the customer is not given two sets of buttons at once.
ASKS_BACK = "asks_back"

# Words that join two requests. The strong ones join even without a space or comma before them
# (另外 is not a join in 另外一件 "the other item"); the weak ones only after one: 还有 is
# "still have" in 还有问题 / 还有没有, and 对了 is "right" in 不对了 / 核对了.
_STRONG = r"另外(?![一两个的那这些件单外])|还想问|再问一下|再问下|顺便|顺带"
_WEAK = r"还有就是|还有个事|还有(?![没货吗多几啥什问点些效用])|对了|以及"
_SEPARATORS = r"[\s，,、。！？!?；;~～]"
_SPLIT = re.compile(_SEPARATORS + r"*(?=" + _STRONG + ")|" + _SEPARATORS + r"+(?=" + _WEAK + ")")
_LEADING = re.compile(r"^(?:" + _STRONG + "|" + _WEAK
                      + r")(?:问一下|问下|说一下|问问|一下|一个)?[\s，,、:：]*")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# Parts shorter than this (Chinese characters plus Latin words) are not a request of their own.
MIN_PART_SIZE = 4


def request_parts(text: str) -> list[str]:
    """The parts of a message that could each be a request, in order (one part: no split),
    without web markup (a part is shown to the customer again)."""
    parts = []
    for piece in _SPLIT.split(normalize(strip_markup(text or ""))):
        piece = _LEADING.sub("", piece.strip(" ，,、。")).strip(" ，,、")
        if len(_CJK.findall(piece)) + len(_LATIN_WORD.findall(piece)) >= MIN_PART_SIZE:
            parts.append(piece)
    return parts


@lru_cache(maxsize=4)
def load_topics(path: str | Path) -> dict[str, str]:
    """Intent -> topic from bot/topics.yml (retrieval keys `faq/...` included); read once."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = ROOT / path
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {intent: topic for topic, intents in (data.get("topics") or {}).items()
            for intent in intents or []}


Classify = Callable[[list[str]], Iterable[tuple[str, float]]]


def find_other_request(text: str, main_intent: str, classify: Classify,
                       config: Mapping[str, Any],
                       ignored: Iterable[str] = ()) -> dict[str, Any] | None:
    """The second request of a message for a component whose config holds
    `other_request_threshold` (null: off) and `topics_path`; `classify` gives the likeliest
    label of each part and its probability."""
    threshold = config.get("other_request_threshold")
    parts = request_parts(text) if threshold is not None else []
    if len(parts) < 2:
        return None
    return pick_other_request(main_intent, parts, classify, load_topics(config["topics_path"]),
                              float(threshold), frozenset(ignored))


def pick_other_request(
    main_intent: str,
    parts: list[str],
    classify: Classify,
    topics: dict[str, str],
    threshold: float,
    ignored: frozenset[str],
) -> dict[str, Any] | None:
    """The first part that asks for something in another topic than the whole message.

    A part counts when the classifier is at least `threshold` sure of it and its intent asks
    for something (not a greeting, a yes, a bare number, out of scope, a complaint or a
    human: those are handled by the first answer or by a person). To the intent classifier
    the FAQ is one intent whose entries' topics it does not know, so there an FAQ part beside
    an FAQ message never counts; `FaqRetriever` compares the entries themselves.
    """
    if len(parts) < 2 or main_intent in ignored:
        return None
    main_topic = topics.get(main_intent, main_intent)
    for part, (intent, confidence) in zip(parts, classify(parts)):
        if intent in ignored or confidence < threshold or intent == main_intent:
            continue
        if topics.get(intent, intent) != main_topic:
            return {"text": part, "intent": intent, "confidence": round(float(confidence), 4)}
    return None


def open_other_request(events: list[dict[str, Any]], remind_action: str = REMIND_ACTION,
                       max_turns: int = REMIND_WITHIN_TURNS) -> dict[str, Any] | None:
    """The second request of one of the customer's last `max_turns` messages, unless the bot
    has offered to take it up since (events as dicts, oldest first)."""
    turns = 0
    for event in reversed(events):
        if event.get("event") == "action" and event.get("name") == remind_action:
            return None
        if event.get("event") == "user":
            other = (event.get("parse_data") or {}).get(OTHER_REQUEST)
            if isinstance(other, dict) and other.get("text"):
                return other
            turns += 1
            if turns >= max_turns:
                return None
    return None


def offered_request(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The second request the bot offered right before the customer's latest message
    (events as dicts, oldest first): the bot's last action before that message was the offer,
    and the request is the `other_request` of the customer message before the offer."""
    users = [i for i, event in enumerate(events) if event.get("event") == "user"]
    if len(users) < 2:
        return None
    latest, previous = users[-1], users[-2]
    actions = [event.get("name") for event in events[previous:latest]
               if event.get("event") == "action" and event.get("name") != "action_listen"]
    if REMIND_ACTION not in actions or actions[-1] != REMIND_ACTION:
        return None
    for event in reversed(events[:previous + 1]):
        if event.get("event") == "user":
            other = (event.get("parse_data") or {}).get(OTHER_REQUEST)
            if isinstance(other, dict) and other.get("text"):
                return other
    return None


def replayed(event: dict[str, Any]) -> bool:
    """Whether a user event is an offered request put back by `action_take_other_request`,
    not a message the customer sent."""
    return bool((event.get("parse_data") or {}).get(REPLAYED))
