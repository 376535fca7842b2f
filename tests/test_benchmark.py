"""The pure parts of evaluation/benchmark.py (the bench itself runs with `make bench`)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from evaluation import benchmark


def test_percentile_interpolates_like_numpy() -> None:
    samples = [15.0, 20.0, 35.0, 40.0, 50.0]
    assert benchmark.percentile(samples, 50) == 35.0
    assert benchmark.percentile(samples, 0) == 15.0
    assert benchmark.percentile(samples, 100) == 50.0
    assert benchmark.percentile(samples, 95) == pytest.approx(48.0)
    assert benchmark.percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert benchmark.percentile([7.0], 99) == 7.0
    assert math.isnan(benchmark.percentile([], 50))


def test_summarize_counts_answered_messages_per_second() -> None:
    level = benchmark.summarize("ours", "rest", 10, [10.0, 20.0, 30.0, 40.0], errors=1,
                                seconds=2.0)
    assert (level.count, level.errors, level.p50, level.rate) == (4, 1, 25.0, 2.0)
    assert level.p99 == pytest.approx(39.7)
    empty = benchmark.summarize("ours", "nlu", 1, [], errors=3, seconds=0.0)
    assert empty.rate == 0.0 and math.isnan(empty.p50)


def test_markdown_table() -> None:
    table = benchmark.markdown_table(["a", "b", "c"], [[1, 2.345, None], ["x|y", math.nan, "z"]])
    assert table.splitlines() == ["| a | b | c |", "|---|---|---|", "| 1 | 2.3 | — |",
                                  "| x\\|y | — | z |"]


def test_ratio() -> None:
    assert benchmark.ratio(30.0, 20.0) == "1.50×"
    assert benchmark.ratio(1.0, 0.0) == "—"
    assert benchmark.ratio(None, 2.0) == "—"
    assert benchmark.ratio(math.nan, 2.0) == "—"


def test_proc_parsing() -> None:
    stat = "1234 (rasa (run) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0"
    assert benchmark.parse_stat_cpu(stat, ticks=100) == 3.0
    status = "Name:\tpython\nVmPeak:\t 2000000 kB\nVmHWM:\t  1048576 kB\nVmRSS:\t 900000 kB\n"
    assert benchmark.parse_status_mb(status) == 1024.0
    assert math.isnan(benchmark.parse_status_mb("Name:\tx\n"))


def test_fingerprint_follows_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(benchmark, "ROOT", tmp_path)
    config = tmp_path / "config.yml"
    config.write_text("a: 1\n")
    first = benchmark.fingerprint([config], "3.6.21")
    assert first == benchmark.fingerprint([config], "3.6.21") and len(first) == 12
    assert first != benchmark.fingerprint([config], "3.6.22")
    config.write_text("a: 2\n")
    assert first != benchmark.fingerprint([config], "3.6.21")


def test_the_bench_conversations() -> None:
    conversations = benchmark.load_conversations()
    assert 20 <= len(conversations) <= 30
    assert len({c["id"] for c in conversations}) == len(conversations)
    assert all(3 <= len(c["turns"]) <= 6 for c in conversations)
    covered = {part for c in conversations for part in c.get("covers", [])}
    assert {"nlu", "form", "action", "shop_api"} <= covered


def test_a_conversation_without_turns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("conversations:\n  - id: x\n    turns: []\n", encoding="utf-8")
    with pytest.raises(ValueError, match="turns"):
        benchmark.load_conversations(path)
