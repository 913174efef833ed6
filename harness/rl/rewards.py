"""The rewards a downstream suite optimises: the trained RM (the proxy), a reward model served over HTTP
(``proxy=<URL>`` of an ``rmbench serve`` server, :mod:`harness.reward_client`) or, as a sanity check, the world's
gold."""
from __future__ import annotations

import copy

from harness.errors import ConfigError
from harness.reward_client import RewardClient, is_url
from harness.scoring import score_response_lists
from harness.world.judge import gold_rewarder

PROXIES = ("rm", "gold")  # the run's reward model | the world's gold reward of free text (an oracle RM) | a URL


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


def remote_rewarder(url: str):
    """``(prompts, responses) -> rewards`` of the reward model served at ``url`` (``POST /score``: rendered with
    the served model's chat template and scored on its path, so equal to what that model scores offline)."""
    return RewardClient(url).score


def check_proxy(kind: str, suite: str) -> str:
    if kind not in PROXIES and not is_url(kind):
        raise ConfigError(f"{suite}.proxy: expected one of {', '.join(PROXIES)} or the http(s) URL of an "
                          f"`rmbench serve` server, got {kind!r}")
    return kind


def response_list_scores(kind: str, ctx, prompts: list, responses: list[list[str]], description: str):
    """Scores of several responses per prompt by the run's RM (``kind`` ``rm``, as ``score_response_lists``) or
    by the RM served at the URL ``kind``."""
    if kind == "rm":
        return score_response_lists(ctx, prompts, responses, description)
    flat = remote_rewarder(kind)([p for p, rs in zip(prompts, responses) for _ in rs], [r for rs in responses
                                                                                         for r in rs])
    out, start = [], 0
    for rs in responses:
        out.append(flat[start: start + len(rs)])
        start += len(rs)
    return out


def optimised_rewarder(kind: str, ctx, tasks, **options):
    """The reward a suite optimises: ``rm`` → :func:`proxy_rewarder` of the run's RM (``options`` passed on),
    ``gold`` → ``harness.world.judge.gold_rewarder`` over ``tasks`` (the ceiling: best-of-N / RL against the gold
    reward itself must raise it), a URL → :func:`remote_rewarder`."""
    if kind == "gold":
        return gold_rewarder(tasks)
    return proxy_rewarder(ctx, **options) if kind == "rm" else remote_rewarder(kind)
