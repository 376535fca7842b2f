"""Text normalisation for Chinese customer messages, shared by the NLU components."""
from __future__ import annotations

import re
import unicodedata

import zhconv

from bot.nlu.pinyin import read_pinyin

# Zero-width and bidi control characters that chat apps and copy-paste leave behind.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
_WHITESPACE = re.compile(r"\s+")
# Letters, digits and CJK ideographs: a message without any carries no words to understand.
_WORD_CHAR = re.compile(r"[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Order cards that shop apps paste before the question ("咨询订单号:123456789012 订单金额:239.00
# 下单时间:3月2日 我要保价", or the same in brackets). Amount, date and product id say nothing
# about what the customer wants and outweigh a short question; the order number is kept.
_CARD_FIELDS = re.compile(
    r"(?:订单金额|商品金额|金额)\s*[:：]\s*[¥￥]?\s*[\d,]+(?:\.\d+)?\s*元?"
    r"|(?:下单时间|下单日期)\s*[:：]\s*[\d年月日号:/\- ]*\d[日号]?"
    r"|商品(?:ID|id|编号)\s*[:：]\s*\d+"
)
_CARD_ORDER = re.compile(r"(?:咨询)?订单(?:编号|号)\s*[:：]\s*(?=\d)")
# Web markup pasted or typed into the chat: tags, comments, and script/style with their code.
_CODE_ELEMENT = re.compile(r"<(script|style)\b.*?(</\1\s*>|$)", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>|<!--.*?-->", re.DOTALL)


def normalize(text: str) -> str:
    """Return the text with full-width forms folded, invisible characters and stray
    whitespace removed, and traditional characters converted to simplified ones."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _WHITESPACE.sub(" ", text).strip()
    text = zhconv.convert(text, "zh-hans")
    return strip_order_card(text)


def classifier_text(text: str) -> str:
    """The text the intent classifier and the FAQ retriever read: without web markup (a
    pasted tag says nothing about the request) and with pinyin typed with the input method off
    read as characters (bot/nlu/pinyin.py). Only they read it this way: the message text that
    slots, entities and the transcript take stays as the customer wrote it (a name or a tax
    number in Latin letters is not pinyin)."""
    return read_pinyin(strip_markup(text))


def strip_order_card(text: str) -> str:
    """Drop the amount, date and product-id fields of a pasted order card, keeping the
    order number and the customer's own words."""
    if not _CARD_FIELDS.search(text) and not _CARD_ORDER.search(text):
        return text
    text = _CARD_FIELDS.sub(" ", text)
    text = _CARD_ORDER.sub("订单 ", text)
    text = re.sub(r"\[([^\]]*)\]", lambda m: " " + m.group(1) + " ", text)
    text = re.sub(r"[,，;；]\s*(?=[,，;；\s]|$)", " ", text)
    return _WHITESPACE.sub(" ", text).strip(" ,，;；")


def strip_markup(text: str) -> str:
    """The text without web markup: script and style elements with their code, other tags and
    comments become spaces (the words between tags stay)."""
    if not _TAG.search(text) and not _CODE_ELEMENT.search(text):
        return text
    return _TAG.sub(" ", _CODE_ELEMENT.sub(" ", text))


def has_words(text: str) -> bool:
    """Tell whether the text holds at least one letter, digit or Chinese character."""
    return bool(_WORD_CHAR.search(text))
