"""Over-optimisation curves (Gao et al. 2023, "Scaling laws for reward model overoptimization", eq. 1 and 2).

With d = sqrt(KL(π ‖ π_init)) the gold reward gained over the initial policy follows

    best-of-n:  R_bon(d) = d (α_bon − β_bon d)        (KL_bon = log n − (n − 1)/n, Gao et al. eq. 1)
    RL:         R_RL(d)  = d (α_RL − β_RL log d)      (Gao et al. eq. 2)

Both are linear in (α, β): R = α·d − β·g(d) with g(d) = d² (best-of-n) or d·log d (RL, 0 at d = 0), so the
least-squares fit is ordinary linear least squares on two features without intercept (``numpy.linalg.lstsq``;
Gao et al. fit the same functional forms). As in the paper, R is measured relative to the initial policy (the
score at d = 0, i.e. n = 1 / step 0, is subtracted before fitting). The residual reported is the root mean square
of the fit's residuals.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

FORMS = ("bon", "rl")


class Fit(NamedTuple):
    alpha: float
    beta: float
    rmse: float  # root mean square residual of the fit
    n: int  # points fitted

    def parameters(self) -> tuple[tuple[str, float, bool], ...]:
        """(name, value, higher is better) of α, β and the residual: the metric rows the suites record."""
        return (("alpha", self.alpha, True), ("beta", self.beta, False), ("rmse", self.rmse, False))


def _feature(form: str, d: float) -> float:
    if form == "bon":
        return d * d
    if form == "rl":
        return d * math.log(d) if d > 0 else 0.0
    raise ValueError(f"unknown curve form {form!r}; choose one of {', '.join(FORMS)}")


def predict(form: str, alpha: float, beta: float, d: float) -> float:
    """R(d) of the functional form ``form`` (``bon``: d(α − βd); ``rl``: d(α − β log d))."""
    return alpha * d - beta * _feature(form, d)


def fit(form: str, d: Sequence[float], gain: Sequence[float]) -> Fit:
    """Least-squares (α, β) of ``gain ≈ R(d)`` for ``form`` (module docstring). Needs >= 2 points with d > 0 and
    distinct features; ``gain`` is relative to the initial policy."""
    import numpy as np

    d = [float(x) for x in d]
    gain = [float(y) for y in gain]
    if len(d) != len(gain):
        raise ValueError(f"curve fit: {len(d)} d values but {len(gain)} gains")
    if any(x < 0 or math.isnan(x) for x in d) or any(math.isnan(y) for y in gain):
        raise ValueError("curve fit: d must be >= 0 and no value NaN")
    if sum(x > 0 for x in d) < 2:
        raise ValueError("curve fit: needs at least 2 points with d > 0")
    design = np.array([[x, -_feature(form, x)] for x in d])
    target = np.array(gain)
    (alpha, beta), *_ = np.linalg.lstsq(design, target, rcond=None)
    residuals = target - design @ np.array([alpha, beta])
    return Fit(float(alpha), float(beta), float(math.sqrt(float(np.mean(residuals ** 2)))), len(d))
