"""The intent classifier's correction to real traffic's topic mix (bot/nlu/topic_priors.py):
a message the classifier is torn about goes to the intent customers far more often mean, the
out-of-scope decision and the FAQ intent are left alone, and the classifier applies it only
when configured."""
from __future__ import annotations

import numpy as np
import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.topic_priors import PriorCorrection, load_shares
from tests.nlu.test_intent_classifier import trained

CLASSES = ["account_help", "ask_order_status", "faq", "out_of_scope"]
TOPIC_OF = {"account_help": "account", "ask_order_status": "order_status",
            "out_of_scope": "out_of_scope"}
SHARES = {"account": 0.01, "order_status": 0.2, "out_of_scope": 0.4}


def test_a_torn_message_goes_to_the_topic_customers_far_more_often_mean() -> None:
    correction = PriorCorrection.build(CLASSES, TOPIC_OF, SHARES, alpha=0.5, gain=1.0)
    torn = np.array([[0.40, 0.36, 0.04, 0.20]])
    corrected = correction.apply(torn)
    assert CLASSES[int(torn.argmax())] == "account_help"
    assert CLASSES[int(corrected.argmax())] == "ask_order_status"
    # a clear account question stays one
    clear = correction.apply(np.array([[0.85, 0.05, 0.02, 0.08]]))
    assert CLASSES[int(clear.argmax())] == "account_help"


def test_out_of_scope_and_faq_keep_their_probability_without_a_gain() -> None:
    correction = PriorCorrection.build(CLASSES, TOPIC_OF, SHARES, alpha=1.0, gain=1.0)
    p = np.array([[0.30, 0.10, 0.25, 0.35], [0.0, 0.0, 0.0, 0.0]])
    q = correction.apply(p)
    assert q[0, 2:] == pytest.approx(p[0, 2:])
    assert q[0].sum() == pytest.approx(1.0)
    assert q[1].tolist() == [0.0, 0.0, 0.0, 0.0]  # no probability: nothing invented
    # the gain moves probability toward out of scope, and only there
    boosted = PriorCorrection.build(CLASSES, TOPIC_OF, SHARES, alpha=1.0, gain=1.5).apply(p)
    assert boosted[0, 3] > q[0, 3] and boosted[0, 3] / boosted[0, 2] == pytest.approx(
        1.5 * q[0, 3] / q[0, 2])


def test_alpha_zero_changes_nothing() -> None:
    p = np.array([[0.40, 0.36, 0.04, 0.20]])
    correction = PriorCorrection.build(CLASSES, TOPIC_OF, SHARES, alpha=0.0, gain=1.0)
    assert correction.apply(p) == pytest.approx(p)


def test_shares_file_is_checked_and_the_committed_one_covers_every_topic(tmp_path) -> None:
    bad = tmp_path / "shares.yml"
    bad.write_text("shares:\n  account: -1\n", encoding="utf-8")
    with pytest.raises(ValueError):
        load_shares(bad)
    shares = load_shares("bot/nlu/topic_priors.yml")
    assert sum(shares.values()) == pytest.approx(1.0, abs=0.01)
    assert {"order_status", "after_sales", "account", "out_of_scope"} <= set(shares)


# Customers nearly never greet here, and very often ask where their parcel is.
TORN_MESSAGE = "在吗 快递"


def _rankings(tmp_path, **corrected: object) -> tuple[dict[str, float], dict[str, float]]:
    """Intent probabilities of TORN_MESSAGE without the correction and with it (`corrected`
    overrides the classifier's settings; the shares are written to a file first)."""
    shares = tmp_path / "shares.yml"
    shares.write_text("shares:\n  greeting: 0.001\n  order_status: 0.6\n  refund: 0.3\n",
                      encoding="utf-8")
    rankings = []
    for name, overrides in (("off", {}), ("on", {"topic_priors_path": str(shares),
                                                 "prior_alpha": 1.0, **corrected})):
        (message,) = trained(tmp_path / name, **overrides).process(
            [Message(data={"text": TORN_MESSAGE})])
        rankings.append({r["name"]: r["confidence"] for r in message.get("intent_ranking")})
    return rankings[0], rankings[1]


def test_the_classifier_applies_the_correction_only_when_configured(tmp_path) -> None:
    before, after = _rankings(tmp_path, prior_exempt=[])
    assert after["ask_order_status"] / after["greet"] > before["ask_order_status"] / before["greet"]
    assert sum(after.values()) == pytest.approx(1.0)


def test_answers_to_the_bot_are_left_out_of_the_correction(tmp_path) -> None:
    # 「好的」 and 「不用了」 answer the bot; topic-labelled sets file them as unclear, so the
    # shares say nothing about them (corrected, 「好的 快点」 accepting an offer became a
    # request for the order status)
    before, after = _rankings(tmp_path, prior_exempt=["greet"])
    assert after["greet"] == pytest.approx(before["greet"])
    assert after["ask_order_status"] > before["ask_order_status"]
