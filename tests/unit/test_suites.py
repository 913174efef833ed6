"""Evaluation metrics on hand-checkable inputs, and the ood / style suites scored by a stand-in reward
(response length in characters), so every expected score is computable by hand from the fixtures."""
import math
from pathlib import Path

import numpy as np
import pytest

from harness.metrics import (Estimate, combine_estimates, effective_rank, expected_calibration_error,
                             pair_calibration_error, rewardbench_scores, rmbench_accuracies)

FIXTURES = str(Path(__file__).resolve().parents[1] / "fixtures")


def test_rmbench_matrix_by_hand():
    # chosen [6, 31, 43] vs rejected [5, 39, 53]: M = [[1,0,0],[1,0,0],[1,1,0]]
    acc = rmbench_accuracies([[6, 31, 43]], [[5, 39, 53]])
    assert (acc["hard"].value, acc["normal"].value, acc["easy"].value) == (0.0, pytest.approx(1 / 3), 1.0)
    assert acc["score"].value == pytest.approx(4 / 9)
    # a tie on the diagonal counts as wrong
    assert rmbench_accuracies([[1, 2, 3]], [[1, 0, 0]])["normal"].value == pytest.approx(2 / 3)


def test_rewardbench_sections_weight_math_prm_like_the_six_code_subsets():
    e = lambda v: Estimate(v, None, 1)  # noqa: E731
    scores = rewardbench_scores({"alpacaeval-easy": e(0.5), "mt-bench-easy": e(1.0), "mt-bench-hard": e(1.0),
                                 "math-prm": e(0.0), "hep-python": e(1.0)})
    assert scores["Chat"].value == pytest.approx((0.5 * 100 + 1.0 * 28) / 128)
    assert scores["Reasoning"].value == pytest.approx(164 / (984 + 164))
    assert "Safety" not in scores
    assert scores["Score"].value == pytest.approx((78 / 128 + 1.0 + 1 / 7) / 3)
    with_prior = rewardbench_scores({"mt-bench-hard": e(1.0), "shp": e(0.4), "summarize": e(0.6)})
    assert with_prior["Prior Sets"].value == pytest.approx(0.5)
    assert with_prior["Score"].value == pytest.approx((2 * 1.0 + 0.5) / 3)


def test_combine_estimates_propagates_stderr():
    combined = combine_estimates([Estimate(0.5, 0.1, 10), Estimate(1.0, 0.2, 30)], [1, 3])
    assert combined.value == pytest.approx(0.875) and combined.n == 40
    assert combined.stderr == pytest.approx(math.sqrt(0.1**2 + 9 * 0.2**2) / 4)
    assert combine_estimates([Estimate(1.0, None, 1), Estimate(0.0, 0.1, 1)]).stderr is None


def test_expected_calibration_error_by_hand():
    # bin (0.8, 0.9]: conf 0.85 ×2, one correct → |0.5 − 0.85|; bin (0.9, 1]: conf 0.95 ×2, both correct → 0.05
    assert expected_calibration_error([0.85, 0.85, 0.95, 0.95], [1, 0, 1, 1]) == pytest.approx(
        0.5 * 0.35 + 0.5 * 0.05)
    assert expected_calibration_error([0.0, 1.0], [0, 1]) == pytest.approx(0.0)
    # Δ = 0 is confidence 0.5 and wrong; Δ = ln 3 is σ = 0.75 and right
    assert pair_calibration_error([0.0, math.log(3)]) == pytest.approx(0.5 * 0.5 + 0.5 * 0.25)


def test_effective_rank_by_hand():
    assert effective_rank(np.eye(4)) == pytest.approx(4.0)
    assert effective_rank([[1.0, 0.0], [2.0, 0.0]]) == pytest.approx(1.0)
    # singular values 3 and 1: p = (0.75, 0.25)
    assert effective_rank(np.diag([3.0, 1.0])) == pytest.approx(math.exp(-(0.75 * math.log(0.75) +
                                                                          0.25 * math.log(0.25))))


def test_ood_rewardbench_and_rmbench_official_scores(length_scored):
    m = length_scored("ood", f"rewardbench:{FIXTURES}/rewardbench/filtered.jsonl,"
                             f"rmbench:{FIXTURES}/rmbench/total_dataset.json")
    rb = {k[1:]: v for k, v in m.items() if k[0] == "rewardbench-filtered"}
    assert rb["alpacaeval-easy", "accuracy"] == 0.5 and rb["math-prm", "accuracy"] == 0.0
    assert rb["Chat", "score"] == 0.5 and rb["Chat Hard", "score"] == 1.0 and rb["Safety", "score"] == 1.0
    assert rb["Reasoning", "score"] == pytest.approx(1 / 7)
    assert rb["overall", "score"] == pytest.approx((0.5 + 1 + 1 + 1 / 7) / 4)
    rm = {k[1:]: v for k, v in m.items() if k[0] == "rmbench-total_dataset"}
    assert (rm["chat", "hard_accuracy"], rm["chat", "normal_accuracy"], rm["chat", "easy_accuracy"]) == (
        0.0, pytest.approx(1 / 3), 1.0)
    # safety-refuse: normal 0; safety-response: normal 2/3 (a tie on the diagonal is wrong); merged: 1/3
    assert rm["safety", "normal_accuracy"] == pytest.approx(1 / 3) and rm["safety", "score"] == pytest.approx(4 / 9)
    assert rm["overall", "score"] == pytest.approx(4 / 9) and rm["overall", "hard_accuracy"] == 0.0


@pytest.mark.parametrize("spec, dataset, accuracy, excluded", [
    (f"hhh:{FIXTURES}/hhh", "hhh-hhh", 1.0, None),
    (f"mtbench:{FIXTURES}/mtbench/human.jsonl", "mtbench-human", 0.5, 2),
    (f"unified_feedback:{FIXTURES}/unified_feedback/val.jsonl", "unified_feedback-val", 0.5, 1),
    (f"skywork:{FIXTURES}/skywork/train.jsonl", "skywork-train", 0.5, None),
    (f"hh_rlhf:{FIXTURES}/hh_rlhf/test.jsonl", "hh_rlhf-test", 0.5, None),
    (f"generic:{FIXTURES}/generic/pairs.csv:prompt=q,chosen=a,rejected=b", "generic-pairs", 2 / 3, None),
])
def test_ood_pair_formats(length_scored, spec, dataset, accuracy, excluded):
    m = length_scored("ood", spec)
    assert m[dataset, "all", "accuracy"] == pytest.approx(accuracy)
    assert m.get((dataset, "all", "ties_excluded")) == excluded


def test_ood_without_data_falls_back_to_the_world(length_scored, capsys):
    m = length_scored("ood")
    assert {k[:2] for k in m} == {("world-fallback", s) for s in ("prompt_ood", "response_ood", "mutual_ood")}


def test_style_suite_reports_domains_and_overall(length_scored):
    m = length_scored("style")
    domains = {k[1] for k in m} - {"overall"}
    assert {"addition", "safety"} <= domains  # world v2's families
    mean = np.mean([m["world", d, "score"] for d in domains])
    assert m["world", "overall", "score"] == pytest.approx(mean)
