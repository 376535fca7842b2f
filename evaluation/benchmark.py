"""NLU speed and memory: parse the written held-out messages with the trained model in
process and print latency percentiles, throughput and resident memory.

    make bench            # or: python -m evaluation.benchmark bot/models/shop-*.tar.gz

Figures only, no thresholds: the machines are shared and noisy, so compare runs on the same
machine. Also times the sentence encoder alone at several message lengths, since its cost
grows with the length of a message.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence

# Lengths (characters) at which the encoder alone is timed.
LENGTHS = (10, 50, 200, 500)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def messages() -> list[str]:
    """The written held-out messages (intent and FAQ), annotations stripped."""
    from evaluation.faq import load_heldout
    from evaluation.report import faq_examples, load_intent_heldout

    return [example.text for example in load_intent_heldout() + faq_examples(load_heldout())]


def percentiles(samples_ms: Sequence[float]) -> str:
    """p50 / p95 / max of latencies in milliseconds."""
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"p50 {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms"


def time_each(function: Callable[[str], object], texts: Sequence[str]) -> list[float]:
    """Latency of `function` on every text, in milliseconds."""
    samples = []
    for text in texts:
        start = time.perf_counter()
        function(text)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main(argv: Sequence[str] | None = None) -> None:
    """Load the model, warm it up, then print the figures."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the messages")
    args = parser.parse_args(argv)

    from bot.nlu.sentence_encoder import MAX_CHARS, SentenceEncoder
    from evaluation.topics import load_parser

    texts = messages()
    before = peak_rss_mb()
    start = time.perf_counter()
    parse = load_parser(args.model)
    parse("你好")  # the first message loads the sentence encoder and jieba's dictionary
    load_s = time.perf_counter() - start
    print(f"model load and first parse: {load_s:.1f} s, peak memory {before:.0f} -> "
          f"{peak_rss_mb():.0f} MB")

    encoder = SentenceEncoder.shared()
    samples = []
    wall = time.perf_counter()
    for _ in range(args.rounds):
        encoder.clear_cache()  # every pass pays for its sentence vectors
        samples += time_each(parse, texts)
    wall = time.perf_counter() - wall
    print(f"parse_message, {len(samples)} messages ({len(texts)} distinct, "
          f"{args.rounds} passes): {percentiles(samples)}, {len(samples) / wall:.0f} msg/s")

    for length in LENGTHS:
        encoder.clear_cache()
        # Distinct texts, so the encoder's cache does not answer.
        probes = [(f"第{i}次问：" + "我的快递怎么还没到" * 60)[:length] for i in range(20)]
        print(f"sentence encoder alone, {length:>3} characters"
              f"{' (clipped to ' + str(MAX_CHARS) + ')' if length > MAX_CHARS else ''}: "
              f"{percentiles(time_each(lambda t: encoder.encode([t]), probes))}")
    print(f"peak memory after the run: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
