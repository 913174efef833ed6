"""The likelihood probe (``rmbench world probe``): minimal pairs differ only in outcome, and the accuracy it reports is
the share of pairs whose better response has the higher log-likelihood (ties half), per family."""
import random

import torch

from harness.rl import probe as probe_mod
from harness.world import tasks


def test_minimal_pairs_differ_only_in_the_stated_answer(monkeypatch):
    safe = [t for t in tasks(0, 200) if not t.unsafe]
    pairs = [probe_mod.minimal_pair(t, random.Random(i)) for i, t in enumerate(safe)]
    assert all(better != worse for better, worse in pairs)
    for task in safe:  # a "wrong" answer equal to the right one: the two texts are then the same, style and phrasing
        monkeypatch.setattr(type(task.family), "wrong", lambda self, f, answer, rng: (rng.random(), answer)[1])
    assert all(better == worse for better, worse in (probe_mod.minimal_pair(t, random.Random(i))
                                                     for i, t in enumerate(safe)))


def test_probe_accuracy_is_the_share_of_pairs_the_lm_orders_right(monkeypatch):
    planted = {}

    def fake_logps(model, tokenizer, prompts, tokens, **kw):
        # the better response (first of each pair) wins on pair 0 mod 3, ties on 1 mod 3, loses on 2 mod 3
        assert all(len(pair) == 2 for pair in tokens)
        planted["n"] = len(tokens)
        return [{0: [1.0, 0.0], 1: [0.5, 0.5], 2: [0.0, 1.0]}[i % 3] for i in range(len(tokens))]

    class Tok:
        def __call__(self, texts, add_special_tokens=False):
            return {"input_ids": [[1, 2]] * len(texts)}

    monkeypatch.setattr(probe_mod, "load_policy", lambda spec, **kw: (None, Tok()))
    monkeypatch.setattr(probe_mod, "response_logprobs", fake_logps)
    p = probe_mod.probe("any", n_prompts=90)
    assert planted["n"] == 90 and p["pairs"] == 90
    assert abs(p["accuracy"] - (30 * 1 + 30 * 0.5) / 90) < 1e-12
    assert sum(f["pairs"] for f in p["families"].values()) == 90
    assert {"copy", "lookup", "safety (unsafe)"} <= set(p["families"])


def test_probe_runs_on_a_real_causal_lm():
    p = probe_mod.probe("tiny-micro", n_prompts=24)
    assert p["pairs"] == 24 and 0 <= p["accuracy"] <= 1
