"""Label-shift correction of the intent probabilities: real traffic's topic mix.

The intent classifier is fitted with balanced class weights (every intent's examples weigh the
same in total), so its probabilities assume every intent equally likely. Real customers are
not spread that way: a quarter of what they send is about order status or after-sales, under
one in a hundred is about their account. Bayes' rule says how the probabilities change when the
priors do (Saerens, Latinne & Decaestecker, 2002): multiply each intent's probability by
real prior / training prior and renormalise. The correction here is damped and kept away from
the out-of-scope decision, which the fallback threshold and the out-of-scope intents already
make:

- the **in-scope** intents (those with a topic other than out_of_scope) share the probability
  mass the classifier gave them, reweighted by (real prior / uniform prior) ** `alpha`, a
  topic's share split evenly over its intents;
- the **out-of-scope** intents' probabilities are multiplied by `out_of_scope_gain`;
- intents with no single topic (the FAQ retrieval intent, whose entries span every topic) and
  the ones the classifier exempts (answers to the bot's questions: 「好的」, 「不用了」) keep
  their probability; then everything is renormalised.

The topic shares are a setting of the deployment (`bot/nlu/topic_priors.yml`): today the
labelled working half of the study set, later the shop's own traffic by topic.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
OUT_OF_SCOPE = "out_of_scope"
# A topic missing from the shares, or with none, still gets this share (never a zero prior).
FLOOR = 0.005


def load_shares(path: str | Path) -> dict[str, float]:
    """Topic -> share of real traffic, from the YAML file (`shares:` mapping)."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = ROOT / path
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    shares = {str(k): float(v) for k, v in (data.get("shares") or {}).items()}
    if not shares or any(v < 0 for v in shares.values()):
        raise ValueError(f"{path}: `shares` must map topics to non-negative numbers")
    return shares


@dataclass(frozen=True)
class PriorCorrection:
    """Per-intent factors of the correction, computed once at training time."""

    factors: np.ndarray      # multiplier of each in-scope intent (1 elsewhere)
    in_scope: np.ndarray     # bool: the intent is reweighted among the in-scope ones
    out_of_scope: np.ndarray  # bool: the intent is out of scope (times `gain`)
    gain: float

    @classmethod
    def build(cls, classes: Sequence[str], topic_of: Mapping[str, str],
              shares: Mapping[str, float], alpha: float, gain: float) -> PriorCorrection:
        """Factors for the classifier's `classes` (intent names) given the topic of each intent
        (`topic_of`; an intent without one is left alone) and the real topic shares."""
        topics = [topic_of.get(str(name)) for name in classes]
        in_scope = np.array([t is not None and t != OUT_OF_SCOPE for t in topics])
        out_of_scope = np.array([t == OUT_OF_SCOPE for t in topics])
        per_topic = {t: topics.count(t) for t in set(topics) if t is not None}
        real = np.array([max(shares.get(t, 0.0), FLOOR) / per_topic[t] if t else 0.0
                         for t in topics])
        factors = np.ones(len(topics))
        if in_scope.any():
            inside = real[in_scope] / real[in_scope].sum()
            factors[in_scope] = (inside * in_scope.sum()) ** alpha
        return cls(factors, in_scope, out_of_scope, float(gain))

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """Corrected probabilities (rows sum to 1) of a (messages, intents) matrix."""
        p = np.asarray(probabilities, dtype=float)
        mass = (p * self.in_scope).sum(axis=1, keepdims=True)
        weighted = p * self.factors * self.in_scope
        total = weighted.sum(axis=1, keepdims=True)
        scaled = np.divide(weighted * mass, total, out=np.zeros_like(weighted),
                           where=total > 0)
        q = np.where(self.in_scope, scaled, p)
        q = np.where(self.out_of_scope, q * self.gain, q)
        sums = q.sum(axis=1, keepdims=True)
        return np.divide(q, sums, out=np.zeros_like(q), where=sums > 0)
