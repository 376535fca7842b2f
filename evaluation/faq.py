"""FAQ retrieval on held-out phrasings (tests/faq/heldout.yml), which are never trained on.

Usage: python -m evaluation.faq MODEL [--heldout tests/faq/heldout.yml] [--out reports/faq.md]
(--heldout tests/faq/heldout_fresh.yml: the blind set, figures only; see its header)
Prints retrieval accuracy overall and per area, what the bot would do with each phrasing
(answer, suggest, something else) and how the answer threshold trades those off; and, on the
held-out journey messages (tests/nlu/heldout_intents.yml), how many get the FAQ answer before
their journey instead of going straight into it.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.actions.faq import ANSWER_CONFIDENCE, decide, selector_ranking, suggestions
from bot.actions.topic_questions import AREA_OF_INTENT, area_decision
from bot.core.faq_first import faq_first, load_cues
from bot.faq import RETRIEVAL_INTENT, load_faq
from evaluation.topics import load_topic_map

ROOT = Path(__file__).resolve().parents[1]
HELDOUT_FILE = ROOT / "tests" / "faq" / "heldout.yml"
# Phrasings written blind (from the answers alone, December 2026): figures only, never misses.
BLIND_FILE = ROOT / "tests" / "faq" / "heldout_fresh.yml"
INTENT_HELDOUT_FILE = ROOT / "tests" / "nlu" / "heldout_intents.yml"
ANNOTATION = re.compile(r"\[([^\]]+)\]\([^)]+\)")
OUTCOMES = (
    "answered_right", "suggested_right", "answered_wrong", "suggested_wrong", "journey", "other"
)
SWEEP = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


@lru_cache(maxsize=1)
def _topic_map() -> dict[str, str]:
    return load_topic_map()


def topic_of_intent(intent: str | None) -> str | None:
    """The topic of an intent or FAQ entry (faq/<key>) in bot/topics.yml."""
    return _topic_map().get(intent or "")


def load_heldout(path: Path = HELDOUT_FILE) -> dict[str, list[str]]:
    """Held-out phrasings per FAQ key."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))["heldout"]


@dataclass
class Parsed:
    """One held-out phrasing and the model's parse of it."""

    key: str
    text: str
    parse: dict[str, Any]

    @property
    def retrieved(self) -> str | None:
        """The retriever's best entry, whatever the intent classifier said."""
        ranking = selector_ranking(self.parse)
        return ranking[0][0].key if ranking else None


def outcome(parse: dict[str, Any], expected: str, threshold: float = ANSWER_CONFIDENCE) -> str:
    """What the bot does with this parse (rules + action_answer_faq / action_fallback, and
    FaqFirstPolicy's answer before a journey)."""
    intent = (parse.get("intent") or {}).get("name")
    first = faq_first(parse)
    if intent == RETRIEVAL_INTENT:
        action, entries = decide(parse, threshold)
    elif intent == "nlu_fallback":
        entries = suggestions(parse)
        action = "suggest" if entries else "rephrase"
    elif first is not None:
        # A policy question that would start a journey: its FAQ answer, then the journey offered.
        action, entries = "answer", [first]
    elif intent in AREA_OF_INTENT:
        # Product, promotion and payment questions are answered from their FAQ area.
        action, entries = area_decision(parse, AREA_OF_INTENT[intent])
        action = "suggest" if action == "general" and entries else action
    else:
        return "journey" if topic_of_intent(intent) == topic_of_intent(expected) else "other"
    keys = [entry.key for entry in entries]
    if action == "answer":
        return "answered_right" if keys == [expected] else "answered_wrong"
    if action == "suggest":
        return "suggested_right" if expected in keys else "suggested_wrong"
    return "other"


def parse_all(
    parse: Callable[[str], dict[str, Any]], heldout: dict[str, list[str]]
) -> list[Parsed]:
    """Parse every held-out phrasing with the trained model."""
    return [Parsed(key, text, parse(text)) for key, texts in heldout.items() for text in texts]


def summary(parsed: list[Parsed], threshold: float = ANSWER_CONFIDENCE) -> dict[str, dict]:
    """Per area (and "all"): retrieval top-1 accuracy and the share of each bot outcome."""
    faq = load_faq()
    groups: dict[str, list[Parsed]] = defaultdict(list)
    for item in parsed:
        groups["all"].append(item)
        groups[faq[item.key].area].append(item)
    table = {}
    for area, items in sorted(groups.items(), key=lambda kv: (kv[0] != "all", kv[0])):
        counts = Counter(outcome(i.parse, i.key, threshold) for i in items)
        row = {"n": len(items), "retrieval": sum(i.retrieved == i.key for i in items) / len(items)}
        row.update({name: counts[name] / len(items) for name in OUTCOMES})
        row["resolved"] = row["answered_right"] + row["suggested_right"]
        # Answered right before the journey the question would have started (FaqFirstPolicy).
        row["first"] = sum(outcome(i.parse, i.key, threshold) == "answered_right"
                           and faq_first(i.parse) is not None for i in items) / len(items)
        # Resolved, or taken into the journey of the question's own topic (an invoice question
        # starts the invoice journey): the customer is in the right place either way.
        row["handled"] = row["resolved"] + row["journey"]
        table[area] = row
    return table


def markdown(parsed: list[Parsed], misses: bool = True) -> str:
    """The report: per-area table, threshold sweep, then (`misses`) every phrasing not answered
    right."""
    lines = [
        f"Answer threshold {ANSWER_CONFIDENCE}. *Resolved* = answered right, or the right "
        "question among the 您是想问 suggestions; *of them before a journey* = answered right "
        "although the message would start a journey, which the bot then offers (bot/core/"
        "faq_first.py). *Journey* = the question went straight into the journey of its own "
        "topic (e.g. 「发票抬头写错了」 the invoice journey); *handled* = resolved or journey.",
        "",
        "| area | n | retrieval top-1 | answered right | of them before a journey "
        "| right among suggestions | resolved | journey | handled | answered wrong "
        "| wrong suggestions | other intent |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for area, row in summary(parsed).items():
        cells = [f"{row[k]:.1%}" for k in ("retrieval", "answered_right", "first",
                                           "suggested_right", "resolved", "journey", "handled",
                                           "answered_wrong", "suggested_wrong", "other")]
        lines.append(f"| {area} | {row['n']} | " + " | ".join(cells) + " |")
    lines += ["", "| answer threshold | answered directly | right when answered | resolved |",
              "|---|---|---|---|"]
    for threshold in SWEEP:
        row = summary(parsed, threshold)["all"]
        answered = row["answered_right"] + row["answered_wrong"]
        lines.append(
            f"| {threshold:.2f} | {answered:.1%} "
            f"| {row['answered_right'] / answered if answered else 0:.1%} | {row['resolved']:.1%} |"
        )
    if not misses:
        return "\n".join([*lines, "", "Misses are not listed: this set is blind (figures only)."])
    lines += ["", "Misses (text : expected -> retrieved):", ""]
    lines += [
        f"- [{outcome(i.parse, i.key)}] {i.text} : {i.key} -> {i.retrieved}"
        for i in parsed if outcome(i.parse, i.key) != "answered_right"
    ]
    return "\n".join(lines) + "\n"


def load_journey_heldout(path: Path = INTENT_HELDOUT_FILE) -> list[tuple[str, str]]:
    """(intent, text) of the held-out messages of the journeys that can get an FAQ answer
    first (bot/core/faq_first.yml), entity annotations removed."""
    heldout = yaml.safe_load(path.read_text(encoding="utf-8"))["heldout"]
    journeys = load_cues()["journeys"]
    return [(intent, ANNOTATION.sub(r"\1", str(text)))
            for intent, texts in heldout.items() if intent in journeys for text in texts]


def journey_lines(parse: Callable[[str], dict[str, Any]]) -> list[str]:
    """How many held-out journey messages the bot answers from the FAQ first instead of going
    straight into the journey, and which: requests (「帮我申请下退款吧」) must not be among
    them; policy questions a journey's phrasings include (「退款在哪里申请」) may."""
    messages = load_journey_heldout()
    first = []
    for intent, text in messages:
        entry = faq_first(parse(text))
        if entry is not None:
            first.append(f"- {text} : {intent} -> {entry.key}")
    return [f"Held-out journey messages answered from the FAQ before the journey: "
            f"{len(first)} of {len(messages)}", "", *first]


def main() -> None:
    """Evaluate a model on the held-out phrasings; print and save the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--heldout", type=Path, default=HELDOUT_FILE,
                        help="held-out phrasings (YAML with a `heldout:` mapping)")
    parser.add_argument("--out", default="reports/faq.md")
    args = parser.parse_args()
    from rasa.core.agent import Agent
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)
    agent = Agent.load(args.model)
    loop = asyncio.new_event_loop()
    parsed = parse_all(lambda text: loop.run_until_complete(agent.parse_message(text)),
                       load_heldout(args.heldout))
    journeys = journey_lines(lambda text: loop.run_until_complete(agent.parse_message(text)))
    # The blind set stays blind: no phrasing of it is written or printed, only figures.
    blind = args.heldout.resolve() == BLIND_FILE.resolve()
    report = markdown(parsed, misses=not blind) + "\n" + "\n".join(journeys) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# FAQ retrieval on held-out phrasings ({args.heldout.name})\n\n{report}",
                   encoding="utf-8")
    print(report.split("\nMisses")[0])
    print(journeys[0])
    print(f"full report: {out}")


if __name__ == "__main__":
    main()
