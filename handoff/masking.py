"""Masking of card and identity-card numbers in any text shown to agents or stored.

Shared by the bot's handoff payload and the service's live messages, so both mask alike.
Order numbers (12 digits) and phone numbers (11 digits) are left as they are: agents need them.
"""
from __future__ import annotations

import re

# Mainland resident ID: 6-digit region, 8-digit birth date, 3 digits and a check digit/X.
_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}[01]\d[0-3]\d\d{3}[\dXx](?![0-9A-Za-z])")
# Bank and credit cards: 15-19 digits, optionally grouped by spaces or dashes.
_CARD = re.compile(r"(?<![\d])(?:\d[ -]?){14,18}\d(?![\d])")


def mask_sensitive(text: str) -> str:
    """Replace ID-card and bank-card numbers by their first and last four characters."""
    if not text:
        return text
    text = _ID_CARD.sub(lambda m: _keep_ends(m.group()), text)
    return _CARD.sub(_mask_card, text)


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group())
    if not 15 <= len(digits) <= 19:
        return match.group()
    return _keep_ends(digits)


def _keep_ends(value: str) -> str:
    return f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}"
