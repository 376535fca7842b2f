"""The numpy m3e-small encoder of the encoder experiment (evaluation/m3e_encoder.py).

The model is not a project dependency (research-only licence, docs/encoders.md): these tests
run only where an extracted copy is found (M3E_DIR), and are skipped cleanly elsewhere.
"""
from __future__ import annotations

import io
import pickle
import sys
import types
import zipfile

import numpy as np
import pytest

from evaluation.m3e_encoder import M3E_DIR, M3eEncoder, load_state_dict

needs_model = pytest.mark.skipif(not (M3E_DIR / "pytorch_model.bin").is_file(),
                                 reason=f"m3e-small not extracted in {M3E_DIR}")


@pytest.fixture(scope="module")
def encoder() -> M3eEncoder:
    return M3eEncoder()


def test_checkpoint_reader_refuses_anything_but_tensors(tmp_path):
    """A checkpoint whose pickle names another callable is refused, not executed."""
    payload = pickle.dumps({"x": print})
    path = tmp_path / "bad.bin"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", payload)
    with pytest.raises(pickle.UnpicklingError):
        load_state_dict(path)


def test_checkpoint_reader_rebuilds_strided_tensors(tmp_path, monkeypatch):
    """A (2, 3) tensor stored transposed in its storage comes back with the right values.
    The checkpoint is written as torch writes one, with stand-ins for torch's names."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):  # pragma: no cover - only pickled by reference
        raise AssertionError

    FloatStorage.__module__, _rebuild_tensor_v2.__module__ = "torch", "torch._utils"
    FloatStorage.__qualname__ = "FloatStorage"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    storage = np.arange(6, dtype=np.float32)

    class Tensor:
        def __reduce__(self):
            return (_rebuild_tensor_v2, (storage, 0, (2, 3), (1, 2), False, {}))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", FloatStorage, "0", "cpu", 6) if obj is storage else None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump({"w": Tensor()})
    path = tmp_path / "ok.bin"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", buffer.getvalue())
        archive.writestr("model/data/0", storage.tobytes())
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.delitem(sys.modules, "torch._utils")
    assert load_state_dict(path)["w"].tolist() == [[0, 2, 4], [1, 3, 5]]


@needs_model
def test_tokenizer_splits_chinese_per_character_and_keeps_numbers_and_latin(encoder):
    tokens = encoder.tokenizer.tokens("我的iphone12到哪了?")
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert tokens[1:3] == ["我", "的"]
    assert tokens[-5:-1] == ["到", "哪", "了", "?"]
    assert "".join(t.removeprefix("##") for t in tokens[3:-5]) == "iphone12"
    assert "[UNK]" not in tokens


@needs_model
def test_encoder_reads_upper_case_latin_as_lower_case(encoder):
    assert np.allclose(encoder.encode(["IPHONE 充电器"]), encoder.encode(["iphone 充电器"]))


@needs_model
def test_paraphrases_are_closer_than_unrelated_messages(encoder):
    parcel, where, refund, weather = encoder.encode(
        ["货发出去了吗", "快递到哪了", "钱什么时候退给我", "明天会下雨吗"])
    assert parcel @ where > parcel @ weather
    assert parcel @ where > parcel @ refund


@needs_model
def test_batch_padding_does_not_change_a_vector(encoder):
    """A short message encoded beside a long one (padded) equals it encoded alone."""
    short, long = "退款", "我上周买的电饭煲一直没发货，客服也不回，到底什么时候能发？"
    encoder.clear_cache()
    together = encoder.encode([short, long])
    encoder.clear_cache()
    alone = np.vstack([encoder.encode([short]), encoder.encode([long])])
    assert np.allclose(together, alone, atol=1e-5)
    assert np.allclose(np.linalg.norm(alone, axis=1), 1.0, atol=1e-5)
    assert not encoder.encode([" "]).any()
