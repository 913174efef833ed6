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

    def fake_logps(model, seqs, pad_id, batch_size, compute, description, show):
        # the better response (even index) wins on pair 0 mod 3, ties on 1 mod 3, loses on 2 mod 3
        out = []
        for i in range(len(seqs)):
            pair, better = divmod(i, 2)
            out.append({0: 1.0 if better == 0 else 0.0, 1: 0.5, 2: 0.0 if better == 0 else 1.0}[pair % 3])
        planted["n"] = len(seqs) // 2
        return [torch.tensor(out)]

    class Tok:
        pad_token_id = 0

        def __call__(self, texts, add_special_tokens=False):
            return {"input_ids": [[1, 2]] * len(texts)}

    monkeypatch.setattr(probe_mod, "load_policy", lambda spec, **kw: (None, Tok()))
    monkeypatch.setattr(probe_mod, "prompt_ids", lambda tok, prompts: [[3]] * len(prompts))
    monkeypatch.setattr(probe_mod, "longest_first", fake_logps)
    p = probe_mod.probe("any", n_prompts=90)
    assert planted["n"] == 90 and p["pairs"] == 90
    assert abs(p["accuracy"] - (30 * 1 + 30 * 0.5) / 90) < 1e-12
    assert sum(f["pairs"] for f in p["families"].values()) == 90
    assert {"copy", "lookup", "safety (unsafe)"} <= set(p["families"])


def test_probe_runs_on_a_real_causal_lm():
    p = probe_mod.probe("tiny-micro", n_prompts=24)
    assert p["pairs"] == 24 and 0 <= p["accuracy"] <= 1
