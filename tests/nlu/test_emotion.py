"""The emotion detector: message labels, conversation-level escalation, acknowledgements and
the Rasa component's train / persist / load cycle. Sentences here are written for the tests."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from bot.emotion.lexicon import load_lexicon
from bot.emotion.model import BlendInputs, EmotionModel, ModelSettings, blend, read_examples
from bot.emotion_tracking import (
    Thresholds,
    acknowledgement,
    assess,
    assess_each,
    bot_texts,
    customer_turns,
    load_thresholds,
)

CALM_QUESTIONS = [
    "请问这个订单什么时候能发货",
    "帮我查一下物流到哪了",
    "退款一般多久能到账呀",
    "能开电子发票吗",
    "收货地址想改成公司的",
    "怎么修改登录密码",
    "在吗 想问一下尺码",
    "订单号230817654321 麻烦看下",
    "这款手机有没有256g的",
    "好的 谢谢你",
    "我没想投诉 只是问下退款到哪一步了",
    "不着急 有空帮我看看就行",
    "今天天气怎么样",
    "给我讲个笑话吧",
]
ANGRY_MESSAGES = [
    "你们这群骗子 赶紧退钱",
    "垃圾东西 我要去12315投诉你们",
    "再不给我处理我就报警",
    "什么垃圾客服 滚蛋",
    "黑心商家 等着差评吧！！！",
]
UPSET_MESSAGES = [
    "怎么还没发货啊 都四天了",
    "到底什么时候能到？？",
    "太让人失望了",
    "呵呵 你们效率可真高",
]


@pytest.fixture(scope="module")
def model() -> EmotionModel:
    """The model trained on the project's examples (well under a second)."""
    return EmotionModel.train_default()


def turns_for(model: EmotionModel, texts: list[str]) -> list[dict]:
    """Customer turns as the actions see them: text plus the parse result's emotion."""
    return [
        {"text": text, "emotion": {"label": label, "score": round(score, 3)}}
        for text, (label, score) in zip(texts, model.predict_many(texts))
    ]


def test_examples_are_many_varied_and_mostly_calm() -> None:
    examples = read_examples()
    counts = Counter(example.label for example in examples)
    assert len(examples) >= 600
    assert min(counts.values()) >= 100
    assert counts["calm"] == max(counts.values())
    assert len({example.text for example in examples}) == len(examples), "duplicate examples"


@pytest.mark.parametrize("text", CALM_QUESTIONS)
def test_calm_shop_questions_are_calm(model: EmotionModel, text: str) -> None:
    assert model.predict(text)[0] == "calm"


@pytest.mark.parametrize("text", ANGRY_MESSAGES)
def test_insults_and_threats_are_angry(model: EmotionModel, text: str) -> None:
    label, score = model.predict(text)
    assert label == "angry"
    assert score >= load_thresholds().angry_escalate_score


@pytest.mark.parametrize("text", UPSET_MESSAGES)
def test_chasing_disappointment_and_sarcasm_are_not_calm(model: EmotionModel, text: str) -> None:
    assert model.predict(text)[0] in ("upset", "angry")


def test_empty_text_is_calm_with_a_low_score(model: EmotionModel) -> None:
    assert model.predict("") == ("calm", 0.0)
    assert model.predict_many(["", "  ", "好的"])[:2] == [("calm", 0.0), ("calm", 0.0)]


def test_lexicon_handles_negation_a_not_a_questions_and_numbers() -> None:
    lexicon = load_lexicon()
    negated = {h.term: h.negated for h in lexicon.hits("我不是要投诉 也没有不满意")}
    assert negated == {"投诉": True, "不满": True}
    assert not lexicon.hits("能不能快点")[0].negated  # 能不能 asks, it does not negate
    assert lexicon.hits("订单230412315778到了吗") == []  # 12315 inside an order number
    assert lexicon.hits("usb接口在哪") == []
    boosted, plain = lexicon.hits("太失望了")[0], lexicon.hits("失望")[0]
    assert boosted.weight > plain.weight


def test_shop_words_that_contain_an_angry_word_are_not_read_as_one() -> None:
    lexicon = load_lexicon()
    # 空气炸锅 holds 气炸 (furious), 垃圾桶 holds 垃圾, 麻烦您 holds 烦, 联系客服了 holds 服了.
    for text in ("空气炸锅还没发货", "垃圾桶的盖子坏了", "麻烦您帮我查下", "我联系过客服了"):
        assert {h.term for h in lexicon.hits(text)} <= {"还没", "坏了"}, text
    # The words themselves still count where they are meant.
    assert [h.category for h in lexicon.hits("气炸了 你们真垃圾")] == ["anger", "insults"]
    assert [h.term for h in lexicon.hits("好麻烦啊 真服了")] == ["好麻烦", "服了"]


def test_a_calm_question_about_an_air_fryer_does_not_hand_over(model: EmotionModel) -> None:
    label, score = model.predict("我上周买的空气炸锅到现在还没发货，订单号忘了")
    assert label != "angry"
    assert model.predict("你好 我想问下空气炸锅怎么清洗")[0] == "calm"


def test_model_round_trips_through_json(model: EmotionModel, tmp_path: Path) -> None:
    path = model.save(tmp_path)
    json.loads(path.read_text(encoding="utf-8"))  # plain JSON, no pickle
    restored = EmotionModel.load(tmp_path)
    texts = CALM_QUESTIONS + ANGRY_MESSAGES + UPSET_MESSAGES
    assert restored.predict_many(texts) == model.predict_many(texts)


def test_repeated_chasing_escalates_with_rising_frustration(model: EmotionModel) -> None:
    texts = [
        "我的快递到哪了",
        "怎么还没到啊 都三天了",
        "到底什么时候能到？？",
        "说了多少遍了 到底什么时候到",
    ]
    trajectory = assess_each(turns_for(model, texts))
    assert not trajectory[0].escalate
    levels = [a.frustration for a in trajectory[1:]]
    assert levels == sorted(levels) and levels[-1] > levels[0]
    final = trajectory[-1]
    assert final.escalate and final.priority == "high"
    assert final.reason in ("frustration", "rising_frustration")
    assert final.peak["label"] in ("upset", "angry") and final.peak["turn"] >= 1


def test_the_same_questions_asked_calmly_do_not_escalate(model: EmotionModel) -> None:
    texts = ["请问我的快递到哪了", "麻烦再帮我看下快递到哪了", "请问快递到哪了 谢谢"] * 2
    turns = turns_for(model, texts)
    assert {t["emotion"]["label"] for t in turns} == {"calm"}
    assert not any(a.escalate for a in assess_each(turns))
    assert assess(turns).priority == "normal"


def test_a_calm_turn_never_escalates_and_calm_turns_ease_frustration() -> None:
    upset = {"text": "怎么还没到", "emotion": {"label": "upset", "score": 0.9}}
    calm = {"text": "好的 谢谢", "emotion": {"label": "calm", "score": 0.9}}
    before = assess([upset, upset])
    after = assess([upset, upset, calm])
    assert after.frustration < before.frustration
    assert not after.escalate


def test_one_clearly_angry_message_escalates_at_once(model: EmotionModel) -> None:
    result = assess(turns_for(model, ["垃圾客服 再不退款我就去12315投诉"]))
    assert result.escalate and result.reason == "angry_message"


def test_thresholds_come_from_the_yaml_file(model: EmotionModel, tmp_path: Path) -> None:
    path = tmp_path / "frustration.yml"
    path.write_text("angry_escalate_score: 1.1\nescalate_frustration: 99\nrising_turns: 99\n")
    thresholds = load_thresholds(path)
    assert isinstance(thresholds, Thresholds) and thresholds.escalate_frustration == 99
    turns = turns_for(model, ["垃圾客服 再不退款我就去12315投诉"])
    assert not assess(turns, thresholds).escalate


def test_acknowledgements_fit_vary_and_stay_quiet_for_calm_customers() -> None:
    assert acknowledgement("calm", ["您好"]) is None
    history: list[str] = []
    lines = []
    for _ in range(4):
        line = acknowledgement("upset", history, text="怎么还没发货")
        assert line and len(line) <= 25 and "您" in line
        lines.append(line)
        history += [line + "您的订单已出库。"]
    assert all(a != b for a, b in zip(lines, lines[1:])), "same line twice in a row"
    assert len(set(lines)) == 4
    assert acknowledgement("upset", 3) == acknowledgement("upset", 3)
    assert "抱歉" in (acknowledgement("angry", []) or "")
    # anger at the traffic or a boss: sympathy, no apology for "the experience"
    elsewhere = acknowledgement("angry", [], at_shop=False) or ""
    assert elsewhere and "抱歉" not in elsewhere and "体验" not in elsewhere


def test_turns_and_bot_texts_come_from_tracker_events() -> None:
    events = [
        {"event": "user", "text": "到底什么时候发货",
         "parse_data": {"emotion": {"label": "upset", "score": 0.8}}},
        {"event": "bot", "text": "让您久等了，非常抱歉。"},
        {"event": "action", "name": "action_listen"},
    ]
    assert customer_turns(events) == [
        {"text": "到底什么时候发货", "emotion": {"label": "upset", "score": 0.8}}
    ]
    assert bot_texts(events) == ["让您久等了，非常抱歉。"]


def test_rasa_component_trains_persists_loads_and_sets_emotion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.emotion import EmotionClassifier

    storage = LocalModelStorage.create(tmp_path)
    resource = Resource("emotion_classifier")
    context = ExecutionContext(GraphSchema({}), node_name="emotion_classifier")
    config = EmotionClassifier.get_default_config()
    trained = EmotionClassifier.create(config, storage, resource, context)
    assert trained.train(TrainingData()) == resource

    # Loading must restore the stored model, not fit a new one.
    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("load() refitted the model")

    monkeypatch.setattr(EmotionModel, "fit", no_fit)
    loaded = EmotionClassifier.load(config, storage, resource, context)
    messages = [Message(data={"text": t}) for t in ("垃圾客服 我要投诉", "请问能开发票吗")]
    messages.append(Message(data={"text": ""}))
    loaded.process(messages)
    emotions = [m.as_dict(only_output_properties=True)["emotion"] for m in messages]
    assert [e["label"] for e in emotions] == ["angry", "calm", "calm"]
    assert emotions[2]["score"] == 0.0
    for emotion in emotions:
        assert set(emotion) == {"label", "score"} and 0.0 <= emotion["score"] <= 1.0
        assert emotion["score"] == round(emotion["score"], 3)
    assert EmotionClassifier.fingerprint_addon(config)


def test_one_upset_sentence_makes_a_long_turn_upset(model: EmotionModel) -> None:
    facts = "你好 我买的是一台咖啡机 白色那款 地址是公司前台"
    upset = facts + " 下单到现在都八天了还是没发货 到底怎么回事"
    calm = facts + " 想问下能不能开公司抬头的发票 谢谢"
    assert model.predict(upset)[0] in ("upset", "angry")
    assert model.predict(calm)[0] == "calm"


def test_messages_split_into_sentences_only_when_there_are_several() -> None:
    from bot.emotion.model import split_segments

    assert split_segments("快递到哪了") == []
    assert split_segments("好的！我等等 还没到吗？？") == ["好的!", "我等等", "还没到吗??"]
    assert split_segments("嗯 好") == []  # one-character fragments say nothing alone


def test_chat_app_emoji_codes_count_like_emoji() -> None:
    from bot.emotion.lexicon import FEATURE_NAMES

    lexicon = load_lexicon()
    features = dict(zip(FEATURE_NAMES, lexicon.features("又延迟了[流泪] [Angry]")))
    assert features["upset_emoji"] == 1.0 and features["angry_emoji"] == 1.0
    plain = dict(zip(FEATURE_NAMES, lexicon.features("好的[微笑]")))
    assert plain["upset_emoji"] == plain["angry_emoji"] == 0.0


def test_thresholds_are_cross_validated_on_the_examples_only() -> None:
    from evaluation.emotion import SEGMENT_GRID, UPSET_GRID, calibrate, joined_pairs

    examples = read_examples()
    pairs = joined_pairs(examples, 40, seed=1)
    assert all(" " in pair.text for pair in pairs)
    assert {p.label for p in pairs[::2]} == {"calm"}  # calm + calm stays calm
    # A pair with a negative half takes the more negative label.
    assert all(p.label != "calm" for p in pairs if any(
        e.label != "calm" and e.text in p.text for e in examples if len(e.text) > 6))
    subset = examples[::6]
    results = calibrate(subset, folds=3)
    assert len(results) == len(UPSET_GRID) * len(SEGMENT_GRID)
    assert all(0.0 <= r.precision <= 1.0 and 0.0 <= r.recall <= 1.0 for r in results)
    # A stricter upset threshold never finds more upset messages.
    by_threshold = {r.upset_threshold: r.recall for r in results if r.segment_threshold > 1}
    recalls = [by_threshold[t] for t in sorted(by_threshold)]
    assert recalls == sorted(recalls, reverse=True)


def test_a_borderline_turn_does_not_hand_over_built_up_frustration() -> None:
    upset = {"text": "怎么还没到 都五天了", "emotion": {"label": "upset", "score": 0.95}}
    borderline = {"text": "哦 好", "emotion": {"label": "upset", "score": 0.62}}
    thresholds = load_thresholds()
    assert thresholds.min_escalation_score > 0.62
    assert not assess([upset, upset, borderline], thresholds).escalate
    assert assess([upset, upset, upset], thresholds).escalate


# --- corpus heads (bot/emotion/corpus_model.json, built by `make emotion-model`) -----------

CORPUS_ANGRY = "客服全是摆设吗 三天了没一个人回 一群废物!!!"
CORPUS_CALM = "你好 请问这件外套有没有黑色的L码"


def _block_shared(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every read below ../shared fail, and record the attempts."""
    import builtins
    import io

    attempts: list[str] = []
    real_open = io.open

    def guarded(file: object, *args: object, **kwargs: object) -> object:
        if "shared" in Path(str(file)).resolve().parts:
            attempts.append(str(file))
            raise FileNotFoundError(f"blocked in the test: {file}")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", guarded)
    monkeypatch.setattr(builtins, "open", guarded)
    return attempts


def test_corpus_artifact_is_committed_small_and_holds_short_ngrams_only() -> None:
    from bot.emotion.corpus import ARTIFACT_FILE, HEADS, CorpusScorer

    assert ARTIFACT_FILE.is_file(), "run `make emotion-model`"
    assert ARTIFACT_FILE.stat().st_size < 3_000_000
    scorer = CorpusScorer.load()
    assert scorer.heads == HEADS
    grams = scorer.vectorizer.vocabulary
    assert all(1 <= len(gram) <= 3 for gram in grams)
    assert scorer.meta["min_df"] >= 5
    # one n-gram per line: no line of the file can carry a corpus sentence
    assert max(len(line) for line in ARTIFACT_FILE.read_text(encoding="utf-8").splitlines()) < 200


def test_component_trains_and_loads_with_the_artifact_without_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.emotion import EmotionClassifier

    attempts = _block_shared(monkeypatch)
    storage = LocalModelStorage.create(tmp_path)
    resource = Resource("emotion_classifier")
    context = ExecutionContext(GraphSchema({}), node_name="emotion_classifier")
    config = EmotionClassifier.get_default_config()
    EmotionClassifier.create(config, storage, resource, context).train(TrainingData())
    loaded = EmotionClassifier.load(config, storage, resource, context)
    assert loaded._model is not None and loaded._model.corpus is not None
    messages = [Message(data={"text": t}) for t in (CORPUS_ANGRY, CORPUS_CALM)]
    loaded.process(messages)
    emotions = [m.as_dict(only_output_properties=True)["emotion"] for m in messages]
    assert [e["label"] for e in emotions] == ["angry", "calm"]
    assert all(0.0 <= e["score"] <= 1.0 for e in emotions)
    assert attempts == []


def test_clearly_angry_and_clearly_calm_messages_with_the_corpus_heads() -> None:
    model = EmotionModel.train_default()
    assert model.corpus is not None
    assert model.predict(CORPUS_ANGRY)[0] == "angry"
    assert model.predict(CORPUS_CALM)[0] == "calm"
    assert model.predict("我的包裹到哪了 麻烦查一下")[0] == "calm"


def test_build_refuses_to_write_without_the_corpora(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.emotion.build import main

    out = tmp_path / "corpus_model.json"
    out.write_text("previous artifact", encoding="utf-8")
    assert main(["--corpora", str(tmp_path / "absent"), "--out", str(out)]) == 2
    assert out.read_text(encoding="utf-8") == "previous artifact"
    error = capsys.readouterr().err
    assert "Corpora missing" in error and "ewect_usual_train.tsv" in error
    assert "Nothing written" in error


# --- the blend with the corpus heads (ModelSettings.blend_*, evaluation --fit-blend) -------

BLEND_CALM = ["请问这款耳机有白色吗", "我的快递", "麻烦帮我开一张发票", "几点能送到呀",
              "地址写错了 想改一下", "好的 谢谢"]
BLEND_UPSET = ["都一个星期了还没发货 到底怎么回事", "说好今天送的 又没送到",
               "客服一直不回消息 真让人着急", "退款申请了五天了还没到账",
               "东西坏了 你们还不给换", "买完第二天就降价 太让人失望了"]


def _write_study(tmp_path: Path, held_out_label: str) -> tuple[Path, Path]:
    """A tiny study set: the written messages above under even (working) ids, copies of them
    under odd (held-out) ids labelled `held_out_label` whatever they say."""
    messages, labels = ["id\tsource\ttext"], []
    texts = [(t, "calm") for t in BLEND_CALM] + [(t, "upset") for t in BLEND_UPSET]
    for number, (text, label) in enumerate(texts):
        messages += [f"s{2 * number + 2:05d}\tjddc\t{text}", f"s{2 * number + 1:05d}\tjddc\t{text}"]
        labels += [f"s{2 * number + 2:05d}\t{label}", f"s{2 * number + 1:05d}\t{held_out_label}"]
    (tmp_path / "messages.tsv").write_text("\n".join(messages) + "\n", encoding="utf-8")
    (tmp_path / "labels.tsv").write_text("\n".join(labels) + "\n", encoding="utf-8")
    return tmp_path / "messages.tsv", tmp_path / "labels.tsv"


def test_blend_is_fitted_on_the_working_half_alone(tmp_path: Path) -> None:
    from evaluation.emotion import fit_blend

    model = EmotionModel.train_default()
    fitted = []
    for held_out_label in ("calm", "angry"):
        directory = tmp_path / held_out_label
        directory.mkdir()
        fitted.append(fit_blend(model, *_write_study(directory, held_out_label)))
    # the held-out labels differ completely between the two runs: the fit must not see them
    assert fitted[0] == fitted[1]
    # with the sentence-vector heads on, the fit sets the weights of the blend that uses them
    assert fitted[0].negative_weights() != model.settings.negative_weights()
    refitted = model.with_settings(fitted[0])
    # on the messages it was fitted on, the blend puts the cut-off where the thresholds are
    labels = [label for label, _ in refitted.predict_many(BLEND_CALM + BLEND_UPSET)]
    assert labels[: len(BLEND_CALM)] == ["calm"] * len(BLEND_CALM)
    assert all(label != "calm" for label in labels[len(BLEND_CALM):])


def test_blend_settings_survive_saving_and_loading(tmp_path: Path) -> None:
    model = EmotionModel.train_default()
    model.save(tmp_path)
    loaded = EmotionModel.load(tmp_path)
    assert loaded.corpus is not None
    assert loaded.settings == model.settings
    texts = [*BLEND_CALM, *BLEND_UPSET, CORPUS_ANGRY]
    assert loaded.predict_many(texts) == model.predict_many(texts)


def test_neutral_shop_questions_stay_calm_with_the_blend() -> None:
    model = EmotionModel.train_default()
    assert model.corpus is not None
    for text in ("我的快递", "快递到哪了", "什么时候发货", "在吗"):
        assert model.predict(text)[0] == "calm", text


def _inputs(negative_whole: float, weibo_angry: float) -> BlendInputs:
    """A message as the blend sees it: the examples' classifier calls it not calm with
    `negative_whole` (little of it angry), the helpdesk head agrees, the Weibo-anger head says
    `weibo_angry`."""
    whole = {"calm": 1 - negative_whole, "upset": negative_whole * 0.95,
             "angry": negative_whole * 0.05}
    heads = {"helpdesk_dissatisfied": 1.0, "weibo_angry": weibo_angry}
    return BlendInputs(whole, 0.0, heads)


def test_strongly_negative_anger_words_make_a_message_angry() -> None:
    settings = replace(ModelSettings(), use_vector_heads=False)
    model = EmotionModel.train_default().with_settings(settings)
    worded_in_anger = blend(_inputs(0.98, 3.0), settings)
    # the angry blend alone leaves it upset: the examples' classifier saw little anger in it
    without_rule = blend(_inputs(0.98, 3.0), replace(settings, use_angry_rule=False))
    assert model.decide(without_rule)[0] == "upset"
    label, score = model.decide(worded_in_anger)
    assert label == "angry" and score == settings.angry_rule_score
    # not worded like anger, or not clearly negative: the rule stays out of it
    clearly_negative = blend(_inputs(0.9999, 0.5), settings)
    assert clearly_negative["calm"] <= 1 - settings.angry_rule_negative_min
    assert model.decide(clearly_negative)[0] == "upset"
    assert blend(_inputs(0.7, 3.0), settings) == blend(
        _inputs(0.7, 3.0), replace(settings, use_angry_rule=False))
