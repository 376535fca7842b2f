"""Data gates: nothing in the domain is dead weight, and held-out examples stay unseen.

Fast (YAML and source text only, no model). What counts as "used":
- a response: an `action:` step of a rule or story in bot/data, a quoted `"utter_..."` in the
  action code (bot/actions), the answer of an existing FAQ entry (`utter_faq/<key>`), the prompt
  of a form's required slot (`utter_ask_<slot>`), or a response Rasa's own actions utter;
- a slot: a `slot_was_set` of a rule or story, a `{slot}` placeholder in a response, a form's
  required slot, or an action that reads or sets it (`get_slot("x")`, `SlotSet("x", ...)`,
  `tracker.slots["x"]`, a returned `{"x": ...}`, `validate_x`, a `*_SLOT = "x"` constant);
- an entity: a slot mapping, an annotation in the training data or a rule/story step, or a
  quoted `"x"` in the action code.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.domain_files import load_domain

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "bot" / "data"
# The custom actions and the core they build on (bot/core: the steps the journeys share).
ACTION_DIRS = (ROOT / "bot" / "actions", ROOT / "bot" / "core")
HELDOUT_INTENTS = ROOT / "tests" / "nlu" / "heldout_intents.yml"
HELDOUT_TWO_REQUESTS = ROOT / "tests" / "nlu" / "heldout_two_requests.yml"
# Responses uttered by Rasa's default actions (action_default_fallback, /restart, /back).
BUILTIN_RESPONSES = {"utter_default", "utter_restart", "utter_back"}
RETRIEVAL_PREFIX = "utter_faq/"
ANNOTATION = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
ANNOTATED_TYPE = re.compile(r"\]\((\w+)|\]\{\s*\"entity\"\s*:\s*\"(\w+)\"")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
SLOT_USE_PATTERNS = (
    r"""get_slot\(\s*["']{name}["']""",
    r"""SlotSet\(\s*["']{name}["']""",
    r"""slots(?:\.get\(|\[)\s*["']{name}["']""",
    r"""["']{name}["']\s*:""",
    r"""["']name["']\s*:\s*["']{name}["']""",
    r"""def (?:validate|extract)_{name}\b""",
    r"""[A-Z_]*SLOT[A-Z_]*\s*=\s*["']{name}["']""",
)


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML file as a dict (empty for an empty file)."""
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


@lru_cache(maxsize=1)
def domain() -> dict[str, Any]:
    """The domain: the files under domain/, merged as Rasa merges them."""
    return load_domain()


def names(items: list[Any] | dict[str, Any] | None) -> set[str]:
    """Names of a domain list whose items are strings or one-key dicts."""
    return {i if isinstance(i, str) else next(iter(i)) for i in items or []}


@lru_cache(maxsize=1)
def training_files() -> tuple[dict[str, Any], ...]:
    """Every YAML file of the training data."""
    return tuple(load_yaml(p) for p in sorted(DATA_DIR.rglob("*.yml")))


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in a nested structure of dicts and lists."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def dialogue_pairs() -> Iterator[tuple[str, Any]]:
    """(key, value) pairs of every rule and story of the training data."""
    for data in training_files():
        for section in ("rules", "stories"):
            yield from walk(data.get(section) or [])


@lru_cache(maxsize=1)
def action_code() -> str:
    """The source of the custom actions."""
    return "\n".join(p.read_text(encoding="utf-8")
                     for folder in ACTION_DIRS for p in sorted(folder.rglob("*.py")))


def all_responses() -> dict[str, Any]:
    """Responses of the domain and of the training data files."""
    responses = dict(domain().get("responses") or {})
    for data in training_files():
        responses.update(data.get("responses") or {})
    return responses


def nlu_items() -> Iterator[dict[str, Any]]:
    """The `nlu:` items of the training data that list intent examples."""
    for data in training_files():
        yield from (item for item in data.get("nlu") or [] if "intent" in item)


def form_slots() -> set[str]:
    """Slots that a form asks for."""
    forms = domain().get("forms") or {}
    return {slot for form in forms.values() for slot in (form or {}).get("required_slots") or []}


def used_responses() -> set[str]:
    """Responses named by rules and stories, the action code, the FAQ, forms or Rasa itself."""
    used = {value for key, value in dialogue_pairs() if key == "action"}
    used |= set(re.findall(r"""["'](utter_[\w/]+)["']""", action_code()))
    used |= {f"utter_{item['intent']}" for item in nlu_items() if "/" in item["intent"]}
    used |= {f"utter_ask_{slot}" for slot in form_slots()}
    used |= {f"utter_ask_{form}_{slot}" for form, spec in (domain().get("forms") or {}).items()
             for slot in (spec or {}).get("required_slots") or []}
    return used | BUILTIN_RESPONSES


def slot_used_by_actions(slot: str) -> bool:
    """Whether the action code reads or sets the slot."""
    code = action_code()
    return any(re.search(p.replace("{name}", re.escape(slot)), code) for p in SLOT_USE_PATTERNS)


def slots_in_dialogues() -> set[str]:
    """Slots that rules and stories condition on or set."""
    found = set()
    for key, value in dialogue_pairs():
        if key == "slot_was_set":
            found |= names(value)
    return found


def response_placeholders() -> set[str]:
    """Every `{name}` in the text of a response."""
    texts = [text for _, text in walk(all_responses()) if isinstance(text, str)]
    return {name for text in texts for name in PLACEHOLDER.findall(text)}


def annotated_entities() -> set[str]:
    """Entity types annotated in training examples or named in rule and story steps."""
    found = set()
    for item in nlu_items():
        for short, json_style in ANNOTATED_TYPE.findall(item.get("examples") or ""):
            found.add(short or json_style)
    for key, value in dialogue_pairs():
        if key == "entities":
            found |= names(value)
    return found


def mapped_entities() -> set[str]:
    """Entities that fill a slot through a mapping."""
    slots = domain().get("slots") or {}
    return {value for _, spec in slots.items() for key, value in walk(spec) if key == "entity"}


def normalise(text: str) -> str:
    """Comparison key: lower case, no spaces or punctuation, entity annotations resolved."""
    return re.sub(r"[\s\W_]+", "", ANNOTATION.sub(r"\1", text).lower())


def training_texts() -> dict[str, str]:
    """Normalised training example -> its intent (FAQ phrasings included)."""
    texts = {}
    for item in nlu_items():
        for line in (item.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                texts[normalise(line[2:])] = item["intent"]
    return texts


def heldout_intents() -> dict[str, list[str]]:
    """Held-out intent examples per intent."""
    return {intent: [str(t) for t in texts]
            for intent, texts in load_yaml(HELDOUT_INTENTS)["heldout"].items()}


def test_every_response_is_used() -> None:
    unused = sorted(set(all_responses()) - used_responses())
    assert not unused, f"responses nothing utters (no rule, story or action): {unused}"


def test_every_slot_is_used() -> None:
    used = slots_in_dialogues() | response_placeholders() | form_slots()
    unused = sorted(s for s in names(domain().get("slots")) - used if not slot_used_by_actions(s))
    assert not unused, f"slots no rule, story, response or action uses: {unused}"


def test_every_entity_is_used() -> None:
    used = mapped_entities() | annotated_entities()
    code = action_code()
    unused = sorted(e for e in names(domain().get("entities")) - used
                    if not re.search(rf"""["']{re.escape(e)}["']""", code))
    assert not unused, f"entities no slot mapping, annotation or action uses: {unused}"


def test_heldout_intent_examples_are_unseen_in_training() -> None:
    seen = training_texts()
    leaked = [(intent, text, seen[normalise(text)])
              for intent, texts in heldout_intents().items() for text in texts
              if normalise(text) in seen]
    assert not leaked, f"held-out examples also in bot/data (intent, text, trained as): {leaked}"


def test_two_request_messages_and_their_parts_are_unseen_in_training() -> None:
    from bot.nlu.other_request import request_parts

    seen = training_texts()
    data = load_yaml(HELDOUT_TWO_REQUESTS)
    messages = [str(m) for m in data["two_requests"] + data["single_requests"]]
    assert len(data["two_requests"]) >= 10 and len(data["single_requests"]) >= 10
    leaked = [text for m in messages for text in (m, *request_parts(m))
              if normalise(text) in seen]
    assert not leaked, f"two-request held-out messages (or parts) also in bot/data: {leaked}"


def test_heldout_intent_examples_name_real_intents_and_entities() -> None:
    heldout = heldout_intents()
    unknown = set(heldout) - (names(domain().get("intents")) - {"faq"})
    assert not unknown, f"held-out intents not in the domain (or faq): {unknown}"
    types = {kind.partition(":")[0]
             for texts in heldout.values() for t in texts for _, kind in ANNOTATION.findall(t)}
    assert types <= names(domain().get("entities")), types - names(domain().get("entities"))
    keys = [normalise(t) for texts in heldout.values() for t in texts]
    assert len(keys) == len(set(keys)), "a held-out example is listed twice"
