"""Masking of card and identity-card numbers in any text shown to agents or stored.

Shared by the bot's handoff payload and the service's live messages, so both mask alike. The
recognition itself is bot/masking.py's, the one the journeys use (resident ID numbers with a
valid birth date and check character, card numbers of 15-19 digits). Unlike the journeys'
replies, phone numbers (11 digits) and order numbers (12 digits) are left as they are here:
agents need them.
"""
from __future__ import annotations

import re

from bot.masking import CARD_CANDIDATE, ID_CANDIDATE, card_digits, is_id_number


def mask_sensitive(text: str) -> str:
    """Replace ID-card and bank-card numbers by their first and last four characters."""
    if not text:
        return text
    text = ID_CANDIDATE.sub(
        lambda m: _keep_ends(m.group()) if is_id_number(m.group()) else m.group(), text)
    return CARD_CANDIDATE.sub(_mask_card, text)


def _mask_card(match: re.Match[str]) -> str:
    digits = card_digits(match.group())
    if not 15 <= len(digits) <= 19:
        return match.group()
    return _keep_ends(digits)


def _keep_ends(value: str) -> str:
    return f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}"
