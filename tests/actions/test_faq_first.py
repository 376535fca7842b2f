"""A policy question that would start a journey gets the FAQ answer first: the decision
(bot/core/faq_first.py), the policy that predicts it and the actions that answer and take
the journey up, from saved parses. Sentences written for the tests."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.faq_first import OFFERS, ActionFaqFirst, ActionTakeOfferedJourney
from bot.core.faq_first import (
    FAQ_FIRST_ACTION,
    TAKE_ACTION,
    asks_how,
    faq_first,
    load_cues,
    offered_journey,
)
from bot.domain_files import load_domain
from bot.faq import load_faq
from bot.nlu.other_request import REPLAYED
from bot.policies.faq_first import FaqFirstPolicy
from tests.actions.test_faq import parse

REISSUE = "faq/invoice_reissue"
HOW_TO = "发票抬头写错了怎么改"
DO_IT = "发票抬头写错了 帮我改一下"


def journey_parse(text: str, intent: str = "request_invoice", entry: str = REISSUE,
                  confidence: float = 0.7, **extra: Any) -> dict[str, Any]:
    """A journey's parse whose FAQ retriever ranks `entry` first."""
    return parse([(entry, confidence), ("faq/invoice_types", 0.05)], intent=intent,
                 text=text, **extra)


# ---- the decision ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [HOW_TO, "税号填错了能重开吗", "开错的发票在哪里换开",
                                  "发票开错了多久能换好？"])
def test_a_how_to_question_gets_the_entry(text: str) -> None:
    assert faq_first(journey_parse(text)) == load_faq()[REISSUE]


@pytest.mark.parametrize("text", [DO_IT, "发票开错了 麻烦重新开一张", "能帮我重开吗",
                                  "发票的单位名称开错了", "订单123456789012的发票抬头怎么改"])
def test_a_request_or_a_statement_goes_into_the_journey(text: str) -> None:
    assert faq_first(journey_parse(text)) is None


def test_a_problem_happening_now_is_looked_at() -> None:
    assert faq_first(journey_parse("付钱总是提示失败是怎么回事", intent="payment_failed",
                                   entry="faq/payment_limit")) is None


@pytest.mark.parametrize("text", ["我那个快递什么时候能到", "快递到哪了", "包裹怎么还没到"])
def test_a_question_about_the_customers_own_parcel_is_looked_up(text: str) -> None:
    assert faq_first(journey_parse(text, intent="ask_order_status",
                                   entry="faq/shipping_delivery_time")) is None


def test_given_back_is_a_question_give_me_is_a_request() -> None:
    assert asks_how("运费会退给我吗")
    assert not asks_how("给我退运费吗")


def test_only_a_confident_entry_of_the_journeys_own_topic() -> None:
    assert faq_first(journey_parse(HOW_TO, confidence=0.2)) is None
    # confident enough for the FAQ itself (0.35), not to answer ahead of a journey
    assert faq_first(journey_parse(HOW_TO, confidence=0.4)) is None
    assert faq_first(journey_parse(HOW_TO, confidence=0.5)) is not None
    # a refund entry does not answer an invoice question
    assert faq_first(journey_parse(HOW_TO, entry="faq/refund_time_general")) is None
    assert faq_first(journey_parse("退款多久到账", intent="ask_refund_status",
                                   entry="faq/refund_time_general")) is not None


def test_an_entry_of_a_neighbouring_topic_is_answered_first() -> None:
    # how long the warranty lasts, read as the returns journey: the product entry answers it
    warranty = journey_parse("这款耳机保修几年", intent="request_return",
                             entry="faq/product_warranty")
    assert faq_first(warranty) == load_faq()["faq/product_warranty"]
    # order changes have no entries of their own: only their neighbours'
    assert faq_first(journey_parse("取消以后积分会还回来吗", intent="cancel_order",
                                   entry="faq/refund_coupon_return")) is not None
    assert faq_first(journey_parse("能约周末送货吗", intent="change_order",
                                   entry="faq/shipping_scheduled_delivery")) is not None


def test_a_topic_that_is_no_neighbour_is_not_answered_first() -> None:
    # an exchange is not what the order-change offer does; invoices have no neighbours
    assert faq_first(journey_parse("能换个颜色吗", intent="change_order",
                                   entry="faq/returns_exchange_size")) is None
    assert faq_first(journey_parse("发票能写保修几年吗", entry="faq/product_warranty")) is None


def test_a_stated_change_goes_into_the_order_change() -> None:
    assert faq_first(journey_parse("送货时间能改成周六吗", intent="change_order",
                                   entry="faq/shipping_scheduled_delivery")) is None


def test_a_statement_needs_a_near_certain_entry_and_no_wish() -> None:
    scam = journey_parse("有人发短信让我点链接领理赔", intent="account_help",
                         entry="faq/account_phishing", confidence=0.95)
    assert faq_first(scam) == load_faq()["faq/account_phishing"]
    # as sure as a question needs, not as a statement needs
    assert faq_first({**scam, **journey_parse(scam["text"], intent="account_help",
                                              entry="faq/account_phishing",
                                              confidence=0.7)}) is None
    # what the customer wants done is a request, however sure the entry
    assert faq_first(journey_parse("我想把这个号注销掉", intent="account_help",
                                   entry="faq/account_close", confidence=0.97)) is None


def test_how_many_years_asks_and_several_days_states() -> None:
    assert asks_how("这个保修几年")
    assert not asks_how("寄回去好几天了")


def test_not_for_other_intents_nor_a_request_put_back_after_an_offer() -> None:
    # a customer who asks for a person or complains gets one, whatever the FAQ knows
    assert faq_first(journey_parse("人工客服几点上班", intent="request_human",
                                   entry="faq/service_hours")) is None
    assert faq_first(journey_parse(HOW_TO, **{REPLAYED: True})) is None
    assert faq_first(parse([(REISSUE, 0.9)], text=HOW_TO)) is None  # the FAQ answers it anyway


def test_pinyin_and_full_width_read_like_characters() -> None:
    assert asks_how("fapiao zenme kai")
    assert not asks_how("bang wo kai fapiao")
    assert asks_how("发票开错了怎么办？")


def test_every_journey_has_its_offer_with_a_button() -> None:
    responses = load_domain()["responses"]
    assert set(OFFERS) == set(load_cues()["journeys"])
    for name in OFFERS.values():
        assert responses[name][0]["text"].startswith(("需要的话", "如果"))
        assert [b["payload"] for b in responses[name][0]["buttons"]] == ["/affirm"]


# ---- the actions -------------------------------------------------------------------------------


def user(message: dict[str, Any]) -> dict[str, Any]:
    return {"event": "user", "text": message.get("text"), "parse_data": message}


def offer_events(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The customer's question and the bot's answer with the offer."""
    return [user(message), {"event": "action", "name": FAQ_FIRST_ACTION},
            {"event": "bot", "text": "…"}, {"event": "action", "name": "action_listen"}]


def tracker(message: dict[str, Any], events: list[dict[str, Any]]) -> Tracker:
    return Tracker("c1", {}, message, events, False, None, {"name": None}, "action_listen")


def test_the_answer_then_the_offer_of_the_journey() -> None:
    message = journey_parse(HOW_TO)
    dispatcher = CollectingDispatcher()
    events = ActionFaqFirst().run(dispatcher, tracker(message, [user(message)]), {})
    assert "换开发票" in dispatcher.messages[0]["text"]  # the entry's answer
    assert dispatcher.messages[-1]["response"] == "utter_faq_first_offer_request_invoice"
    assert events == [{"event": "slot", "timestamp": None, "name": "suggested_faq",
                       "value": None}]


def test_a_yes_puts_the_question_back_into_its_journey_with_the_order_number() -> None:
    question = journey_parse(HOW_TO, other_request={"text": "快递到哪了"})
    answer = {"text": "好的 123456789012", "intent": {"name": "affirm"},
              "entities": [{"entity": "order_id", "value": "123456789012"}]}
    events = offer_events(question) + [user(answer)]
    assert offered_journey(events) == events[0]
    dispatcher = CollectingDispatcher()
    listen, request = ActionTakeOfferedJourney().run(dispatcher, tracker(answer, events), {})
    assert listen["name"] == "action_listen" and not dispatcher.messages
    assert request["text"] == HOW_TO
    assert request["parse_data"]["intent"]["name"] == "request_invoice"
    assert request["parse_data"][REPLAYED] is True  # not answered from the FAQ again
    assert "other_request" not in request["parse_data"]  # still offered by its own policy
    assert {"entity": "order_id", "value": "123456789012"} in request["parse_data"]["entities"]


def test_no_offer_before_the_yes_means_a_plain_acknowledgement() -> None:
    answer = {"text": "好的", "intent": {"name": "affirm"}, "entities": []}
    events = [user(journey_parse(HOW_TO)), {"event": "action", "name": "action_invoice"},
              {"event": "action", "name": "action_listen"}, user(answer)]
    assert offered_journey(events) is None
    dispatcher = CollectingDispatcher()
    assert ActionTakeOfferedJourney().run(dispatcher, tracker(answer, events), {}) == []
    assert dispatcher.messages[0]["response"] == "utter_affirm"


# ---- the policy ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> FaqFirstPolicy:
    storage = LocalModelStorage.create(tmp_path_factory.mktemp("policy"))
    context = ExecutionContext(GraphSchema({}), node_name="faq_first")
    return FaqFirstPolicy.create(FaqFirstPolicy.get_default_config(), storage,
                                 Resource("faq_first"), context)


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.from_directory(str(Path(__file__).resolve().parents[2] / "domain"))


def core_tracker(*events: Any) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("c1", [ActionExecuted(ACTION_LISTEN_NAME), *events])


def said(message: dict[str, Any]) -> UserUttered:
    return UserUttered(message["text"], message["intent"], message["entities"], message)


def test_policy_answers_a_question_and_then_waits(policy: FaqFirstPolicy, domain: Domain) -> None:
    asked = core_tracker(said(journey_parse(HOW_TO)))
    assert policy.next_action(asked, domain) == FAQ_FIRST_ACTION
    answered = core_tracker(said(journey_parse(HOW_TO)), ActionExecuted(FAQ_FIRST_ACTION),
                            BotUttered("…"))
    assert policy.next_action(answered, domain) == ACTION_LISTEN_NAME
    assert policy.next_action(core_tracker(said(journey_parse(DO_IT))), domain) is None


def test_policy_leaves_a_running_form_alone(policy: FaqFirstPolicy, domain: Domain) -> None:
    in_form = core_tracker(ActionExecuted("invoice_form"), ActiveLoop("invoice_form"),
                           ActionExecuted(ACTION_LISTEN_NAME), said(journey_parse(HOW_TO)))
    assert policy.next_action(in_form, domain) is None


def test_policy_takes_the_offer_up_on_a_yes(policy: FaqFirstPolicy, domain: Domain) -> None:
    yes = {"text": "好的", "intent": {"name": "affirm", "confidence": 0.9}, "entities": []}
    offered = core_tracker(said(journey_parse(HOW_TO)), ActionExecuted(FAQ_FIRST_ACTION),
                           BotUttered("…"), ActionExecuted(ACTION_LISTEN_NAME), said(yes))
    assert policy.next_action(offered, domain) == TAKE_ACTION
    unrelated = core_tracker(said(yes))
    assert policy.next_action(unrelated, domain) is None
