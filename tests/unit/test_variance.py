"""The evaluation-noise / seed split of a paired difference (leaderboards.variance) on synthetic predictions with
known components."""
import random
import statistics

import pytest

from leaderboards.variance import paired_matrix, read_outcomes, variance_split


def synthetic(seeds: int, items: int, seed_sd: float, item_sd: float, res_sd: float, rng: random.Random):
    a = [rng.gauss(0, seed_sd) for _ in range(seeds)]
    b = [rng.gauss(0, item_sd) for _ in range(items)]
    return [[0.01 + a[s] + b[i] + rng.gauss(0, res_sd) for i in range(items)] for s in range(seeds)]


def test_the_anova_recovers_known_components():
    rng = random.Random(1)
    estimates = [variance_split(synthetic(8, 400, 0.03, 0.1, 0.5, rng)) for _ in range(200)]
    assert statistics.fmean(e.residual_var for e in estimates) == pytest.approx(0.25, rel=0.01)
    # unbiased before truncation at zero: E[var_s(d_s) − σ̂²_res / N] = σ²_seed
    assert statistics.fmean(e.observed_var - e.eval_var for e in estimates) == pytest.approx(0.0009, rel=0.1)
    assert all(e.seed_var == pytest.approx(max(0.0, e.observed_var - e.eval_var), abs=1e-12) for e in estimates)
    assert statistics.fmean(e.item_var for e in estimates) == pytest.approx(0.01, rel=0.1)
    # eval share: (0.25 / 400) / (0.0009 + 0.25 / 400) = 0.41
    share = statistics.fmean(e.eval_var for e in estimates) / statistics.fmean(e.observed_var for e in estimates)
    assert share == pytest.approx(0.25 / 400 / (0.0009 + 0.25 / 400), abs=0.05)


def test_binary_outcomes_without_a_seed_effect_are_all_evaluation_noise():
    """Each run answers every item right independently with p = 0.7: no seed component, var_s(d_s) is 2·p(1−p)/N."""
    rng = random.Random(2)
    shares, observed = [], []
    for _ in range(40):
        runs = [({i: float(rng.random() < 0.7) for i in range(500)}, {i: float(rng.random() < 0.7) for i in range(500)})
                for _ in range(5)]
        split = variance_split(paired_matrix(runs))
        shares.append(split.eval_share)
        observed.append(split.observed_var)
        assert split.residual_var == pytest.approx(2 * 0.7 * 0.3, rel=0.1)
    assert statistics.fmean(observed) == pytest.approx(2 * 0.21 / 500, rel=0.15)
    assert statistics.fmean(shares) > 0.8


def test_a_hand_matrix():
    # X = [[1, 0], [0, 0], [1, 1]]: row means .5 0 1, col means 2/3 1/3, grand 1/2
    split = variance_split([[1, 0], [0, 0], [1, 1]])
    # MS_seed = 2 * ((0)^2 + (.5)^2 + (.5)^2) / 2 = 0.5; MS_item = 3 * (2 * (1/6)^2) / 1 = 1/6
    # residuals: X - r - c + g = [[1-.5-2/3+.5, 0-.5-1/3+.5], [0-0-2/3+.5, 0-0-1/3+.5], [1-1-2/3+.5, 1-1-1/3+.5]]
    #          = [[1/3, -1/3], [-1/6, 1/6], [-1/6, 1/6]]: SS = 2/9 + 1/18 + 1/18 = 1/3; MS_res = (1/3) / 2 = 1/6
    assert split.residual_var == pytest.approx(1 / 6)
    assert split.seed_var == pytest.approx((0.5 - 1 / 6) / 2)
    assert split.item_var == pytest.approx((1 / 6 - 1 / 6) / 3)
    assert split.observed_var == pytest.approx(statistics.variance([0.5, 0, 1]))
    assert split.eval_var == pytest.approx(1 / 12) and split.eval_share == pytest.approx((1 / 12) / (1 / 6 + 1 / 12))
    assert split.projected_se(4, 8) == pytest.approx((((1 / 6) + (1 / 6) / 8) / 4) ** 0.5)
    assert variance_split([[1, 0]]) is None and variance_split([[1], [0]]) is None


def test_predictions_are_matched_by_item_id(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "b", "correct": true}\n{"id": "a", "correct": false}\n')
    assert read_outcomes(path) == {"b": 1.0, "a": 0.0}
    assert read_outcomes(tmp_path / "missing.jsonl") is None
    (tmp_path / "bad.jsonl").write_text('{"id": "a"}\n')
    assert read_outcomes(tmp_path / "bad.jsonl") is None
    # items only one run scored are left out; the order of ids does not matter
    assert paired_matrix([({"a": 1.0, "b": 0.0, "c": 1.0}, {"b": 1.0, "a": 1.0})]) == [[0.0, -1.0]]
