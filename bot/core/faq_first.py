"""A journey's message that is really a policy question gets the FAQ answer first.

「发票抬头写错了怎么改」 reads as the invoice journey to the intent classifier, and it is about
invoices; but the customer asks *how*, and the FAQ entry 「发票开错了」 says exactly that. A good
agent answers the question and offers to do it: the bot sends the entry's answer, then
「需要的话我可以直接帮您办理」 with a button that starts the journey. A statement of something
to be done (「发票抬头写错了 帮我改一下」, 「发票的单位名称开错了」) still goes straight into the
journey.

`faq_first` is the one decision: `bot.policies.faq_first.FaqFirstPolicy` predicts the answer
with it, `bot.actions.faq_first` answers with it, and `evaluation/faq.py` counts with it.
The intent stays what the classifier said (topics are scored on it).
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.core.suggestions import selector_ranking
from bot.faq import FaqEntry
from bot.nlu.normalize import classifier_text
from bot.nlu.other_request import REPLAYED, load_topics

CUES_FILE = Path(__file__).with_name("faq_first.yml")
TOPICS_FILE = Path(__file__).resolve().parents[1] / "topics.yml"
FAQ_FIRST_ACTION = "action_faq_first"
TAKE_ACTION = "action_take_offered_journey"
# The retriever's confidence its best entry needs. Stricter than the FAQ's own answer threshold
# (ANSWER_CONFIDENCE, 0.35): the customer asked in the words of a journey, and a wrong answer
# ahead of it costs more than going straight in. At 0.35 five of the ten held-out journey
# messages answered first got an entry that did not answer them (0.36-0.51: how to apply for a
# refund got the refund-method entry); at 0.45 one, for three right answers fewer among the FAQ's
# 243 held-out phrasings (resolved 78.6% -> 77.4%) (docs/evaluation.md, "FAQ retrieval").
FAQ_FIRST_CONFIDENCE = 0.45
# A statement without a question in it (「短信让我点链接领理赔」) is answered first only when the
# entry is near certain: it may as well be the start of the journey. On the held-out journey
# messages one statement reaches it (and its entry answers it); on the FAQ's held-out phrasings
# the entries that reach it are right.
STATEMENT_CONFIDENCE = 0.85


@lru_cache(maxsize=1)
def load_cues(path: Path = CUES_FILE) -> dict[str, Any]:
    """The journeys this applies to and the word cues of a question and of a request."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {
        "journeys": frozenset(data.get("journeys") or ()),
        "neighbours": {journey: frozenset(topics)
                       for journey, topics in (data.get("neighbours") or {}).items()},
        "asks": re.compile("|".join(data["asks"])),
        "requests": re.compile("|".join(data["requests"])),
        "wants": re.compile("|".join(data["wants"])),
    }


def asks_how(text: str) -> bool:
    """Whether the message asks a question (how, where, how long, can I ...) rather than
    states something to be done; a request word (帮我, 麻烦, 给我 ...) makes it a request even
    with a question mark (「能帮我改吗」)."""
    cues = load_cues()
    text = classifier_text(text or "")
    return not cues["requests"].search(text) and bool(cues["asks"].search(text))


def needed_confidence(text: str) -> float | None:
    """The retriever confidence the message's entry needs to be answered first: a question
    needs FAQ_FIRST_CONFIDENCE, a plain statement STATEMENT_CONFIDENCE; None for a request
    (帮我, 我的, an order number ...) or a statement of what the customer wants done (我要,
    我想 ...), which go straight into the journey."""
    cues = load_cues()
    text = classifier_text(text or "")
    if cues["requests"].search(text):
        return None
    if cues["asks"].search(text):
        return FAQ_FIRST_CONFIDENCE
    return None if cues["wants"].search(text) else STATEMENT_CONFIDENCE


def fits_journey(entry_key: str, intent: str) -> bool:
    """Whether an FAQ entry may be answered ahead of this journey: of the journey's own topic,
    or of a neighbouring topic listed for it in faq_first.yml."""
    topics = load_topics(TOPICS_FILE)
    topic = topics.get(entry_key)
    return topic is not None and (
        topic == topics.get(intent) or topic in load_cues()["neighbours"].get(intent, ())
    )


def faq_first(message: dict[str, Any]) -> FaqEntry | None:
    """The FAQ entry to answer before offering the journey the message started, or None to go
    straight into the journey.

    Answered first: a message the intent classifier put in one of the journeys of
    faq_first.yml, whose retrieved best entry is of the journey's own topic or a neighbouring
    one (`fits_journey`) and confident enough for the way the message is put: a question
    (`asks_how`) 0.45, a plain statement 0.85, a request never (`needed_confidence`). Never a
    request put back after an offer (`REPLAYED`: the customer took the journey, or a second
    request, up)."""
    intent = (message.get("intent") or {}).get("name")
    if not isinstance(intent, str) or intent not in load_cues()["journeys"] \
            or message.get(REPLAYED):
        return None
    ranking = selector_ranking(message)
    if not ranking:
        return None
    entry, confidence = ranking[0]
    needed = needed_confidence(str(message.get("text") or ""))
    if needed is None or confidence < needed or not fits_journey(entry.key, intent):
        return None
    return entry


def offered_journey(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The customer message whose journey the bot offered right before the customer's latest
    message (events as dicts, oldest first), or None when the bot's last action before it was
    not the offer."""
    users = [i for i, event in enumerate(events) if event.get("event") == "user"]
    if len(users) < 2:
        return None
    previous, latest = users[-2], users[-1]
    actions = [event.get("name") for event in events[previous:latest]
               if event.get("event") == "action" and event.get("name") != "action_listen"]
    if not actions or actions[-1] != FAQ_FIRST_ACTION:
        return None
    return events[previous]
