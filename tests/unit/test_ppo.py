"""PPO written here: GAE and the clipped losses against hand arithmetic, and a short run on the micro base model."""
import copy
import dataclasses
import math

import pytest
import torch

from harness.rl import RLConfig
from harness.rl.ppo import RunningMoments, gae, policy_loss, train_ppo, value_loss


def test_gae_1x3_by_hand():
    # gamma = 0.9, lam = 0.5 (gamma * lam = 0.45); V past the end = 0
    # t=2: delta = 1 + 0.9*0   - 0.4 =  0.6                 A2 =  0.6
    # t=1: delta = 0 + 0.9*0.4 - 0.2 =  0.16   A1 = 0.16 + 0.45*0.6  =  0.43
    # t=0: delta = 0 + 0.9*0.2 - 0.5 = -0.32   A0 = -0.32 + 0.45*0.43 = -0.1265
    # returns = A + V = [0.3735, 0.63, 1.0]
    adv, ret = gae(torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.5, 0.2, 0.4]]), torch.ones(1, 3), 0.9, 0.5)
    assert torch.allclose(adv, torch.tensor([[-0.1265, 0.43, 0.6]]), atol=1e-6)
    assert torch.allclose(ret, torch.tensor([[0.3735, 0.63, 1.0]]), atol=1e-6)


def test_gae_2x4_masked_by_hand():
    # gamma = 1, lam = 0.5
    # row 0 (4 tokens), V = 0.5 everywhere:
    #   t=3: delta = 1   + 0   - 0.5 = 0.5    A3 = 0.5
    #   t=2: delta = 0   + 0.5 - 0.5 = 0      A2 = 0 + 0.5*0.5   = 0.25
    #   t=1: delta = 0   + 0.5 - 0.5 = 0      A1 = 0 + 0.5*0.25  = 0.125
    #   t=0: delta = 0.1 + 0.5 - 0.5 = 0.1    A0 = 0.1 + 0.5*0.125 = 0.1625
    #   returns = [0.6625, 0.625, 0.75, 1.0]
    # row 1 (2 tokens, then padding whose rewards / values 9, 7 must be ignored):
    #   t=1: delta = 2    + 0   - 0.5 =  1.5   A1 = 1.5
    #   t=0: delta = -0.2 + 0.5 - 1.0 = -0.7   A0 = -0.7 + 0.5*1.5 = 0.05
    #   returns = [1.05, 2.0, 0, 0]
    rewards = torch.tensor([[0.1, 0.0, 0.0, 1.0], [-0.2, 2.0, 9.0, 9.0]])
    values = torch.tensor([[0.5, 0.5, 0.5, 0.5], [1.0, 0.5, 7.0, 7.0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    adv, ret = gae(rewards, values, mask, 1.0, 0.5)
    assert torch.allclose(adv, torch.tensor([[0.1625, 0.125, 0.25, 0.5], [0.05, 1.5, 0.0, 0.0]]), atol=1e-6)
    assert torch.allclose(ret, torch.tensor([[0.6625, 0.625, 0.75, 1.0], [1.05, 2.0, 0.0, 0.0]]), atol=1e-6)


def test_policy_loss_clipping_by_hand():
    # clip_range 0.2, ratios r = [1.5, 0.5, 0.5, 1.1, (3: masked)], advantages A = [1, 1, -2, -1, (5)]
    #   token 0: -A*r = -1.5, -A*clip(r) = -1.2 -> max -1.2 (clipped term active; no gradient)
    #   token 1: -0.5, -0.8                    -> -0.5 (unclipped)
    #   token 2:  1.0,  1.6                    ->  1.6 (clipped; no gradient)
    #   token 3:  1.1,  1.1                    ->  1.1 (inside the range)
    # loss = (-1.2 - 0.5 + 1.6 + 1.1) / 4 = 0.25; clipfrac = 2/4
    ratios = torch.tensor([[1.5, 0.5, 0.5, 1.1, 3.0]])
    old = torch.tensor([[-1.0, -2.0, -0.5, -3.0, -1.0]])
    logp = (old + ratios.log()).requires_grad_(True)
    adv = torch.tensor([[1.0, 1.0, -2.0, -1.0, 5.0]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    loss, stats = policy_loss(logp, old, adv, mask, 0.2)
    assert loss.item() == pytest.approx(0.25, abs=1e-6)
    assert stats["clipfrac"] == pytest.approx(0.5)
    k3 = [r - 1 - math.log(r) for r in (1.5, 0.5, 0.5, 1.1)]  # approx KL: E[(r - 1) - log r]
    assert stats["approx_kl"] == pytest.approx(sum(k3) / 4, abs=1e-6)
    loss.backward()  # d/dlogp of -A*r/4 = -A*r/4 where unclipped, 0 where clipped or masked
    assert torch.allclose(logp.grad, torch.tensor([[0.0, -0.125, 0.0, 0.275, 0.0]]), atol=1e-6)


def test_value_loss_clipping_by_hand():
    # value_clip 0.2
    #   token 0: old 0, new 0.5, R 1: (0.5-1)^2 = 0.25, clipped V 0.2: (0.2-1)^2 = 0.64 -> 0.64 (clipped larger)
    #   token 1: old 0, new 0.5, R 0: 0.25, clipped (0.2-0)^2 = 0.04 -> 0.25
    #   token 2: old 1, new 1.1, R 2: 0.81 both (inside the range)
    #   token 3: masked
    # loss = 0.5 * (0.64 + 0.25 + 0.81) / 3 = 0.283333; value_clipfrac = 1/3
    values = torch.tensor([[0.5, 0.5, 1.1, 9.0]])
    old = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    returns = torch.tensor([[1.0, 0.0, 2.0, 0.0]])
    loss, stats = value_loss(values, old, returns, torch.tensor([[1, 1, 1, 0]]), 0.2)
    assert loss.item() == pytest.approx(0.5 * 1.7 / 3, abs=1e-6)
    assert stats["value_clipfrac"] == pytest.approx(1 / 3)


def test_running_moments_merge_batches_exactly():
    xs = torch.tensor([1.0, 2.0, 4.0, 8.0, -3.0])
    m = RunningMoments()
    m.update(xs[:2])
    m.update(xs[2:])
    assert m.count == 5
    assert m.mean == pytest.approx(xs.mean().item())
    assert m.std == pytest.approx(xs.std().item())  # unbiased
    assert torch.allclose(m.normalise(xs), (xs - xs.mean()) / xs.std())


@pytest.fixture(scope="module")
def micro():
    from harness.rl.policy import load_policy

    return load_policy("tiny-micro")


def _share_of_e(prompts, responses):  # toy reward: share of the letter "e" among the response's characters
    return [r.count("e") / max(1, len(r)) for r in responses]


def test_ppo_raises_a_toy_reward_deterministically(micro):
    model, tokenizer = micro
    prompts = [f"Tell me about topic {i}." for i in range(8)]
    cfg = RLConfig(steps=10, prompts_per_step=8, samples_per_prompt=2, max_new_tokens=12, lr=1e-2,
                   minibatch_size=8, ppo_epochs=4, seed=3)
    seen = []
    track = {"length": lambda p, r: [float(len(x)) for x in r]}
    history = train_ppo(copy.deepcopy(model), tokenizer, prompts, _share_of_e, cfg, track=track,
                        on_step=seen.append, show_progress=False)
    assert len(history) == cfg.steps and seen[: cfg.steps] == history
    assert history[0]["kl"] == 0.0  # the policy is the reference at step 0
    assert history[0]["approx_kl"] > 0 and {"length", "policy_loss", "value_loss", "clipfrac"} <= set(history[0])
    first, last = (sum(r["reward"] for r in rs) / 2 for rs in (history[:2], history[-2:]))
    assert last > first + 0.1, [round(r["reward"], 3) for r in history]
    assert history[-1]["kl"] > 0
    # same seed, same history (each step depends only on the seed and the steps before it: a shorter rerun suffices)
    again = train_ppo(copy.deepcopy(model), tokenizer, prompts, _share_of_e, dataclasses.replace(cfg, steps=3),
                      track=track, show_progress=False)
    drop_time = [[{k: v for k, v in r.items() if k != "seconds"} for r in h] for h in (history[:3], again)]
    assert drop_time[0] == drop_time[1]

