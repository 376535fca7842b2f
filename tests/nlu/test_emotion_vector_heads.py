"""Corpus heads on the pretrained sentence vectors (bot/emotion/vector_heads.py): the
committed weights, their scores on clear messages, the blend's wiring, the vector cache and
the Rasa component sharing the intent classifier's vectors. Sentences written for the tests."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.emotion.corpus import ARTIFACT_FILE, CorpusScorer
from bot.emotion.model import EmotionModel, ModelSettings
from bot.emotion.vector_heads import DIMENSION, VECTOR_HEADS, VectorCache, shared_encoder

ANGRY = "客服全是摆设吗 三天了没一个人回 一群废物!!!"
NEUTRAL = "你好 请问这件外套有没有黑色的L码"
SHOP_TEXTS = ["请问这款耳机有白色吗", "都一个星期了还没发货 到底怎么回事", "好的 谢谢", ANGRY]


@pytest.fixture(scope="module")
def scorer() -> CorpusScorer:
    return CorpusScorer.load()


def _with_vectors(settings: ModelSettings, heads: Sequence[str] = VECTOR_HEADS,
                  weight: float = 1.0) -> ModelSettings:
    """Settings whose blend reads the vector heads (the default blend plus `weight` each)."""
    return replace(settings, use_vector_heads=True, blend_vector_heads=tuple(heads),
                   blend_negative_vectors=(*settings.blend_negative, *([weight] * len(heads))),
                   blend_negative_vectors_bias=settings.blend_negative_bias)


def test_vector_heads_are_committed_as_weights_only(scorer: CorpusScorer) -> None:
    heads = scorer.vector_heads
    assert heads is not None, "run `python -m bot.emotion.build --vector-heads`"
    assert heads.heads == VECTOR_HEADS
    assert heads.coef.shape == (len(VECTOR_HEADS), DIMENSION)
    assert np.all(np.isfinite(heads.coef)) and np.any(heads.coef)
    meta = scorer.meta["vector_heads"]
    assert set(meta["heads"]) == set(VECTOR_HEADS)
    assert all(figures["heldout_auc"] > 0.7 for figures in meta["heads"].values())
    # one number per line: the file holds no text beyond the n-grams and names
    assert max(len(line) for line in ARTIFACT_FILE.read_text(encoding="utf-8").splitlines()) < 200


def test_a_clearly_angry_message_scores_above_a_neutral_one(scorer: CorpusScorer) -> None:
    assert scorer.vector_heads is not None
    angry, neutral = scorer.vector_heads.scores_of(shared_encoder([ANGRY, NEUTRAL]))
    for head in VECTOR_HEADS:
        assert angry[head] > neutral[head], head
    assert angry["vec_weibo_angry"] > 0 > neutral["vec_weibo_angry"]
    # a blank message has no vector and stays undecided
    assert scorer.vector_heads.scores_of(shared_encoder([" "]))[0] == dict.fromkeys(
        VECTOR_HEADS, 0.0)


def test_the_blend_reads_the_vector_heads_when_switched_on(scorer: CorpusScorer) -> None:
    assert scorer.vector_heads is not None
    direction = scorer.vector_heads.coef.sum(axis=0)
    direction /= np.linalg.norm(direction)
    seen: list[str] = []

    def encoder(sign: float):  # noqa: ANN202 - a fake encoder pointing along the heads
        def encode(texts: Sequence[str]) -> np.ndarray:
            seen.extend(texts)
            return np.tile(sign * direction, (len(texts), 1)).astype(np.float32)
        return encode

    base = EmotionModel.train_default()
    on = base.with_settings(_with_vectors(base.settings))
    toward_anger = replace(on, encoder=encoder(1.0)).message_probabilities([NEUTRAL])[0]
    away = replace(on, encoder=encoder(-1.0)).message_probabilities([NEUTRAL])[0]
    switched_off = base.with_settings(replace(base.settings, use_vector_heads=False))
    off = replace(switched_off, encoder=encoder(1.0)).message_probabilities([NEUTRAL])[0]
    assert toward_anger["calm"] < off["calm"] < away["calm"]
    assert seen == [NEUTRAL, NEUTRAL]  # switched off, the encoder is not asked


def test_an_artifact_without_vector_heads_falls_back_to_the_plain_blend(
    scorer: CorpusScorer,
) -> None:
    data = {k: v for k, v in json.loads(scorer.dumps()).items() if k != "vector_heads"}
    plain = CorpusScorer.from_dict(data)
    assert plain.vector_heads is None

    def refuse(texts: Sequence[str]) -> np.ndarray:
        raise AssertionError("no vector heads: nothing to encode")

    base = EmotionModel.train_default(corpus_path=None)
    without = EmotionModel(base.lexicon_data, base.vectorizer, base.classifier,
                           base.settings, plain)
    switched_on = replace(without, settings=_with_vectors(base.settings), encoder=refuse)
    assert not switched_on.uses_vector_heads()
    assert switched_on.predict_many(SHOP_TEXTS) == without.predict_many(SHOP_TEXTS)


def test_vector_cache_encodes_each_text_once_and_keeps_it_on_disk(tmp_path: Path) -> None:
    calls: list[str] = []

    def encoder(texts: Sequence[str]) -> np.ndarray:
        calls.extend(texts)
        return np.array([[float(len(t))] * DIMENSION for t in texts], dtype=np.float32)

    cache = VectorCache(tmp_path, encoder, shard_size=2)
    first = cache.encode(["好的", "快递到哪了", "好的", "退款"])
    assert calls == ["好的", "快递到哪了", "退款"]
    assert first[:, 0].tolist() == [2.0, 5.0, 2.0, 2.0]
    reopened = VectorCache(tmp_path, encoder)
    assert len(reopened) == 3
    assert np.array_equal(reopened.encode(["退款", "快递到哪了"]), first[[3, 1]])
    assert calls == ["好的", "快递到哪了", "退款"]
    # the files hold hashes and numbers, never the texts
    assert not any("快递" in p.read_bytes().decode("latin-1") for p in tmp_path.iterdir())


def test_component_with_vector_heads_reuses_the_intent_classifiers_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.emotion import EmotionClassifier
    from bot.nlu.normalize import classifier_text
    from bot.nlu.sentence_encoder import SentenceEncoder

    storage = LocalModelStorage.create(tmp_path)
    resource = Resource("emotion_classifier")
    context = ExecutionContext(GraphSchema({}), node_name="emotion_classifier")
    config = {**EmotionClassifier.get_default_config(), "use_vector_heads": True}
    EmotionClassifier.create(config, storage, resource, context).train(TrainingData())
    loaded = EmotionClassifier.load(config, storage, resource, context)
    assert loaded._model is not None and loaded._model.uses_vector_heads()
    # the intent classifier has encoded the messages already; the engine is not asked again
    encoder = SentenceEncoder.shared()
    encoder.encode([classifier_text(t) for t in (ANGRY, NEUTRAL)])

    class NoEngine:
        def query(self, texts: Sequence[str]) -> None:
            raise AssertionError("encoded twice")

    monkeypatch.setattr(encoder, "_model", NoEngine())
    messages = [Message(data={"text": t}) for t in (ANGRY, NEUTRAL)]
    loaded.process(messages)
    emotions = [m.as_dict(only_output_properties=True)["emotion"] for m in messages]
    assert [e["label"] for e in emotions] == ["angry", "calm"]
