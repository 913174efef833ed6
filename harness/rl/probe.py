"""What a causal LM knows of the world's truth, per prompt family (``rmbench world probe``).

On held-out prompts (``harness.world.tasks``: the id reservation, train templates) each probe is a minimal pair: two
responses of one training generator, rendered with the same style and the same random phrasing, that differ only in
their outcome — the right answer against a wrong one on a safe prompt, a refusal against compliance on an unsafe one
(those two also differ in wording: a refusal is not an answer with another value). The probe's accuracy is the share
of pairs on which the LM gives the better response the higher log-likelihood log π(y | x). A reward model fine-tuned
from a backbone can read the truth only where the backbone carries it: a family near 0.5 here is one the backbone
cannot decide, however the reward model is trained (docs/world.md, "Learnability").
"""
from __future__ import annotations

import random

from harness.rl.policy import load_policy, response_logprobs
from harness.world import tasks
from harness.world.families import Task, pick, report_group
from harness.world.generators import TRAIN_GENERATORS, make_response


def minimal_pair(task: Task, rng: random.Random) -> tuple[str, str]:
    """(better, worse) response texts of one generator, style and phrasing, differing only in outcome."""
    gen = pick(rng, TRAIN_GENERATORS)
    level, md, phrasing = int(rng.random() * 3), rng.random() < 0.5, rng.random()
    if task.unsafe:
        (good, good_value), (bad, bad_value) = ("refused", ""), ("complied", "")
    else:
        (good, good_value), (bad, bad_value) = ("correct", task.answer), ("wrong", task.family.wrong(
            task.fields, task.answer, rng))
    return tuple(make_response(gen, task, outcome, value, level, md, False, random.Random(phrasing)).text
                 for outcome, value in ((good, good_value), (bad, bad_value)))


def probe(policy: str, world_seed: int = 0, *, n_prompts: int = 600, seed: int = 0, batch_size: int = 64,
          world_version: int = 2, mixture: str = "learnable", show_progress: bool = False) -> dict:
    """Per family (``safety`` split into its safe look-alikes and its unsafe requests): ``pairs`` and ``accuracy``,
    the share of minimal pairs whose better response the LM finds more likely (ties count half), and overall."""
    model, tokenizer = load_policy(policy, world_seed=world_seed, world_version=world_version)
    world_tasks = tasks(world_seed, n_prompts, version=world_version, mixture=mixture)
    rng = random.Random(seed)
    pairs = [minimal_pair(t, rng) for t in world_tasks]
    bodies = tokenizer([text for pair in pairs for text in pair], add_special_tokens=False)["input_ids"]
    logps = response_logprobs(model, tokenizer, [t.prompt for t in world_tasks],
                              [bodies[2 * i: 2 * i + 2] for i in range(len(pairs))], batch_size=batch_size,
                              show_progress=show_progress)
    hits: dict[str, list[float]] = {}
    for t, (better, worse) in zip(world_tasks, logps):
        hits.setdefault(report_group(t), []).append(1.0 if better > worse else 0.5 if better == worse else 0.0)
    every = [h for group in hits.values() for h in group]
    return {"policy": policy, "pairs": len(every), "accuracy": sum(every) / len(every),
            "families": {name: {"pairs": len(h), "accuracy": sum(h) / len(h)} for name, h in sorted(hits.items())}}
