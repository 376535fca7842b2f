"""Unit tests of the evaluation code (topics, report metrics, traffic export) on small
synthetic inputs; no trained model."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from evaluation import export_traffic, report, topics

TOPIC_MAP = {"greet": "greeting", "faq/invoice_types": "invoice", "out_of_scope": "out_of_scope",
             "request_human": "human"}


def parse_result(intent: str, confidence: float = 0.9, faq_key: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    """A parse result as Agent.parse_message returns it."""
    result: dict[str, Any] = {"intent": {"name": intent, "confidence": confidence},
                              "intent_ranking": [{"name": intent, "confidence": confidence}],
                              "entities": [], **extra}
    if faq_key:
        result["response_selector"] = {
            "faq": {"response": {"intent_response_key": faq_key, "confidence": 0.8},
                    "ranking": []}}
    return result


def fake_parser(results: dict[str, dict[str, Any]]) -> topics.Parse:
    """A parse function answering from a dict, as a model would."""
    return lambda text: results[text]


# --- topics -------------------------------------------------------------------------------


def test_predicted_topic_follows_topics_yml_and_fallback_counts_as_out_of_scope() -> None:
    intent, confidence = topics.predicted_intent(parse_result("faq", 0.7, "faq/invoice_types"))
    assert (intent, confidence) == ("faq/invoice_types", 0.7)
    assert topics.topic_of(intent, TOPIC_MAP) == "invoice"
    assert topics.topic_of("greet", TOPIC_MAP) == "greeting"
    assert topics.topic_of("nlu_fallback", TOPIC_MAP) == "out_of_scope"
    assert topics.topic_of("brand_new_intent", TOPIC_MAP) == topics.UNMAPPED


def test_topic_map_of_the_project_covers_the_basics() -> None:
    topic_map = topics.load_topic_map()
    assert topic_map["request_human"] == "human"
    assert set(topic_map.values()) <= set(topics.TOPICS)


def test_tsv_columns_are_found_by_name_and_unknown_topics_are_skipped(tmp_path: Path) -> None:
    tsv = tmp_path / "labelled.tsv"
    tsv.write_text(
        "text\tnote\ttopic\tsource\tid\n"
        '发票"抬头"写错了\tx\tinvoice\tshop\tm1\n'
        "那怎么办\t\tunclear\tshop\tm2\n"
        "你好\t\tgreeting\tchat\tm3\n"
        "随便\t\t\tchat\tm4\n",
        encoding="utf-8",
    )
    rows, skipped = topics.read_rows(tsv)
    assert rows == [topics.Row("m1", "invoice", '发票"抬头"写错了', "shop"),
                    topics.Row("m3", "greeting", "你好", "chat")]
    assert skipped == {"unclear": 1, "(empty)": 1}
    (tmp_path / "bad.tsv").write_text("id\ttext\nm1\t你好\n", encoding="utf-8")
    with pytest.raises(ValueError, match="topic"):
        topics.read_rows(tmp_path / "bad.tsv")


def test_topic_scores_overall_per_topic_and_per_source() -> None:
    rows = [topics.Row("1", "greeting", "你好", "a"), topics.Row("2", "invoice", "开发票", "a"),
            topics.Row("3", "invoice", "发票抬头", "b"), topics.Row("4", "human", "转人工", "b")]
    parse = fake_parser({"你好": parse_result("greet"),
                         "开发票": parse_result("faq", faq_key="faq/invoice_types"),
                         "发票抬头": parse_result("nlu_fallback", 0.4),
                         "转人工": parse_result("request_human")})
    predictions = topics.predict(rows, parse, TOPIC_MAP)
    assert [p.topic for p in predictions] == ["greeting", "invoice", "out_of_scope", "human"]
    scores = topics.score(predictions)
    assert scores.accuracy == 0.75
    assert scores.per_source == {"a": {"n": 2, "accuracy": 1.0}, "b": {"n": 2, "accuracy": 0.5}}
    # Macro-F1 over the labelled topics only: greeting 1, invoice 2/3, human 1.
    assert scores.macro_f1 == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert scores.per_topic["out_of_scope"]["support"] == 0
    text = topics.markdown(scores, predictions, "toy")
    assert "| 3 | invoice | out_of_scope | nlu_fallback | 0.40 | 发票抬头 |" in text
    assert "| b | 2 | 50.0% |" in text


# --- report metrics -----------------------------------------------------------------------


def test_annotations_are_stripped_into_entities() -> None:
    text, entities = report.strip_annotations("订单[123456789012](order_id) 付了[99](amount)元")
    assert text == "订单123456789012 付了99元"
    assert entities == (("order_id", "123456789012"), ("amount", "99"))


def test_a_normalised_entity_value_is_read_after_the_colon() -> None:
    text, entities = report.strip_annotations("[微信](payment_method:wechat_pay)付不了")
    assert text == "微信付不了"
    assert entities == (("payment_method", "wechat_pay"),)


def test_guarded_keyboard_mash_counts_as_nonsense_not_as_a_fallback() -> None:
    mash = {"intent": {"name": "nlu_fallback", "confidence": 1.0}, "intent_ranking": []}
    empty = {**mash, "input_issue": "no_text"}
    unsure = parse_result("nlu_fallback", 0.55)
    assert report.classified_intent(mash) == "nonsense"
    assert report.classified_intent(empty) == "nlu_fallback"
    assert report.classified_intent(unsure) == "nlu_fallback"
    ranked = {"intent": {"name": "nlu_fallback", "confidence": 0.55}, "intent_ranking": [
        {"name": "nlu_fallback", "confidence": 0.55}, {"name": "greet", "confidence": 0.4}]}
    assert report.top_classified(ranked) == ("greet", 0.4)


def test_intent_metrics_macro_and_weighted() -> None:
    gold = ["greet", "greet", "greet", "thank"]
    predicted = ["greet", "greet", "nlu_fallback", "greet"]
    metrics = report.intent_metrics(gold, predicted)
    assert metrics["per_label"]["greet"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert metrics["per_label"]["thank"]["f1"] == 0.0
    assert metrics["macro"]["f1"] == pytest.approx(1 / 3)
    assert metrics["weighted"]["f1"] == pytest.approx(0.5)
    assert metrics["accuracy"] == 0.5


def test_entity_metrics_match_type_and_value() -> None:
    gold = [[("order_id", "123456789012")], [("phone", "13800001111")], []]
    found = [[("order_id", "123456789012")], [("order_id", "13800001111")], [("amount", "5")]]
    scores = report.entity_metrics(gold, found)
    assert scores["order_id"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3),
                                  "support": 1}
    assert scores["phone"]["recall"] == 0.0
    assert scores["micro"] == {"precision": 1 / 3, "recall": 0.5, "f1": pytest.approx(0.4),
                               "support": 2}
    assert list(scores)[-1] == "micro"


def test_story_results_are_read_from_rasa_test_output(tmp_path: Path) -> None:
    (tmp_path / "story_report.json").write_text(json.dumps(
        {"accuracy": 0.9, "conversation_accuracy": {"correct": 4, "total": 5}}))
    (tmp_path / "failed_test_stories.yml").write_text(
        "version: '3.1'\nstories:\n- story: greet then leave (./tests/stories/x.yml)\n"
        "  steps:\n  - intent: greet\n  - action: utter_greet  # predicted: utter_deny\n")
    results = report.read_story_results(tmp_path)
    assert (results.passed, results.total, results.action_accuracy) == (4, 5, 0.9)
    story = "greet then leave (./tests/stories/x.yml)"
    assert results.failed == [story]
    assert results.mistakes == {story: ["action: utter_greet  # predicted: utter_deny"]}


def test_summary_json_gives_before_after_deltas(tmp_path: Path) -> None:
    first = report.Run("bot/models/shop-a.tar.gz", tmp_path, ["## Intents"],
                       {"intent_macro_f1": 0.91, "stories_passed": 9, "faq_retrieval": 0.82})
    _, changes = report.write_report(first)
    assert changes == []
    assert "No previous `summary.json`" in (tmp_path / "README.md").read_text(encoding="utf-8")
    second = report.Run("bot/models/shop-b.tar.gz", tmp_path, ["## Intents"],
                        {"intent_macro_f1": 0.93, "stories_passed": 8, "faq_retrieval": 0.82,
                         "topics_dev_accuracy_jddc": 0.5})
    _, changes = report.write_report(second)
    assert changes == ["intent macro-F1 (held-out) 0.910 -> 0.930 (+0.020)",
                       "test stories passed 9 -> 8 (-1)",
                       "FAQ retrieval top-1 0.820 -> 0.820 (=)"]
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "model `shop-a.tar.gz`" in readme and "(+0.020)" in readme
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["model"] == "shop-b.tar.gz"
    assert summary["metrics"]["topics_dev_accuracy_jddc"] == 0.5


def test_two_request_report_counts_found_and_wrongly_found(tmp_path: Path) -> None:
    path = tmp_path / "two.yml"
    path.write_text("two_requests:\n- 到哪了 另外发票怎么开\n- 退款呢 顺便问下积分\n"
                    "single_requests:\n- 颜色不对了\n", encoding="utf-8")
    other = {"text": "发票怎么开", "intent": "request_invoice", "confidence": 0.8}
    parse = fake_parser({"到哪了 另外发票怎么开": parse_result("ask_order_status",
                                                            other_request=other),
                         "退款呢 顺便问下积分": parse_result("ask_refund_status"),
                         "颜色不对了": parse_result("report_delivery_issue")})
    examples = [report.Example("你好", "greet"), report.Example("发票", "request_invoice")]
    parses = [parse_result("greet"), parse_result("request_invoice", other_request=other)]
    heldout = report.Heldout(examples, parses, [], {}, None, {})
    two = report.measure_two_requests(parse, heldout, path)
    assert two.metrics == {"two_requests_found": 0.5, "single_requests_split": 1 / 3}
    section = "\n".join(report.two_requests_section(two))
    assert "**1 of 2**" in section and "wrongly found in 1 of 3" in section
    assert "| 到哪了 另外发票怎么开 | 发票怎么开 | request_invoice |" in section


def test_progress_is_printed_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(topics.track(list(range(8)), "parsing")) == list(range(8))
    err = capsys.readouterr().err
    assert "parsing: 8/8 (100%)" in err and "parsing: 2/8 (25%)" in err


# --- traffic export -----------------------------------------------------------------------

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def user(text: str, intent: str, confidence: float, at: float) -> Any:
    """A customer message as the tracker records it."""
    from rasa.shared.core.events import UserUttered

    parse = {"intent": {"name": intent, "confidence": confidence}, "entities": []}
    return UserUttered(text, parse["intent"], [], parse, timestamp=at)


def bot_turn(action: str, at: float, response: str | None = None) -> list[Any]:
    """The bot's action, its message (if any) and the return to listening."""
    from rasa.shared.core.events import ActionExecuted, BotUttered

    events: list[Any] = [ActionExecuted(action, timestamp=at + 0.1)]
    if response:
        events.append(BotUttered("……", metadata={"utter_action": response}, timestamp=at + 0.2))
    return [*events, ActionExecuted("action_listen", timestamp=at + 0.3)]


def conversations() -> dict[str, list[Any]]:
    """Two recent conversations and an old one, event by event."""
    return {
        "c1": [
            user("你好", "greet", 0.99, T0 + 10), *bot_turn("utter_greet", T0 + 10, "utter_greet"),
            user("阿巴阿巴", "nlu_fallback", 0.55, T0 + 20),
            *bot_turn("action_fallback", T0 + 20, "utter_ask_rephrase"),
            user("还是 不懂吗", "nlu_fallback", 0.5, T0 + 30),
            *bot_turn("action_fallback", T0 + 30, "utter_fallback_offer_human"),
            user("转人工", "request_human", 0.99, T0 + 40),
            *bot_turn("action_request_human", T0 + 40, "utter_request_human"),
        ],
        "c2": [
            user("发票怎么开", "faq", 0.9, T0 + 50), *bot_turn("action_answer_faq", T0 + 50),
            user("都不是", "deny", 0.99, T0 + 60),
            *bot_turn("action_fallback", T0 + 60, "utter_ask_rephrase"),
            user('/faq{"faq_key":"invoice_types"}', "faq", 1.0, T0 + 70),
            *bot_turn("action_answer_faq", T0 + 70),
            user("我想问退货的事", "out_of_scope", 0.6, T0 + 80),
            *bot_turn("utter_out_of_scope", T0 + 80, "utter_out_of_scope"),
            user("转 人工！", "request_human", 0.99, T0 + 90),
            *bot_turn("action_request_human", T0 + 90, "utter_request_human"),
        ],
        "old": [user("去年的问题", "nlu_fallback", 0.3, T0 - 86_400 * 400),
                *bot_turn("action_fallback", T0 - 86_400 * 400, "utter_ask_rephrase")],
    }


@pytest.fixture
def tracker_db(tmp_path: Path) -> Path:
    """A SQLite tracker store written by Rasa's own SQLTrackerStore."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    path = tmp_path / "tracker.db"
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
    for sender_id, events in conversations().items():
        tracker = DialogueStateTracker.from_events(sender_id, events)
        asyncio.run(store.save(tracker))
    store.engine.dispose()
    return path


def read_tsv(path: Path) -> list[dict[str, str]]:
    """The exported rows as dicts."""
    header, *lines = path.read_text(encoding="utf-8").splitlines()
    return [dict(zip(header.split("\t"), line.split("\t"))) for line in lines]


def test_export_picks_misunderstood_and_handed_off_messages(tracker_db: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "to_label.tsv"
    assert export_traffic.export(str(tracker_db), out) == 6
    rows = read_tsv(out)
    assert list(rows[0]) == list(export_traffic.COLUMNS)
    assert [(r["conversation_id"], r["text"], r["reason"]) for r in rows] == [
        ("old", "去年的问题", "nlu_fallback+bot_fallback"),
        ("c1", "阿巴阿巴", "nlu_fallback+bot_fallback"),
        ("c1", "还是 不懂吗", "nlu_fallback+human_offered+before_request_human"),
        ("c1", "转人工", "request_human"),
        ("c2", "发票怎么开", "answer_rejected"),
        ("c2", "我想问退货的事", "before_request_human"),
    ]
    assert rows[1]["predicted_intent"] == "nlu_fallback" and rows[1]["confidence"] == "0.55"
    assert rows[1]["timestamp"] == "2026-01-01T00:00:20+00:00"
    assert all(r["suggested_topic"] == "" and r["label"] == "" for r in rows)


def test_export_since_a_day_leaves_older_traffic_out(tracker_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "recent.tsv"
    since = export_traffic.parse_since("2025-12-31")
    export_traffic.export(str(tracker_db), out, since)
    assert "去年的问题" not in out.read_text(encoding="utf-8")
    assert len(read_tsv(out)) == 5


def test_labelled_export_scores_as_a_topic_file(tracker_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "to_label.tsv"
    export_traffic.export(str(tracker_db), out)
    lines = out.read_text(encoding="utf-8").splitlines()
    cells = lines[5].split("\t")
    cells[export_traffic.COLUMNS.index("suggested_topic")] = "invoice"
    lines[5] = "\t".join(cells)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows, skipped = topics.read_rows(out)
    assert rows == [topics.Row("c2", "invoice", "发票怎么开")]
    assert skipped == {"(empty)": 5}


def test_escalating_a_calm_conversation_counts_as_false_escalation() -> None:
    from bot.emotion_tracking import load_thresholds
    from evaluation.emotion import _replay_row, replay

    sessions = [{"session_id": sid, "turns": [{"speaker": "user", "text": text}] * 3}
                for sid, text in (("s-calm", "calm"), ("s-upset", "upset"), ("s-quiet", "x"))]

    def predict(texts: list[str]) -> list[tuple[str, float]]:
        return [("angry", 0.99) if t in ("calm", "upset") else ("calm", 0.9) for t in texts]

    replays = replay(sessions, predict, load_thresholds())
    row = _replay_row("d", replays, {"s-calm": "calm", "s-quiet": "calm", "s-upset": "upset"})
    assert "| 1 / 2 (50.0%) | 1 / 1 (100.0%) |" in row


def test_labels_of_the_reports_labelling_queue_carry_over(tracker_db: Path,
                                                         tmp_path: Path) -> None:
    # The queue's download (handoff.reports.queue_tsv) in this module's columns, one message
    # labelled there, written a little differently than in the tracker.
    queue = tmp_path / "label-queue.tsv"
    queue.write_text("\t".join(export_traffic.COLUMNS) + "\n"
                     + "c1\t2026-01-01T00:00:20+00:00\t阿巴 阿巴！\tnlu_fallback\t0.55\t"
                       "nlu_fallback\tout_of_scope\tnonsense\n", encoding="utf-8")
    out = tmp_path / "to_label.tsv"
    export_traffic.export(str(tracker_db), out, labelled=export_traffic.read_labelled(queue))
    rows = {r["text"]: r for r in read_tsv(out)}
    assert (rows["阿巴阿巴"]["suggested_topic"], rows["阿巴阿巴"]["label"]) == (
        "out_of_scope", "nonsense")
    assert rows["发票怎么开"]["label"] == ""
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\ttext\n1\t你好\n", encoding="utf-8")
    with pytest.raises(ValueError):
        export_traffic.read_labelled(bad)
