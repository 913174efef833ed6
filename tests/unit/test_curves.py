"""Gao et al. (2023) over-optimisation fits: known (α, β) recovered from synthetic points."""
import math
import random

import pytest

from harness.rl.curves import fit, predict


def gao(form: str, alpha: float, beta: float, d: float) -> float:
    """Gao et al. (2023) eq. 1 and 2 written out here, independently of harness.rl.curves.predict."""
    if form == "bon":
        return d * (alpha - beta * d)
    return 0.0 if d == 0 else d * (alpha - beta * math.log(d))


@pytest.mark.parametrize("form,alpha,beta", [("bon", 1.3, 0.4), ("bon", 0.2, -0.05), ("rl", 0.9, 0.35),
                                             ("rl", -0.1, 0.2)])
def test_fit_recovers_known_parameters(form, alpha, beta):
    d = [math.sqrt(math.log(n) - (n - 1) / n) for n in (1, 2, 4, 8, 16, 32, 64, 128, 256)] if form == "bon" \
        else [0.0, 0.1, 0.3, 0.5, 0.8, 1.2, 2.0, 3.5]
    f = fit(form, d, [gao(form, alpha, beta, x) for x in d])
    assert f.alpha == pytest.approx(alpha, abs=1e-6) and f.beta == pytest.approx(beta, abs=1e-6)
    assert f.rmse < 1e-9 and f.n == len(d)


@pytest.mark.parametrize("form", ["bon", "rl"])
def test_fit_of_noisy_points_stays_near_the_truth(form):
    """Seeded noise of std 0.01 on 40 points: α and β within a few standard errors of the generating values."""
    rng = random.Random(0)
    d = [0.1 * k for k in range(1, 41)]
    f = fit(form, d, [gao(form, 0.8, 0.3, x) + rng.gauss(0, 0.01) for x in d])
    assert f.alpha == pytest.approx(0.8, abs=0.02) and f.beta == pytest.approx(0.3, abs=0.02)
    assert 0.005 < f.rmse < 0.015  # the residual estimates the noise


def test_forms_are_gaos_and_residual_is_rms():
    assert predict("bon", 2.0, 0.5, 3.0) == pytest.approx(gao("bon", 2.0, 0.5, 3.0)) == pytest.approx(1.5)
    assert predict("rl", 2.0, 0.5, 3.0) == pytest.approx(gao("rl", 2.0, 0.5, 3.0))
    assert predict("rl", 2.0, 0.5, 0.0) == 0.0
    # three points, two parameters: the residual of a perturbation e is its projection on the normal of the plane
    # spanned by the features, (d) = (1, 2, 3) and (−d²) = (−1, −4, −9): n = (1,2,3) × (−1,−4,−9) = (−6, 6, −2),
    # |n|² = 76; e = (0, 0.1, 0) gives e·n = 0.6, so rmse = |e·n| / |n| / sqrt(3) = 0.6 / sqrt(228)
    d, gains = [1.0, 2.0, 3.0], [gao("bon", 1.0, 0.2, x) for x in (1.0, 2.0, 3.0)]
    gains[1] += 0.1
    assert fit("bon", d, gains).rmse == pytest.approx(0.6 / math.sqrt(228))


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="2 points"):
        fit("bon", [0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="unknown curve form"):
        fit("cubic", [1.0, 2.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="d values"):
        fit("rl", [1.0, 2.0], [0.0])
