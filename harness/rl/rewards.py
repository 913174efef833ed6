"""The proxy reward: the trained RM as a ``harness.rl.Rewarder`` over (prompt, response) pairs."""
from __future__ import annotations

import copy

from harness.scoring import score_response_lists


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
