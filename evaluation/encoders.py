"""Which sentence encoder: e5 (shipped), m3e-small, or both, measured in the real pipeline.

Usage:
  python -m evaluation.encoders train e5|m3e|both [--out DIR]   # NLU-only model, one variant
  python -m evaluation.encoders score e5|m3e|both MODEL          # study halves + FAQ held-out
  python -m evaluation.encoders compare OUTCOMES_A OUTCOMES_B     # paired counts, McNemar
  python -m evaluation.encoders bench                            # ms per message per encoder
  python -m evaluation.encoders emotion                          # upset-or-angry ROC AUC

Every component that reads sentence vectors (the intent classifier's features and nearest
neighbours, the FAQ retriever) gets them from `SentenceEncoder.shared()`; this script puts the
chosen encoder there before Rasa trains or loads the NLU pipeline of config.yml, so training
and parsing run the project's own code unchanged with another encoder. A model trained for
one variant must be scored with the same variant (the vector width differs, and mixing them
fails loudly). Rasa's training cache is switched off: it would hand back components trained
with another encoder.

Scores use the definitions of evaluation.study (working half in full, held-out half as counts
only) and evaluation.faq (retrieval top-1 and resolved on tests/faq/heldout.yml).
Findings: docs/encoders.md. m3e-small is research-only by its licence, so none of this ships.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.study import (
    EMOTION_LABELS,
    HALVES,
    MESSAGES_FILE,
    TOPIC_LABELS,
    half_of,
    read_labels,
    read_messages,
    run,
)
from evaluation.topics import (
    ROOT,
    TOPICS,
    load_parser,
    load_topic_map,
    predicted_intent,
    topic_of,
)

VARIANTS = ("e5", "m3e", "both", "m3e-scaled")
# Mean length of a training example's centred vector (300 sampled examples): e5 0.383, m3e
# 0.553. "m3e-scaled" shrinks m3e's vectors by their ratio, so that at the same
# sentence_vector_weight its vectors weigh what e5's do (the weights were chosen for e5);
# the nearest-neighbour votes use unit vectors and do not change.
M3E_SCALE = 0.383 / 0.553
BENCH_LENGTHS = (10, 50, 200)
# Customer-like text (written for this benchmark) repeated to the wanted length.
BENCH_TEXT = "你好，我上周买的电饭煲到现在还没发货，能帮我催一下吗？要是今天还不发我就退款了。"


def make_encoder(variant: str) -> Any:
    """The encoder of a variant, with the interface of SentenceEncoder."""
    from bot.nlu.sentence_encoder import SentenceEncoder
    from evaluation.m3e_encoder import ConcatEncoder, M3eEncoder, ScaledEncoder

    if variant == "e5":
        return SentenceEncoder()
    if variant == "m3e":
        return M3eEncoder()
    if variant == "both":
        return ConcatEncoder(SentenceEncoder(), M3eEncoder())
    if variant == "m3e-scaled":
        return ScaledEncoder(M3eEncoder(), M3E_SCALE)
    raise ValueError(f"unknown variant {variant!r}")


def install(variant: str) -> None:
    """Make the variant's encoder the one every NLU component shares in this process."""
    from bot.nlu.sentence_encoder import SentenceEncoder

    SentenceEncoder._shared = make_encoder(variant)


def train(variant: str, out: Path) -> str:
    """Train the NLU pipeline of config.yml on bot/data with the variant's encoder."""
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"
    os.environ["RASA_CACHE_DIRECTORY"] = tempfile.mkdtemp(prefix="rasa-cache-")
    install(variant)
    from rasa.model_training import train_nlu

    started = time.monotonic()
    path = train_nlu(config=str(ROOT / "config.yml"), nlu_data=str(ROOT / "bot" / "data"),
                     output=str(out), fixed_model_name=f"nlu-{variant}",
                     domain=str(ROOT / "domain"))
    print(f"trained {path} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return str(path)


def score(variant: str, model: str, out_dir: Path, messages: Path = MESSAGES_FILE) -> None:
    """Study halves (evaluation.study's report and summary) and FAQ held-out figures."""
    from evaluation.faq import load_heldout, parse_all, summary

    install(variant)
    parse = load_parser(model)
    parses: dict[str, dict[str, Any]] = {}

    def recorded(text: str) -> dict[str, Any]:
        parses[text] = parse(text)
        return parses[text]

    run(model, recorded, messages, TOPIC_LABELS, EMOTION_LABELS,
        out_dir / f"study_{variant}.md", HALVES)
    write_outcomes(out_dir / f"outcomes_{variant}.tsv", parses, messages)
    faq = summary(parse_all(parse, load_heldout()))["all"]
    print(f"FAQ held-out ({faq['n']} phrasings): retrieval top-1 {faq['retrieval']:.1%}, "
          f"resolved {faq['resolved']:.1%}, handled {faq['handled']:.1%}")


def write_outcomes(path: Path, parses: dict[str, dict[str, Any]], messages_path: Path) -> None:
    """id, half and whether the topic was right (1/0), for paired comparisons between
    variants (`compare`); no text, and only counts of it are ever printed."""
    texts = {i: m.text for i, m in read_messages(messages_path).items()}
    topic_map = load_topic_map()
    rows = []
    for ident, gold in sorted(read_labels(TOPIC_LABELS).items()):
        if gold not in TOPICS:
            continue
        predicted = topic_of(predicted_intent(parses[texts[ident]])[0], topic_map)
        rows.append(f"{ident}\t{half_of(ident)}\t{int(predicted == gold)}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def compare(before: Path, after: Path) -> list[str]:
    """Paired counts per half: right before only, right after only, and McNemar's exact
    two-sided p-value (binomial on the discordant pairs)."""
    from scipy.stats import binomtest

    def read(path: Path) -> dict[str, tuple[str, bool]]:
        rows = (line.split("\t") for line in path.read_text(encoding="utf-8").splitlines())
        return {i: (half, flag == "1") for i, half, flag in rows}

    a, b = read(before), read(after)
    lines = ["| half | both right | only before | only after | both wrong | McNemar p |",
             "|---|---|---|---|---|---|"]
    for half in HALVES:
        ids = [i for i in a if a[i][0] == half and i in b]
        pairs = Counter((a[i][1], b[i][1]) for i in ids)
        lost, won = pairs[True, False], pairs[False, True]
        p = binomtest(lost, lost + won).pvalue if lost + won else 1.0
        lines.append(f"| {half} | {pairs[True, True]} | {lost} | {won} "
                     f"| {pairs[False, False]} | {p:.3f} |")
    return lines


def _clock(encoder: Any, text: str, repeats: int) -> tuple[float, float]:
    """Median CPU and wall milliseconds to encode `text` alone, cache cleared each time.
    CPU time is the figure to read on a shared machine: wall time there counts the waits."""
    cpu, wall = [], []
    for _ in range(repeats):
        encoder.clear_cache()
        started, started_cpu = time.perf_counter(), time.process_time()
        encoder.encode([text])
        cpu.append(1000 * (time.process_time() - started_cpu))
        wall.append(1000 * (time.perf_counter() - started))
    return statistics.median(cpu), statistics.median(wall)


def bench(repeats: int = 15) -> list[str]:
    """CPU (wall) milliseconds per message, one message at a time, per encoder and length."""
    lines = ["| encoder | " + " | ".join(f"{n} chars: CPU (wall) ms" for n in BENCH_LENGTHS)
             + " |",
             "|---|" + "---|" * len(BENCH_LENGTHS)]
    for variant in ("e5", "m3e", "both"):
        encoder = make_encoder(variant)
        texts = [(BENCH_TEXT * (n // len(BENCH_TEXT) + 1))[:n] for n in BENCH_LENGTHS]
        encoder.encode(texts)  # warm up
        cells = ["{:.1f} ({:.1f})".format(*_clock(encoder, text, repeats)) for text in texts]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines


def emotion(messages_path: Path = MESSAGES_FILE, c_values: Sequence[float] = (0.3, 1.0, 3.0)
            ) -> list[str]:
    """ROC AUC of "upset or angry" vs calm for a logistic regression on each encoder's
    vectors of bot/emotion/examples.tsv, on both halves of the study emotion labels (an AUC
    is a count-free figure; no held-out text is read out)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from bot.emotion.lexicon import LABELS
    from evaluation.emotion import NEGATIVE, read_tsv

    examples = read_tsv(ROOT / "bot" / "emotion" / "examples.tsv")
    train_texts = [row["text"] for row in examples]
    train_gold = [row["label"] in NEGATIVE for row in examples]
    messages = read_messages(messages_path)
    labels = {i: lab for i, lab in read_labels(EMOTION_LABELS).items() if lab in LABELS}
    lines = [f"{len(examples)} training examples; C = {', '.join(map(str, c_values))}", "",
             "| encoder | C | working AUC | held-out AUC |", "|---|---|---|---|"]
    from bot.nlu.sentence_encoder import SentenceEncoder
    from evaluation.m3e_encoder import ConcatEncoder, M3eEncoder

    e5, m3e = SentenceEncoder(), M3eEncoder()
    for variant, encoder in (("e5", e5), ("m3e", m3e), ("both", ConcatEncoder(e5, m3e))):
        train_vectors = encoder.encode(train_texts)
        for c in c_values:
            regression = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
            regression.fit(train_vectors, train_gold)
            cells = []
            for half in HALVES:
                ids = sorted(i for i in labels if half_of(i) == half)
                scores = regression.decision_function(
                    encoder.encode([messages[i].text for i in ids]))
                cells.append(f"{roc_auc_score([labels[i] in NEGATIVE for i in ids], scores):.3f}")
            lines.append(f"| {variant} | {c} | " + " | ".join(cells) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run one of the subcommands."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    train_args = sub.add_parser("train")
    train_args.add_argument("variant", choices=VARIANTS)
    train_args.add_argument("--out", type=Path, default=Path("bot/models/encoders"))
    score_args = sub.add_parser("score")
    score_args.add_argument("variant", choices=VARIANTS)
    score_args.add_argument("model")
    score_args.add_argument("--out", type=Path, default=Path("reports/encoders"))
    score_args.add_argument("--messages", type=Path, default=MESSAGES_FILE,
                            help="the study messages (id, source, text)")
    sub.add_parser("bench")
    compare_args = sub.add_parser("compare")
    compare_args.add_argument("before", type=Path)
    compare_args.add_argument("after", type=Path)
    emotion_args = sub.add_parser("emotion")
    emotion_args.add_argument("--messages", type=Path, default=MESSAGES_FILE)
    args = parser.parse_args(argv)
    if args.command == "train":
        print(train(args.variant, args.out))
    elif args.command == "score":
        score(args.variant, args.model, args.out, args.messages)
    elif args.command == "compare":
        print("\n".join(compare(args.before, args.after)))
    elif args.command == "emotion":
        print("\n".join(emotion(args.messages)))
    else:
        print("\n".join(bench()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
