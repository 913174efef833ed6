"""The rewards a downstream suite optimises: the trained RM (the proxy) or, as a sanity check, the world's gold."""
from __future__ import annotations

import copy

from harness.errors import ConfigError
from harness.scoring import score_response_lists
from harness.world.judge import gold_rewarder

PROXIES = ("rm", "gold")  # the run's reward model | the world's gold reward of free text (an oracle RM)


def proxy_rewarder(ctx, *, description: str = "proxy reward", show_progress: bool = False):
    """``(prompts, responses) -> rewards`` of the run's RM (``method.score`` applied), scored in batches of
    ``ctx.batch_size`` as the evaluation suites score. No progress bar by default (RL calls it every step);
    ``show_progress=True`` shows one when ``ctx.show_progress`` allows."""
    ctx = copy.copy(ctx)  # a shallow copy: same model, method and encoder
    ctx.show_progress = bool(show_progress and ctx.show_progress)

    def reward(prompts: list[str], responses: list[str]) -> list[float]:
        if len(prompts) != len(responses):
            raise ValueError(f"proxy_rewarder: {len(prompts)} prompts but {len(responses)} responses")
        if not prompts:
            return []
        return [s[0] for s in score_response_lists(ctx, list(prompts), [[r] for r in responses], description)]

    return reward


def check_proxy(kind: str, suite: str) -> str:
    if kind not in PROXIES:
        raise ConfigError(f"{suite}.proxy: expected one of {', '.join(PROXIES)}, got {kind!r}")
    return kind


def optimised_rewarder(kind: str, ctx, tasks, **options):
    """The reward a suite optimises: ``rm`` → :func:`proxy_rewarder` of the run's RM (``options`` passed on),
    ``gold`` → ``harness.world.judge.gold_rewarder`` over ``tasks`` (the ceiling: best-of-N / RL against the gold
    reward itself must raise it)."""
    return gold_rewarder(tasks) if kind == "gold" else proxy_rewarder(ctx, **options)
