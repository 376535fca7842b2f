"""The FAQ knowledge base: entries from bot/data/faq/*.yml, answers filled from bot/policy.yml.

Each entry lives in one area file with its phrasings (`nlu: - intent: faq/<key>`) and its
answer (`responses: utter_faq/<key>`) side by side. The first phrasing doubles as the
entry's title on "您是想问" buttons. Answers name policy values as `{policy_key}`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
FAQ_DIR = ROOT / "bot" / "data" / "faq"
POLICY_FILE = ROOT / "bot" / "policy.yml"
RETRIEVAL_INTENT = "faq"
# The entity that names one entry (`/faq{"faq_key": "shipping_fee"}`).
KEY_ENTITY = "faq_key"


@dataclass(frozen=True)
class FaqEntry:
    """One question of the FAQ with its phrasings and its answer template."""

    key: str  # "faq/shipping_fee"
    area: str  # file name without extension: "shipping"
    phrasings: tuple[str, ...]
    answer: str
    buttons: tuple[dict[str, str], ...] = ()

    @property
    def title(self) -> str:
        """Short question shown on a suggestion button."""
        return self.phrasings[0]


def _phrasings(examples: str) -> tuple[str, ...]:
    lines = (line.strip() for line in examples.splitlines())
    return tuple(line[2:].strip() for line in lines if line.startswith("- "))


def load_area(path: Path) -> list[FaqEntry]:
    """Read the entries of one area file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    responses = data.get("responses") or {}
    entries = []
    for item in data.get("nlu") or []:
        key = item.get("intent", "")
        if not key.startswith(f"{RETRIEVAL_INTENT}/"):
            continue
        variants = responses.get(f"utter_{key}") or [{}]
        entries.append(
            FaqEntry(
                key=key,
                area=path.stem,
                phrasings=_phrasings(item.get("examples", "")),
                answer=variants[0].get("text", ""),
                buttons=tuple(variants[0].get("buttons") or ()),
            )
        )
    return entries


@lru_cache(maxsize=1)
def load_faq(faq_dir: Path = FAQ_DIR) -> dict[str, FaqEntry]:
    """All FAQ entries by key, in file order."""
    return {e.key: e for path in sorted(faq_dir.glob("*.yml")) for e in load_area(path)}


@lru_cache(maxsize=1)
def load_policy(path: Path = POLICY_FILE) -> dict[str, Any]:
    """The shop's policy values (return window, refund days, service hours ...)."""
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {})["policy"]


def choice_payload(key: str) -> str:
    """Button payload that picks an FAQ entry without going through NLU."""
    short = key.split("/", 1)[1]
    return f"/{RETRIEVAL_INTENT}" + json.dumps({KEY_ENTITY: short}, separators=(",", ":"))


def render(entry: FaqEntry, policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """The answer as a bot message: policy values filled in, buttons made clickable."""
    text = entry.answer.format_map(policy if policy is not None else load_policy())
    buttons = [
        {"title": b["title"], "payload": _button_payload(b["payload"])} for b in entry.buttons
    ]
    return {"text": text, "buttons": buttons}


def _button_payload(payload: str) -> str:
    # Editors write "/faq/<key>" in the YAML; the bot needs an intent with an entity.
    if payload.startswith(f"/{RETRIEVAL_INTENT}/"):
        return choice_payload(payload[1:])
    return payload


TOPICS_FILE = ROOT / "bot" / "topics.yml"


def sync_topics(topics_file: Path = TOPICS_FILE) -> list[str]:
    """Make topics.yml list exactly the FAQ entries that exist.

    A new entry goes under the topic of its area's other entries (move its line by hand to
    choose another); a deleted entry's line goes. Comments and order are kept. Returns what
    changed, one line per entry. Raises ValueError for the first entry of a brand-new area.
    """
    faq = load_faq()
    lines = topics_file.read_text(encoding="utf-8").splitlines()
    changes = [f"removed {_item(line)}" for line in lines if _is_stale(line, faq)]
    lines = [line for line in lines if not _is_stale(line, faq)]
    for key, entry in faq.items():
        listed = {_item(line): i for i, line in enumerate(lines) if _item(line)}
        if key in listed:
            continue
        siblings = [listed[k] for k, e in faq.items() if e.area == entry.area and k in listed]
        if not siblings:
            raise ValueError(
                f"{key}: no entry of area '{entry.area}' in {topics_file.name} yet; "
                "add this one by hand under its topic"
            )
        last = lines[max(siblings)]
        lines.insert(max(siblings) + 1, last[: len(last) - len(last.lstrip())] + f"- {key}")
        changes.append(f"added {key}")
    topics_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return changes


def _item(line: str) -> str:
    stripped = line.strip()
    return stripped[2:].strip() if stripped.startswith("- ") else ""


def _is_stale(line: str, faq: dict[str, FaqEntry]) -> bool:
    item = _item(line)
    return item.startswith(f"{RETRIEVAL_INTENT}/") and item not in faq


if __name__ == "__main__":
    # `python -m bot.faq`: used by `make faq` after an FAQ file was edited.
    for change in sync_topics() or ["topics.yml already lists every FAQ entry"]:
        print(change)
