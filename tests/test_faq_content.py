"""Validation of the FAQ files that shop employees edit: catches what would break the bot."""
from __future__ import annotations

import re
import string
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot.domain_files import load_domain, names
from bot.faq import FAQ_DIR, RETRIEVAL_INTENT, load_area, load_faq, load_policy, render
from evaluation.faq import load_heldout
from tests.test_data_quality import nlu_examples

ROOT = Path(__file__).resolve().parents[1]

MIN_PHRASINGS = 8
FRESH_HELDOUT = ROOT / "tests" / "faq" / "heldout_fresh.yml"


def canonical(text: str) -> str:
    """Phrasing with case, spaces and punctuation ignored."""
    return re.sub(r"[\s\W_]+", "", text.lower())


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.fixture(scope="module")
def faq():
    return load_faq()


def test_there_are_at_least_80_entries_each_with_enough_phrasings(faq) -> None:
    assert len(faq) >= 80
    thin = {key: len(e.phrasings) for key, e in faq.items() if len(e.phrasings) < MIN_PHRASINGS}
    assert not thin, f"entries with fewer than {MIN_PHRASINGS} phrasings: {thin}"


def test_every_entry_has_an_answer_and_every_answer_an_entry() -> None:
    for path in sorted(FAQ_DIR.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        keys = {item["intent"] for item in data.get("nlu", [])}
        answers = {name.removeprefix("utter_") for name in data.get("responses") or {}}
        assert keys - answers == set(), f"{path.name}: entries without an answer"
        assert answers - keys == set(), f"{path.name}: answers without an entry"
        for entry in load_area(path):
            assert entry.key.startswith(f"{RETRIEVAL_INTENT}/") and entry.answer.strip()


def test_no_phrasing_is_duplicated_or_shared_by_two_entries(faq) -> None:
    owners: dict[str, str] = {}
    for key, entry in faq.items():
        counts = Counter(canonical(p) for p in entry.phrasings)
        assert counts.most_common(1)[0][1] == 1, f"{key} repeats a phrasing"
        for phrasing in entry.phrasings:
            owner = owners.setdefault(canonical(phrasing), key)
            assert owner == key, f"{phrasing!r} belongs to {owner} and {key}"


def test_answers_use_only_existing_policy_values_and_every_value_is_used(faq) -> None:
    policy = load_policy()
    used: set[str] = set()
    for key, entry in faq.items():
        names = placeholders(entry.answer)
        assert names <= set(policy), f"{key} uses unknown policy values {names - set(policy)}"
        used |= names
        text = render(entry)["text"]
        assert "{" not in text and "}" not in text, key
    # The journeys' responses (domain/) name the same values as placeholders, filled from
    # the policy by the actions, which also read some directly: policy["key"].
    for response in load_domain()["responses"].values():
        used |= {name for variant in response for name in placeholders(variant.get("text") or "")}
    for source in (ROOT / "bot" / "actions").glob("*.py"):
        used |= set(re.findall(r"policy\[[\"'](\w+)[\"']\]", source.read_text(encoding="utf-8")))
    assert set(policy) - used == set(), f"policy values nothing uses: {set(policy) - used}"


def test_answer_buttons_lead_to_existing_entries_or_intents(faq) -> None:
    intents = set(names(load_domain()["intents"]))
    for key, entry in faq.items():
        for button, rendered in zip(entry.buttons, render(entry)["buttons"]):
            target = button["payload"].lstrip("/")
            if target.startswith(f"{RETRIEVAL_INTENT}/"):
                assert target in faq, f"{key} has a button to unknown {target}"
                assert rendered["payload"].startswith('/faq{"faq_key":')
            else:
                assert target in intents, f"{key} has a button to unknown intent {target}"


def test_held_out_phrasings_are_unseen_and_cover_every_entry(faq) -> None:
    # heldout.yml is frozen for before/after figures; entries added since keep theirs apart
    heldout = {**load_heldout(), **load_heldout(ROOT / "tests" / "faq" / "heldout_added.yml")}
    assert set(heldout) == set(faq)
    trained = {canonical(p) for e in faq.values() for p in e.phrasings}
    for key, phrasings in heldout.items():
        assert len(phrasings) >= 2, key
        assert not {canonical(p) for p in phrasings} & trained, f"{key}: held-out seen"


def test_fresh_blind_set_names_real_entries_and_is_unseen(faq) -> None:
    """tests/faq/heldout_fresh.yml scores only if no phrasing of it was trained or tuned on:
    none may be a training example (of any intent) or a phrasing of the older held-out set."""
    fresh = load_heldout(FRESH_HELDOUT)
    assert set(fresh) <= set(faq), f"unknown entries: {set(fresh) - set(faq)}"
    seen = {canonical(t) for texts in nlu_examples().values() for t in texts}
    seen |= {canonical(p) for e in faq.values() for p in e.phrasings}
    seen |= {canonical(t) for texts in load_heldout().values() for t in texts}
    mine: list[str] = []
    for key, phrasings in fresh.items():
        assert len(phrasings) >= 2, key
        for phrasing in phrasings:
            assert canonical(phrasing) not in seen, f"{key}: {phrasing!r} is not unseen"
            mine.append(canonical(phrasing))
    assert len(mine) == len(set(mine)), "a fresh phrasing is listed twice"


def test_sync_topics_adds_new_entries_by_area_and_drops_deleted_ones(tmp_path) -> None:
    from bot.faq import TOPICS_FILE, sync_topics

    original = TOPICS_FILE.read_text(encoding="utf-8")
    edited = original.replace("    - faq/refund_time_wechat\n", "").replace(
        "    - faq/invoice_types\n", "    - faq/invoice_types\n    - faq/invoice_gone\n"
    )
    copy = tmp_path / "topics.yml"
    copy.write_text(edited, encoding="utf-8")
    changes = sync_topics(copy)
    assert changes == ["removed faq/invoice_gone", "added faq/refund_time_wechat"]
    topics = yaml.safe_load(copy.read_text(encoding="utf-8"))["topics"]
    assert "faq/refund_time_wechat" in topics["refund"]
    assert copy.read_text(encoding="utf-8").startswith("# Every intent")


def test_the_blind_set_report_gives_figures_and_never_a_phrasing() -> None:
    from evaluation.faq import Parsed, markdown

    wrong = {"intent": {"name": "greeting", "confidence": 0.9}}
    parsed = [Parsed("faq/shipping_fee", "寄到新疆运费怎么算的呀", wrong),
              Parsed("faq/shipping_fee", "运费谁出", wrong)]
    listed = markdown(parsed)
    assert "寄到新疆运费怎么算的呀" in listed and "| all | 2 |" in listed
    blind = markdown(parsed, misses=False)
    assert "| all | 2 |" in blind
    assert not any(p.text in blind for p in parsed)
