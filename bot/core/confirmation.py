"""The confirmation registry: how each kind of pending change is made once the customer said
yes. A journey registers its change in its own module, next to the action that asks:

    @dataclass(frozen=True)
    class RefundChange(PendingChange):
        kind: ClassVar[str] = "refund"
        reason: str | None = None

    @confirms(RefundChange, asked_by="action_refund_request")
    def open_refund(dispatcher, change: RefundChange, key: str) -> None: ...

action_confirm_change (bot/actions/confirmation.py) then makes the change it finds in the
`pending_change` slot, and explains the shop's refusal when the shop says no."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.clients.shop_api import Order, ShopApiError, ShopApiUnavailable
from bot.core.changes import PENDING_SLOT, PendingChange
from bot.core.lookup import offer_human
from bot.core.replies import Reply
from bot.core.shop import REFUSALS, refusal, shop_client
from bot.faq import load_policy

C = TypeVar("C", bound=PendingChange)
# Makes a confirmed change through the shop API and tells the customer the result; may raise
# ShopApiUnavailable or ShopApiError (then explained here). The str is the idempotency key.
MakeChange = Callable[[CollectingDispatcher, C, str], None]
# What the order's state now allows, when it changed between the question and the yes.
StateChanged = Callable[[Order, C], Reply]


@dataclass(frozen=True)
class Confirmation:
    """How one kind of change is made, and which action asks for it."""

    change_type: type[PendingChange]
    asked_by: str
    make: MakeChange[Any]
    state_changed: StateChanged[Any] | None = None


_REGISTRY: dict[str, Confirmation] = {}


def confirms(
    change_type: type[C], *, asked_by: str, state_changed: StateChanged[C] | None = None
) -> Callable[[MakeChange[C]], MakeChange[C]]:
    """Register the decorated function as the one that makes `change_type` once confirmed.

    `asked_by` is the action that asks the question (the yes must answer it directly);
    `state_changed` words what is still possible when the shop refuses because the order's
    state changed meanwhile (HTTP 409)."""

    def register(make: MakeChange[C]) -> MakeChange[C]:
        known = _REGISTRY.get(change_type.kind)
        # A module reloaded by the action server registers its kinds again: that is fine.
        if known is not None and known.change_type.__module__ != change_type.__module__:
            raise ValueError(f"change kind {change_type.kind!r} is already made by "
                             f"{known.change_type.__module__}")
        _REGISTRY[change_type.kind] = Confirmation(change_type, asked_by, make, state_changed)
        return make

    return register


def registered() -> dict[str, Confirmation]:
    """Every kind of change registered so far (rasa-sdk imports all of bot/actions)."""
    return dict(_REGISTRY)


def pending_change(tracker: Tracker) -> PendingChange | None:
    """The change waiting for the customer's yes, if it is well formed and of a known kind."""
    raw = tracker.get_slot(PENDING_SLOT)
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("order_id"), str):
        return None
    kind = data.get("kind")
    confirmation = _REGISTRY.get(kind) if isinstance(kind, str) else None
    if confirmation is None:
        return None
    try:
        return confirmation.change_type(**{k: v for k, v in data.items() if k != "kind"})
    except TypeError:  # fields missing or unknown
        return None


def prompted_just_before(tracker: Tracker) -> bool:
    """Whether the bot's last step before this message was a confirmation question."""
    asking = {confirmation.asked_by for confirmation in _REGISTRY.values()}
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return False
            seen_user = True
        elif seen_user and event.get("event") == "action" and \
                event.get("name") not in {"action_listen", None}:
            return event.get("name") in asking
    return False


def make_change(dispatcher: CollectingDispatcher, change: PendingChange, key: str) -> None:
    """Make a confirmed change through its journey's function; explain a refusal."""
    confirmation = _REGISTRY[change.kind]
    try:
        confirmation.make(dispatcher, change, key)
    except ShopApiUnavailable:
        offer_human(dispatcher, "backend_down")
    except ShopApiError as error:
        explain_refusal(dispatcher, confirmation, change, error)


def explain_refusal(
    dispatcher: CollectingDispatcher, confirmation: Confirmation, change: PendingChange,
    error: ShopApiError,
) -> None:
    """The shop refused the change (the state changed meanwhile, or the data is invalid)."""
    if error.code == "order_not_found":
        dispatcher.utter_message(response="utter_order_not_found", order_id=change.order_id)
        return
    if error.status == 409 and confirmation.state_changed is not None:
        try:
            order = shop_client().order(change.order_id)
        except (ShopApiError, ShopApiUnavailable):
            order = None
        if order is not None:
            dispatcher.utter_message(response="utter_order_state_changed")
            confirmation.state_changed(order, change).send(dispatcher)
            return
    if error.code in REFUSALS:
        refusal(error).send(dispatcher)
        return
    dispatcher.utter_message(response="utter_change_refused", **load_policy())
