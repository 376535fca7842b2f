"""The one module that finds and masks personal data (contracts/masking.py)."""
from __future__ import annotations

import pytest

from contracts.masking import (
    card_numbers,
    id_numbers,
    is_id_number,
    luhn_valid,
    mask_address,
    mask_name,
    mask_phone,
    mask_signer,
    mask_text,
)


def test_id_numbers_need_a_real_birth_date_and_check_character() -> None:
    assert is_id_number("110101199003071233") and is_id_number("110101194912310024")
    assert not is_id_number("110101199003071234")  # wrong check character
    assert not is_id_number("110101199013071236")  # month 13
    assert not is_id_number("110101299003071231")  # born in the future
    assert id_numbers("身份证号110101199003071233，谢谢") == ["110101199003071233"]


@pytest.mark.parametrize(("text", "found"), [
    ("卡号6222 0212 3456 7890 123", ["6222 0212 3456 7890 123"]),
    ("378282246310005", ["378282246310005"]),  # 15 digits
    ("订单357083062288 手机13812345678", []),
    ("身份证110101199003071233", []),  # an ID number is not a card
    ("12345678901234567890", []),  # 20 digits
])
def test_card_numbers_of_15_to_19_digits(text: str, found: list[str]) -> None:
    assert card_numbers(text) == found


def test_luhn_check_on_request() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert card_numbers("4111111111111112", luhn=True) == []
    assert card_numbers("4111 1111 1111 1111", luhn=True) == ["4111 1111 1111 1111"]


def test_names_addresses_phones_and_signers_are_masked() -> None:
    assert mask_name("张伟") == "张**" and mask_name("欧阳娜娜") == "欧**"
    assert mask_address("北京市", "北京市", "朝阳区建国路88号") == "北京市朝阳区****"
    assert mask_address("广东省", "深圳市", "解放南路8号小区") == "广东省深圳市****"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_signer("已签收，签收人：李小明。") == "已签收，签收人：李**。"
    assert mask_signer("签收人：本人") == "签收人：本人"


def test_mask_text_keeps_order_numbers() -> None:
    masked = mask_text("卡6222021234567890 身份证110101199003071233 手机13812345678 单357083062288")
    assert "6222021234567890" not in masked and "110101199003071233" not in masked
    assert "138****5678" in masked and "357083062288" in masked


@pytest.mark.parametrize(("text", "masked"), [
    ("卡号6222.0212.3456.7890.128", "卡号6222***********0128"),
    ("卡号6222　0212　3456　7890　128", "卡号6222***********0128"),
    ("card4111111111111111", "card4111********1111"),
    ("sfz110105199003071239", "sfz1101**********1239"),
    ("订单 573262229751 电话13812345678", "订单 573262229751 电话138****5678"),
])
def test_numbers_written_with_dots_ideographic_spaces_or_glued_to_letters_are_masked(
        text: str, masked: str) -> None:
    assert mask_text(text) == masked


def test_logs_never_keep_card_id_or_phone_numbers(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from contracts.logs import MaskingFilter

    logger = logging.getLogger("test.masking")
    handler = logging.Handler()
    handler.addFilter(MaskingFilter())
    seen: list[str] = []
    handler.emit = lambda record: seen.append(  # type: ignore[method-assign]
        logging.Formatter("%(message)s").format(record))
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("卡号 6222021234567890128")
        except ValueError:
            logger.exception("turn of %s failed: %s", "c1", "身份证110105199003071239 13812345678")
    finally:
        logger.removeHandler(handler)
    [line] = seen
    assert "6222021234567890128" not in line and "110105199003071239" not in line
    assert "13812345678" not in line and "138****5678" in line
