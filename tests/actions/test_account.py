"""Account help on built trackers against the real demo shop API, and the warnings about
card numbers, ID numbers and passwords."""
from __future__ import annotations

import pytest

from bot.actions.account import ActionAccountHelp, ValidateAccountForm
from bot.core.answers import sensitive_number
from shop_api.seed import scenario
from tests.actions.journey_helpers import run_action, run_form, texts, tracker
from tests.responses import message_text


@pytest.fixture(autouse=True)
def point_to_shop(shop_api: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in shop_api.items():
        monkeypatch.setenv(key, value)


@pytest.mark.parametrize(("text", "issue"), [
    ("登录不上去", "login"), ("收不到验证码", "code_not_received"), ("忘记密码了", "password"),
    ("手机号不用了想换绑", "change_phone"), ("账号被冻结了", "locked"),
    ("怎么实名认证", "real_name"), ("怎么注册", "register"),
])
def test_problem_from_the_words(text: str, issue: str) -> None:
    slots, _ = run_form(ValidateAccountForm(), tracker(text, "account_help"), fresh=())
    assert slots["account_issue"] == issue


@pytest.mark.parametrize(("text", "kind"), [
    ("我的卡号是6222 0212 3456 7890 123", "card"),
    ("6222021234567890", "card"),
    ("身份证110101199003071233", "id"),
    ("身份证11010119900307123x", None),  # wrong check character: not an ID number
    ("123456789012345", "card"),  # 15 digits: an American Express-length card
    ("密码是abc12345", "password"),
    (f"订单{scenario('shipped')}", None),
    ("手机13812345678", None),
    ("税号91440300MA5G2RNT42", None),
])
def test_sensitive_numbers_are_recognised(text: str, kind: str | None) -> None:
    assert sensitive_number(text) == kind


def test_card_number_gets_a_warning_and_is_never_echoed() -> None:
    current = tracker("登录不上 我的卡号6222021234567890", "account_help")
    _, messages = run_form(ValidateAccountForm(), current, fresh=())
    assert messages[0]["response"] == "utter_sensitive_card"
    assert all("6222021234567890" not in message_text(m) for m in messages)


def help_text(issue: str, phone_key: str) -> str:
    _, messages = run_action(ActionAccountHelp(), tracker(account_issue=issue,
                                                          phone=scenario(phone_key)))
    return texts(messages)


def test_steps_match_the_accounts_state() -> None:
    assert "自动解锁" in help_text("login", "account_locked")
    assert "人工核实" in help_text("locked", "account_risk_locked")
    assert "实名认证的状态可以在 App" in help_text("real_name", "account_unverified")
    assert "绑定手机号" in help_text("code_not_received", "account_phone_not_bound")
    assert "还没有注册" in help_text("register", "unregistered")
    assert "已经注册过了" in help_text("register", "customer_with_history")
    assert "语音验证码" in help_text("code_not_received", "customer_with_history")
    assert "原手机号不可用" in help_text("change_phone", "customer_with_history")


def test_masked_phone_only_and_a_password_reminder() -> None:
    _, messages = run_action(ActionAccountHelp(), tracker(account_issue="password",
                                                          phone="13812345678"))
    assert "138****5678" in texts(messages) and "13812345678" not in texts(messages)
    assert messages[-1]["response"] == "utter_never_share_password"


def test_wrong_phone_counts_and_api_down_offers_a_human(monkeypatch: pytest.MonkeyPatch) -> None:
    slots, messages = run_form(ValidateAccountForm(), tracker(
        "1234", account_issue="login"), "phone", fresh=())
    assert slots["phone"] is None and messages[-1]["response"] == "utter_phone_invalid"
    monkeypatch.setenv("SHOP_API_URL", "http://127.0.0.1:9")
    _, messages = run_action(ActionAccountHelp(), tracker(account_issue="login",
                                                          phone="13812345678"))
    assert messages[-1]["response"] == "utter_shop_api_down"


def test_a_typed_phone_learns_at_most_that_its_account_is_locked() -> None:
    for key in ("account_locked", "account_risk_locked"):
        text = help_text("locked", key)
        assert "目前处于锁定状态" in text
        assert "错误次数过多" not in text and "风控" not in text  # never this lock's reason
        assert "自动解锁" in text and "会在 " not in text  # nor when it ends
        assert "密码连续输错 5 次" in text and "锁定 30 分钟" in text  # bot/policy.yml
        assert "24 小时" not in text
    assert "已经完成实名认证" not in help_text("real_name", "customer_with_history")
    assert "还没有实名认证" not in help_text("real_name", "account_unverified")
