"""Top-k classes and probabilities from a row of logits."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesplit.schemas.records import Prediction


def top_k(logits: np.ndarray[Any, Any], k: int) -> tuple[Prediction, ...]:
    """The k most likely classes with their softmax probabilities, most likely first."""
    x = logits.astype(np.float64, copy=False)
    k = min(k, x.shape[0])
    idx = np.argpartition(-x, k - 1)[:k]
    idx = idx[np.argsort(-x[idx], kind="stable")]
    e = np.exp(x - x.max())
    probs = e / e.sum()
    return tuple(Prediction(int(i), float(probs[i])) for i in idx)
