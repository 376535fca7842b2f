"""Data gates: the domain, the training data and the topic map stay consistent."""
from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from bot.domain_files import load_domain, names

ROOT = Path(__file__).resolve().parents[1]
RASA = str(Path(sys.executable).parent / "rasa")
TOPICS = {
    "greeting", "order_status", "order_change", "delivery_issue", "payment", "refund",
    "after_sales", "invoice", "account", "promotion", "product", "complaint", "human",
    "out_of_scope",
}
MIN_EXAMPLES = 25
# Intents whose examples are entity-carrying fragments rather than free phrasings.
ENTITY_ONLY_INTENTS = {"inform"}


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def nlu_examples() -> dict[str, list[str]]:
    """Examples per intent over all training files, annotations stripped."""
    examples: dict[str, list[str]] = defaultdict(list)
    for path in sorted((ROOT / "bot" / "data").rglob("*.yml")):
        for item in load_yaml(path).get("nlu", []):
            if "intent" not in item:
                continue
            for line in item["examples"].splitlines():
                text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", line.strip().removeprefix("- "))
                if text:
                    examples[item["intent"]].append(text)
    return examples


def test_every_intent_maps_to_exactly_one_known_topic() -> None:
    topics = load_yaml(ROOT / "bot" / "topics.yml")["topics"]
    assert set(topics) <= TOPICS, f"unknown topics: {set(topics) - TOPICS}"
    mapped = [intent for intents in topics.values() for intent in intents]
    duplicated = {i for i in mapped if mapped.count(i) > 1}
    assert not duplicated, f"intents under two topics: {duplicated}"
    domain_intents = set(names(load_domain()["intents"]))
    retrieval = {i for i in nlu_examples() if "/" in i}
    missing = (domain_intents - {"faq"}) | retrieval
    assert not missing - set(mapped), f"intents without a topic: {missing - set(mapped)}"
    assert not set(mapped) - missing, f"topics.yml names unknown intents: {set(mapped) - missing}"


def test_every_intent_has_enough_varied_examples() -> None:
    for intent, examples in nlu_examples().items():
        if "/" in intent:
            continue
        assert len(examples) >= MIN_EXAMPLES or intent in ENTITY_ONLY_INTENTS, intent
        assert len(set(examples)) == len(examples), f"{intent} repeats an example"


def test_no_example_belongs_to_two_intents() -> None:
    owner: dict[str, str] = {}
    for intent, examples in nlu_examples().items():
        for text in examples:
            key = re.sub(r"[\s\W_]+", "", text.lower())
            assert owner.setdefault(key, intent) == intent, f"{text!r}: {owner[key]} and {intent}"


@pytest.mark.timeout(300)
def test_rasa_data_validate_passes_without_warnings() -> None:
    result = subprocess.run(
        [RASA, "data", "validate", "--data", "bot/data", "--domain", "domain",
         "--config", "config.yml", "--fail-on-warnings"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
