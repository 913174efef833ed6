"""The DPO family (dpo, simpo, ipo), RMO on them (rmo_dpo, rmo_simpo) and the implicit-reward scorer: each loss
against a hand computation, the implicit reward of a policy equal to its reference, reward-bench's reference-free
scores, and bad settings."""
import copy
import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

import methods
from harness.config import ModelConfig, config_hash, resolve
from harness.errors import ConfigError
from harness.models import ImplicitRewardModel, RewardModel
from harness.scoring import implicit_columns, score_sequences
from harness.types import RewardOutput


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def pairs(**extra) -> RewardOutput:
    """Two pairs of summed response log-probs (policy, reference) and response lengths."""
    x = {"logp_chosen": torch.tensor([-10.0, -20.0]), "logp_rejected": torch.tensor([-12.0, -15.0]),
         "ref_logp_chosen": torch.tensor([-11.0, -18.0]), "ref_logp_rejected": torch.tensor([-11.5, -16.0]),
         "len_chosen": torch.tensor([5.0, 10.0]), "len_rejected": torch.tensor([4.0, 6.0]), **extra}
    return RewardOutput(torch.zeros(2), torch.zeros(2), extra=x)


def test_dpo_loss_is_eq_4_by_hand():
    # log-ratio gaps: pair 1 (−10+11) − (−12+11.5) = 1.5; pair 2 (−20+18) − (−15+16) = −3
    result = methods.get("dpo")(beta=0.5).loss(pairs())
    expected = -(log_sigmoid(0.5 * 1.5) + log_sigmoid(0.5 * -3.0)) / 2
    assert result.loss.item() == pytest.approx(expected, abs=1e-6)
    assert result.metrics["accuracy"].item() == pytest.approx(0.5)  # implicit rewards: pair 1 right, pair 2 wrong
    assert result.metrics["margin_mean"].item() == pytest.approx(0.5 * (1.5 - 3.0) / 2)


def test_simpo_loss_is_length_normalised_with_target_margin():
    # r = β/|y|·logπ: pair 1 2·(−10/5) − 2·(−12/4) = 2; pair 2 2·(−20/10) − 2·(−15/6) = 1
    result = methods.get("simpo")(beta=2.0, gamma=0.5).loss(pairs())
    expected = -(log_sigmoid(2.0 - 0.5) + log_sigmoid(1.0 - 0.5)) / 2
    assert result.loss.item() == pytest.approx(expected, abs=1e-6)
    # no reference: changing the reference's log-probs changes nothing
    other = pairs(ref_logp_chosen=torch.tensor([0.0, 0.0]))
    assert methods.get("simpo")(beta=2.0, gamma=0.5).loss(other).loss.item() == pytest.approx(expected, abs=1e-6)
    assert "ref_logprobs" not in methods.get("simpo").requires


def test_ipo_loss_is_squared_distance_to_half_inverse_tau():
    result = methods.get("ipo")(beta=0.25).loss(pairs())  # 1/(2τ) = 2
    assert result.loss.item() == pytest.approx(((1.5 - 2) ** 2 + (-3 - 2) ** 2) / 2, abs=1e-6)


def test_rmo_dpo_adds_the_amplification_of_eq_14_15():
    method = methods.get("rmo_dpo")(alpha=2.0, lambda_reg=3.0, base_config={"beta": 0.5})
    method.target_margin = 1.0  # δ̃
    # δ = logπ(y⁺) − logπ(y⁻) without reference: 2 and −5
    reg = (torch.sigmoid(torch.tensor((1.0 - 2.0) / 2.0)) + torch.sigmoid(torch.tensor((1.0 + 5.0) / 2.0))) / 2
    dpo = methods.get("dpo")(beta=0.5).loss(pairs()).loss
    assert method.loss(pairs()).loss.item() == pytest.approx((dpo + 3.0 * reg).item(), abs=1e-6)
    assert method.config_dict()["base_config"] == {"beta": 0.5, "ref_free_type": "none"}
    assert methods.get("rmo_simpo")().policy_margin(torch.tensor([-10.0]), torch.tensor([-12.0]), torch.tensor([5.0]),
                                                    torch.tensor([4.0])).item() == pytest.approx(-2.0 + 3.0)


def test_scores_with_and_without_reference_follow_reward_bench():
    # columns: Σ logπ, Σ logπ_ref, |y|, ‖logπ_t‖₂
    raw = torch.tensor([[-6.0, -8.0, 3.0, 4.0], [-2.0, -1.0, 2.0, 1.5]])
    score = lambda name, **c: methods.get(name)(**c).score(raw).tolist()  # noqa: E731
    assert score("dpo", beta=0.5) == pytest.approx([1.0, -0.5])  # β·(logπ − logπ_ref)
    assert score("dpo", beta=0.5, ref_free_type="sum") == pytest.approx([-3.0, -1.0])
    assert score("dpo", beta=0.5, ref_free_type="avg") == pytest.approx([-1.0, -0.5])
    assert score("dpo", beta=0.5, ref_free_type="norm") == pytest.approx([-2.0, -0.75])
    assert score("simpo", beta=2.0) == pytest.approx([-4.0, -2.0])
    assert methods.get("dpo")().score_needs_reference
    assert not methods.get("dpo")(ref_free_type="avg").score_needs_reference


def test_implicit_columns_by_hand():
    logits = torch.log(torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [1 / 3] * 3]]))
    ids = torch.tensor([[0, 1, 2, 0]])
    response = torch.tensor([[0, 1, 1, 0]])  # tokens 1 and 2 are the response; the last is padding
    cols = implicit_columns(logits, ids, response)[0]
    # logπ(ids[1] | ·) = log 0.25, logπ(ids[2] | ·) = log 0.3
    a, b = math.log(0.25), math.log(0.3)
    assert cols.tolist() == pytest.approx([a + b, 0.0, 2.0, math.hypot(a, b)], abs=1e-6)


def tiny_policy(seed=0) -> RewardModel:
    from harness.basemodel import resolve_backbone
    from harness.models import load_tokenizer

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    cfg = ModelConfig(dtype="fp32")
    tokenizer = load_tokenizer(resolve_backbone("tiny-micro"), cfg)
    return RewardModel(cfg, LlamaForCausalLM(config).eval(), tokenizer, source="test", need_lm_head=True)


def test_implicit_reward_of_a_policy_equal_to_its_reference_is_zero():
    policy = tiny_policy()
    scorer = ImplicitRewardModel(policy, copy.deepcopy(policy))
    seqs = [([1, 5, 9, 3, 7], 2), ([2, 4, 6, 8, 10, 12, 14], 3), ([3, 3, 3], 1)]
    raw = score_sequences(scorer, seqs, 0, 2, show_progress=False)
    assert raw.shape == (3, 4) and (raw[:, 0] < 0).all()
    assert methods.get("dpo")().score(raw).abs().max().item() == 0.0
    assert raw[:, 2].tolist() == [3.0, 4.0, 2.0]
    # padding-invariant: batch size 1 and 3 agree
    assert (score_sequences(scorer, seqs, 0, 1, show_progress=False) - raw).abs().max() <= 1e-5


@pytest.mark.parametrize("name", ["dpo", "ipo", "simpo", "rmo_dpo"])
def test_beta_must_be_positive(name):
    key = {"rmo_dpo": {"base_config": {"beta": 0.0}}}.get(name, {"beta": 0.0})
    with pytest.raises(ConfigError, match="beta must be > 0"):
        methods.get(name)(**key)


def test_unknown_ref_free_type_is_named():
    with pytest.raises(ConfigError, match="ref_free_type must be one of none, sum, avg, norm"):
        methods.get("dpo")(ref_free_type="mean")


def test_an_unset_reference_leaves_run_identity_as_it_was():
    plain = resolve("micro", method="bt")
    assert config_hash(plain) == config_hash(resolve("micro", method="bt", overrides=["model.ref="]))
    assert config_hash(resolve("micro", method="dpo", overrides=["model.ref=tiny"])) != \
        config_hash(resolve("micro", method="dpo"))


def test_lc_win_rate_recovers_a_planted_length_effect():
    import numpy as np

    from harness.metrics import win_rates

    rng = np.random.default_rng(0)
    n, theta0, theta1 = 20000, -0.4, 1.5
    delta = rng.normal(8.0, 10.0, n)  # the policy answers longer: a length confound
    p = 1 / (1 + np.exp(-(theta0 + theta1 * np.tanh(delta / delta.std()))))
    wins = (rng.random(n) < p).astype(float)
    out = win_rates(wins, 20 + delta, np.full(n, 20.0))
    assert out["length_coef"].value == pytest.approx(theta1, abs=4 * out["length_coef"].stderr)
    lc = 100 / (1 + math.exp(-theta0))  # 40.1 %: what the policy wins at equal length
    assert out["lc_win_rate"].value == pytest.approx(lc, abs=4 * out["lc_win_rate"].stderr)
    assert out["win_rate"].value > lc + 10  # the raw win rate is inflated by the longer answers
    assert out["win_rate"].value == pytest.approx(100 * wins.mean())
    # no length effect and equal lengths: LC = raw, ties count ½
    same = win_rates([1, 0, 0.5, 1], [5, 5, 5, 5], [5, 5, 5, 5])
    assert same["win_rate"].value == pytest.approx(62.5) and same["lc_win_rate"].value == pytest.approx(62.5, abs=1e-4)
