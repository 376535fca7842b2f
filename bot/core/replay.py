"""A request the bot offered, put back as the customer's latest message once they accept the
offer in words (「好的」, or the order number it needs) instead of the button: the offered
second request (bot/actions/other_request.py) and the journey offered after an FAQ answer
(bot/actions/faq_first.py).

The request is marked as put back (`REPLAYED`): emotion tracking, the escalation policy, the
handoff transcript and the traffic export skip it, as the customer did not send it now.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk.events import ActionExecuted, UserUttered

from bot.nlu.other_request import REPLAYED

# Details of the customer's answer to the offer (「好的 573262229751」) the request needs.
CARRIED_ENTITIES = ("order_id", "phone")


def with_carried_entities(entities: list[dict[str, Any]],
                          answer: dict[str, Any]) -> list[dict[str, Any]]:
    """`entities` plus the order and phone numbers of the customer's answer that the request
    does not already hold (a number in the request itself wins)."""
    found = {entity.get("entity") for entity in entities}
    return [*entities, *({"entity": entity["entity"], "value": entity.get("value")}
                         for entity in answer.get("entities") or []
                         if entity.get("entity") in CARRIED_ENTITIES
                         and entity["entity"] not in found)]


def put_back(text: str, parse: dict[str, Any], answer: dict[str, Any],
             input_channel: str | None) -> list[dict[str, Any]]:
    """A listen and the request as the customer's latest message, marked as put back. Same
    channel and metadata as the customer's answer: agent messages and replies after a handoff
    go back where the customer is (WeChat, Telegram ...)."""
    request = UserUttered(text, parse_data={**parse, REPLAYED: True}, input_channel=input_channel)
    if answer.get("metadata"):
        request["metadata"] = answer["metadata"]
    return [ActionExecuted("action_listen"), request]
