"""An upset customer hears that first, once; and what the bot already said this turn (so a
question or an apology is not sent twice)."""
from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.emotion_tracking import acknowledgement, bot_texts


def is_upset(tracker: Tracker) -> bool:
    """Whether the customer's latest message reads upset or angry."""
    return (tracker.latest_message.get("emotion") or {}).get("label") in {"upset", "angry"}


def acknowledge_if_upset(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Put a short, sincere line before the answer when the customer is upset (or angry
    without being escalated yet). Answers that apologise themselves check `is_upset` so the
    customer does not hear sorry twice in a row."""
    if not is_upset(tracker):
        return
    line = acknowledgement("upset", bot_texts(tracker.events), tracker.latest_message.get("text"))
    if line:
        dispatcher.utter_message(text=line)


def uttered_this_turn(tracker: Tracker, response: str) -> bool:
    """Whether the bot already sent this response since the customer's latest message."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "bot" and \
                (event.get("metadata") or {}).get("utter_action") == response:
            return True
    return False


def bot_spoke_this_turn(tracker: Tracker) -> bool:
    """Whether the bot already sent a message since the customer's last one."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "bot":
            return True
    return False


def acknowledge_before_asking(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Before the first question of a turn: sorry when the customer has just reported a
    problem with a parcel, and an acknowledgement when they are upset, whatever they asked
    ("到现在还没发货" should not be answered with a bare "请发一下订单号"). Once per turn: an
    upset customer gets the acknowledgement instead of the apology, and nothing is added after
    the bot already spoke in this turn."""
    if bot_spoke_this_turn(tracker):
        return
    if is_upset(tracker):
        acknowledge_if_upset(dispatcher, tracker)
    elif tracker.latest_message.get("intent", {}).get("name") == "report_delivery_issue":
        dispatcher.utter_message(response="utter_sorry_delivery_problem")
