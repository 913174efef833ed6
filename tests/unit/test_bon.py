"""Best-of-n: the unbiased pool estimator against brute-force enumeration, ties, limits and the analytic KL."""
import math
import random
from itertools import combinations

import pytest

from harness.metrics import Estimate
from harness.rl.bon import best_of_n_expectation, best_of_n_over_prompts, bon_weights, kl_bon


def brute_force(proxy, gold, n):
    """Mean over ALL n-subsets of the gold of the proxy-argmax, ties among the maxima averaged."""
    values = []
    for subset in combinations(range(len(proxy)), n):
        top = max(proxy[i] for i in subset)
        winners = [gold[i] for i in subset if proxy[i] == top]
        values.append(sum(winners) / len(winners))
    return sum(values) / len(values)


@pytest.mark.parametrize("seed", range(6))
def test_estimator_equals_enumeration_of_all_subsets_with_ties(seed):
    rng = random.Random(seed)
    size = rng.randint(5, 10)
    proxy = [float(rng.randint(0, 3)) for _ in range(size)]  # few values: many ties
    gold = [rng.uniform(-2, 2) for _ in range(size)]
    for n in range(1, size + 1):
        assert best_of_n_expectation(proxy, gold, n) == pytest.approx(brute_force(proxy, gold, n), abs=1e-12)


def test_ties_equal_replacing_gold_by_its_group_mean():
    proxy = [0.3, 0.1, 0.3, 0.7, 0.3, 0.1]
    gold = [1.0, -1.0, 0.0, -0.5, 2.0, 0.5]
    groups = {p: [g for q, g in zip(proxy, gold) if q == p] for p in set(proxy)}
    averaged = [sum(groups[p]) / len(groups[p]) for p in proxy]
    for n in range(1, 7):
        assert best_of_n_expectation(proxy, gold, n) == pytest.approx(best_of_n_expectation(proxy, averaged, n))
        assert best_of_n_expectation(proxy, gold, n) == pytest.approx(brute_force(proxy, gold, n))


def test_limits_n1_is_the_pool_mean_and_nN_the_max_proxy_gold():
    proxy, gold = [0.2, 1.5, -0.3, 0.9], [3.0, -1.0, 0.5, 2.0]
    assert best_of_n_expectation(proxy, gold, 1) == pytest.approx(sum(gold) / 4)
    assert best_of_n_expectation(proxy, gold, 4) == pytest.approx(-1.0)
    assert best_of_n_expectation([1.0, 2.0, 2.0], [0.0, 4.0, 1.0], 3) == pytest.approx(2.5)  # tied maxima


def test_weights_sum_to_one_and_do_not_overflow_at_1024():
    for pool, n in ((16, 4), (1024, 1), (1024, 512), (1024, 1024), (2048, 700)):
        weights = bon_weights(pool, n)
        assert len(weights) == pool and all(0.0 <= w <= 1.0 for w in weights)
        assert math.fsum(weights) == pytest.approx(1.0, abs=1e-12)
    assert bon_weights(1024, 1024)[-1] == 1.0 and bon_weights(1024, 1)[0] == pytest.approx(1 / 1024)
    rng = random.Random(0)
    proxy, gold = [rng.random() for _ in range(1024)], [rng.random() for _ in range(1024)]
    assert min(gold) <= best_of_n_expectation(proxy, gold, 300) <= max(gold)


def test_invalid_inputs():
    with pytest.raises(ValueError):
        best_of_n_expectation([1.0, 2.0], [1.0, 2.0], 3)
    with pytest.raises(ValueError):
        best_of_n_expectation([1.0, 2.0], [1.0], 1)
    with pytest.raises(ValueError):
        best_of_n_expectation([1.0, math.nan], [1.0, 2.0], 1)
    with pytest.raises(ValueError):
        kl_bon(0)


def test_kl_bon_by_hand():
    assert kl_bon(1) == 0.0
    assert kl_bon(2) == pytest.approx(math.log(2) - 0.5)
    assert kl_bon(16) == pytest.approx(math.log(16) - 15 / 16)


def test_mean_over_prompts_returns_an_estimate():
    est = best_of_n_over_prompts([[0.0, 1.0], [1.0, 0.0]], [[0.0, 2.0], [4.0, 0.0]], 2)
    assert isinstance(est, Estimate) and est.n == 2
    assert est.value == pytest.approx(3.0) and est.stderr == pytest.approx(1.0)


def test_suite_options_and_world_requirement():
    from types import SimpleNamespace

    from harness.errors import ConfigError
    from harness.suites import check_requirements
    from harness.suites.bon import BestOfN, pool_sizes

    suite = BestOfN(n_max=8, heldout_templates=True, policy=None)  # as `--set bon.n_max=8 …` parses them
    assert (suite.n_max, suite.heldout_templates, suite.policy, suite.split) == (8, True, None, "bon_heldout")
    assert pool_sizes(16) == [1, 2, 4, 8, 16] and pool_sizes(1) == [1]
    for bad in ({"n_max": 12}, {"n_max": 0}, {"n_prompts": 2.5}, {"temperature": 0}, {"heldout_templates": "maybe"},
                {"nmax": 8}):
        with pytest.raises(ConfigError):
            BestOfN(**bad)
    ctx = SimpleNamespace(config=SimpleNamespace(data=SimpleNamespace(train="pairs.jsonl")))
    with pytest.raises(ConfigError, match="needs a run trained on the world"):
        check_requirements(ctx.config, [BestOfN.name])  # the orchestrator checks it before any suite runs


def test_proxy_rewarder_scores_each_pair_through_score_response_lists(monkeypatch):
    from types import SimpleNamespace

    import harness.rl.rewards as rewards

    calls = []

    def fake(ctx, prompts, responses, description):
        calls.append((ctx.show_progress, prompts, responses))
        return [[float(len(p) + len(r[0]))] for p, r in zip(prompts, responses)]

    monkeypatch.setattr(rewards, "score_response_lists", fake)
    ctx = SimpleNamespace(show_progress=True)
    reward = rewards.proxy_rewarder(ctx)
    assert reward(["ab", "c"], ["x", "yz"]) == [3.0, 3.0] and reward([], []) == []
    assert calls == [(False, ["ab", "c"], [["x"], ["yz"]])] and ctx.show_progress is True
    with pytest.raises(ValueError):
        reward(["a"], [])
