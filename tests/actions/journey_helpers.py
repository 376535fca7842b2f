"""Run journey forms and actions on built trackers against the real demo shop API."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.confirmation import ActionConfirmChange
from bot.core.changes import PENDING_SLOT
from shop_api.seed import build
from tests.responses import message_text

DOMAIN_FORMS = {
    "cancel_order_form": ["order_id"],
    "change_order_form": ["order_id", "change_field", "new_address", "new_phone", "delivery_day",
                          "delivery_window"],
    "delivery_issue_form": ["order_id", "issue_type", "issue_detail"],
    "payment_failed_form": ["payment_method", "payment_error"],
    "payment_charged_form": ["order_id"],
    "refund_request_form": ["order_id", "refund_reason"],
    "after_sales_form": ["order_id", "after_sales_type", "after_sales_reason", "pickup_method"],
    "invoice_form": ["invoice_action", "order_id", "title_type", "invoice_title", "tax_number"],
    "account_form": ["account_issue", "phone"],
}
DOMAIN: dict[str, Any] = {"forms": {name: {"required_slots": slots}
                                    for name, slots in DOMAIN_FORMS.items()}}


def tracker(
    text: str = "", intent: str = "inform", entities: list[dict] | None = None,
    events: list[dict] | None = None, confidence: float = 0.9, **slots: Any,
) -> Tracker:
    """A tracker whose latest message is `text` with `intent`, and the given slots. A demo
    order comes with its owner's phone (proof of ownership) unless `phone` is given."""
    if slots.get("order_id") in _OWNERS and "phone" not in slots:
        slots["phone"] = owner(slots["order_id"])
    message = {"intent": {"name": intent, "confidence": confidence},
               "entities": entities or [], "text": text}
    return Tracker("journey-test", slots, message, events or [], False, None,
                   {"name": "action_listen"}, "action_listen")


def owner(order_id: str) -> str:
    """The phone a demo order was placed with (the proof the journeys ask for)."""
    return _OWNERS[order_id]


_OWNERS = {row["order_id"]: row["phone"]
           for row in build(datetime.now(timezone.utc))["orders"]}


def choice(value: str) -> list[dict]:
    """The entities of a button payload /inform{"choice": value}."""
    return [{"entity": "choice", "value": value}]


def run_form(
    form: FormValidationAction, current: Tracker, requested: str | None = None,
    fresh: tuple[str, ...] = ("order_id",),
) -> tuple[dict[str, Any], list[dict]]:
    """Run a form's validation action: the slots it sets and the messages it sends.

    `fresh` are the slots Rasa set from this message (they get validated), as the form's
    slot candidates at the end of the events."""
    current.slots["requested_slot"] = requested
    current.events.append({"event": "action", "name": "form"})
    current.events.extend({"event": "slot", "name": name, "value": current.slots[name]}
                          for name in fresh if current.slots.get(name) is not None)
    dispatcher = CollectingDispatcher()
    events = asyncio.run(form.run(dispatcher, current, DOMAIN))
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}, dispatcher.messages


def run_action(action: Action, current: Tracker) -> tuple[dict[str, Any], list[dict]]:
    """Run an action: the slots it sets and the messages it sends."""
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, current, DOMAIN)
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}, dispatcher.messages


def texts(messages: list[dict]) -> str:
    """Every text the bot sent (responses filled as Rasa fills them), joined."""
    return "\n".join(message_text(m) for m in messages)


def confirmed(slots: dict[str, Any], prompt: str = "action_cancel_order") -> Tracker:
    """The tracker right after the customer answered 确认 to a confirmation question."""
    events = [
        {"event": "action", "name": prompt},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "确认"},
    ]
    return tracker("确认", "affirm", events=events, **{PENDING_SLOT: slots[PENDING_SLOT]})


def ask_then_confirm(action: Action, current: Tracker) -> tuple[list[dict], list[dict]]:
    """Run a journey's answer step, which must ask for a yes, then the yes: the messages of
    the question and of the change made."""
    slots, asked = run_action(action, current)
    assert slots.get(PENDING_SLOT), texts(asked)
    assert [b["payload"] for b in asked[-1]["buttons"]] == ["/affirm", "/deny"]
    _, done = run_action(ActionConfirmChange(), confirmed(slots, prompt=action.name()))
    return asked, done
