"""Unit tests of evaluation/study.py on a tiny synthetic study set and a fake parse function;
no trained model."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evaluation import study
from evaluation.topics import Prediction, Row

MARKER = "HELDOUT-MARKER-7f3a9c"
# id, source, text, gold topic, predicted intent, gold emotion, predicted emotion
MESSAGES = [
    ("s00002", "jddc", "工作半订单在哪里", "order_status", "ask_order_status", "calm", "calm"),
    ("s00004", "jddc", "工作半退款怎么还没到", "refund", "nlu_fallback", "upset", "upset"),
    ("s00006", "xiaoai", "工作半讲个笑话吧", "out_of_scope", "out_of_scope", "angry", "calm"),
    ("s00008", "smp", "工作半明天天气怎么样", "out_of_scope", "greet", "calm", "angry"),
    ("s00010", "jddc", "工作半在吗在吗", "greeting", "greet", "", ""),
    ("s00012", "jddc", "工作半嗯嗯", "unclear", "greet", "", ""),
    ("s00001", "jddc", f"{MARKER} 我要投诉你们的快递员", "complaint", "greet", "angry", "calm"),
    ("s00003", "stc3", "保留半这个退货怎么弄", "after_sales", "request_return", "", ""),
    ("s00005", "smp", "保留半随便说说", "unclear", "greet", "", ""),
]


def parse_result(intent: str, emotion: str) -> dict[str, Any]:
    """A parse result as Agent.parse_message returns it, with the emotion at the top level."""
    return {"intent": {"name": intent, "confidence": 0.8}, "entities": [],
            "emotion": {"label": emotion or "calm", "score": 0.7}}


@pytest.fixture
def study_files(tmp_path: Path) -> dict[str, Path]:
    """The messages file and the two label files, written without headers like the real ones
    (the messages file has its id, source, text header)."""
    files = {"messages": tmp_path / "shared" / "messages.tsv",
             "topics": tmp_path / "labels" / "topics.tsv",
             "emotion": tmp_path / "labels" / "emotion.tsv",
             "out": tmp_path / "reports" / "study.md"}
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    files["messages"].write_text("id\tsource\ttext\n" + "".join(
        f"{i}\t{s}\t{t}\n" for i, s, t, *_ in MESSAGES), encoding="utf-8")
    files["topics"].write_text("".join(f"{m[0]}\t{m[3]}\n" for m in MESSAGES), encoding="utf-8")
    files["emotion"].write_text("".join(f"{m[0]}\t{m[5]}\n" for m in MESSAGES if m[5]),
                                encoding="utf-8")
    return files


class FakeParser:
    """Answers like the model would, and counts how often each text is parsed."""

    def __init__(self) -> None:
        self.results = {m[2]: parse_result(m[4], m[6]) for m in MESSAGES}
        self.calls: Counter[str] = Counter()

    def __call__(self, text: str) -> dict[str, Any]:
        self.calls[text] += 1
        return self.results[text]


def run_study(files: dict[str, Path], parse: FakeParser, half: str = "all") -> int:
    return study.main(["fake-model.tar.gz", "--messages", str(files["messages"]),
                       "--topics", str(files["topics"]), "--emotion", str(files["emotion"]),
                       "--out", str(files["out"]), "--half", half], parse=parse)


def results_by_half(files: dict[str, Path], parse: FakeParser) -> dict[str, study.HalfResult]:
    results = study.run("fake", parse, files["messages"], files["topics"], files["emotion"],
                        files["out"], study.HALVES)
    return {r.half: r for r in results}


def test_halves_split_by_id_parity() -> None:
    assert study.half_of("s00002") == study.WORKING
    assert study.half_of("s00010") == study.WORKING
    assert study.half_of("s00001") == study.HELDOUT
    assert study.half_of("s04999") == study.HELDOUT
    assert study.half_of("no-digits") == study.HELDOUT  # unknown: treated as held out


def test_each_half_scores_its_own_ids_and_skips_unclear(study_files: dict[str, Path]) -> None:
    parse = FakeParser()
    results = results_by_half(study_files, parse)
    working, heldout = results[study.WORKING], results[study.HELDOUT]
    assert (working.topics.n, heldout.topics.n) == (5, 2)
    assert working.topics.skipped == {"unclear": 1}
    assert heldout.topics.skipped == {"unclear": 1}
    assert working.negative.n == 4 and heldout.negative.n == 1
    # Scored messages are parsed once, topic and emotion from the same parse; unclear rows
    # are not parsed at all.
    assert set(parse.calls.values()) == {1}
    assert len(parse.calls) == 7


def test_figures_match_a_hand_computed_example(study_files: dict[str, Path]) -> None:
    working = results_by_half(study_files, FakeParser())[study.WORKING]
    assert working.topics.accuracy == pytest.approx(3 / 5)
    # F1: order_status 1, refund 0, out_of_scope 1/2, greeting 2/3.
    assert working.topics.macro_f1 == pytest.approx((1 + 0 + 0.5 + 2 / 3) / 4)
    assert working.topics.per_topic["greeting"]["precision"] == pytest.approx(0.5)
    assert working.oos.recall == pytest.approx(1 / 2)
    assert working.oos.wrongful_rejection == pytest.approx(1 / 3)
    assert working.oos.precision == pytest.approx(1 / 2)
    assert working.confusion["out_of_scope", "greeting"] == 1
    assert working.confusion["refund", "out_of_scope"] == 1
    assert working.topics.per_source["jddc"] == {"n": 3, "accuracy": pytest.approx(2 / 3)}
    assert working.topics.per_source["smp"]["accuracy"] == 0.0
    assert (working.negative.precision, working.negative.recall) == (0.5, 0.5)
    assert working.angry.recall == 0.0


def test_no_heldout_text_is_written_or_printed(study_files: dict[str, Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run_study(study_files, FakeParser()) == 0
    captured = capsys.readouterr()
    outputs = {path: path.read_text(encoding="utf-8")
               for path in study_files["out"].parent.iterdir()}
    assert {path.name for path in outputs} == {"study.md", "study_misses.md"}
    assert "工作半退款怎么还没到" in outputs[study_files["out"].with_name("study_misses.md")]
    for text in [*outputs.values(), captured.out, captured.err]:
        assert MARKER not in text
        assert "保留半" not in text
        assert "s00001" not in text


def test_heldout_only_run_writes_no_misses(study_files: dict[str, Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert run_study(study_files, FakeParser(), half="heldout") == 0
    captured = capsys.readouterr()
    assert [p.name for p in study_files["out"].parent.iterdir()] == ["study.md"]
    assert MARKER not in study_files["out"].read_text(encoding="utf-8") + captured.out


def test_misses_report_and_guard_refuse_heldout_messages() -> None:
    heldout = study.Message("s00001", "jddc", f"{MARKER} 投诉")
    working = study.Message("s00002", "jddc", "工作半的一句话")
    miss = Prediction(Row(heldout.id, "complaint", heldout.text, "jddc"), "greet", 0.9,
                      "greeting")
    with pytest.raises(study.HeldOutLeakError):
        study.misses_markdown([miss], {heldout.id: heldout})
    guard = study.HeldOutGuard([heldout, working])
    assert guard.check("| s00002 | 工作半的一句话 |", "x")
    with pytest.raises(study.HeldOutLeakError):
        guard.check(f"| s00001 | {heldout.text} |", "x")


def test_missing_messages_file_fails_clearly(study_files: dict[str, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    study_files["messages"].unlink()
    assert run_study(study_files, FakeParser()) == 2
    assert "--messages" in capsys.readouterr().err
