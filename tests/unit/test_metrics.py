import math

import pytest

from harness.metrics import kendall_tau_b, mean_over_prompts, pairwise_accuracy


def test_pairwise_accuracy_counts_ties_as_wrong():
    estimate, ties = pairwise_accuracy([1.0, 2.0, 3.0, 0.0], [0.0, 2.0, 1.0, 1.0])
    assert estimate.value == 0.5 and ties == 1 and estimate.n == 4
    assert estimate.stderr == pytest.approx(math.sqrt(0.25 / 4))


def test_kendall_tau_b_by_hand():
    assert kendall_tau_b([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau_b([4, 3, 2, 1], [10, 20, 30, 40]) == pytest.approx(-1.0)
    # one tie in the scores: 5 concordant pairs, 0 discordant, tau_b = 5 / sqrt((6 − 1)(6 − 0))
    assert kendall_tau_b([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / math.sqrt(30))
    # ties on both sides: x = (1,1,2,3), y = (1,2,2,3): n_c = 4, n_d = 0, t_x = t_y = 1
    assert kendall_tau_b([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(4 / 5)
    assert math.isnan(kendall_tau_b([1, 1, 1, 1], [1, 2, 3, 4]))


def test_mean_over_prompts_skips_and_counts_nan():
    estimate, undefined = mean_over_prompts([1.0, float("nan"), 0.0])
    assert estimate.value == 0.5 and estimate.n == 2 and undefined == 1
