"""The per-evaluation score cache (harness.scoring.ScoreCache): each distinct sequence is scored once, a cached
output is what scoring the sequence fresh in another batch gives (to 1e-6 relative: padded, packed and implicit),
memory stays bounded, and `id` then `splits` in one evaluation score each text once and give the metric rows of
separate evaluations."""
from __future__ import annotations

import pytest
import torch

import methods
from harness import config, scoring, suites
from harness.data.encode import Encoder
from harness.scoring import ScoreCache, score_sequences, sequence_key


class Recorder:
    """A stand-in ``compute``: output row (Σ ids, start) per sequence, and the sequences of each call."""

    def __init__(self):
        self.calls: list[list] = []

    def __call__(self, todo):
        self.calls.append(list(todo))
        return torch.tensor([[float(sum(ids)), float(start)] for ids, start in todo])


def test_only_the_sequences_not_in_the_cache_are_computed_and_outputs_come_in_input_order():
    cache, compute, model = ScoreCache(), Recorder(), object()
    out = cache.outputs(model, [([1, 2], 1), ([4], 1), ([1, 2], 1)], compute)
    assert compute.calls == [[([1, 2], 1), ([4], 1)]]  # a repeated sequence once
    assert out.tolist() == [[3, 1], [4, 1], [3, 1]]
    out = cache.outputs(model, [([4], 1), ([5, 5], 2), ([1, 2], 1), ([1, 2], 2)], compute)
    assert compute.calls[1] == [([5, 5], 2), ([1, 2], 2)]  # the response start is part of the key
    assert out.tolist() == [[4, 1], [10, 2], [3, 1], [3, 2]]
    assert cache.outputs(model, [([5, 5], 2), ([4], 1)], compute).tolist() == [[10, 2], [4, 1]]
    assert len(compute.calls) == 2  # all cached: the model is not called
    assert (cache.computed, cache.reused, len(cache)) == (4, 5, 4)


def test_keys_are_fixed_size_digests_of_the_ids_and_the_response_start():
    long = sequence_key(list(range(5000)), 3)
    assert len(long) == len(sequence_key([1], 0)) == 16
    assert sequence_key([1, 2], 1) == sequence_key([1, 2], 1) != sequence_key([1, 2], 2) != sequence_key([2, 1], 2)
    assert sequence_key([256], 0) != sequence_key([1, 0], 0)  # ids are not confused by their byte layout


def test_a_full_cache_keeps_scoring_correctly_without_growing():
    cache, compute, model = ScoreCache(max_entries=2), Recorder(), object()
    seqs = [([1], 0), ([2], 0), ([3], 0)]
    assert cache.outputs(model, seqs, compute)[:, 0].tolist() == [1, 2, 3]
    assert len(cache) == 2
    assert cache.outputs(model, seqs, compute)[:, 0].tolist() == [1, 2, 3]
    assert compute.calls[1] == [([3], 0)]  # the one that did not fit is scored again
    assert len(cache) == 2


def test_a_cache_belongs_to_one_model():
    cache = ScoreCache()
    cache.outputs(object(), [([1], 0)], Recorder())
    with pytest.raises(ValueError, match="one model"):
        cache.outputs(object(), [([1], 0)], Recorder())


def test_hidden_states_are_not_cached():
    with pytest.raises(ValueError, match="hidden"):
        score_sequences(object(), [([1], 0)], 0, 4, with_hidden=True, cache=ScoreCache())


def fresh_and_cached(model, seqs, **options):
    """Scores of the second half of ``seqs`` scored fresh, and through a cache filled by scoring the first two
    thirds first (the overlap is then scored in other batches, with other neighbours and padding)."""
    pad = model.tokenizer.pad_token_id
    third = len(seqs) // 3
    first, second = seqs[: 2 * third], seqs[third:]
    fresh = score_sequences(model, second, pad, 16, show_progress=False, **options)
    cache = ScoreCache()
    score_sequences(model, first, pad, 16, show_progress=False, cache=cache, **options)
    cached = score_sequences(model, second, pad, 16, show_progress=False, cache=cache, **options)
    assert cache.reused == third and cache.computed == len(seqs)  # the overlap came from the cache
    return fresh, cached


@pytest.mark.parametrize("packing", [True, False])
def test_a_cached_reward_is_the_reward_of_scoring_the_text_fresh(trained_micro_rm, packing):
    model, train = trained_micro_rm
    fresh, cached = fresh_and_cached(model, (train.chosen + train.rejected)[:150], packing=packing)
    assert fresh.abs().max() > 1  # a trained head: not a comparison of zeros
    # batch composition moves a float32 reward by a few units in the last place (measured: 2, 9.5e-7 at |r| ≈ 5)
    assert ((cached - fresh).abs() <= 1e-6 * fresh.abs().clamp(min=1)).all()


def test_an_implicit_reward_is_cached_as_its_columns(trained_micro_rm):
    from transformers import AutoModelForCausalLM

    from harness.basemodel import resolve_backbone
    from harness.config import ModelConfig
    from harness.models import ImplicitRewardModel, RewardModel, load_tokenizer

    source, cfg = resolve_backbone("tiny-micro"), ModelConfig(dtype="fp32")
    _, train = trained_micro_rm
    lm = RewardModel(cfg, AutoModelForCausalLM.from_pretrained(source).eval(), load_tokenizer(source, cfg),
                     source=source, need_lm_head=True)
    fresh, cached = fresh_and_cached(ImplicitRewardModel(lm), (train.chosen + train.rejected)[:60])
    assert fresh.shape == cached.shape == (40, 4)
    reward = methods.get("simpo")()  # reference-free: β·Σlogπ/|y|
    assert (reward.score(cached) - reward.score(fresh)).abs().max() <= 1e-6
    assert torch.allclose(cached, fresh, rtol=1e-6, atol=1e-6)


def test_id_then_splits_score_each_text_once_and_give_the_rows_of_separate_evaluations(trained_micro_rm,
                                                                                        monkeypatch):
    model, _ = trained_micro_rm
    cfg = config.resolve("micro", method="bt")  # world v2: id also scores shortcut_reversed

    def context():
        return suites.EvalContext(model, methods.get("bt")(), Encoder(model.tokenizer, cfg.model.max_length), cfg,
                                  16, show_progress=False)

    names = ("id", "splits")
    separate = [suites.get(name)().run(context()) for name in names]
    computed = []
    longest_first = scoring.longest_first

    def counting(model, seqs, *args, **kwargs):
        computed.extend((tuple(ids), start) for ids, start in seqs)
        return longest_first(model, seqs, *args, **kwargs)

    monkeypatch.setattr(scoring, "longest_first", counting)
    ctx = context()
    shared = [suites.get(name)().run(ctx) for name in names]
    assert len(computed) == len(set(computed)) == ctx.score_cache.computed  # no text scored twice
    id_pairs = sum(len(rows) for key, rows in separate[0].predictions.items() if key.endswith("-id"))
    assert id_pairs > 100 and ctx.score_cache.reused >= 2 * id_pairs  # splits' id pairs came from the cache
    assert [r.metrics for r in shared] == [r.metrics for r in separate]
    assert [r.predictions for r in shared] == [r.predictions for r in separate]
