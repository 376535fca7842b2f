"""Topic accuracy of the trained model on any topic-labelled TSV (columns id, topic, text).

Usage: python -m evaluation.topics MODEL FILE [--out reports/topics.md]
A message's predicted topic is the topic of its predicted intent in bot/topics.yml (for the
`faq` retrieval intent, the topic of the FAQ entry the retriever picked); an `nlu_fallback`
counts as out_of_scope. Columns are found by header name, extra columns are ignored; with a
`source` column, accuracy is also given per source. Rows labelled with anything but the 14
topics of ../shared/topics.md (e.g. `unclear`) are skipped and counted. A labelled export of
`python -m evaluation.export_traffic` is accepted as it is (conversation_id, suggested_topic).
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import os
import sys
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

ROOT = Path(__file__).resolve().parents[1]
TOPICS_FILE = ROOT / "bot" / "topics.yml"
TOPICS = (
    "greeting", "order_status", "order_change", "delivery_issue", "payment", "refund",
    "after_sales", "invoice", "account", "promotion", "product", "complaint", "human",
    "out_of_scope",
)
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_TOPIC = "out_of_scope"
RETRIEVAL_INTENT = "faq"
# Predicted intents missing from bot/topics.yml (never right, shown as such in the tables).
UNMAPPED = "unmapped"
# Accepted header names, first found wins: a labelled export of evaluation.export_traffic
# (conversation_id, suggested_topic) scores as it is.
COLUMN_NAMES = {"id": ("id", "conversation_id"), "topic": ("topic", "suggested_topic"),
                "text": ("text",)}

Parse = Callable[[str], dict[str, Any]]
T = TypeVar("T")


def track(items: Sequence[T], label: str) -> Iterator[T]:
    """Yield the items, printing a counter with a percentage to stderr as they go (in place
    on a terminal, every quarter in a log); silent without a label."""
    if not label:
        yield from items
        return
    total = len(items)
    live = sys.stderr.isatty()
    step = max(1, total // 50) if live else max(1, -(-total // 4))
    for done, item in enumerate(items, start=1):
        yield item
        if done % step == 0 or done == total:
            start, end = ("\r", "\n" if done == total else "") if live else ("", "\n")
            print(f"{start}  {label}: {done}/{total} ({done / total:.0%})", end=end,
                  file=sys.stderr, flush=True)


def load_topic_map(path: Path = TOPICS_FILE) -> dict[str, str]:
    """Intent (or `faq/<entry>`) -> topic, from bot/topics.yml."""
    topics = (yaml.safe_load(path.read_text(encoding="utf-8")) or {})["topics"]
    return {intent: topic for topic, intents in topics.items() for intent in intents or []}


def predicted_intent(parse: dict[str, Any]) -> tuple[str, float]:
    """The intent the bot acts on, as `faq/<entry>` for the retrieval intent, and its confidence."""
    intent = parse.get("intent") or {}
    name = intent.get("name") or FALLBACK_INTENT
    confidence = float(intent.get("confidence") or 0.0)
    if name == RETRIEVAL_INTENT:
        selector = (parse.get("response_selector") or {}).get(RETRIEVAL_INTENT) or {}
        key = (selector.get("response") or {}).get("intent_response_key")
        name = key or name
    return name, confidence


def topic_of(intent: str, topic_map: dict[str, str]) -> str:
    """The topic of a predicted intent; nlu_fallback counts as out_of_scope."""
    if intent == FALLBACK_INTENT:
        return FALLBACK_TOPIC
    return topic_map.get(intent, UNMAPPED)


@dataclass(frozen=True)
class Row:
    """One labelled message."""

    id: str
    topic: str
    text: str
    source: str = ""


@dataclass(frozen=True)
class Prediction:
    """A labelled message with what the model made of it."""

    row: Row
    intent: str
    confidence: float
    topic: str

    @property
    def correct(self) -> bool:
        """Whether the predicted topic is the labelled one."""
        return self.topic == self.row.topic


def read_rows(path: Path) -> tuple[list[Row], Counter[str]]:
    """The rows with a known topic, and how many rows were skipped per unknown label."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = reader.fieldnames or []
        columns = {role: next((n for n in names if n in header), "")
                   for role, names in COLUMN_NAMES.items()}
        missing = [role for role, name in columns.items() if not name]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        columns["source"] = "source"
        return split_known([{role: r.get(name) or "" for role, name in columns.items()}
                            for r in reader])


def split_known(records: Iterable[dict[str, str]]) -> tuple[list[Row], Counter[str]]:
    """Keep the records (id, topic, text, source) labelled with one of the topics; count the
    others by label."""
    rows, skipped = [], Counter()
    for record in records:
        topic = record["topic"].strip()
        if topic not in TOPICS:
            skipped[topic or "(empty)"] += 1
            continue
        rows.append(Row(record["id"].strip(), topic, record["text"], record["source"].strip()))
    return rows, skipped


def predict(rows: Sequence[Row], parse: Parse, topic_map: dict[str, str],
            label: str = "parsing") -> list[Prediction]:
    """Parse every row's text and map the predicted intent to its topic."""
    predictions = []
    for row in track(rows, label):
        intent, confidence = predicted_intent(parse(row.text))
        predictions.append(Prediction(row, intent, confidence, topic_of(intent, topic_map)))
    return predictions


@dataclass
class TopicScores:
    """Accuracy, macro-F1 and per-topic / per-source scores of a set of predictions."""

    n: int
    accuracy: float
    macro_f1: float
    per_topic: dict[str, dict[str, float]]
    per_source: dict[str, dict[str, float]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def score(predictions: Sequence[Prediction], skipped: Counter[str] | None = None) -> TopicScores:
    """Score the predictions; macro-F1 averages over the topics that occur in the labels."""
    from sklearn.metrics import precision_recall_fscore_support

    gold = [p.row.topic for p in predictions]
    pred = [p.topic for p in predictions]
    labelled = [t for t in TOPICS if t in set(gold)]
    extra = sorted(set(pred) - set(labelled))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, pred, labels=labelled + extra, zero_division=0
    )
    per_topic = {
        topic: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for topic, p, r, f, s in zip(labelled + extra, precision, recall, f1, support)
    }
    macro = sum(per_topic[t]["f1"] for t in labelled) / len(labelled) if labelled else 0.0
    return TopicScores(
        n=len(predictions),
        accuracy=sum(p.correct for p in predictions) / len(predictions) if predictions else 0.0,
        macro_f1=macro,
        per_topic=per_topic,
        per_source=per_source(predictions),
        skipped=dict(skipped or {}),
    )


def per_source(predictions: Sequence[Prediction]) -> dict[str, dict[str, float]]:
    """Accuracy per value of the `source` column (empty when there is none)."""
    groups: dict[str, list[Prediction]] = defaultdict(list)
    for prediction in predictions:
        if prediction.row.source:
            groups[prediction.row.source].append(prediction)
    return {
        source: {"n": len(items), "accuracy": sum(p.correct for p in items) / len(items)}
        for source, items in sorted(groups.items())
    }


def summary_lines(scores: TopicScores) -> list[str]:
    """Accuracy, macro-F1, skipped rows and the per-source table, as Markdown lines."""
    lines = [f"- messages scored: {scores.n}", f"- topic accuracy: **{scores.accuracy:.1%}**",
             f"- topic macro-F1: **{scores.macro_f1:.3f}** (over the labelled topics)"]
    if scores.skipped:
        detail = ", ".join(f"{label} {count}" for label, count in sorted(scores.skipped.items()))
        lines.append(f"- rows skipped (not one of the 14 topics): {detail}")
    if scores.per_source:
        lines += ["", "| source | n | topic accuracy |", "|---|---|---|"]
        lines += [f"| {source} | {row['n']} | {row['accuracy']:.1%} |"
                  for source, row in scores.per_source.items()]
    return lines


def topic_table(scores: TopicScores) -> list[str]:
    """The per-topic precision / recall / F1 / support table, as Markdown lines."""
    lines = ["| topic | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for topic, row in scores.per_topic.items():
        lines.append(f"| {topic} | {row['precision']:.2f} | {row['recall']:.2f} "
                     f"| {row['f1']:.2f} | {row['support']} |")
    return lines


def misclassified_lines(predictions: Sequence[Prediction]) -> list[str]:
    """Every message whose predicted topic is wrong, as a Markdown table."""
    lines = ["| id | gold | predicted topic | predicted intent | confidence | text |",
             "|---|---|---|---|---|---|"]
    for p in predictions:
        if not p.correct:
            text = p.row.text.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {p.row.id} | {p.row.topic} | {p.topic} | {p.intent} "
                         f"| {p.confidence:.2f} | {text} |")
    return lines


def markdown(scores: TopicScores, predictions: Sequence[Prediction], title: str) -> str:
    """The full topic report: summary, per-source and per-topic tables, misclassified rows."""
    lines = [f"# Topic accuracy: {title}", "", *summary_lines(scores), "",
             "## Per topic", "", *topic_table(scores), "",
             f"## Misclassified ({sum(not p.correct for p in predictions)})", "",
             *misclassified_lines(predictions)]
    return "\n".join(lines) + "\n"


def quiet_libraries() -> None:
    """Silence TensorFlow's and jieba's start-up chatter and third-party deprecation warnings
    (after Rasa has set up its own warning filters)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", module="matplotlib")
    warnings.filterwarnings("ignore", message=".*deprecated.*")
    try:
        import jieba
    except ImportError:
        return
    jieba.setLogLevel(logging.WARNING)


def load_parser(model: str) -> Parse:
    """Load the trained model in process, with Rasa's logging quiet; returns a parse function."""
    quiet_libraries()  # before TensorFlow is imported, and again after Rasa reset the filters
    from rasa.core.agent import Agent
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)
    quiet_libraries()
    print(f"  loading {model}", file=sys.stderr)
    agent = Agent.load(model)
    loop = asyncio.new_event_loop()
    return lambda text: loop.run_until_complete(agent.parse_message(text))


def evaluate_file(path: Path, parse: Parse) -> tuple[TopicScores, list[Prediction]]:
    """Read a topic-labelled TSV, parse every message and score the topics."""
    rows, skipped = read_rows(path)
    predictions = predict(rows, parse, load_topic_map(), label=f"parsing {path.name}")
    return score(predictions, skipped), predictions


def main() -> None:
    """Score a topic-labelled TSV with a trained model; print the summary, save the report."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("file", type=Path)
    parser.add_argument("--out", type=Path, default=Path("reports/topics.md"))
    args = parser.parse_args()
    if not args.file.is_file():
        parser.error(f"{args.file} does not exist")
    scores, predictions = evaluate_file(args.file, load_parser(args.model))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(scores, predictions, args.file.name), encoding="utf-8")
    print("\n".join([*summary_lines(scores), "", *topic_table(scores)]))
    print(f"\nmisclassified messages and full report: {args.out}")


if __name__ == "__main__":
    main()
