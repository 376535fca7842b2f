"""Which sentence encoder: e5 (shipped), m3e-small, or both, measured in the real pipeline.

Usage:
  python -m evaluation.encoders train e5|m3e|both [--out DIR]   # NLU-only model, one variant
  python -m evaluation.encoders score e5|m3e|both MODEL          # study halves + FAQ held-out
  python -m evaluation.encoders bench                            # ms per message per encoder

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.study import (
    EMOTION_LABELS,
    HALVES,
    MESSAGES_FILE,
    TOPIC_LABELS,
    run,
)
from evaluation.topics import ROOT, load_parser

VARIANTS = ("e5", "m3e", "both")
BENCH_LENGTHS = (10, 50, 200)
# Customer-like text (written for this benchmark) repeated to the wanted length.
BENCH_TEXT = "你好，我上周买的电饭煲到现在还没发货，能帮我催一下吗？要是今天还不发我就退款了。"


def make_encoder(variant: str) -> Any:
    """The encoder of a variant, with the interface of SentenceEncoder."""
    from bot.nlu.sentence_encoder import SentenceEncoder
    from evaluation.m3e_encoder import ConcatEncoder, M3eEncoder

    if variant == "e5":
        return SentenceEncoder()
    if variant == "m3e":
        return M3eEncoder()
    if variant == "both":
        return ConcatEncoder(SentenceEncoder(), M3eEncoder())
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
    run(model, parse, messages, TOPIC_LABELS, EMOTION_LABELS,
        out_dir / f"study_{variant}.md", HALVES)
    faq = summary(parse_all(parse, load_heldout()))["all"]
    print(f"FAQ held-out ({faq['n']} phrasings): retrieval top-1 {faq['retrieval']:.1%}, "
          f"resolved {faq['resolved']:.1%}, handled {faq['handled']:.1%}")


def _clock(encoder: Any, text: str, repeats: int) -> float:
    """Median ms to encode `text` alone, cache cleared each time."""
    times = []
    for _ in range(repeats):
        encoder.clear_cache()
        started = time.perf_counter()
        encoder.encode([text])
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def bench(repeats: int = 15) -> list[str]:
    """Milliseconds per message, one message at a time, per encoder and length."""
    lines = ["| encoder | " + " | ".join(f"{n} chars" for n in BENCH_LENGTHS) + " |",
             "|---|" + "---|" * len(BENCH_LENGTHS)]
    for variant in VARIANTS:
        encoder = make_encoder(variant)
        texts = [(BENCH_TEXT * (n // len(BENCH_TEXT) + 1))[:n] for n in BENCH_LENGTHS]
        encoder.encode(texts)  # warm up
        cells = [f"{_clock(encoder, text, repeats):.1f} ms" for text in texts]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
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
    args = parser.parse_args(argv)
    if args.command == "train":
        print(train(args.variant, args.out))
    elif args.command == "score":
        score(args.variant, args.model, args.out, args.messages)
    else:
        print("\n".join(bench()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
