"""Messages that are only web markup are told to use words; markup around words is read."""
from __future__ import annotations

import pytest

from bot.nlu.guard import only_markup


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>",
    "<SCRIPT>alert('x')",
    "<img src=x onerror=alert(1)>",
    "<p></p><br/>",
    "<style>body{display:none}</style>",
])
def test_only_markup(text: str) -> None:
    assert only_markup(text)


@pytest.mark.parametrize("text", [
    "<b>我的订单到哪了</b>",
    "你好 <script>alert(1)</script>",
    "hello <i>world</i>",
    "价格 1<2 但是 3>2 吗",
    "a<b",
    "我的订单",
    "",
])
def test_words_with_or_without_markup_are_not(text: str) -> None:
    assert not only_markup(text)
