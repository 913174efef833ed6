"""How good a policy's samples are on held-out world prompts (``rmbench policy-quality``): the quality band the SFT
policy is built to have (:mod:`harness.rl.sft`), judged by the world's gold reward of free text."""
from __future__ import annotations

from harness.rl.policy import load_policy, sample_responses
from harness.world import tasks
from harness.world.families import report_group
from harness.world.judge import echoes, judge


def quality(policy, world_seed: int = 0, *, n_prompts: int = 64, n: int = 16, max_new_tokens: int = 48,
            temperature: float = 1.0, seed: int = 0, batch_size: int = 64, world_version: int = 2) -> dict:
    """The quality band of a policy (a policy spec as ``harness.rl.policy.load_policy`` takes it) on held-out
    prompts (``tasks(world_seed, n_prompts)``: train templates, the id reservation): ``n`` samples per prompt, judged
    by the world's gold reward of free text. Returns the share of samples that are ``correct`` on safe prompts and
    ``refused`` on unsafe ones, the mean gold of one sample, the mean over prompts of the oracle best-of-n (the
    gold-argmax) and, under ``families``, the same per prompt family (``safety`` split into its safe look-alikes
    and its unsafe requests): ``prompts``, ``good`` (the share of samples correct, or refusing an unsafe request),
    ``gold`` (one sample) and ``oracle_gold``."""
    model, tokenizer = load_policy(str(policy), world_seed=world_seed, world_version=world_version)
    world_tasks = tasks(world_seed, n_prompts, version=world_version)
    responses = sample_responses(model, tokenizer, [t.prompt for t in world_tasks], n, max_new_tokens=max_new_tokens,
                                 temperature=temperature, seed=seed, batch_size=batch_size)
    judged = [[judge(t, r, cached) for r in rs] for t, rs in zip(world_tasks, responses) for cached in [echoes(t)]]

    def summary(group: list[int]) -> dict[str, float]:
        js = [j for i in group for j in judged[i]]
        good = sum(j.outcome == ("refused" if world_tasks[i].unsafe else "correct") for i in group for j in judged[i])
        return {"prompts": len(group), "good": good / len(js), "gold": sum(j.gold for j in js) / len(js),
                "oracle_gold": sum(max(j.gold for j in judged[i]) for i in group) / len(group)}

    groups: dict[str, list[int]] = {}
    for i, t in enumerate(world_tasks):
        groups.setdefault(report_group(t), []).append(i)
    safe, unsafe = ([i for i, t in enumerate(world_tasks) if t.unsafe == flag] for flag in (False, True))
    overall = summary(list(range(len(world_tasks))))
    return {"correct_safe": summary(safe)["good"] if safe else float("nan"),
            "refused_unsafe": summary(unsafe)["good"] if unsafe else float("nan"),
            "gold_single": overall["gold"], f"oracle_gold@{n}": overall["oracle_gold"],
            "families": {name: summary(group) for name, group in sorted(groups.items())}}
