"""Gao et al. (2023) over-optimisation fits: known (α, β) recovered from synthetic points."""
import math

import pytest

from harness.rl.curves import fit, predict
from harness.rl.bon import kl_bon


@pytest.mark.parametrize("form,alpha,beta", [("bon", 1.3, 0.4), ("bon", 0.2, -0.05), ("rl", 0.9, 0.35),
                                             ("rl", -0.1, 0.2)])
def test_fit_recovers_known_parameters(form, alpha, beta):
    d = [math.sqrt(kl_bon(n)) for n in (1, 2, 4, 8, 16, 32, 64, 128, 256)] if form == "bon" \
        else [0.0, 0.1, 0.3, 0.5, 0.8, 1.2, 2.0, 3.5]
    gains = [predict(form, alpha, beta, x) for x in d]
    f = fit(form, d, gains)
    assert f.alpha == pytest.approx(alpha, abs=1e-6) and f.beta == pytest.approx(beta, abs=1e-6)
    assert f.rmse < 1e-9 and f.n == len(d)


def test_forms_are_gaos_and_residual_is_rms():
    assert predict("bon", 2.0, 0.5, 3.0) == pytest.approx(3.0 * (2.0 - 0.5 * 3.0))
    assert predict("rl", 2.0, 0.5, 3.0) == pytest.approx(3.0 * (2.0 - 0.5 * math.log(3.0)))
    assert predict("rl", 2.0, 0.5, 0.0) == 0.0
    # three points, two parameters: a perturbation of one point leaves a known residual pattern
    d, gains = [1.0, 2.0, 3.0], [predict("bon", 1.0, 0.2, x) for x in (1.0, 2.0, 3.0)]
    gains[1] += 0.1
    f = fit("bon", d, gains)
    import numpy as np

    design = np.array([[x, -x * x] for x in d])
    res = np.array(gains) - design @ np.linalg.lstsq(design, np.array(gains), rcond=None)[0]
    assert f.rmse == pytest.approx(float(np.sqrt(np.mean(res ** 2))))


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="2 points"):
        fit("bon", [0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="unknown curve form"):
        fit("cubic", [1.0, 2.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="d values"):
        fit("rl", [1.0, 2.0], [0.0])
