"""The FAQ action answers, suggests or asks to rephrase, from a saved parse."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.faq import ActionAnswerFaq, decide
from bot.faq import load_faq, load_policy


def parse(ranking: list[tuple[str, float]], intent: str = "faq", **extra: Any) -> dict[str, Any]:
    """A parse result with the retriever's ranking, as the NLU pipeline produces it."""
    return {
        "intent": {"name": intent, "confidence": 0.9},
        "intent_ranking": [{"name": intent, "confidence": 0.9}],
        "entities": extra.pop("entities", []),
        "response_selector": {
            "all_retrieval_intents": ["faq"],
            "faq": {
                "response": {"intent_response_key": ranking[0][0], "confidence": ranking[0][1]},
                "ranking": [{"intent_response_key": k, "confidence": c} for k, c in ranking],
            },
        },
        **extra,
    }


def run(message: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tracker = Tracker("c1", {}, message, [{"event": "user", "parse_data": message}], False,
                      None, {"name": "action_listen"}, "action_listen")
    dispatcher = CollectingDispatcher()
    events = ActionAnswerFaq().run(dispatcher, tracker, {})
    return dispatcher.messages, events


def test_confident_retrieval_answers_with_policy_values_filled_in() -> None:
    messages, events = run(parse([("faq/shipping_free_threshold", 0.8), ("faq/shipping_fee", 0.1)]))
    assert str(load_policy()["free_shipping_threshold"]) in messages[0]["text"]
    assert "{" not in messages[0]["text"]
    assert events == [{"event": "slot", "timestamp": None, "name": "suggested_faq", "value": None}]


def test_unsure_retrieval_suggests_up_to_three_questions_plus_none_of_them() -> None:
    ranking = [("faq/refund_time_alipay", 0.2), ("faq/refund_time_wechat", 0.18),
               ("faq/refund_time_general", 0.15), ("faq/invoice_types", 0.1)]
    messages, events = run(parse(ranking))
    buttons = messages[0]["buttons"]
    faq = load_faq()
    assert [b["title"] for b in buttons] == [faq[k].title for k, _ in ranking[:3]] + ["都不是"]
    assert buttons[0]["payload"] == '/faq{"faq_key":"refund_time_alipay"}'
    assert events[0]["value"] == [k for k, _ in ranking[:3]]


def test_a_picked_suggestion_is_answered_even_with_a_low_score() -> None:
    picked = parse([("faq/shipping_fee", 0.01)],
                   entities=[{"entity": "faq_key", "value": "invoice_types"}])
    assert decide(picked) == ("answer", [load_faq()["faq/invoice_types"]])


def test_an_invented_faq_key_is_ignored() -> None:
    forged = parse([("faq/shipping_fee", 0.9)],
                   entities=[{"entity": "faq_key", "value": "../../etc/passwd"}])
    assert decide(forged) == ("answer", [load_faq()["faq/shipping_fee"]])


def test_answer_buttons_are_clickable_choices() -> None:
    with_buttons = next(e for e in load_faq().values() if e.buttons)
    messages, _ = run(parse([(with_buttons.key, 0.9)]))
    assert messages[0]["buttons"][0]["payload"].startswith('/faq{"faq_key":')


def test_a_one_word_question_gets_suggestions_unless_the_match_is_clear() -> None:
    ranking = [("faq/shipping_fee", 0.5), ("faq/refund_shipping_fee", 0.3)]
    action, entries = decide(parse(ranking, text="运费"))
    assert action == "suggest" and entries[0].key == "faq/shipping_fee"
    assert decide(parse(ranking, text="运费怎么算的"))[0] == "answer"
