"""The real customer data in ../shared/data/ is for measuring only: no sentence of it may end up
in the training data, the FAQ, the emotion examples or the held-out sets, or the scores on it
would prove nothing. Skipped where the evaluation data is not checked out next to the repo."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from tests.test_data_gates import normalise

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
# Shorter texts ("你好", "我要取消订单", "什么时候发货") are stock phrases anyone writes,
# not copied sentences.
MIN_CHARS = 8


def evaluation_texts() -> set[str]:
    """Every message of the evaluation files, normalised."""
    texts: list[str] = []
    for name in ("topics_dev.tsv", "emotion_dev.tsv", "weibo_emotion_dev.tsv"):
        with (SHARED_DATA / name).open(encoding="utf-8") as handle:
            texts += [row["text"] for row in csv.DictReader(handle, delimiter="\t")]
    with (SHARED_DATA / "jd_sessions_dev.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            texts += [turn["text"] for turn in json.loads(line)["turns"]]
    return {n for n in map(normalise, texts) if len(n) >= MIN_CHARS}


def our_texts() -> list[tuple[str, str]]:
    """(file, text) of every example we wrote: NLU, FAQ, emotion examples, held-out sets."""
    found: list[tuple[str, str]] = []
    for path in sorted((ROOT / "bot" / "data").rglob("*.yml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("    - "):
                found.append((str(path.relative_to(ROOT)), line[6:]))
    with (ROOT / "bot" / "emotion" / "examples.tsv").open(encoding="utf-8") as handle:
        found += [("bot/emotion/examples.tsv", row["text"])
                  for row in csv.DictReader(handle, delimiter="\t")]
    tests = ROOT / "tests"
    heldout = (tests / "nlu" / "heldout_intents.yml", tests / "faq" / "heldout.yml",
               tests / "faq" / "heldout_fresh.yml")
    for path in heldout:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for lines in (data.get("heldout") or data).values():
            found += [(str(path.relative_to(ROOT)), str(text)) for text in lines]
    two = tests / "nlu" / "heldout_two_requests.yml"
    messages = yaml.safe_load(two.read_text(encoding="utf-8"))
    found += [(str(two.relative_to(ROOT)), str(text))
              for text in messages["two_requests"] + messages["single_requests"]]
    return found


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="evaluation data not checked out")
def test_no_evaluation_sentence_is_in_our_data() -> None:
    evaluation = evaluation_texts()
    copied = [(file, text) for file, text in our_texts()
              if len(normalise(text)) >= MIN_CHARS and normalise(text) in evaluation]
    assert not copied, f"sentences of ../shared/data in our data: {copied}"


STUDY = ROOT.parent / "shared" / "study"


@pytest.mark.skipif(not (STUDY / "check_copies.py").exists(),
                    reason="../shared/study is not checked out next to the repo")
def test_no_project_file_copies_a_study_message(tmp_path: Path) -> None:
    """The study set's own checker over every tracked file of the project (reports/ and other
    git-ignored output may quote the working half; they are never committed)."""
    import shutil
    import subprocess
    import sys

    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        source = ROOT / name
        if source.is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp_path / name)
    result = subprocess.run([sys.executable, str(STUDY / "check_copies.py"), str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
