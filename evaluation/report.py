"""Evaluation report of a trained model: intents, topics, entities, FAQ retrieval, test stories.

Usage: python -m evaluation.report MODEL [--out reports/] [--skip-stories] [--topics-dev FILE]
Writes README.md (Markdown) and PNG plots to the output folder, the FAQ and topics_dev details
next to them, and the key numbers to summary.json, which the next run compares against.
Everything is measured on messages the model was never trained on: tests/nlu/heldout_intents.yml,
tests/faq/heldout.yml and ../shared/data/topics_dev.tsv (real customer messages).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bot.domain_files import load_domain, names
from bot.nlu.other_request import OTHER_REQUEST
from contracts.settings import project_env
from evaluation import faq as faq_eval
from evaluation import topics as topics_eval
from evaluation.topics import (
    FALLBACK_INTENT,
    Parse,
    Prediction,
    Row,
    TopicScores,
    evaluate_file,
    load_parser,
    load_topic_map,
    predict,
    predicted_intent,
    score,
    summary_lines,
    topic_of,
    topic_table,
    track,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
INTENT_HELDOUT_FILE = ROOT / "tests" / "nlu" / "heldout_intents.yml"
TOPICS_DEV_FILE = ROOT.parent / "shared" / "data" / "topics_dev.tsv"
TWO_REQUESTS_FILE = ROOT / "tests" / "nlu" / "heldout_two_requests.yml"
ANNOTATION = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
NONSENSE_INTENT = "nonsense"
# Set by the FAQ suggestion buttons only; never typed, so not measured.
UNMEASURED_ENTITIES = {"faq_key"}
METRIC_LABELS = {
    "intent_macro_f1": "intent macro-F1 (held-out)",
    "intent_weighted_f1": "intent weighted F1 (held-out)",
    "intent_accuracy": "intent accuracy (held-out)",
    "heldout_topic_accuracy": "topic accuracy (held-out)",
    "heldout_topic_macro_f1": "topic macro-F1 (held-out)",
    "entity_micro_f1": "entity micro-F1",
    "faq_retrieval": "FAQ retrieval top-1",
    "faq_resolved": "FAQ resolved",
    "faq_handled": "FAQ handled (resolved, or the journey of its topic)",
    "stories_passed": "test stories passed",
    "stories_total": "test stories",
    "topics_dev_accuracy": "topics_dev topic accuracy",
    "topics_dev_macro_f1": "topics_dev topic macro-F1",
    "heldout_messages": "held-out messages (a change here changes every held-out score)",
    "topics_dev_messages": "topics_dev messages scored",
    "two_requests_found": "second request found (two-request held-out messages)",
    "single_requests_split": "second request wrongly found (single-request held-out messages)",
}


@dataclass(frozen=True)
class Example:
    """One held-out message with its expected intent, entities and FAQ entry."""

    text: str
    intent: str
    entities: tuple[tuple[str, str], ...] = ()
    faq_key: str = ""

    @property
    def label(self) -> str:
        """What bot/topics.yml maps: the FAQ entry for FAQ phrasings, else the intent."""
        return self.faq_key or self.intent


def strip_annotations(line: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Plain text and (entity type, value) pairs of `订单[123456789012](order_id)`; a value
    that synonyms normalise is written after a colon: `[微信](payment_method:wechat_pay)`."""
    entities = []
    for text, annotation in ANNOTATION.findall(line):
        kind, _, value = annotation.partition(":")
        entities.append((kind, value or text))
    return ANNOTATION.sub(r"\1", line), tuple(entities)


def load_intent_heldout(path: Path = INTENT_HELDOUT_FILE) -> list[Example]:
    """The held-out intent examples, annotations parsed."""
    heldout = (yaml.safe_load(path.read_text(encoding="utf-8")) or {})["heldout"]
    examples = []
    for intent, lines in heldout.items():
        for line in lines:
            text, entities = strip_annotations(str(line))
            examples.append(Example(text, intent, entities))
    return examples


def faq_examples(heldout: dict[str, list[str]]) -> list[Example]:
    """FAQ held-out phrasings as examples of the intent `faq`."""
    return [Example(text, faq_eval.RETRIEVAL_INTENT, faq_key=key)
            for key, texts in heldout.items() for text in texts]


def classified_intent(parse: dict[str, Any]) -> str:
    """The intent the bot acts on; a keyboard mash the InputGuard turned into nlu_fallback
    (no input issue, ranking emptied) counts as the `nonsense` intent it was classified as."""
    name = (parse.get("intent") or {}).get("name") or FALLBACK_INTENT
    guarded = name == FALLBACK_INTENT and not parse.get("intent_ranking")
    return NONSENSE_INTENT if guarded and not parse.get("input_issue") else name


def top_classified(parse: dict[str, Any]) -> tuple[str, float]:
    """The classifier's best real intent and its confidence, before the fallback threshold."""
    for candidate in parse.get("intent_ranking") or []:
        if candidate.get("name") != FALLBACK_INTENT:
            return candidate["name"], float(candidate.get("confidence") or 0.0)
    return classified_intent(parse), float((parse.get("intent") or {}).get("confidence") or 0.0)


def intent_metrics(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Per-intent precision / recall / F1 / support plus accuracy and macro / weighted means."""
    from sklearn.metrics import precision_recall_fscore_support

    labels = sorted(set(gold))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0
    )
    per_label = {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support)
    }
    result: dict[str, Any] = {"per_label": per_label}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            gold, predicted, labels=labels, average=average, zero_division=0
        )
        result[average] = {"precision": float(p), "recall": float(r), "f1": float(f)}
    result["accuracy"] = sum(g == p for g, p in zip(gold, predicted)) / len(gold) if gold else 0.0
    return result


def predicted_entities(parse: dict[str, Any]) -> list[tuple[str, str]]:
    """(type, value) pairs the model extracted, button-only entities left out."""
    return [(e["entity"], str(e.get("value"))) for e in parse.get("entities") or []
            if e.get("entity") not in UNMEASURED_ENTITIES]


def entity_metrics(
    gold: Sequence[Sequence[tuple[str, str]]], predicted: Sequence[Sequence[tuple[str, str]]]
) -> dict[str, dict[str, float]]:
    """Precision / recall / F1 per entity type (and "micro" over all), matching type and value."""
    counts: dict[str, Counter[str]] = {}
    for expected, found in zip(gold, predicted):
        hits = Counter(expected) & Counter(found)
        for kinds, key in ((expected, "gold"), (found, "found"), (list(hits.elements()), "hit")):
            for kind, _value in kinds:
                for name in (kind, "micro"):
                    counts.setdefault(name, Counter())[key] += 1
    return {name: prf(c["hit"], c["found"], c["gold"]) for name, c in sorted(counts.items(),
                                                                         key=_micro_last)}


def _micro_last(item: tuple[str, Any]) -> tuple[bool, str]:
    return item[0] == "micro", item[0]


def prf(hits: int, found: int, gold: int) -> dict[str, float]:
    """Precision, recall, F1 and support from counts."""
    precision = hits / found if found else 0.0
    recall = hits / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold}


def plot_confusion(gold: Sequence[str], predicted: Sequence[str], path: Path) -> None:
    """Save the intent confusion matrix (rows: expected, columns: predicted) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.metrics import confusion_matrix

    labels = sorted(set(gold)) + sorted(set(predicted) - set(gold))
    matrix = confusion_matrix(gold, predicted, labels=labels)
    rows = matrix.sum(axis=1, keepdims=True).clip(min=1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(labels), 0.8 + 0.55 * len(labels)))
    ax.imshow(matrix / rows, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if count / rows[i][0] > 0.6 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted intent")
    ax.set_ylabel("expected intent")
    ax.set_title("Intent confusion matrix (held-out)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_confidence(panels: Sequence[tuple[str, list[float], list[float], float]],
                    path: Path) -> None:
    """Save histograms of confidence for right and wrong predictions, one panel per
    (title, right, wrong, threshold)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    bins = [i / 20 for i in range(21)]
    for ax, (title, right, wrong, threshold) in zip(axes[0], panels):
        ax.hist([right, wrong], bins=bins, label=["right", "wrong"], color=["#4c9a2a", "#d62728"])
        ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold}")
        ax.set_title(title)
        ax.set_xlabel("confidence")
        ax.set_yscale("log")
        ax.set_ylabel("messages (log scale)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def fallback_threshold(config: Path = ROOT / "config.yml") -> float:
    """The FallbackClassifier's threshold from config.yml (Rasa's default 0.3 without one)."""
    pipeline = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("pipeline") or []
    for component in pipeline:
        if component.get("name") == "FallbackClassifier":
            return float(component.get("threshold", 0.3))
    return 0.3


@dataclass
class StoryResults:
    """Outcome of `rasa test core` on tests/stories."""

    total: int = 0
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    # Failed story -> its steps where the bot did something else ("# predicted: ..." lines).
    mistakes: dict[str, list[str]] = field(default_factory=dict)
    action_accuracy: float | None = None
    error: str = ""


def read_story_results(out_dir: Path) -> StoryResults:
    """Read story_report.json and failed_test_stories.yml of a `rasa test core` output folder."""
    results = StoryResults()
    failed_file = out_dir / "failed_test_stories.yml"
    if failed_file.exists():
        text = failed_file.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        results.failed = [s.get("story", "?") for s in data.get("stories") or []]
        results.mistakes = story_mistakes(text)
    report_file = out_dir / "story_report.json"
    if report_file.exists():
        report = json.loads(report_file.read_text(encoding="utf-8"))
        conversations = report.get("conversation_accuracy") or {}
        results.total = int(conversations.get("total", 0))
        results.passed = int(conversations.get("correct", 0))
        accuracy = report.get("accuracy", (report.get("micro avg") or {}).get("f1-score"))
        results.action_accuracy = float(accuracy) if accuracy is not None else None
    if not results.total:
        results.total = count_test_stories()
        results.passed = results.total - len(results.failed)
    return results


def story_mistakes(text: str) -> dict[str, list[str]]:
    """The steps Rasa marked `# predicted: ...` in failed_test_stories.yml, per story."""
    mistakes: dict[str, list[str]] = {}
    story = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("- story:"):
            story = stripped.removeprefix("- story:").strip()
            mistakes[story] = []
        elif story and "# predicted:" in stripped:
            mistakes[story].append(stripped.removeprefix("- "))
    return mistakes


def count_test_stories(folder: Path = ROOT / "tests" / "stories") -> int:
    """Number of stories in the test story files."""
    return sum(len((yaml.safe_load(p.read_text(encoding="utf-8")) or {}).get("stories") or [])
               for p in sorted(folder.glob("*.yml")))


def service_env() -> dict[str, str]:
    """The environment for the services: the project's settings (the environment wins over
    .env, then .env.example, as scripts/with-env.sh does) and the project on PYTHONPATH."""
    env = project_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    return env


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(url: str, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    """Poll `url` until it answers, failing early (with the log's end) if the process died."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()[-1500:]}")
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s:\n{log.read_text()[-1500:]}")


def start_service(args: list[str], env: dict[str, str], log: Path, health: str
                  ) -> subprocess.Popen:
    """Start a service in the project root, its output in `log`, and wait until it is up."""
    with log.open("w") as handle:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=handle,
                                   stderr=subprocess.STDOUT)
    try:
        wait_for_health(health, process, log)
    except RuntimeError:
        stop_service(process)
        raise
    return process


def stop_service(process: subprocess.Popen) -> None:
    """Stop a service and wait for it."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_backends(workdir: Path, env: dict[str, str]) -> list[subprocess.Popen]:
    """The demo shop API on a fresh seeded database and the action server, as the test session
    starts them (tests/conftest.py); `env` gets the URLs that point to them."""
    started = []
    try:
        if (ROOT / "shop_api").is_dir():
            port, token = free_port(), "eval-shop-token"
            started.append(start_service(
                [sys.executable, "-m", "shop_api", "--port", str(port), "--db",
                 str(workdir / "shop.db"), "--no-access-log"], {**env, "SHOP_API_TOKEN": token},
                workdir / "shop_api.log", f"http://127.0.0.1:{port}/health"))
            env.update(SHOP_API_URL=f"http://127.0.0.1:{port}", SHOP_API_TOKEN=token)
        port = free_port()
        started.append(start_service(
            [str(BIN / "rasa"), "run", "actions", "--actions", "bot.actions", "--port", str(port)],
            env, workdir / "actions.log", f"http://127.0.0.1:{port}/health"))
        env.update(ACTION_SERVER_URL=f"http://127.0.0.1:{port}/webhook",
                   TRACKER_DB=str(workdir / "tracker.db"))
    except RuntimeError:
        for process in started:
            stop_service(process)
        raise
    return started


def run_test_stories(model: str, workdir: Path) -> StoryResults:
    """Run `rasa test core` on tests/stories against a real action server started here."""
    env = service_env()
    out_dir = workdir / "stories"
    try:
        services = start_backends(workdir, env)
    except RuntimeError as error:
        return StoryResults(error=str(error))
    try:
        result = subprocess.run(
            [str(BIN / "rasa"), "test", "core", "--model", model, "--stories", "tests/stories",
             "--endpoints", "endpoints.yml", "--out", str(out_dir), "--no-plot"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
        )
    except subprocess.TimeoutExpired as error:
        return StoryResults(error=str(error))
    finally:
        for process in services:
            stop_service(process)
    if result.returncode != 0 and not (out_dir / "story_report.json").exists():
        return StoryResults(error=(result.stdout + result.stderr)[-2000:])
    return read_story_results(out_dir)


def flat_metrics(
    intents: dict[str, Any], heldout_topics: TopicScores, entities: dict[str, dict[str, float]],
    faq_summary: dict[str, dict], stories: StoryResults | None, dev: TopicScores | None,
) -> dict[str, float]:
    """The key numbers of a run, flat, for summary.json and the before/after comparison."""
    metrics: dict[str, float] = {
        "intent_macro_f1": intents["macro"]["f1"],
        "intent_weighted_f1": intents["weighted"]["f1"],
        "intent_accuracy": intents["accuracy"],
        "heldout_topic_accuracy": heldout_topics.accuracy,
        "heldout_topic_macro_f1": heldout_topics.macro_f1,
        "entity_micro_f1": entities.get("micro", {}).get("f1", 0.0),
        "faq_retrieval": faq_summary["all"]["retrieval"],
        "faq_resolved": faq_summary["all"]["resolved"],
        "faq_handled": faq_summary["all"]["handled"],
        "heldout_messages": heldout_topics.n,
    }
    if stories is not None and not stories.error:
        metrics.update(stories_passed=stories.passed, stories_total=stories.total)
    if dev is not None:
        metrics.update(topics_dev_accuracy=dev.accuracy, topics_dev_macro_f1=dev.macro_f1,
                       topics_dev_messages=dev.n)
        for source, row in dev.per_source.items():
            metrics[f"topics_dev_accuracy_{source}"] = row["accuracy"]
    return metrics


def metric_label(key: str) -> str:
    """Human name of a summary.json metric."""
    if key.startswith("topics_dev_accuracy_"):
        return f"topics_dev topic accuracy ({key.removeprefix('topics_dev_accuracy_')})"
    return METRIC_LABELS.get(key, key)


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.3f}"


def compare(previous: dict[str, float], current: dict[str, float]) -> list[str]:
    """One line per metric in both runs: "intent macro-F1 0.910 -> 0.930 (+0.020)"."""
    lines = []
    for key, value in current.items():
        if key not in previous:
            continue
        delta = value - previous[key]
        change = "=" if abs(delta) < 0.0005 else _number(delta)
        change = change if change == "=" or change.startswith("-") else f"+{change}"
        lines.append(f"{metric_label(key)} {_number(previous[key])} -> {_number(value)} "
                     f"({change})")
    return lines


def load_summary(path: Path) -> dict[str, Any] | None:
    """The summary.json of the previous run, if there is a readable one."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


HOW_TO_READ = (
    "Every number here comes from messages the model was **never trained on**: the held-out "
    "phrasings in `tests/nlu/heldout_intents.yml` (8 or so per intent) and "
    "`tests/faq/heldout.yml` (counted as intent `faq`), and real customer messages in "
    "`../shared/data/topics_dev.tsv`. *Precision* of an intent is the share of messages "
    "predicted as that intent that really are; *recall* is the share of its messages that were "
    "found; F1 combines both. *Macro* averages treat every intent alike, *weighted* ones by the "
    "number of examples. A topic is the product category of `bot/topics.yml`; an `nlu_fallback` "
    "counts as `out_of_scope`. Low recall on an intent means customers' phrasings are missing "
    "from its training data; low precision means it swallows other intents' messages (see the "
    "confusion matrix). Held-out sets are small (one message is ~12% of an intent's recall), so "
    "read changes of a few points as noise unless they repeat. The comparison below is against "
    "the previous `make eval` run (`summary.json`)."
)


def intent_section(examples: Sequence[Example], predicted: Sequence[str],
                   confidences: Sequence[float], metrics: dict[str, Any],
                   missing: Sequence[str]) -> list[str]:
    """Markdown of the intent scores, the averages and the misclassified held-out examples."""
    fallbacks = sum(p == FALLBACK_INTENT for p in predicted)
    lines = ["## Intents (held-out examples)", "",
             f"{len(examples)} messages; accuracy **{metrics['accuracy']:.1%}**, macro-F1 "
             f"**{metrics['macro']['f1']:.3f}**, weighted F1 {metrics['weighted']['f1']:.3f}; "
             f"{fallbacks} fell back to `nlu_fallback`.", "",
             "| intent | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label, row in metrics["per_label"].items():
        lines.append(f"| {label} | {row['precision']:.2f} | {row['recall']:.2f} "
                     f"| {row['f1']:.2f} | {row['support']} |")
    for average in ("macro", "weighted"):
        row = metrics[average]
        lines.append(f"| *{average} avg* | {row['precision']:.2f} | {row['recall']:.2f} "
                     f"| {row['f1']:.2f} | {len(examples)} |")
    if missing:
        lines += ["", "Not measured (no held-out examples in `tests/nlu/heldout_intents.yml`): "
                  + ", ".join(f"`{m}`" for m in missing)]
    lines += ["", "![intent confusion matrix](confusion_matrix.png)", "",
              "Misclassified (text: expected -> predicted, confidence):", ""]
    lines += [f"- {e.text}: {e.label} -> {p} ({c:.2f})"
              for e, p, c in zip(examples, predicted, confidences) if p != e.intent]
    return lines


def entity_section(entities: dict[str, dict[str, float]]) -> list[str]:
    """Markdown of the entity scores."""
    lines = ["## Entities (held-out examples)", "",
             "A predicted entity counts when its type and value match an annotation of the same "
             "message.", "", "| entity | precision | recall | F1 | support |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {row['precision']:.2f} | {row['recall']:.2f} | {row['f1']:.2f} "
              f"| {row['support']} |" for name, row in entities.items()]
    return lines


def story_section(stories: StoryResults | None) -> list[str]:
    """Markdown of the test-story results."""
    lines = ["## Test stories (`tests/stories`, `rasa test core`)", ""]
    if stories is None:
        return lines + ["Skipped (`--skip-stories`)."]
    if stories.error:
        return lines + ["Could not run the test stories:", "", "```", stories.error, "```"]
    lines.append(f"**{stories.passed}/{stories.total}** stories passed.")
    if stories.action_accuracy is not None:
        lines[-1] += f" Action prediction accuracy {stories.action_accuracy:.1%}."
    for name in stories.failed:
        lines.append(f"- failed: {name}")
        lines += [f"  - `{step}`" for step in stories.mistakes.get(name, [])]
    return lines


def comparison_section(previous: dict[str, Any] | None, current: dict[str, float]) -> list[str]:
    """Markdown of the before/after deltas against the previous summary.json."""
    lines = ["## Compared with the previous report", ""]
    if not previous:
        return lines + ["No previous `summary.json`: this run is the baseline for the next one."]
    date, model = previous.get("date", "?"), previous.get("model", "?")
    lines += [f"Previous run: {date}, model `{model}`.", ""]
    lines += [f"- {line}" for line in compare(previous.get("metrics") or {}, current)]
    return lines


def topics_dev_section(dev: TopicScores | None, path: Path) -> list[str]:
    """Markdown of topic accuracy on real customer messages, per source and per topic."""
    lines = ["## Topics on real customer messages (`topics_dev.tsv`)", ""]
    if dev is None:
        return lines + [f"`{path}` is missing: no topic accuracy on real messages this time."]
    lines += summary_lines(dev) + ["", *topic_table(dev), "",
                                   "Misclassified messages: [topics_dev.md](topics_dev.md)."]
    return lines


def heldout_topics(examples: Sequence[Example], parse: Parse) -> TopicScores:
    """Topic scores of the held-out examples (sources: held-out intents, FAQ phrasings)."""
    topic_map = load_topic_map()
    rows = [Row(str(i), topic_map.get(e.label, "unmapped"), e.text,
                "faq phrasings" if e.faq_key else "intent examples")
            for i, e in enumerate(examples)]
    return score(predict(rows, parse, topic_map, label=""))  # parses are cached: no progress


def cached(parse: Parse) -> Parse:
    """Parse each distinct text once."""
    cache: dict[str, dict[str, Any]] = {}

    def parse_once(text: str) -> dict[str, Any]:
        if text not in cache:
            cache[text] = parse(text)
        return cache[text]

    return parse_once


def domain_intents() -> list[str]:
    """Intents of the domain (the files under domain/)."""
    return names(load_domain().get("intents"))


@dataclass
class Heldout:
    """The held-out examples, their parses and the scores computed from them."""

    examples: list[Example]
    parses: list[dict[str, Any]]
    predicted: list[str]
    metrics: dict[str, Any]
    topics: TopicScores
    entities: dict[str, dict[str, float]]

    @property
    def confidences(self) -> list[float]:
        """Confidence of each final prediction."""
        return [float((p.get("intent") or {}).get("confidence") or 0.0) for p in self.parses]


def measure_heldout(parse: Parse, out: Path) -> Heldout:
    """Parse the held-out intent and FAQ examples, score them and draw the plots."""
    examples = load_intent_heldout() + faq_examples(faq_eval.load_heldout())
    print(f"[2/5] parsing {len(examples)} held-out messages", file=sys.stderr)
    parses = [parse(e.text) for e in track(examples, "held-out")]
    predicted = [classified_intent(p) for p in parses]
    gold = [e.intent for e in examples]
    typed = [(e, p) for e, p in zip(examples, parses) if not e.faq_key]
    heldout = Heldout(
        examples, parses, predicted, intent_metrics(gold, predicted),
        heldout_topics(examples, parse),
        entity_metrics([e.entities for e, _ in typed], [predicted_entities(p) for _, p in typed]),
    )
    plot_confusion(gold, predicted, out / "confusion_matrix.png")
    return heldout


@dataclass
class TwoRequests:
    """How often a second request is found where there is one, and where there is none."""

    found: list[tuple[str, dict[str, Any] | None]]
    wrongly: list[tuple[str, dict[str, Any]]]
    singles: int

    @property
    def metrics(self) -> dict[str, float]:
        """Shares for summary.json."""
        return {"two_requests_found": sum(1 for _, o in self.found if o) / max(1, len(self.found)),
                "single_requests_split": len(self.wrongly) / max(1, self.singles)}


def measure_two_requests(parse: Parse, heldout: Heldout,
                         path: Path = TWO_REQUESTS_FILE) -> TwoRequests:
    """The second request (`other_request`, bot/nlu/other_request.py) of the two-request
    held-out messages, and the single-request ones (the held-out messages and the file's
    `single_requests`, which hold words that can join two requests) that wrongly get one."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found = [(m, parse(m).get(OTHER_REQUEST)) for m in map(str, data.get("two_requests") or [])]
    singles = [(e.text, p) for e, p in zip(heldout.examples, heldout.parses)]
    singles += [(m, parse(m)) for m in map(str, data.get("single_requests") or [])]
    wrongly = [(text, p[OTHER_REQUEST]) for text, p in singles if p.get(OTHER_REQUEST)]
    return TwoRequests(found, wrongly, len(singles))


def two_requests_section(two: TwoRequests) -> list[str]:
    """Markdown: which second requests were found, and the wrong ones."""
    hits = sum(1 for _, other in two.found if other)
    lines = ["## Two requests in one message (`tests/nlu/heldout_two_requests.yml`)", "",
             f"Second request found in **{hits} of {len(two.found)}** two-request messages; "
             f"wrongly found in {len(two.wrongly)} of {two.singles} single-request messages "
             "(the held-out messages, and the file's single requests that hold a join word such "
             "as 对了 or 还有). The bot offers the second request once the first is answered.",
             "",
             "| message | second request | its intent |", "|---|---|---|"]
    for message, other in [*two.found, *two.wrongly]:
        lines.append(f"| {message} | {other['text'] if other else '—'} | "
                     f"{other['intent'] if other else ''} |")
    return lines


def measure_faq(parse: Parse, out: Path) -> tuple[dict[str, dict], str]:
    """FAQ retrieval summary and report (evaluation.faq); the full report goes to faq.md."""
    print("[3/5] FAQ retrieval", file=sys.stderr)
    parsed = faq_eval.parse_all(parse, faq_eval.load_heldout())
    report = faq_eval.markdown(parsed)
    (out / "faq.md").write_text(f"# FAQ retrieval on held-out phrasings\n\n{report}",
                                encoding="utf-8")
    return faq_eval.summary(parsed), report


@dataclass
class Run:
    """What one evaluation run produced: the report sections and the key numbers."""

    model: str
    out: Path
    sections: list[str]
    metrics: dict[str, float]


def evaluate(model: str, out: Path, skip_stories: bool, dev_file: Path = TOPICS_DEV_FILE) -> Run:
    """Measure everything, write the plots and detail files, return the report sections."""
    print("[1/5] loading the model", file=sys.stderr)
    parse = cached(load_parser(model))
    heldout = measure_heldout(parse, out)
    faq_summary, faq_report = measure_faq(parse, out)
    two = measure_two_requests(parse, heldout)
    print("[4/5] topics on real customer messages", file=sys.stderr)
    dev, dev_predictions = topics_dev(parse, out, dev_file)
    panels = confidence_panels(heldout.examples, heldout.parses)
    if dev_predictions:
        panels.append(dev_panel(dev_predictions, parse))
    plot_confidence(panels, out / "confidence.png")
    stories = None if skip_stories else timed_stories(model)
    metrics = flat_metrics(heldout.metrics, heldout.topics, heldout.entities, faq_summary,
                           stories, dev)
    metrics.update(two.metrics)
    sections = [*heldout_sections(heldout), "", "## FAQ retrieval (`tests/faq/heldout.yml`)", "",
                faq_report.split("\nMisses")[0],
                "Every phrasing not answered right: [faq.md](faq.md).", "",
                *two_requests_section(two), "", *story_section(stories), "",
                *topics_dev_section(dev, dev_file)]
    return Run(model, out, sections, metrics)


def heldout_sections(heldout: Heldout) -> list[str]:
    """Markdown of intents, topics, confidence and entities on the held-out examples."""
    gold = {e.intent for e in heldout.examples}
    missing = sorted(set(domain_intents()) - gold)
    return [
        *intent_section(heldout.examples, heldout.predicted, heldout.confidences,
                        heldout.metrics, missing), "",
        "## Topics (held-out examples, through `bot/topics.yml`)", "",
        *summary_lines(heldout.topics), "", *topic_table(heldout.topics), "",
        "## Confidence", "",
        "Confidence of the classifier's best intent (before the fallback threshold) and of the "
        "FAQ retriever's best entry, for right and wrong predictions (held-out examples; the "
        "third panel: real messages of topics_dev, right meaning the right topic). Wrong "
        "predictions above the threshold get a wrong answer; right ones below it fall back "
        "needlessly.", "",
        "![confidence histograms](confidence.png)", "", *entity_section(heldout.entities),
    ]


def confidence_panels(examples: Sequence[Example], parses: Sequence[dict[str, Any]]
                      ) -> list[tuple[str, list[float], list[float], float]]:
    """Right / wrong confidences of the intent classifier and of the FAQ retriever."""
    intent_right, intent_wrong, faq_right, faq_wrong = [], [], [], []
    for example, parse in zip(examples, parses):
        name, confidence = top_classified(parse)
        (intent_right if name == example.intent else intent_wrong).append(confidence)
        ranking = faq_eval.selector_ranking(parse) if example.faq_key else []
        if ranking:
            entry, confidence = ranking[0]
            (faq_right if entry.key == example.faq_key else faq_wrong).append(confidence)
    return [("Intent classifier", intent_right, intent_wrong, fallback_threshold()),
            ("FAQ retriever (FAQ phrasings)", faq_right, faq_wrong, faq_eval.ANSWER_CONFIDENCE)]


def dev_panel(predictions: Sequence[Prediction], parse: Parse
              ) -> tuple[str, list[float], list[float], float]:
    """Confidence of the classifier's best intent on real messages, by whether its topic is
    right: what a different fallback threshold would gain or lose."""
    topic_map = load_topic_map()
    right, wrong = [], []
    for prediction in predictions:
        parsed = parse(prediction.row.text)
        name, confidence = top_classified(parsed)
        if name == faq_eval.RETRIEVAL_INTENT:
            name, _ = predicted_intent({**parsed, "intent": {"name": name}})
        topic = topic_of(name, topic_map)
        (right if topic == prediction.row.topic else wrong).append(confidence)
    return "Intent classifier on topics_dev (topic)", right, wrong, fallback_threshold()


def topics_dev(parse: Parse, out: Path, path: Path = TOPICS_DEV_FILE
               ) -> tuple[TopicScores | None, list[Prediction]]:
    """Topic scores and predictions on the real customer messages; details in topics_dev.md."""
    if not path.is_file():
        print(f"  {path} is missing, skipped", file=sys.stderr)
        return None, []
    scores, predictions = evaluate_file(path, parse)
    (out / "topics_dev.md").write_text(topics_eval.markdown(scores, predictions, path.name),
                                       encoding="utf-8")
    return scores, predictions


def timed_stories(model: str) -> StoryResults:
    """Run the test stories, telling how long it took."""
    print("[5/5] test stories: starting an action server and `rasa test core` "
          "(a minute or two)", file=sys.stderr)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="eval-stories-") as workdir:
        results = run_test_stories(model, Path(workdir))
    print(f"  test stories done in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return results


def write_report(run: Run) -> tuple[Path, list[str]]:
    """Write README.md with the comparison against the previous summary.json, then update it;
    returns the README's path and the before/after lines."""
    summary_file = run.out / "summary.json"
    previous = load_summary(summary_file)
    date = datetime.now().isoformat(timespec="seconds")
    header = [f"# Evaluation report: `{Path(run.model).name}`", "",
              f"Generated {date} by `make eval` (`python -m evaluation.report`).", "",
              "## How to read this report", "", HOW_TO_READ, "",
              *comparison_section(previous, run.metrics), ""]
    readme = run.out / "README.md"
    readme.write_text("\n".join(header + run.sections) + "\n", encoding="utf-8")
    summary = {"model": Path(run.model).name, "date": date, "metrics": run.metrics}
    summary_file.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                            encoding="utf-8")
    return readme, compare((previous or {}).get("metrics") or {}, run.metrics)


def main() -> None:
    """Evaluate a model and write the report."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--skip-stories", action="store_true",
                        help="do not run the test stories (faster)")
    parser.add_argument("--topics-dev", type=Path, default=TOPICS_DEV_FILE,
                        help="topic-labelled real messages (default: %(default)s)")
    args = parser.parse_args()
    if not Path(args.model).is_file():
        parser.error(f"{args.model} does not exist (run `make train`)")
    args.out.mkdir(parents=True, exist_ok=True)
    run = evaluate(args.model, args.out, args.skip_stories, args.topics_dev)
    readme, changes = write_report(run)
    print("\n".join(f"{metric_label(k)}: {_number(v)}" for k, v in run.metrics.items()))
    if changes:
        print("\ncompared with the previous report:\n" + "\n".join(changes))
    print(f"\nreport: {readme}")


if __name__ == "__main__":
    main()
