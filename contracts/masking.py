"""Finding and masking personal data in text: bank-card numbers, resident ID numbers, phones,
names and street addresses. One module for the bot's journeys, its handoff payload, the
handoff service's transcripts and every service's logs, so all recognise and mask alike."""
from __future__ import annotations

import re
from datetime import date

# Mainland mobile numbers: 11 digits starting with 13-19.
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
# What may group the digits of a card number: spaces (also ideographic), dashes, dots.
# (escaped: a bare "-" between two characters would make a range of the class)
CARD_SEPARATORS = re.escape(" \u3000\u00a0\uff0d.\u00b7-")
# 15-19 digits, grouped or not; glued to letters too (「card4111…」 is still a card); never
# right after a mask (the kept end of a masked ID number must not join the next number).
CARD_CANDIDATE = re.compile(rf"(?<![\d*])(?:\d[{CARD_SEPARATORS}]?){{14,18}}\d(?![\dXx])")
# A resident ID number: 6-digit region, 8-digit birth date, 3 digits and a check character
# (glued to letters too: 「sfz1101…」).
ID_CANDIDATE = re.compile(r"(?<!\d)[1-9]\d{16}[\dXx](?!\d)")
_SEPARATOR_RUN = re.compile(rf"[{CARD_SEPARATORS}]")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
# The part of an address kept when masking: up to the district or county.
DISTRICT = re.compile(r"^[^\d路街巷弄号村]{1,6}?(?:区|县|旗|市)")
# Who signed for a parcel, in tracking texts: 签收人：张伟 -> 签收人：张**.
SIGNER = re.compile(
    r"(签收人[：:]\s*)(?!本人|快递柜|驿站|门卫|代收点)([\u4e00-\u9fa5])[\u4e00-\u9fa5]{1,3}")


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn check used by bank cards."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def is_id_number(value: str) -> bool:
    """Whether `value` is an 18-character resident ID number: a real birth date (not in the
    future) and the right check character (GB 11643)."""
    code = value.upper()
    if len(code) != 18 or not code[:17].isdigit() or code[0] == "0":
        return False
    try:
        born = date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError:
        return False
    if not date(1900, 1, 1) <= born <= date.today():
        return False
    total = sum(int(char) * weight for char, weight in zip(code, ID_WEIGHTS))
    return ID_CHECK[total % 11] == code[17]


def id_numbers(text: str) -> list[str]:
    """The resident ID numbers in a text."""
    return [m.group() for m in ID_CANDIDATE.finditer(text or "") if is_id_number(m.group())]


def card_numbers(text: str, luhn: bool = False) -> list[str]:
    """The bank-card numbers in a text (15-19 digits, grouped or not); with `luhn`, only those
    passing the Luhn check. Resident ID numbers are not cards."""
    found = []
    for match in CARD_CANDIDATE.finditer(text or ""):
        digits = card_digits(match.group())
        if not 15 <= len(digits) <= 19 or is_id_number(digits):
            continue
        if luhn and not luhn_valid(digits):
            continue
        found.append(match.group())
    return found


def card_digits(value: str) -> str:
    """The digits of a card number written with separators."""
    return _SEPARATOR_RUN.sub("", value)


def mask_phone(phone: str) -> str:
    """A phone number the way Chinese services show it: 138****5678."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) == 11 else phone


def mask_name(name: str) -> str:
    """A person's name with only the surname: 张伟 -> 张**."""
    name = (name or "").strip()
    return f"{name[0]}**" if name else ""


def mask_address(province: str, city: str, detail: str) -> str:
    """An address down to the district, the street part hidden: 北京市朝阳区****."""
    head = f"{province}{city if city != province else ''}"
    district = DISTRICT.match(detail or "")
    return f"{head}{district.group() if district else ''}****"


def mask_signer(text: str) -> str:
    """A tracking text with the name of whoever signed for the parcel masked."""
    return SIGNER.sub(lambda m: f"{m.group(1)}{m.group(2)}**", text or "")


def _keep_ends(value: str) -> str:
    return f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}"


def mask_text(text: str) -> str:
    """A text with ID numbers, card numbers and phones masked (order numbers are kept)."""
    if not text:
        return text
    text = ID_CANDIDATE.sub(
        lambda m: _keep_ends(m.group()) if is_id_number(m.group()) else m.group(), text)
    text = CARD_CANDIDATE.sub(lambda m: _keep_ends(card_digits(m.group()))
                              if 15 <= len(card_digits(m.group())) <= 19
                              else m.group(), text)
    return PHONE.sub(lambda m: mask_phone(m.group()), text)


# --- transcripts shown to agents: phone and order numbers stay (agents need them), ID and
# --- bank-card numbers keep only their first and last four characters.

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
