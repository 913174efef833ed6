"""Metric-row keys that carry a parameter inside a string, defined once: the suites build them, the leaderboards
parse them back. The strings are stored in ``result.json`` files and the results database, so they never change
(old results must still render); each parser is the exact inverse of its builder.

- label noise (suite ``noise``): split ``<split>@noise=<rate>``, e.g. ``id@noise=0.2``
- best of n (suite ``bon``): metric ``<quantity>@n=<n>``, e.g. ``gold_score@n=16``, quantity one of
  :data:`BON_QUANTITIES`
- RL (suite ``rl``): split = the algorithm (``ppo``, ``rloo``, ``grpo``); metric ``<quantity>@before``,
  ``<quantity>@after`` and ``<quantity>_change`` (after − before), e.g. ``gold_reward@after``
"""
from __future__ import annotations

_NOISE, _BON = "@noise=", "@n="
BON_QUANTITIES = ("gold_score", "proxy_score", "oracle_gold_score", "kl_bon")
RL_STAGES = ("before", "after")
_RL_CHANGE = "_change"


def noise_split(split: str, rate: float) -> str:
    """The split of a ``split`` row measured after training with label-noise ``rate``."""
    return f"{split}{_NOISE}{rate:g}"


def parse_noise_split(split: str) -> tuple[str, float] | None:
    """``(split, rate)`` of a :func:`noise_split` split; None for any other split."""
    base, sep, rate = split.rpartition(_NOISE)
    if not sep or not base:
        return None
    try:
        value = float(rate)
    except ValueError:
        return None
    return (base, value) if noise_split(base, value) == split else None


def noise_rate(split: str, base: str = "id") -> float | None:
    """The label-noise rate of a :func:`noise_split` of ``base``; None for any other split."""
    parsed = parse_noise_split(split)
    return parsed[1] if parsed and parsed[0] == base else None


def bon_metric(quantity: str, n: int) -> str:
    """The metric of best-of-``n`` ``quantity`` (one of :data:`BON_QUANTITIES`)."""
    if quantity not in BON_QUANTITIES:
        raise ValueError(f"unknown best-of-n quantity {quantity!r}; one of {', '.join(BON_QUANTITIES)}")
    return f"{quantity}{_BON}{n}"


def bon_n(metric: str, quantity: str = "gold_score") -> int | None:
    """n of a :func:`bon_metric` metric of ``quantity``; None for any other metric."""
    name, sep, n = metric.rpartition(_BON)
    return int(n) if sep and name == quantity and n.isdigit() and bon_metric(name, int(n)) == metric else None


def rl_split(algo: str) -> str:
    """The split of the RL rows of ``algo``: the algorithm's name itself."""
    return algo


def rl_metric(quantity: str, stage: str) -> str:
    """The metric of ``quantity`` measured at ``stage`` (``before`` / ``after`` RL)."""
    if stage not in RL_STAGES:
        raise ValueError(f"unknown RL stage {stage!r}; one of {', '.join(RL_STAGES)}")
    return f"{quantity}@{stage}"


def rl_change(quantity: str) -> str:
    """The metric of ``quantity`` after RL minus before."""
    return quantity + _RL_CHANGE


def rl_changed(metric: str) -> str | None:
    """The quantity of an :func:`rl_change` metric; None for any other metric."""
    return metric.removesuffix(_RL_CHANGE) if metric.endswith(_RL_CHANGE) and metric != _RL_CHANGE else None
