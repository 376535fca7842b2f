"""Handing the conversation to a human agent, as the journeys call it.

The machinery (payload, outbox, delivery to the handoff service) still lives in
bot/actions/handoff.py, which defines no action of its own; features reach it only through
this module, so moving it into the core changes this file alone. Until then this is the one
import from the core into bot/actions (KNOWN_DEBT in tests/test_architecture.py)."""
from __future__ import annotations

from bot.actions.handoff import HandoffAction, Reason, hand_off

__all__ = ["HandoffAction", "Reason", "hand_off"]
