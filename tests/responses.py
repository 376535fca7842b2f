"""What the customer reads for a message an action sends: a text as it is, a response of the
domain filled with the values passed, as Rasa fills it (rasa.core.nlg.interpolator)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from rasa.core.nlg.interpolator import interpolate_text

from bot.core.replies import Reply
from bot.domain_files import load_domain

# Keys of a dispatcher message that are not values for the response's placeholders.
MESSAGE_KEYS = {"text", "buttons", "elements", "custom", "template", "response", "image",
                "attachment", "json_message"}


@lru_cache(maxsize=1)
def responses() -> dict[str, list[dict[str, Any]]]:
    """The responses of the domain."""
    return load_domain()["responses"]


def variants(name: str, /, **values: Any) -> list[str]:
    """Every variant of a response, filled with `values`."""
    return [interpolate_text(v["text"], values) for v in responses()[name] if v.get("text")]


def render(name: str, /, **values: Any) -> str:
    """The text of a response with one variant, filled with `values`."""
    texts = variants(name, **values)
    assert len(texts) == 1, f"{name} has {len(texts)} variants: compare with variants()"
    return texts[0]


def rendered(reply: Reply) -> str:
    """The text of a reply built by an action's helper."""
    return render(reply.response, **reply.values)


def message_text(message: dict[str, Any]) -> str:
    """What the customer reads for one dispatcher message (the first variant of a response
    with several)."""
    if message.get("text"):
        return message["text"]
    name = message.get("response") or message.get("template")
    if not name:
        return ""
    values = {k: v for k, v in message.items() if k not in MESSAGE_KEYS}
    return variants(name, **values)[0]
