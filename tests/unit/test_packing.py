"""Packed batches (harness.packing): the layout, rewards equal to padded and one-at-a-time scoring of a trained
model, the same training step, and the run identity of the new default."""
from __future__ import annotations

import dataclasses
import random

import pytest
import torch

from harness import config
from harness.data.encode import PackedPairCollator, PairCollator
from harness.packing import can_pack, pack, segments
from harness.runs import run_id
from harness.scoring import packed_batches, reward_output, score_sequences


def test_a_shared_prompt_is_laid_out_once_with_branches_that_do_not_see_each_other():
    seqs = [([5, 6, 7, 8], 2), ([5, 6, 9], 2), ([3, 4], 1)]
    assert segments(seqs) == [([5, 6], [(0, [7, 8]), (1, [9])]), ([3], [(2, [4])])]
    p = pack(seqs, pad_id=0, multiple_of=1, min_width=0)
    assert p.input_ids.tolist() == [[5, 6, 7, 8, 9], [3, 4, 0, 0, 0]]
    assert p.position_ids.tolist() == [[0, 1, 2, 3, 2], [0, 1, 0, 0, 0]]
    assert p.readout.tolist() == [3, 4, 6] and p.real_tokens == 7
    mask = p.attention_mask[0, 0].int().tolist()
    assert mask[4] == [1, 1, 0, 0, 1]  # the second response sees the prompt and itself, not the first response
    assert mask[3] == [1, 1, 1, 1, 0]
    assert p.attention_mask[1, 0].int().tolist()[:2] == [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0]]
    assert p.attention_mask[1, 0, 3].int().tolist() == [0, 0, 0, 1, 0]  # padding sees itself only


def test_packed_batches_keep_a_prompt_group_together_within_the_token_budget():
    rng = random.Random(0)
    seqs = [([p] * 6 + [rng.randrange(10, 99) for _ in range(rng.randrange(1, 20))], 6) for p in range(1, 30)
            for _ in range(3)]
    batches = packed_batches(seqs, 4)
    assert sorted(j for b in batches for j in b) == list(range(len(seqs)))
    owner = {seqs[j][0][0]: k for k, b in enumerate(batches) for j in b}
    assert all(owner[seqs[j][0][0]] == k for k, b in enumerate(batches) for j in b)  # a prompt in one batch only


def test_rewards_of_a_trained_model_are_the_same_one_at_a_time_padded_and_packed(trained_micro_rm):
    model, train = trained_micro_rm
    assert can_pack(model)
    seqs = (train.chosen + train.rejected)[:120]
    pad = model.tokenizer.pad_token_id
    with torch.no_grad():
        one = torch.stack([model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))[0][0]
                           for ids, _ in seqs])
    padded = score_sequences(model, seqs, pad, 16, show_progress=False, packing=False)
    packed = score_sequences(model, seqs, pad, 16, show_progress=False, packing=True)
    assert one.abs().max() > 0.01  # a trained head: the comparison is not between zeros
    assert (padded - one).abs().max() <= 1e-5 and (packed - one).abs().max() <= 1e-5


def test_a_packed_training_batch_gives_the_padded_loss_and_gradients(trained_micro_rm):
    model, train = trained_micro_rm
    model.train()
    rows = list(range(16))
    outs = []
    for collate in (PairCollator(train, 0), PackedPairCollator(train, 0)):
        model.zero_grad()
        batch = collate(rows)
        out = reward_output(model, batch)
        loss = -torch.nn.functional.logsigmoid(out.chosen - out.rejected).mean()
        loss.backward()
        outs.append((loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    model.eval()
    (loss_a, grads_a), (loss_b, grads_b) = outs
    assert loss_b == pytest.approx(loss_a.item(), abs=1e-6)
    assert max((a - b).abs().max().item() for a, b in zip(grads_a, grads_b)) <= 1e-5
    assert batch.packed.real_tokens < sum(len(s[0]) for s in train.chosen[:16] + train.rejected[:16])  # prompts once


def test_packing_is_in_the_run_identity_and_old_configs_keep_their_run_ids():
    # run ids of the micro preset before train.packing existed (computed on the previous main)
    old = {"bt": "bt-micro-s0-ec42af10", "aplot": "aplot-micro-s0-07cf6c0a"}
    for method, rid in old.items():
        old_config = ["train.packing=false", "data.world.version=1"]
        assert run_id(config.resolve("micro", overrides=old_config, method=method)) == rid
        assert run_id(config.resolve("micro", method=method)) != rid  # the new default is a new experiment


def test_the_sft_build_groups_by_length_and_an_old_recipe_keeps_its_cache_name():
    from harness.rl.sft import SFT, SFTRecipe, _batches

    assert SFT.group_by_length
    # the cache name of the SFT policy before length grouping existed (computed on the previous main)
    assert dataclasses.replace(SFT, group_by_length=False, world_version=1).dirname("tiny-base-v1-9d722324fe57") == \
        "tiny-sft-v1-83a3976aed90"
    assert SFT.dirname("tiny-base-v1-9d722324fe57") != "tiny-sft-v1-83a3976aed90"
    rng = random.Random(1)
    examples = [([1] * rng.randrange(5, 90), 2) for _ in range(500)]
    recipe = SFTRecipe(steps=40, batch_size=8)
    grouped, plain = _batches(examples, recipe), _batches(examples, dataclasses.replace(recipe, group_by_length=False))
    assert len(grouped) == len(plain) == 40 and all(len(b) == 8 for b in grouped)
    assert sorted(i for b in grouped for i in b) == sorted(i for b in plain for i in b)  # the same draws

    def padding(batches):
        return sum(max(len(examples[i][0]) for i in b) * len(b) for b in batches)

    assert padding(grouped) < 0.7 * padding(plain)


def test_an_encoder_is_not_packed():
    from types import SimpleNamespace

    assert not can_pack(SimpleNamespace(is_causal_lm=False))
    assert not can_pack(SimpleNamespace(members=[SimpleNamespace(is_causal_lm=True), SimpleNamespace()]))
