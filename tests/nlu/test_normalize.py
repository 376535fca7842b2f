"""The normaliser folds the forms customers' keyboards and phones produce into one."""
from bot.nlu.normalize import has_words, normalize


def test_full_width_letters_and_digits_become_ascii() -> None:
    assert normalize("订单号１２３４５６７８９０１２ ＶＩＰ") == "订单号123456789012 VIP"


def test_zero_width_characters_and_stray_whitespace_are_removed() -> None:
    assert normalize("  退\u200b款  \n 进度\ufeff ") == "退款 进度"


def test_traditional_characters_become_simplified() -> None:
    assert normalize("請問我的訂單什麼時候發貨") == "请问我的订单什么时候发货"


def test_emoji_and_mixed_english_are_kept() -> None:
    assert normalize("iPhone 15 到了吗😊") == "iPhone 15 到了吗😊"


def test_has_words_tells_words_from_emoji_and_punctuation() -> None:
    assert has_words("到了吗")
    assert has_words("ok")
    assert not has_words("😡😡😡")
    assert not has_words("？？？！！")
