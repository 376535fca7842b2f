"""The domain folder as the readers outside Rasa merge it (bot/domain_files.py) is the domain
Rasa trains on."""
from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.core.constants import DEFAULT_INTENTS
from rasa.shared.core.domain import Domain

from bot.domain_files import DOMAIN_DIR, load_domain, names


def test_the_merged_folder_is_the_domain_rasa_loads() -> None:
    rasa = Domain.load(str(DOMAIN_DIR))
    ours = load_domain()
    # Rasa adds its default intents (restart, back ...) to the ones of the files.
    assert set(names(ours["intents"])) == set(rasa.intents) - (set(DEFAULT_INTENTS)
                                                               - set(names(ours["intents"])))
    assert set(ours["slots"]) == {s.name for s in rasa.slots} - {"requested_slot",
                                                                   "session_started_metadata"}
    assert set(ours["forms"]) == set(rasa.form_names)
    assert set(ours["responses"]) == set(rasa.responses)
    assert ours["session_config"]["session_expiration_time"] == \
        rasa.session_config.session_expiration_time


def test_a_name_defined_in_two_files_is_refused(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.yml").write_text(
            'version: "3.1"\nresponses:\n  utter_x:\n    - text: "' + name + '"\n',
            encoding="utf-8")
    with pytest.raises(ValueError, match="utter_x"):
        load_domain(tmp_path)


def test_a_missing_domain_is_an_error_not_an_empty_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_domain(tmp_path / "domain")
