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
from harness.data.encode import EncodedPairs, PackedPairCollator, PairCollator
from harness.errors import ConfigError
from harness.models import ImplicitRewardModel, RewardModel
from harness.packing import pack
from harness.scoring import (REF_COLUMNS, implicit_columns, response_logprobs, reward_output, score_sequences,
                             weights_digest)
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


def pair_sequences(seed: int = 0, n_prompts: int = 12) -> list[tuple[list[int], int]]:
    """Both sides of preference pairs (a shared prompt, then a response) of mixed lengths, and one sequence whose
    response is empty."""
    g = torch.Generator().manual_seed(seed)
    draw = lambda n: torch.randint(1, 64, (n,), generator=g).tolist()  # noqa: E731
    seqs = []
    for _ in range(n_prompts):
        prompt = draw(int(torch.randint(1, 12, (1,), generator=g)))
        seqs += [(prompt + draw(int(torch.randint(1, 20, (1,), generator=g))), len(prompt)) for _ in range(2)]
    return seqs + [(draw(5), 5)]


def plain_logprob(model: RewardModel, ids: list[int], start: int) -> float:
    """Σ log π(y_t | x, y_<t) over the response of one unpadded sequence, from transformers' own causal LM."""
    with torch.no_grad():
        logits = model.backbone(input_ids=torch.tensor([ids])).logits[0].double()
    logp = torch.log_softmax(logits, -1)
    return sum(logp[t - 1, ids[t]].item() for t in range(max(start, 1), len(ids)))


def test_packed_layout_lists_each_response_token_with_the_token_that_predicts_it():
    p = pack([([5, 6, 7, 8], 2), ([5, 6, 9], 2), ([3, 4], 1), ([2, 1], 2)], pad_id=0, multiple_of=1, min_width=0)
    # row 0: 5 6 7 8 9; row 1: 3 4 2 1 (flat 5…); the last sequence has an empty response
    assert p.predictors.tolist() == [1, 2, 1, 5] and p.targets.tolist() == [7, 8, 9, 4]
    assert p.owners.tolist() == [0, 0, 1, 2]
    assert p.response_sums(torch.tensor([1.0, 2.0, 4.0, 8.0])).tolist() == [3.0, 4.0, 8.0, 0.0]


def test_reference_logprobs_packed_equal_a_plain_per_sequence_computation():
    model = tiny_policy(3)
    seqs = pair_sequences()
    expected = torch.tensor([plain_logprob(model, ids, start) for ids, start in seqs])
    for batch_size in (1, 4, 64):
        got = response_logprobs(model, seqs, 0, batch_size, show_progress=False)
        assert (got.double() - expected).abs().max() <= 1e-5
    assert expected[-1] == 0.0 and (expected[:-1] < -1).all()


def test_implicit_columns_packed_equal_padded():
    policy, reference = tiny_policy(1), tiny_policy(2)
    scorer = ImplicitRewardModel(policy, reference)
    seqs = pair_sequences(1)
    padded = score_sequences(scorer, seqs, 0, 4, show_progress=False, packing=False)
    packed = score_sequences(scorer, seqs, 0, 4, show_progress=False, packing=True)
    assert (padded[:, 0] - padded[:, 1]).abs().max() > 0.1  # two different models: the reward is not 0
    assert ((packed - padded).abs() <= 1e-5 + 1e-6 * padded.abs()).all()  # float32 sums of ~50: rounding


@pytest.mark.parametrize("name", ["dpo", "simpo"])
def test_a_packed_dpo_training_batch_gives_the_padded_loss_and_gradients(name):
    policy, reference = tiny_policy(4), tiny_policy(5)
    seqs = pair_sequences(2)[:-1]
    data = EncodedPairs(seqs[0::2], seqs[1::2])
    method = methods.get(name)()
    rows = list(range(len(data)))
    outs = []
    for collate in (PairCollator(data, 0), PackedPairCollator(data, 0)):
        policy.zero_grad()
        batch = collate(rows)
        result = method.loss(reward_output(policy, batch, method.requires, reference), batch)
        result.loss.backward()
        outs.append((result.loss.detach(), [p.grad.clone() for p in policy.parameters() if p.grad is not None]))
    (loss_a, grads_a), (loss_b, grads_b) = outs
    assert batch.packed is not None and len(grads_a) == len(grads_b) > 0
    assert abs(loss_a.item() - loss_b.item()) <= 1e-5
    assert max((a - b).abs().max().item() for a, b in zip(grads_a, grads_b)) <= 1e-5


def test_reference_logprobs_are_kept_on_disk_keyed_by_the_reference_weights(tmp_path):
    from harness.trainer import REFERENCE_CACHE, Trainer

    cfg = resolve("micro", overrides=["model.backbone=tiny-micro", "data.world.n_train=24",
                                      "data.validation_pairs=4"], method="dpo")
    first = Trainer(cfg, tmp_path / "runs" / "a", show_progress=False)
    columns = first.prepare_data()[0].columns
    files = list((tmp_path / "runs" / REFERENCE_CACHE).iterdir())
    assert len(files) == 1 and files[0].name == f"{weights_digest(first.reference.backbone)}.pt"

    second = Trainer(cfg, tmp_path / "runs" / "b", show_progress=False)
    computed = []
    original = second.reference.forward
    second.reference.forward = lambda *a, **k: computed.append(1) or original(*a, **k)
    assert second.prepare_data()[0].columns == columns and not computed  # read from disk, not computed

    with torch.no_grad():  # another reference: its own file, computed afresh
        next(second.reference.backbone.parameters()).add_(0.01)
    third = second._with_reference_logprobs(second.prepare_data()[0])
    assert computed and len(list((tmp_path / "runs" / REFERENCE_CACHE).iterdir())) == 2
    assert third.columns[REF_COLUMNS[0]] != columns[REF_COLUMNS[0]]
