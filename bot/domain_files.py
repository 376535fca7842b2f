"""The domain as Rasa reads it: one file per feature under domain/, merged.

Rasa is given the folder (`--domain domain`); the readers outside Rasa (the REST edge, the tests,
the evaluation) merge the same files here instead of each globbing on its own."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOMAIN_DIR = ROOT / "domain"


def domain_files(root: Path = DOMAIN_DIR) -> list[Path]:
    """The domain's YAML files, in a stable order (a single file is its own list)."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix in {".yml", ".yaml"})


def load_domain(root: Path = DOMAIN_DIR) -> dict[str, Any]:
    """The domain's files merged as Rasa merges them: lists concatenated, mappings joined.

    A name defined in two files (a slot, form or response) is an error: Rasa would keep one of
    them silently."""
    files = domain_files(root)
    if not files:  # a missing domain must not read as one without intents
        raise FileNotFoundError(f"no domain files in {root}")
    merged: dict[str, Any] = {}
    for path in files:
        part = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key, value in part.items():
            if isinstance(value, dict):
                section = merged.setdefault(key, {})
                twice = set(section) & set(value)
                if twice and key != "session_config":
                    raise ValueError(f"{path.name}: {key} {sorted(twice)} defined twice")
                section.update(value)
            elif isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            else:
                merged[key] = value
    return merged


def names(items: list[Any] | dict[str, Any] | None) -> list[str]:
    """Names of a domain list whose items are strings or one-key dicts (intents, entities)."""
    return [i if isinstance(i, str) else next(iter(i)) for i in items or []]
