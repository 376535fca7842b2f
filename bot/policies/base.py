"""Base of the project's hand-written policies: nothing to train, and at most one action
predicted with certainty per step (`next_action`), which outranks the rules through the
policy's priority."""
from __future__ import annotations

from abc import abstractmethod
from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker


class CertainPolicy(Policy):
    """A policy that either predicts one action with confidence 1 or abstains."""

    def train(
        self, training_trackers: list[TrackerWithCachedStates], domain: Domain, **kwargs: Any
    ) -> Resource:
        """Nothing to learn: the decision comes from code and configuration."""
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        """Confidence 1 for `next_action`, or no prediction at all."""
        probabilities = self._default_predictions(domain)
        action = self.next_action(tracker, domain)
        if action is not None and action in domain.action_names_or_texts:
            probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities)

    @abstractmethod
    def next_action(self, tracker: DialogueStateTracker, domain: Domain) -> str | None:
        """The action to run now, or None to leave the decision to the other policies."""
