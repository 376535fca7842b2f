"""Hands angry or ever more frustrated customers, and high-risk messages (报警, 律师, 12315 ...),
to a human, whatever their intent."""
from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.emotion_tracking import assess, customer_turns, load_thresholds
from bot.high_risk import high_risk
from bot.nlu.other_request import replayed
from bot.policies.base import CertainPolicy

ESCALATE_ACTION = "action_escalate"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=False
)
class EmotionEscalationPolicy(CertainPolicy):
    """Predicts the escalation action right after a customer message when the conversation's
    emotion assessment (bot/emotion/frustration.yml) says so. Calm turns never escalate.

    It outranks the rules (priority in config.yml), so an angry "我要退款" is not answered
    with the refund steps. It escalates once per calm-to-angry episode: after escalating it
    waits for a calm turn before it can fire again.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Above RulePolicy (6), so a certain escalation wins over a certain rule."""
        return {"priority": 7, "thresholds_path": None}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Read the thresholds once, not on every turn."""
        super().__init__(*args, **kwargs)
        self._thresholds = load_thresholds(self.config["thresholds_path"])

    def next_action(self, tracker: DialogueStateTracker, domain: Domain) -> str | None:
        """The escalation action when the customer needs a human now."""
        if tracker.latest_action_name == ESCALATE_ACTION:
            # The escalation said everything; wait for the customer (no fallback after it).
            return ACTION_LISTEN_NAME
        if tracker.latest_action_name == ACTION_LISTEN_NAME and self._should_escalate(tracker):
            return ESCALATE_ACTION
        return None

    def _should_escalate(self, tracker: DialogueStateTracker) -> bool:
        events = [event.as_dict() for event in tracker.applied_events()]
        latest_user = next((e for e in reversed(events) if e.get("event") == "user"), None)
        if latest_user is not None and replayed(latest_user):
            return False  # the customer's answer to the offer was already assessed
        turns = customer_turns(events)
        if not turns:
            return False
        if high_risk(tracker.latest_message.text if tracker.latest_message else None):
            # 报警, 律师, 12315 ... go to a human whatever the intent or emotion
            # (bot/high_risk.yml); action_escalate hands off as `high_risk`, urgent.
            return True
        assessment = assess(turns, self._thresholds)
        return assessment.escalate and not _escalated_since_calm(tracker)


def _escalated_since_calm(tracker: DialogueStateTracker) -> bool:
    """Whether the escalation already ran after the customer's last calm message."""
    for event in reversed(tracker.applied_events()):
        if isinstance(event, ActionExecuted) and event.action_name == ESCALATE_ACTION:
            return True
        if isinstance(event, UserUttered):
            if (event.parse_data.get("emotion") or {}).get("label") == "calm":
                return False
    return False
