"""A reply worded in the domain: the response's name and the values for its placeholders.

Helpers that choose what to say (by an order's state, an error, a payment method) return a
`Reply`; the action sends it. The words live under domain/, where they are reviewed and
translated in one place; tests/test_wording.py checks that every response named here exists
with the values passed."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rasa_sdk.executor import CollectingDispatcher


@dataclass(frozen=True)
class Reply:
    """A response of the domain and the values that fill it."""

    response: str
    values: dict[str, Any] = field(default_factory=dict)

    def send(self, dispatcher: CollectingDispatcher, **extra: Any) -> None:
        """Send the response (`extra`: buttons, json_message or more values)."""
        values = {k: verbatim(v) if isinstance(v, str) else v for k, v in self.values.items()}
        dispatcher.utter_message(response=self.response, **values, **extra)


def verbatim(value: str) -> str:
    """A value (often the customer's own words) that Rasa's interpolation keeps as it is.

    Rasa fills `{name}` by rewriting it to `{0[name]}`; a filled text that still contains
    "0[" is taken for a failed fill and the customer would read the raw `{name}`. A full-width
    bracket reads the same."""
    return value.replace("0[", "0［")


def reply(response: str, **values: Any) -> Reply:
    """A reply with its values as keywords, as `utter_message` takes them."""
    return Reply(response, values)
