"""The out-of-scope experiments (evaluation/scope_experiments.py, evaluation/scope_detector.py):
the replay of the pipeline after the intent classifier scores like the bot (fallback threshold,
guards, FAQ topics, input guard), the halves stay apart, and the scope detector's decision
does what docs/evaluation.md says it does."""
from __future__ import annotations

import numpy as np
import pytest

from evaluation import scope_detector as scope
from evaluation.scope_experiments import Replay, Setup, fallback_at, figures
from evaluation.study import HELDOUT, WORKING

# Columns: out_of_scope, ask_order_status, request_refund.
OUTSIDE = np.array([True, False, False])


def test_out_of_scope_decided_by_the_detector_even_when_an_intent_of_the_shop_leads() -> None:
    # The classifier spreads itself over the shop's intents; the detector is sure.
    probabilities = np.array([[0.30, 0.40, 0.30]])
    decided = scope.decide(probabilities, np.array([0.8]), OUTSIDE, threshold=0.5)
    assert decided[0].argmax() == 0
    assert decided[0, 0] == pytest.approx(0.8)
    # The shop's intents stay in the ranking as alternatives, below the decision.
    assert 0 < decided[0, 1] < decided[0, 0]


def test_in_scope_the_classifier_picks_among_the_shops_intents_only() -> None:
    # Out of scope leads the classifier, but the detector says this is the shop's business.
    probabilities = np.array([[0.50, 0.30, 0.20]])
    decided = scope.decide(probabilities, np.array([0.2]), OUTSIDE, threshold=0.5)
    assert decided[0].argmax() == 1
    assert decided[0, 0] == 0.0
    # Renormalised among the shop's intents: the fallback threshold sees 0.6, not 0.3.
    assert decided[0, 1:] == pytest.approx([0.6, 0.4])


def test_the_threshold_is_where_the_decision_flips() -> None:
    probabilities = np.array([[0.30, 0.40, 0.30]] * 2)
    decided = scope.decide(probabilities, np.array([0.59, 0.61]), OUTSIDE, threshold=0.6)
    assert list(decided.argmax(1)) == [1, 0]


def test_a_decided_out_of_scope_intent_is_never_outranked_by_the_shops() -> None:
    # Three out-of-scope intents share the detector's probability; the shop's best intent is
    # capped under the chosen one.
    outside = np.array([True, True, True, False])
    probabilities = np.array([[0.1, 0.1, 0.1, 0.7]])
    decided = scope.decide(probabilities, np.array([0.55]), outside, threshold=0.5)
    assert decided[0].argmax() in (0, 1, 2)


def test_similarities_are_the_mean_of_the_nearest_on_each_side() -> None:
    examples = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    outside = np.array([False, True, True])
    sims = scope.top_similarities(np.array([[1.0, 0.0]]), examples, outside, k=2)
    assert sims[0] == pytest.approx([1.0, (0.0 + 0.6) / 2])


def test_cross_validated_scores_never_come_from_a_model_that_saw_the_example() -> None:
    labels = np.array([0, 1] * 5)
    seen: list[set[int]] = []

    def score(fit: np.ndarray, held: np.ndarray) -> np.ndarray:
        assert not set(fit) & set(held)
        seen.append(set(held))
        return np.full((len(held), 1), float(len(seen)))

    out = scope.cross_validated(labels, 5, score, 1)
    assert set().union(*seen) == set(range(10))
    assert out.min() >= 1


# A study set of six messages (texts written for this test), three per half.
ROWS = [
    # id, gold topic, text as the classifier receives it
    ("s00002", "order_status", "快递到哪了"),
    ("s00003", "out_of_scope", "花呗还款日是哪天"),
    ("s00004", "invoice", "发票抬头写错了"),
    ("s00005", "order_status", "东西发了吗"),
    ("s00006", "out_of_scope", "讲个笑话"),
    ("s00007", "refund", "钱退了没"),
]


def setup() -> Setup:
    empty = np.zeros((0, 3))
    topic_map = {"ask_order_status": "order_status", "payment_charged": "payment",
                 "out_of_scope": "out_of_scope", "faq": "invoice",
                 "faq/invoice_reissue": "invoice", "request_refund": "refund"}
    parses = {"发票抬头写错了": {"faq": "faq/invoice_reissue"},
              "钱退了没": {"input_issue": "markup"}}
    return Setup(np.array(["ask_order_status", "out_of_scope", "request_refund"]), topic_map,
                 np.zeros(0, dtype=int), empty, empty, empty, empty,
                 [r[0] for r in ROWS], [r[1] for r in ROWS], [r[2] for r in ROWS],
                 ["jddc"] * len(ROWS), parses, empty, empty)


def test_the_replay_scores_like_the_bot() -> None:
    predictions = Replay(setup()).topics(
        ["ask_order_status", "payment_charged", "faq", "ask_order_status", "ask_order_status",
         "request_refund"],
        [0.9, 0.9, 0.9, 0.1, 0.9, 0.9])
    assert [p.topic for p in predictions] == [
        "order_status",   # as classified
        "out_of_scope",   # the credit-line guard: a repayment date is not a payment here
        "invoice",        # the FAQ entry the retriever picked decides the topic
        "out_of_scope",   # under the fallback threshold: nlu_fallback
        "order_status",   # chit-chat read as a shop intent stays wrong
        "out_of_scope",   # the input guard's verdict
    ]


def test_a_lower_fallback_threshold_keeps_what_it_accepts() -> None:
    s = setup()
    intents = ["ask_order_status"] * len(ROWS)
    confidences = np.array([0.17, 0.9, 0.9, 0.1, 0.9, 0.9])

    def decide(_: Setup) -> tuple[list[str], np.ndarray]:
        return intents, confidences

    import evaluation.scope_experiments as experiments

    original = experiments.baseline
    experiments.baseline = decide
    try:
        kept, kept_confidences = fallback_at(0.15)(s)
    finally:
        experiments.baseline = original
    topics = [p.topic for p in Replay(s).topics(kept, kept_confidences)]
    assert topics[0] == "order_status"    # 0.17: rejected at 0.2, kept at 0.15
    assert topics[3] == "out_of_scope"    # 0.1: rejected either way


def test_each_half_is_scored_on_its_own_ids() -> None:
    predictions = Replay(setup()).topics(
        ["ask_order_status", "out_of_scope", "faq", "ask_order_status", "out_of_scope",
         "request_refund"], [0.9] * len(ROWS))
    working, heldout = figures(predictions, WORKING), figures(predictions, HELDOUT)
    assert (working.n, working.correct) == (3, 3)
    # held-out: s00003 and s00005 right, s00007 rejected by the input guard
    assert (heldout.n, heldout.correct, heldout.wrongly_rejected) == (3, 2, 1)


def test_the_replay_rejects_at_the_threshold_config_yml_sets() -> None:
    import yaml

    from evaluation.scope_experiments import FALLBACK_THRESHOLD
    from evaluation.topics import ROOT

    pipeline = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
    (fallback,) = [c for c in pipeline if c["name"] == "FallbackClassifier"]
    assert FALLBACK_THRESHOLD == fallback["threshold"]
