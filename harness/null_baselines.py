"""Null baselines of pairwise accuracy: what surface style alone scores, read beside every RM (the baselines
reward-bench users ask for in its issues #267 and #268).

* ``longer_wins``: the response with more words is preferred; ``shorter_wins``: the one with fewer words.
* ``style_only``: a logistic regression on the difference of the two responses' surface features
  (:func:`surface_features`: length, markdown, hedges, the training generators' filler phrases; never the prompt,
  never a digit, never the answer), P(chosen ≻ rejected) = σ(w·(f(chosen) − f(rejected))) without intercept (the
  order of a pair carries no information), fitted by Newton's method (IRLS) with an L2 penalty on the run's
  training pairs (as the RM saw them, label noise included). numpy only: scikit-learn is not a dependency and
  this model has 16 weights.

A baseline scores 1 when it prefers the chosen response, 0 when the rejected one and 1/2 on a tie (a coin flip).
"""
from __future__ import annotations

import math
import re

import numpy as np

from harness.world.generators import TRAIN_GENERATORS
from harness.world.judge import HEDGES, normalise

_FILLER = {g.name: tuple(normalise(p) for p in g.openers + g.closers + g.extras) for g in TRAIN_GENERATORS}
_HEDGES = tuple(normalise(h) for h in HEDGES)
_NUMBERED = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
FEATURES = ("log_words", "log_chars_per_word", "bold", "numbered_list", "paragraphs", "hedge",
            *(f"filler_{name}" for name in _FILLER))
L2 = 1e-3  # per-pair L2 penalty of the style-only regression


def surface_features(texts: list[str]) -> np.ndarray:
    """[N, len(FEATURES)] surface features of ``texts`` (module docstring)."""
    out = np.zeros((len(texts), len(FEATURES)))
    for i, text in enumerate(texts):
        words = text.split()
        n = normalise(text)
        out[i, :6] = (math.log1p(len(words)), math.log(max(1, len(text)) / max(1, len(words))), "**" in text,
                      bool(_NUMBERED.search(text)), text.count("\n\n"), any(h in n for h in _HEDGES))
        out[i, 6:] = [any(p in n for p in phrases) for phrases in _FILLER.values()]
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, iters: int = 50) -> np.ndarray:
    """Weights w of P(y = 1 | x) = σ(x·w) (no intercept) minimising the mean log-loss + l2/2 ‖w‖², by Newton's
    method (the IRLS update of logistic regression, e.g. Hastie, Tibshirani & Friedman, ESL §4.4.1)."""
    n, d = x.shape
    w = np.zeros(d)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) / n + l2 * w
        hess = (x * (p * (1 - p))[:, None]).T @ x / n + l2 * np.eye(d)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w


def _words(texts: list[str]) -> np.ndarray:
    return np.array([len(t.split()) for t in texts], dtype=np.float64)


def _hits(delta: np.ndarray) -> np.ndarray:
    """1 where the chosen response is preferred, 0 where the rejected one, 1/2 on a tie."""
    return np.where(delta > 0, 1.0, np.where(delta < 0, 0.0, 0.5))


class StyleOnly:
    """The style-only logistic regression (module docstring), fitted on ``train_rows`` (pairs)."""

    def __init__(self, train_rows: list[dict]):
        diff = self._diff(train_rows)
        # each pair in both orders: the regression sees label 1 for (chosen − rejected), 0 for its negation
        self.weights = fit_logistic(np.concatenate([diff, -diff]),
                                    np.concatenate([np.ones(len(diff)), np.zeros(len(diff))]))

    @staticmethod
    def _diff(rows: list[dict]) -> np.ndarray:
        return surface_features([r["chosen"] for r in rows]) - surface_features([r["rejected"] for r in rows])

    def hits(self, rows: list[dict]) -> np.ndarray:
        return _hits(self._diff(rows) @ self.weights)


def baseline_hits(rows: list[dict], style: StyleOnly | None) -> dict[str, np.ndarray]:
    """Per baseline (``harness.metric_keys.NULL_BASELINES``; ``style_only`` when ``style`` is given), its score on
    each pair of ``rows``."""
    delta = _words([r["chosen"] for r in rows]) - _words([r["rejected"] for r in rows])
    out = {"longer_wins": _hits(delta), "shorter_wins": _hits(-delta)}
    if style is not None:
        out["style_only"] = style.hits(rows)
    return out
