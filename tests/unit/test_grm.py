"""GRM (Yang et al. 2024): the loss against hand-computed values for each regulariser, response-only log-probs, and
the frozen reference (LoRA: adapter disabled; full fine-tuning: a frozen copy)."""
import math

import pytest
import torch

import methods
from harness.config import LoraSettings, ModelConfig
from harness.data.encode import Encoder, PairCollator, encode_pairs
from harness.errors import ConfigError
from harness.models import RewardModel
from harness.scoring import reward_output, sequence_logprobs
from harness.types import RewardOutput


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


# two pairs: rewards and summed response log-probs (policy, reference)
R_W, R_L = [1.0, -0.5], [0.0, 0.5]
LP_W, LP_L, REF_W, REF_L = [-3.0, -12.0], [-4.0, -7.0], [-3.5, -10.0], [-4.0, -8.0]


def hand_output() -> RewardOutput:
    t = torch.tensor
    return RewardOutput(t(R_W), t(R_L), extra={"logp_chosen": t(LP_W), "logp_rejected": t(LP_L),
                                               "ref_logp_chosen": t(REF_W), "ref_logp_rejected": t(REF_L)})


@pytest.mark.parametrize("regularizer, logit", [
    ("sft", lambda i: LP_W[i]),
    ("dpo_noref", lambda i: LP_W[i] - LP_L[i]),
    ("dpo", lambda i: (LP_W[i] - REF_W[i]) - (LP_L[i] - REF_L[i])),
])
def test_loss_matches_hand_computed_values(regularizer, logit):
    alpha, beta = 0.01, 0.1
    bt = -sum(log_sigmoid(w - l) for w, l in zip(R_W, R_L)) / 2
    reg = -sum(log_sigmoid(beta * logit(i)) for i in range(2)) / 2
    result = methods.get("grm")(regularizer=regularizer).loss(hand_output())
    assert result.loss.item() == pytest.approx((1 - alpha) * bt + alpha * reg, abs=1e-6)
    assert result.metrics["bt_loss"].item() == pytest.approx(bt, abs=1e-6)
    assert result.metrics["reg_loss"].item() == pytest.approx(reg, abs=1e-6)
    assert result.metrics["logp_chosen"].item() == pytest.approx(sum(LP_W) / 2)
    assert result.metrics["accuracy"].item() == 0.5


def test_requires_follow_the_regulariser():
    grm = methods.get("grm")
    assert grm.requires == frozenset({"lm_logprobs"}) == grm().requires == grm(regularizer="dpo_noref").requires
    assert grm(regularizer="dpo").requires == frozenset({"lm_logprobs", "ref_logprobs"})
    with pytest.raises(ConfigError, match="regularizer: expected one of sft, dpo_noref, dpo"):
        grm(regularizer="kto")
    with pytest.raises(ConfigError, match=r"grm needs .*'ref_logp_chosen'"):
        grm(regularizer="dpo").loss(RewardOutput(torch.zeros(2), torch.zeros(2),
                                                 extra={"logp_chosen": torch.zeros(2),
                                                        "logp_rejected": torch.zeros(2)}))


def test_sequence_logprobs_sum_response_tokens_only():
    # vocabulary of 3, sequence [0, 1, 2, 1, pad]: prompt = tokens 0-1, response = tokens 2-3, then padding
    logits = torch.tensor([[[0.0, 1.0, 2.0],  # predicts token 1 (prompt: masked)
                            [1.0, 0.0, 3.0],  # predicts token 2 (response)
                            [0.5, 2.0, 0.0],  # predicts token 1 (response)
                            [9.0, 0.0, 0.0],  # predicts the pad (masked)
                            [0.0, 0.0, 0.0]]])
    input_ids = torch.tensor([[0, 1, 2, 1, 0]])
    response_mask = torch.tensor([[0, 0, 1, 1, 0]])

    def log_softmax(row, k):
        return row[k] - math.log(sum(math.exp(v) for v in row))

    expected = log_softmax([1.0, 0.0, 3.0], 2) + log_softmax([0.5, 2.0, 0.0], 1)
    assert sequence_logprobs(logits, input_ids, response_mask).item() == pytest.approx(expected, abs=1e-6)


@pytest.fixture(scope="module")
def micro_batch():
    rows = [{"prompt": "What is 2 plus 3?", "chosen": "5.", "rejected": "It is 6, I think."},
            {"prompt": "Convert 2 km to m.", "chosen": "2000 m", "rejected": "I cannot help with that."}]
    tokenizer = RewardModel.build(ModelConfig(backbone="tiny-micro")).tokenizer
    data = encode_pairs(rows, Encoder(tokenizer, 64))
    return PairCollator(data, tokenizer.pad_token_id)([0, 1])


@pytest.mark.parametrize("lora", [0, 4], ids=["full", "lora"])
def test_reference_stays_the_initial_model_while_the_policy_trains(lora, micro_batch):
    model = RewardModel.build(ModelConfig(backbone="tiny-micro", lora=LoraSettings(r=lora, dropout=0.0)),
                              need_lm_head=True)
    reference = model.frozen_reference()
    if lora:  # the same module with its adapter disabled: no second copy
        assert reference is model
    else:
        assert reference is not model and not any(p.requires_grad for p in reference.parameters())
    method = methods.get("grm")(regularizer="dpo", alpha=0.5)
    requires = method.requires
    initial = reward_output(model, micro_batch, {"lm_logprobs"}).extra

    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    method.loss(reward_output(model, micro_batch, requires, reference), micro_batch).loss.backward()
    optimizer.step()

    model.train()
    after = reward_output(model, micro_batch, requires, reference).extra
    assert model.training  # scoring the reference restored the training mode
    for side in ("chosen", "rejected"):
        torch.testing.assert_close(after[f"ref_logp_{side}"], initial[f"logp_{side}"], rtol=0, atol=1e-5)
        assert not after[f"ref_logp_{side}"].requires_grad
        assert (after[f"logp_{side}"] - initial[f"logp_{side}"]).abs().max() > 1e-3
