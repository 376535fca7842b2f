"""Topic and emotion figures of the trained model on the labelled study set, in two halves.

Usage: python -m evaluation.study MODEL [--out reports/study.md] [--half working|heldout|all]
Joins the labels of evaluation/labels/ (study_topics.tsv `id<TAB>topic`, study_emotion.tsv
`id<TAB>emotion`) with the texts of ../shared/study/messages.tsv (id, source, text; never
copied into the project), parses every labelled message once in process and scores, per half:
topic accuracy, macro-F1, per-topic and per-source tables, the confusion matrix, out-of-scope
as a decision (recall, in-scope messages wrongly rejected) and the emotion detector
("upset or angry" vs calm, recall of angry). Topics are predicted as in evaluation.topics.

Halves: even ids (s00002, ...) are the WORKING half, looked at for error analysis; odd ids are
the HELD-OUT half, the unbiased estimate. Hard rule: no held-out text and no held-out miss is
ever written or printed, only counts. The misses of the working half go to
`<out stem>_misses.md` (reports/study_misses.md by default); every output is checked for
held-out texts before it is written or printed.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.emotion.lexicon import LABELS as EMOTIONS
from evaluation.emotion import NEGATIVE, Scores, binary_scores
from evaluation.emotion import confusion as emotion_confusion
from evaluation.topics import (
    FALLBACK_TOPIC,
    ROOT,
    TOPICS,
    Parse,
    Prediction,
    TopicScores,
    load_parser,
    load_topic_map,
    predict,
    score,
    split_known,
)

MESSAGES_FILE = ROOT.parent / "shared" / "study" / "messages.tsv"
LABELS_DIR = ROOT / "evaluation" / "labels"
TOPIC_LABELS = LABELS_DIR / "study_topics.tsv"
EMOTION_LABELS = LABELS_DIR / "study_emotion.tsv"
WORKING, HELDOUT = "working", "heldout"
HALVES = (WORKING, HELDOUT)
HALF_NAMES = {WORKING: "working (even ids)", HELDOUT: "held-out (odd ids)"}
SOURCES = ("jddc", "stc3", "xiaoai", "smp", "xschat", "lcqmc")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class HeldOutLeakError(RuntimeError):
    """Raised instead of writing or printing anything that shows a held-out message."""


def half_of(message_id: str) -> str:
    """WORKING for an even id number, HELDOUT for an odd one (and, to be safe, for an id
    without digits)."""
    digits = "".join(ch for ch in message_id if ch.isdigit())
    return WORKING if digits and int(digits) % 2 == 0 else HELDOUT


@dataclass(frozen=True)
class Message:
    """One message of the study set."""

    id: str
    source: str
    text: str


def read_messages(path: Path) -> dict[str, Message]:
    """id -> message, from a TSV with the columns id, source and text."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = {"id", "source", "text"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        return {r["id"].strip(): Message(r["id"].strip(), (r["source"] or "").strip(),
                                         r["text"] or "") for r in reader}


def read_labels(path: Path) -> dict[str, str]:
    """id -> label, from an `id<TAB>label` file (an `id` header line is allowed)."""
    labels: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or (number == 1 and line.split("\t")[0].strip() == "id"):
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise ValueError(f"{path}:{number}: expected `id<TAB>label`")
        ident, label = parts[0].strip(), parts[1].strip()
        if ident in labels:
            raise ValueError(f"{path}:{number}: id {ident} labelled twice")
        labels[ident] = label
    return labels


class CachedParser:
    """Parses each distinct text once (topic and emotion come from the same parse) and times
    the parsing."""

    def __init__(self, parse: Parse) -> None:
        self.parse = parse
        self.results: dict[str, dict[str, Any]] = {}
        self.seconds = 0.0

    def __call__(self, text: str) -> dict[str, Any]:
        if text not in self.results:
            started = time.perf_counter()
            self.results[text] = self.parse(text)
            self.seconds += time.perf_counter() - started
        return self.results[text]

    @property
    def ms_per_message(self) -> float:
        """Mean parse time per message, in milliseconds."""
        return 1000 * self.seconds / len(self.results) if self.results else 0.0


@dataclass(frozen=True)
class OutOfScope:
    """Out-of-scope as a decision: caught out-of-scope messages, wrongly rejected ones."""

    gold_oos: int
    caught: int
    in_scope: int
    rejected: int
    predicted_oos: int

    @property
    def recall(self) -> float:
        """Share of out-of-scope messages predicted out of scope."""
        return self.caught / self.gold_oos if self.gold_oos else 0.0

    @property
    def wrongful_rejection(self) -> float:
        """Share of in-scope messages predicted out of scope."""
        return self.rejected / self.in_scope if self.in_scope else 0.0

    @property
    def precision(self) -> float:
        """Share of out-of-scope predictions that are out of scope."""
        return self.caught / self.predicted_oos if self.predicted_oos else 0.0


def out_of_scope(predictions: Sequence[Prediction]) -> OutOfScope:
    """Out-of-scope figures of a set of predictions."""
    gold = [p.row.topic == FALLBACK_TOPIC for p in predictions]
    pred = [p.topic == FALLBACK_TOPIC for p in predictions]
    return OutOfScope(
        gold_oos=sum(gold),
        caught=sum(g and p for g, p in zip(gold, pred)),
        in_scope=sum(not g for g in gold),
        rejected=sum(p and not g for g, p in zip(gold, pred)),
        predicted_oos=sum(pred),
    )


@dataclass
class HalfResult:
    """Every figure of one half. Holds counts only, never a message text: the main report
    and the printed summary are made from these alone."""

    half: str
    topics: TopicScores
    confusion: Counter[tuple[str, str]]
    oos: OutOfScope
    negative: Scores
    angry: Scores
    emotion_gold: list[str]
    emotion_pred: list[str]
    emotion_skipped: Counter[str]
    no_emotion: int


def evaluate_half(half: str, messages: dict[str, Message], topic_labels: dict[str, str],
                  emotion_labels: dict[str, str], parse: CachedParser,
                  topic_map: dict[str, str]) -> tuple[HalfResult, list[Prediction]]:
    """Score one half; also return its topic predictions (with texts, for the misses of the
    working half only)."""
    ids = sorted(i for i in topic_labels if half_of(i) == half)
    rows, skipped = split_known(
        {"id": i, "topic": topic_labels[i], "text": messages[i].text,
         "source": messages[i].source} for i in ids)
    predictions = predict(rows, parse, topic_map, label=f"parsing the {half} half")
    gold, pred, emotion_skipped, no_emotion = [], [], Counter(), 0
    for ident in sorted(i for i in emotion_labels if half_of(i) == half):
        label = emotion_labels[ident]
        if label not in EMOTIONS:
            emotion_skipped[label or "(empty)"] += 1
            continue
        emotion = parse(messages[ident].text).get("emotion") or {}
        no_emotion += not emotion.get("label")
        gold.append(label)
        pred.append(emotion.get("label") or "")
    result = HalfResult(
        half=half,
        topics=score(predictions, skipped),
        confusion=Counter((p.row.topic, p.topic) for p in predictions),
        oos=out_of_scope(predictions),
        negative=binary_scores(gold, pred, NEGATIVE),
        angry=binary_scores(gold, pred, ("angry",)),
        emotion_gold=gold,
        emotion_pred=pred,
        emotion_skipped=emotion_skipped,
        no_emotion=no_emotion,
    )
    return result, predictions


# --- output -------------------------------------------------------------------------------


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%} ({part}/{whole})" if whole else "- (0/0)"


def _labelled(result: HalfResult) -> int:
    """How many topics the labels of a half contain (macro-F1 averages over these)."""
    return sum(row["support"] > 0 for row in result.topics.per_topic.values())


def headline_lines(results: Sequence[HalfResult]) -> list[str]:
    """The headline figures, one column per half, as a Markdown table."""
    rows: list[tuple[str, list[str]]] = [
        ("topic messages scored", [str(r.topics.n) for r in results]),
        ("skipped (unclear or other labels)",
         [str(sum(r.topics.skipped.values())) for r in results]),
        ("topic accuracy", [f"**{r.topics.accuracy:.1%}**" for r in results]),
        ("topic macro-F1", [f"**{r.topics.macro_f1:.3f}** (over {_labelled(r)} topics)"
                            for r in results]),
        ("out-of-scope recall", [_share(r.oos.caught, r.oos.gold_oos) for r in results]),
        ("in-scope wrongly rejected", [_share(r.oos.rejected, r.oos.in_scope) for r in results]),
        ("out-of-scope precision", [_share(r.oos.caught, r.oos.predicted_oos) for r in results]),
        ("emotion messages scored", [str(r.negative.n) for r in results]),
        ("upset or angry: precision", [_share(r.negative.hits, r.negative.predicted)
                                       for r in results]),
        ("upset or angry: recall", [_share(r.negative.hits, r.negative.positives)
                                    for r in results]),
        ("upset or angry: F1", [f"{r.negative.f1:.3f}" for r in results]),
        ("angry: recall", [_share(r.angry.hits, r.angry.positives) for r in results]),
    ]
    return [f"| figure | {' | '.join(HALF_NAMES[r.half] for r in results)} |",
            "|---|" + "---|" * len(results),
            *(f"| {name} | {' | '.join(values)} |" for name, values in rows)]


def per_topic_lines(results: Sequence[HalfResult]) -> list[str]:
    """Support, precision, recall and F1 per topic, the halves side by side."""
    names = [t for t in TOPICS if any(t in r.topics.per_topic for r in results)]
    names += sorted({t for r in results for t in r.topics.per_topic} - set(names))
    head = " | ".join(f"{h} {r.half}" for r in results for h in ("support", "P", "R", "F1"))
    lines = [f"| topic | {head} |", "|---|" + "---|" * 4 * len(results)]
    for topic in names:
        cells = []
        for r in results:
            row = r.topics.per_topic.get(topic)
            cells += ([str(row["support"]), f"{row['precision']:.2f}", f"{row['recall']:.2f}",
                       f"{row['f1']:.2f}"] if row else ["0", "-", "-", "-"])
        lines.append(f"| {topic} | {' | '.join(cells)} |")
    return lines


def per_source_lines(results: Sequence[HalfResult]) -> list[str]:
    """Topic accuracy and count per source, the halves side by side."""
    sources = [*SOURCES, *sorted({s for r in results for s in r.topics.per_source}
                                 - set(SOURCES))]
    head = " | ".join(f"{h} {r.half}" for r in results for h in ("n", "accuracy"))
    lines = [f"| source | {head} |", "|---|" + "---|" * 2 * len(results)]
    for source in sources:
        cells = []
        for r in results:
            row = r.topics.per_source.get(source)
            cells += [str(row["n"]), f"{row['accuracy']:.1%}"] if row else ["0", "-"]
        lines.append(f"| {source} | {' | '.join(cells)} |")
    return lines


def confusion_lines(result: HalfResult) -> list[str]:
    """Gold topics (rows) x predicted topics (columns), counts."""
    gold = [t for t in TOPICS if any(g == t for g, _ in result.confusion)]
    predicted = [*TOPICS, *sorted({p for _, p in result.confusion} - set(TOPICS))]
    lines = ["| gold \\ predicted | " + " | ".join(predicted) + " | total |",
             "|---|" + "---|" * (len(predicted) + 1)]
    for g in gold:
        counts = [result.confusion[g, p] for p in predicted]
        lines.append(f"| **{g}** | " + " | ".join(str(c) if c else "." for c in counts)
                     + f" | {sum(counts)} |")
    return lines


def report_markdown(results: Sequence[HalfResult], model: str, ms_per_message: float,
                    parsed: int, misses_path: Path | None) -> str:
    """The full report; built from counts only (no message text can reach it)."""
    lines = ["# Study set: topic and emotion figures", "",
             f"Model `{model}`; {parsed} messages parsed once each, "
             f"{ms_per_message:.1f} ms per message.", "",
             "Working half = even ids, looked at for error analysis; held-out half = odd ids, "
             "never looked at (only counts of it are shown): its figures are the unbiased "
             "estimate. Topic macro-F1 averages over the topics present in the labels; "
             "nlu_fallback counts as out_of_scope.", "",
             "## Headline", "", *headline_lines(results), ""]
    skipped = [f"{HALF_NAMES[r.half]}: " + (", ".join(
        f"{k} {v}" for k, v in sorted(r.topics.skipped.items())) or "none") for r in results]
    lines += ["Topic rows skipped: " + "; ".join(skipped) + ".", ""]
    lines += ["## Per topic", "", *per_topic_lines(results), "",
              "## Per source (topic accuracy)", "", *per_source_lines(results), ""]
    for r in results:
        lines += [f"## Topic confusion, {HALF_NAMES[r.half]} (gold rows, predicted columns)",
                  "", *confusion_lines(r), ""]
    for r in results:
        notes = []
        if r.emotion_skipped:
            notes.append("skipped labels: " + ", ".join(
                f"{k} {v}" for k, v in sorted(r.emotion_skipped.items())))
        if r.no_emotion:
            notes.append(f"{r.no_emotion} parses without an emotion (counted as not upset)")
        lines += [f"## Emotion confusion, {HALF_NAMES[r.half]}", "",
                  *emotion_confusion(r.emotion_gold, r.emotion_pred), ""]
        lines += [f"({'; '.join(notes)})", ""] if notes else []
    if misses_path:
        lines.append(f"Misses of the working half: `{misses_path}`. The held-out half's misses "
                     "are never listed.")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def misses_markdown(predictions: Sequence[Prediction], messages: dict[str, Message]) -> str:
    """Every topic miss of the working half, grouped by gold topic. Refuses held-out rows."""
    leaked = [p.row.id for p in predictions if half_of(p.row.id) != WORKING]
    if leaked:
        raise HeldOutLeakError(f"{len(leaked)} held-out messages passed to the misses report")
    misses: dict[str, list[Prediction]] = defaultdict(list)
    for p in predictions:
        if not p.correct:
            misses[p.row.topic].append(p)
    support = Counter(p.row.topic for p in predictions)
    lines = ["# Topic misses, working half only (even ids)", "",
             f"{sum(map(len, misses.values()))} misses of {len(predictions)} scored messages. "
             "The held-out half (odd ids) is never listed.", ""]
    for topic in [t for t in TOPICS if t in misses]:
        lines += [f"## {topic} ({len(misses[topic])} of {support[topic]} missed)", "",
                  "| id | source | gold | predicted topic | predicted intent | confidence "
                  "| text |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {p.row.id} | {p.row.source} | {p.row.topic} | {p.topic} | {p.intent} "
                  f"| {p.confidence:.2f} | {_cell(messages[p.row.id].text)} |"
                  for p in misses[topic]]
        lines.append("")
    return "\n".join(lines)


class HeldOutGuard:
    """Last check before anything is written or printed: no held-out text may appear, except
    inside a working-half text the output shows. Texts without a Chinese character and shorter
    than 8 characters are not checked (they could match the report's own words)."""

    def __init__(self, messages: Iterable[Message]) -> None:
        messages = list(messages)
        self.heldout = {form for m in messages if half_of(m.id) == HELDOUT
                        and (CJK.search(m.text) or len(m.text) >= 8)
                        for form in (m.text, _cell(m.text))}
        self.working = {form for m in messages if half_of(m.id) == WORKING
                        for form in (m.text, _cell(m.text))}

    def check(self, output: str, where: str) -> str:
        """The output unchanged; HeldOutLeakError when it shows a held-out text."""
        shown: list[str] | None = None
        for text in self.heldout:
            if text not in output:
                continue
            if shown is None:
                shown = [w for w in self.working if w in output]
            if not any(text in w for w in shown):
                raise HeldOutLeakError(f"{where}: a held-out message text would be shown")
        return output

    def write(self, path: Path, output: str) -> None:
        """Write a checked output."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.check(output, str(path)), encoding="utf-8")

    def print(self, output: str) -> None:
        """Print a checked output."""
        print(self.check(output, "stdout"))


def run(model: str, parse: Parse, messages_path: Path, topics_path: Path, emotion_path: Path,
        out: Path, halves: Sequence[str]) -> list[HalfResult]:
    """Score the halves, write the report (and the working half's misses), print a summary."""
    messages = read_messages(messages_path)
    topic_labels, emotion_labels = read_labels(topics_path), read_labels(emotion_path)
    unknown = sorted((set(topic_labels) | set(emotion_labels)) - set(messages))
    if unknown:
        raise ValueError(f"{len(unknown)} labelled ids are not in {messages_path}, "
                         f"e.g. {', '.join(unknown[:5])}")
    guard = HeldOutGuard(messages.values())
    cached, topic_map = CachedParser(parse), load_topic_map()
    started = time.monotonic()
    results, working_predictions = [], None
    for half in halves:
        result, predictions = evaluate_half(half, messages, topic_labels, emotion_labels,
                                            cached, topic_map)
        results.append(result)
        if half == WORKING:
            working_predictions = predictions
    elapsed = time.monotonic() - started
    misses_path = None
    if working_predictions is not None:
        misses_path = out.with_name(f"{out.stem}_misses.md")
        guard.write(misses_path, misses_markdown(working_predictions, messages))
    guard.write(out, report_markdown(results, model, cached.ms_per_message,
                                     len(cached.results), misses_path))
    summary = [*headline_lines(results), "",
               f"parsed {len(cached.results)} messages in {elapsed:.0f} s: "
               f"{cached.ms_per_message:.1f} ms per message",
               f"full report: {out}"]
    summary.append(f"working-half misses: {misses_path}" if misses_path
                   else "no misses report (only the working half's misses are ever listed)")
    guard.print("\n".join(summary))
    return results


def main(argv: Sequence[str] | None = None, parse: Parse | None = None) -> int:
    """Parse the arguments and run; `parse` replaces the model (tests)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--out", type=Path, default=Path("reports/study.md"))
    parser.add_argument("--half", choices=(WORKING, HELDOUT, "all"), default="all")
    parser.add_argument("--messages", type=Path, default=MESSAGES_FILE,
                        help="the study messages (id, source, text)")
    parser.add_argument("--topics", type=Path, default=TOPIC_LABELS, help="id<TAB>topic")
    parser.add_argument("--emotion", type=Path, default=EMOTION_LABELS, help="id<TAB>emotion")
    args = parser.parse_args(argv)
    if not args.messages.is_file():
        print(f"Study messages not found: {args.messages}. They live outside the project, in "
              "../shared/study/messages.tsv; pass --messages to point at the file.",
              file=sys.stderr)
        return 2
    for path in (args.topics, args.emotion):
        if not path.is_file():
            print(f"Label file not found: {path}", file=sys.stderr)
            return 2
    halves = HALVES if args.half == "all" else (args.half,)
    run(args.model, parse or load_parser(args.model), args.messages, args.topics, args.emotion,
        args.out, halves)
    return 0


if __name__ == "__main__":
    sys.exit(main())
