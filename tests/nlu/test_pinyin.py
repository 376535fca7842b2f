"""Pinyin typed with the input method off is read as the characters the customer meant;
English, numbers and keyboard mashing are left alone. Sentences written for the tests."""
from __future__ import annotations

import pytest
import yaml

from bot.nlu.normalize import classifier_text, normalize
from bot.nlu.pinyin import LEXICON_PATH, read_pinyin, split_token


@pytest.mark.parametrize("text, read", [
    ("kuaidi dao na le", "快递到哪了"),
    ("wo yao tuikuan", "我要退款"),
    ("mima wang le zenme ban", "密码忘了怎么办"),
    ("Fapiao zenme kai", "发票怎么开"),
    # tokens that join several entries, and numbers kept
    ("wode dingdan573262229751 daonale", "我的订单573262229751 到哪了"),
    # mixed with characters: the pinyin word joins the characters before it
    ("我的 kuaidi 到哪了", "我的快递 到哪了"),
    # English beside the pinyin: only the runs that hold a pinyin word are read
    ("can you send me the fapiao", "can you send me the 发票"),
    ("vip huiyuan zenme kai", "vip 会员怎么 kai"),
    # e-mail addresses, links and codes are not pinyin, even in a pinyin message
    ("shuihao shi 91440300MA5G2RNT42", "税号 shi 91440300MA5G2RNT42"),
    ("fapiao fa dao wangjian@qq.com", "发票 fa dao wangjian@qq.com"),
])
def test_pinyin_is_read_as_characters(text: str, read: str) -> None:
    assert read_pinyin(text) == read


@pytest.mark.parametrize("text", [
    "order 573262229751 where is my package",
    "can you help me",  # "you" alone is English: syllables need a pinyin word beside them
    "hello",
    "wsxedc",
    "iPhone 15 有货吗",
    "Nike 鞋 you mei you",
    "我的订单到哪了",
    "",
])
def test_english_and_everything_else_is_left_alone(text: str) -> None:
    assert read_pinyin(text) == text


def test_a_token_is_read_only_when_it_splits_wholly_into_entries() -> None:
    words = {"wo": "我", "de": "的", "dingdan": "订单"}
    assert split_token("wodedingdan", words) == ["wo", "de", "dingdan"]
    assert split_token("wodex", words) is None


def test_only_the_classifiers_read_pinyin_the_message_text_stays_as_written() -> None:
    """Slots take the message text: an invoice title 「Wang Yijing」 is a name, not 忘已经."""
    assert classifier_text(normalize("ＷＯ  yao <b>tuihuo</b>")).strip() == "我要退货"
    assert normalize("Wang Yijing") == "Wang Yijing"
    assert normalize("wo yao tuihuo") == "wo yao tuihuo"


def test_the_word_list_has_no_english_words_among_its_words() -> None:
    """`words` are read even alone, so none may be an everyday English word."""
    data = yaml.safe_load(LEXICON_PATH.read_text(encoding="utf-8"))
    english = {"women", "you", "can", "man", "ban", "hang", "long", "fan", "pin", "tan", "he",
               "a", "dan", "men", "change", "hope", "hello", "ok", "hi"}
    assert not english & set(data["words"])
    assert all(len(value) >= 1 and not value.isascii() for value in data["words"].values())


def test_a_run_of_letters_too_long_to_be_typed_pinyin_is_left_alone() -> None:
    long_run = "wo" * 5000  # it splits into entries, but nobody types that
    assert read_pinyin(long_run + " tuikuan") == long_run + " 退款"
