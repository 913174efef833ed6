"""Metric-row keys that carry a parameter inside a string, and the names of renamed suites, defined once: the
suites build them, the leaderboards parse them back. The strings are stored in ``result.json`` files and the results
database, so they never change (old results must still render); each parser is the exact inverse of its builder.

- label noise (suite ``noise``): split ``<split>@noise=<rate>``, e.g. ``id@noise=0.2``
- best of n (suite ``bon``): metric ``<quantity>@n=<n>``, e.g. ``gold_score@n=16``, quantity one of
  :data:`BON_QUANTITIES`
- RL (suite ``rl``): split = the algorithm (``ppo``, ``rloo``, ``grpo``); metric ``<quantity>@before``,
  ``<quantity>@after`` and ``<quantity>_change`` (after − before), e.g. ``gold_reward@after``; per step
  ``<quantity>@step=<k>``, quantity one of :data:`RL_STEP_QUANTITIES`
- the optimised reward of bon / rl: split ``<split>+gold`` when the world's gold reward replaces the RM,
  ``<split>+remote`` when a reward model served over HTTP does (``proxy=<URL>``, ``rmbench serve``)
- over-optimisation fits (bon, rl): metric ``<score>_fit_<parameter>``, e.g. ``gold_fit_alpha``
"""
from __future__ import annotations

#: suites renamed since their results were first recorded: old name → current name. Stored rows keep the old name;
#: the leaderboards read them under the current one, and the old name still runs the suite (with a warning) for one
#: release
RENAMED_SUITES = {"ppo": "rl"}  # it runs RLOO and GRPO too
_NOISE, _BON, _STEP = "@noise=", "@n=", "@step="
BON_QUANTITIES = ("gold_score", "proxy_score", "oracle_gold_score", "kl_bon")
RL_STAGES = ("before", "after")
RL_STEP_QUANTITIES = ("gold", "proxy", "sqrt_kl")
FIT_SCORES, FIT_PARAMETERS = ("gold", "proxy"), ("alpha", "beta", "rmse")
_RL_CHANGE = "_change"


def suite_name(stored: str) -> str:
    """The current name of a suite recorded as ``stored``."""
    return RENAMED_SUITES.get(stored, stored)


def stored_suite_names(name: str) -> list[str]:
    """Every name the rows of suite ``name`` may be recorded under: ``name`` and its old names."""
    return [name, *sorted(old for old, new in RENAMED_SUITES.items() if new == name)]


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


def _parse_counted(metric: str, sep: str, names: tuple[str, ...], build) -> tuple[str, int] | None:
    """``(name, k)`` of a metric ``build(name, k)`` = ``<name><sep><k>`` with ``name`` in ``names``; else None."""
    name, found, k = metric.rpartition(sep)
    if not found or name not in names or not k.isdigit():
        return None
    return (name, int(k)) if build(name, int(k)) == metric else None


def parse_bon_metric(metric: str) -> tuple[str, int] | None:
    """``(quantity, n)`` of a :func:`bon_metric` metric; None for any other metric."""
    return _parse_counted(metric, _BON, BON_QUANTITIES, bon_metric)


def bon_n(metric: str, quantity: str = "gold_score") -> int | None:
    """n of a :func:`bon_metric` metric of ``quantity``; None for any other metric."""
    parsed = parse_bon_metric(metric)
    return parsed[1] if parsed and parsed[0] == quantity else None


def proxy_split(split: str, kind: str) -> str:
    """The split of bon / rl rows optimising ``kind``: ``split`` against the RM (``rm``), ``<split>+gold`` against
    the gold reward (kept apart, so a sanity run never replaces the RM's rows), ``<split>+remote`` against the
    reward model served at a URL (``kind`` an http(s) URL: it may be another model than the run's)."""
    if kind == "rm":
        return split
    return f"{split}+{'remote' if kind.startswith(('http://', 'https://')) else kind}"


def fit_metric(score: str, parameter: str) -> str:
    """The metric of an over-optimisation fit's ``parameter`` (:data:`FIT_PARAMETERS`) on the ``score`` curve
    (:data:`FIT_SCORES`)."""
    if score not in FIT_SCORES or parameter not in FIT_PARAMETERS:
        raise ValueError(f"unknown fit metric {score!r}, {parameter!r}")
    return f"{score}_fit_{parameter}"


def rl_split(algo: str) -> str:
    """The split of the RL rows of ``algo``: the algorithm's name itself."""
    return algo


def rl_metric(quantity: str, stage: str) -> str:
    """The metric of ``quantity`` measured at ``stage`` (``before`` / ``after`` RL)."""
    if stage not in RL_STAGES:
        raise ValueError(f"unknown RL stage {stage!r}; one of {', '.join(RL_STAGES)}")
    return f"{quantity}@{stage}"


def rl_step_metric(quantity: str, step: int) -> str:
    """The metric of ``quantity`` (:data:`RL_STEP_QUANTITIES`) at RL step ``step``."""
    if quantity not in RL_STEP_QUANTITIES:
        raise ValueError(f"unknown RL step quantity {quantity!r}; one of {', '.join(RL_STEP_QUANTITIES)}")
    return f"{quantity}{_STEP}{step}"


def parse_rl_step(metric: str) -> tuple[str, int] | None:
    """``(quantity, step)`` of an :func:`rl_step_metric` metric; None for any other metric."""
    return _parse_counted(metric, _STEP, RL_STEP_QUANTITIES, rl_step_metric)


def rl_change(quantity: str) -> str:
    """The metric of ``quantity`` after RL minus before."""
    return quantity + _RL_CHANGE


def rl_changed(metric: str) -> str | None:
    """The quantity of an :func:`rl_change` metric; None for any other metric."""
    return metric.removesuffix(_RL_CHANGE) if metric.endswith(_RL_CHANGE) and metric != _RL_CHANGE else None


#: pair groups of the id suite's diagnostics (world v2 pairs): the pair's kind ("differ": the two responses'
#: outcomes differ, "same": style only), the shortcut ("aligned": on a differ pair the chosen response is the longer
#: one, "conflict": the shorter one) and the family of a differ pair
PAIR_GROUPS = ("kind", "shortcut", "differ_family")
#: the null baselines of pairwise accuracy (``harness.null_baselines``), each a metric of its own
NULL_BASELINES = ("longer_wins", "shorter_wins", "style_only")
_GROUP = "@"


def group_metric(metric: str, group: str, value: str) -> str:
    """The metric of ``metric`` on the pairs of one group, e.g. ``accuracy@shortcut=conflict``."""
    if group not in PAIR_GROUPS:
        raise ValueError(f"unknown pair group {group!r}; one of {', '.join(PAIR_GROUPS)}")
    return f"{metric}{_GROUP}{group}={value}"


def parse_group_metric(metric: str) -> tuple[str, str, str] | None:
    """``(metric, group, value)`` of a :func:`group_metric` metric; None for any other metric."""
    base, sep, rest = metric.partition(_GROUP)
    group, eq, value = rest.partition("=")
    if not sep or not base or not eq or group not in PAIR_GROUPS or not value:
        return None
    return (base, group, value) if group_metric(base, group, value) == metric else None


def null_metric(baseline: str) -> str:
    """The accuracy metric of a null baseline (:data:`NULL_BASELINES`), e.g. ``accuracy_longer_wins``."""
    if baseline not in NULL_BASELINES:
        raise ValueError(f"unknown null baseline {baseline!r}; one of {', '.join(NULL_BASELINES)}")
    return f"accuracy_{baseline}"
