"""Checks of request parameters and bodies; each returns clean values or raises a 400."""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from contracts.http_input import InputError, load_json
from shop_api import rules
from shop_api.errors import invalid

ORDER_ID = re.compile(r"\d{12}")
PHONE = re.compile(r"1[3-9]\d{9}")
CASE_TYPES = ("return", "exchange", "repair", "delivery_issue")
MAX_LIMIT = 20
MAX_AMOUNT = 1_000_000
ADDRESS_FIELDS = {"name": 20, "phone": 11, "province": 20, "city": 20, "detail": 100}
PLACE_FIELDS = ("province", "city", "detail")
TITLE_TYPES = ("personal", "company")
# 统一社会信用代码 (GB 32100-2015): 18 characters of this alphabet, the last one a check character.
TAX_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
TAX_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
TAX_NUMBER = re.compile(f"[{TAX_ALPHABET}]{{18}}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[A-Za-z]{2,}")


MAX_BODY = 64 * 1024
MAX_DEPTH = 10


def json_body(raw: bytes, required: bool = True) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is `{}` when not required."""
    if not raw.strip():
        if required:
            raise invalid("The request body must be a JSON object.")
        return {}
    try:
        return load_json(raw, MAX_BODY, depth=MAX_DEPTH)
    except InputError as error:
        raise invalid(error.message) from error


def order_id(value: str) -> str:
    """An order number: 12 digits."""
    if not ORDER_ID.fullmatch(value):
        raise invalid("order_id must be 12 digits.")
    return value


def phone(value: str | None) -> str:
    """A mainland mobile number: 11 digits starting with 13-19."""
    if not value or not PHONE.fullmatch(value):
        raise invalid("phone must be an 11-digit mainland mobile number.")
    return value


def limit(value: str | None, default: int = 5) -> int:
    """The `limit` query parameter: 1 to 20."""
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise invalid(f"limit must be an integer from 1 to {MAX_LIMIT}.")
    return int(value)


def text(body: dict[str, Any], field: str, max_length: int, required: bool = True) -> str:
    """A string field, stripped, within a length."""
    value = body.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > max_length:
        raise invalid(f"{field} must be a non-empty string of at most {max_length} characters.")
    return value.strip()


def address(body: dict[str, Any]) -> dict[str, str]:
    """The changed fields of a delivery address.

    Province, city and detail come together (a new place); name and phone may change alone.
    Fields left out keep their current value.
    """
    given = [field for field in ADDRESS_FIELDS if body.get(field) is not None]
    if not given:
        raise invalid(f"give at least one of {', '.join(ADDRESS_FIELDS)}.")
    if any(field in given for field in PLACE_FIELDS):
        given = sorted(set(given) | set(PLACE_FIELDS), key=list(ADDRESS_FIELDS).index)
    clean = {field: text(body, field, ADDRESS_FIELDS[field]) for field in given}
    if "phone" in clean:
        phone(clean["phone"])
    return clean


def tax_number_check(code: str) -> str:
    """The check character of the first 17 characters of a 统一社会信用代码."""
    total = sum(TAX_ALPHABET.index(char) * weight for char, weight in zip(code, TAX_WEIGHTS))
    return TAX_ALPHABET[(31 - total % 31) % 31]


def is_tax_number(value: str) -> bool:
    """Whether `value` is a well-formed 统一社会信用代码 with the right check character."""
    return bool(TAX_NUMBER.fullmatch(value)) and tax_number_check(value) == value[-1]


def invoice_title(body: dict[str, Any]) -> dict[str, str | None]:
    """Title type, title and tax number of an invoice (a company needs a valid tax number)."""
    title_type = body.get("title_type")
    if title_type not in TITLE_TYPES:
        raise invalid(f"title_type must be one of {', '.join(TITLE_TYPES)}.")
    title = text(body, "title", 100)
    tax = body.get("tax_number")
    if title_type == "personal":
        if tax not in (None, ""):
            raise invalid("a personal invoice has no tax_number.")
        return {"title_type": title_type, "title": title, "tax_number": None}
    if not isinstance(tax, str) or not is_tax_number(tax.strip().upper()):
        raise invalid("tax_number must be an 18-character unified social credit code"
                      " with a valid check character.")
    return {"title_type": title_type, "title": title, "tax_number": tax.strip().upper()}


def email(value: Any) -> str | None:
    """An optional e-mail address for the e-invoice."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 100 or not EMAIL.fullmatch(value.strip()):
        raise invalid("email must be an e-mail address.")
    return value.strip()


def delivery_slot(body: dict[str, Any], today: date) -> tuple[date, str]:
    """A delivery day from tomorrow up to two weeks ahead, and a time window."""
    try:
        day = date.fromisoformat(body.get("date") or "")
    except (TypeError, ValueError) as error:
        raise invalid("date must be a date like 2026-11-25.") from error
    if not today < day <= today + timedelta(days=rules.SLOT_HORIZON_DAYS):
        raise invalid(f"date must be from tomorrow to {rules.SLOT_HORIZON_DAYS} days ahead.")
    window = body.get("window")
    if window not in rules.DELIVERY_WINDOWS:
        raise invalid(f"window must be one of {', '.join(rules.DELIVERY_WINDOWS)}.")
    return day, window


def amount(value: Any) -> int | None:
    """An optional positive amount of yuan with at most two decimals, in fen."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise invalid("amount must be a decimal string such as \"99.00\".")
    try:
        yuan = Decimal(str(value))
        if not yuan.is_finite() or not 0 < yuan < MAX_AMOUNT:
            raise InvalidOperation
    except InvalidOperation as error:
        raise invalid(f"amount must be a positive decimal below {MAX_AMOUNT}.") from error
    if yuan != yuan.quantize(Decimal("0.01")):
        raise invalid("amount must be positive with at most two decimals.")
    return int(yuan * 100)


def case_type(value: Any) -> str:
    """The type of an after-sales case."""
    if value not in CASE_TYPES:
        raise invalid(f"type must be one of {', '.join(CASE_TYPES)}.")
    return value


def idempotency_key(value: str | None) -> str | None:
    """An optional Idempotency-Key header: 1 to 100 printable characters."""
    if value is None:
        return None
    if not 1 <= len(value) <= 100 or not value.isprintable():
        raise invalid("Idempotency-Key must be 1 to 100 printable characters.")
    return value
