"""bot/nlu/linear.py gives exactly scikit-learn's probabilities, faster, for every kind of
LogisticRegression the pipeline may fit (binary, multinomial, one-vs-rest)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from bot.nlu.linear import predict_proba

RNG = np.random.default_rng(7)
X = sparse.random(120, 300, density=0.05, format="csr", random_state=7)


@pytest.mark.parametrize("classes,options", [
    (2, {}),
    (5, {}),
    (5, {"multi_class": "ovr"}),
    (5, {"solver": "liblinear"}),
])
def test_same_probabilities_as_scikit_learn(classes: int, options: dict) -> None:
    labels = RNG.integers(0, classes, X.shape[0])
    model = LogisticRegression(max_iter=500, **options).fit(X, labels)
    for rows in (X[:1], X[:17]):
        np.testing.assert_allclose(predict_proba(model, rows), model.predict_proba(rows),
                                   rtol=1e-10, atol=1e-12)


def test_a_refitted_model_is_not_answered_from_the_old_coefficients() -> None:
    model = LogisticRegression(max_iter=500).fit(X, RNG.integers(0, 3, X.shape[0]))
    first = predict_proba(model, X[:3])
    model.fit(X, RNG.integers(0, 3, X.shape[0]))
    np.testing.assert_allclose(predict_proba(model, X[:3]), model.predict_proba(X[:3]))
    assert not np.allclose(first, predict_proba(model, X[:3]))
