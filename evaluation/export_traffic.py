"""Export the customer messages the bot did not understand or handed off, ready for labelling.

Usage: python -m evaluation.export_traffic [--db var/rasa/tracker.db] [--out reports/to_label.tsv]
                                           [--since YYYY-MM-DD] [--labelled FILE.tsv]
Reads Rasa's SQL tracker store (`--db`: a SQLite file or an SQLAlchemy URL such as
postgresql://user:pass@host/rasa) and writes one TSV row per distinct message (compared
without spaces, punctuation and case; the earliest is kept) with the columns
conversation_id, timestamp (UTC), text, predicted_intent, confidence, reason,
suggested_topic, label. `reason` says why the message was picked ("+"-joined when several):

- nlu_fallback: the NLU was not confident enough (or the message had no words);
- bot_fallback: the bot answered with a fallback (asked to rephrase);
- human_offered: the bot gave up and offered a human agent;
- handed_off: a handoff action ran after the message;
- request_human: the customer asked for a human;
- before_request_human: the customer's message just before asking for a human;
- answer_rejected: the customer said 都不是 / 不是这个 to the answer or suggestions given for it.

Labelling: fill `label` with the intent the message should have had (`faq/<entry>` for an FAQ
question, `out_of_scope`, or a new intent's name), or `suggested_topic` with one of the 14
topics for a topic-level evaluation set. Then add the text, as the customer wrote it, under that
intent in bot/data/nlu/<feature>.yml or bot/data/faq/<area>.yml (or keep it as a held-out
example in tests/nlu/heldout_intents.yml / tests/faq/heldout.yml, never both), run `make test`
and `make eval`. docs/tutorial.md walks through it.

The supervisors' reports page has a labelling queue of the same messages, grouped by
similarity; its download (`label-queue.tsv`) has these columns. `--labelled FILE` (make
export-traffic LABELLED=FILE) carries the labels and topics of such a file (or of an earlier,
labelled export) over to the same messages, compared like the de-duplication.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

COLUMNS = ("conversation_id", "timestamp", "text", "predicted_intent", "confidence", "reason",
           "suggested_topic", "label")
FALLBACK_INTENT = "nlu_fallback"
# Parse-result mark of an offered request the bot put back (bot.nlu.other_request.REPLAYED);
# this script reads tracker stores without importing the bot.
REPLAYED = "replayed_offer"
HUMAN_INTENT = "request_human"
DENY_INTENT = "deny"
FALLBACK_ACTIONS = {"action_fallback", "action_default_fallback", "action_two_stage_fallback",
                    "action_default_ask_rephrase", "action_default_ask_affirmation"}
FALLBACK_RESPONSES = {"utter_ask_rephrase", "utter_default"}
HUMAN_OFFER_RESPONSES = {"utter_fallback_offer_human"}
# Actions after which a "no" means the bot's answer or suggestions missed the question.
ANSWER_ACTIONS = {"action_answer_faq"}
# A greeting or a "yes" just before 转人工 says nothing about what the bot missed.
SMALL_TALK_INTENTS = {"greet", "goodbye", "thank", "affirm", "deny", HUMAN_INTENT}
REASON_ORDER = ("nlu_fallback", "bot_fallback", "human_offered", "handed_off", "request_human",
                "before_request_human", "answer_rejected")


@dataclass
class Turn:
    """A customer message and what the bot did until the next one."""

    conversation_id: str
    timestamp: float
    text: str
    intent: str
    confidence: float
    actions: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)
    reasons: set[str] = field(default_factory=set)

    @property
    def is_typed(self) -> bool:
        """False for button payloads such as /faq{"faq_key": ...}."""
        return bool(self.text.strip()) and not self.text.startswith("/")


def engine_url(db: str) -> str:
    """An SQLAlchemy URL for a SQLite path, or the URL itself."""
    return db if "://" in db else f"sqlite:///{Path(db).resolve()}"


def read_events(db: str, since: float | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(conversation id, event) of the user, action and bot events, in conversation order."""
    import sqlalchemy as sa

    query = ("SELECT sender_id, data FROM events WHERE type_name IN ('user', 'action', 'bot')"
             + (" AND timestamp >= :since" if since is not None else "")
             + " ORDER BY sender_id, id")
    engine = sa.create_engine(engine_url(db))
    try:
        with engine.connect() as connection:
            params = {"since": since} if since is not None else {}
            for sender_id, data in connection.execute(sa.text(query), params):
                yield sender_id, json.loads(data)
    finally:
        engine.dispose()


def build_turns(events: Iterable[tuple[str, dict[str, Any]]]) -> list[Turn]:
    """Group the events into customer turns with the bot's actions and responses after each."""
    turns: list[Turn] = []
    for conversation_id, event in events:
        kind = event.get("event")
        if kind == "user" and (event.get("parse_data") or {}).get(REPLAYED):
            continue  # an offered request the bot put back, not a customer message
        if kind == "user":
            parse = event.get("parse_data") or {}
            intent = parse.get("intent") or {}
            turns.append(Turn(conversation_id, float(event.get("timestamp") or 0.0),
                              event.get("text") or "", intent.get("name") or "",
                              float(intent.get("confidence") or 0.0)))
        elif turns and turns[-1].conversation_id == conversation_id:
            if kind == "action" and event.get("name") != "action_listen":
                turns[-1].actions.append(event.get("name") or "")
            elif kind == "bot":
                turns[-1].responses.append((event.get("metadata") or {}).get("utter_action", ""))
    return turns


def own_reasons(turn: Turn) -> set[str]:
    """Why this message itself is worth labelling, from its intent and the bot's reply."""
    reasons = set()
    if turn.intent == FALLBACK_INTENT:
        reasons.add("nlu_fallback")
    if turn.intent == HUMAN_INTENT:
        reasons.add("request_human")
    if HUMAN_OFFER_RESPONSES & set(turn.responses):
        reasons.add("human_offered")
    elif FALLBACK_ACTIONS & set(turn.actions) or FALLBACK_RESPONSES & set(turn.responses):
        reasons.add("bot_fallback")
    if any("handoff" in action for action in turn.actions):
        reasons.add("handed_off")
    return reasons


def mark(turns: list[Turn]) -> list[Turn]:
    """Set every turn's reasons, including those it gets from the customer's next message."""
    previous: Turn | None = None
    for turn in turns:
        if previous is not None and previous.conversation_id != turn.conversation_id:
            previous = None
        turn.reasons |= own_reasons(turn)
        rejected = turn.intent == DENY_INTENT and previous is not None and (
            ANSWER_ACTIONS & set(previous.actions) or "bot_fallback" in own_reasons(turn))
        if rejected:
            # The "no" is the customer's verdict on the previous message: that one gets labelled.
            turn.reasons -= {"bot_fallback", "human_offered"}
            previous.reasons.add("answer_rejected")
        if turn.intent == HUMAN_INTENT and previous and previous.intent not in SMALL_TALK_INTENTS:
            previous.reasons.add("before_request_human")
        previous = turn if turn.is_typed else previous
    return turns


def normalise(text: str) -> str:
    """The de-duplication key: NFKC, lower case, no spaces or punctuation."""
    return re.sub(r"[\s\W_]+", "", unicodedata.normalize("NFKC", text).lower())


def select(turns: Iterable[Turn]) -> list[Turn]:
    """The typed messages with a reason, one per distinct text, earliest first."""
    seen: set[str] = set()
    selected = []
    for turn in sorted(turns, key=lambda t: t.timestamp):
        key = normalise(turn.text) or turn.text
        if turn.reasons and turn.is_typed and key not in seen:
            seen.add(key)
            selected.append(turn)
    return selected


def to_row(turn: Turn) -> dict[str, str]:
    """The TSV row of a turn; suggested_topic and label are left for the person labelling."""
    when = datetime.fromtimestamp(turn.timestamp, tz=timezone.utc)
    return {
        "conversation_id": " ".join(turn.conversation_id.split()),
        "timestamp": when.isoformat(timespec="seconds"),
        "text": " ".join(turn.text.split()),
        "predicted_intent": turn.intent,
        "confidence": f"{turn.confidence:.2f}",
        "reason": "+".join(r for r in REASON_ORDER if r in turn.reasons),
        "suggested_topic": "",
        "label": "",
    }


def read_labelled(path: Path) -> dict[str, tuple[str, str]]:
    """De-duplication key -> (suggested_topic, label) of the labelled rows of a TSV in this
    module's format (an earlier export, or the reports page's labelling queue)."""
    header, *lines = path.read_text(encoding="utf-8").splitlines()
    names = header.split("\t")
    if not {"text", "suggested_topic", "label"} <= set(names):
        raise ValueError(f"{path}: needs the columns text, suggested_topic and label")
    labelled = {}
    for line in lines:
        row = dict(zip(names, line.split("\t")))
        topic, label = row.get("suggested_topic", ""), row.get("label", "")
        if topic or label:
            labelled[normalise(row.get("text", ""))] = (topic, label)
    return labelled


def export(db: str, out: Path, since: float | None = None,
           labelled: dict[str, tuple[str, str]] | None = None) -> int:
    """Write the messages to label to `out`; returns how many."""
    rows = [to_row(t) for t in select(mark(build_turns(read_events(db, since))))]
    for row in rows:
        topic, label = (labelled or {}).get(normalise(row["text"]), ("", ""))
        row.update(suggested_topic=topic, label=label)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Plain TSV without quoting (tabs and newlines are folded into spaces in to_row), the way
    # evaluation.topics reads it.
    lines = ["\t".join(COLUMNS)] + ["\t".join(row[c] for c in COLUMNS) for row in rows]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(rows)


def parse_since(value: str) -> float:
    """Seconds since the epoch at the start of a YYYY-MM-DD day (UTC)."""
    day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    return day.timestamp()


def main() -> None:
    """Export the messages to label from the tracker store."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="var/rasa/tracker.db",
                        help="SQLite file of the tracker store, or an SQLAlchemy URL")
    parser.add_argument("--out", type=Path, default=Path("reports/to_label.tsv"))
    parser.add_argument("--since", type=parse_since, help="only events from this day on (UTC)")
    parser.add_argument("--labelled", type=Path,
                        help="a labelled TSV of this format: its labels carry over")
    args = parser.parse_args()
    if "://" not in args.db and not Path(args.db).is_file():
        parser.error(f"{args.db} does not exist (the bot writes it once it has had a conversation)")
    try:
        labelled = read_labelled(args.labelled) if args.labelled else None
    except (OSError, ValueError) as error:
        parser.error(str(error))
    count = export(args.db, args.out, args.since, labelled)
    print(f"{count} messages to label written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
