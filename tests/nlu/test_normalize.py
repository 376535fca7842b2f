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


def test_pasted_order_card_keeps_the_order_number_and_the_question() -> None:
    card = "咨询订单号:482913057716 订单金额:239.00 下单时间:3月2日 发票抬头写错了"
    assert normalize(card) == "订单 482913057716 发票抬头写错了"
    assert normalize("[订单编号:704418529936, 订单金额:459.00, 下单时间:6月1日] 到哪了") == (
        "订单 704418529936 到哪了"
    )


def test_a_message_without_an_order_card_is_left_alone() -> None:
    assert normalize("订单金额不对 多扣了20") == "订单金额不对 多扣了20"
    assert normalize("帮我看看订单123456789012") == "帮我看看订单123456789012"


def test_annotated_entities_follow_the_text_when_a_card_is_stripped() -> None:
    from bot.nlu.tokenizer import relocate

    text = "咨询订单号:482913057716 订单金额:239.00 东西碎了"
    entities = [{"entity": "order_id", "start": 6, "end": 18, "value": "482913057716"}]
    normalized = normalize(text)
    (moved,) = relocate(entities, text, normalized)
    assert normalized[moved["start"]:moved["end"]] == "482913057716"
