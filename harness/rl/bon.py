"""Best-of-n from a pool of N samples: the analytic KL and the unbiased estimator of the expected score of the
proxy-argmax of n samples drawn without replacement from the pool (``docs/methods.md`` "Best-of-N"; Gao et al. 2023,
App.)."""
from __future__ import annotations

import math
from functools import lru_cache
from itertools import groupby

from harness.metrics import Estimate, kl_bon, mean_estimate  # noqa: F401 - kl_bon: best-of-n's KL, with it


@lru_cache(maxsize=256)
def bon_weights(pool: int, n: int) -> tuple[float, ...]:
    """P(the i-th smallest of ``pool`` items is the maximum of a uniform n-subset) = C(i−1, n−1) / C(N, n),
    i = 1..N.

    Exact big-integer binomials, divided with correct rounding (Python's int / int), so N = 1024 and beyond neither
    overflow nor lose precision."""
    if not 1 <= n <= pool:
        raise ValueError(f"best-of-n needs 1 <= n <= pool size, got n={n}, pool={pool}")
    total = math.comb(pool, n)
    return tuple(math.comb(i - 1, n - 1) / total for i in range(1, pool + 1))


def best_of_n_expectation(proxy, gold, n: int) -> float:
    """Unbiased estimate, over a pool of N (proxy, gold) samples, of E[gold of the proxy-argmax of n samples drawn
    without replacement]: Σ_i C(i−1, n−1)/C(N, n) · gold_(i), the pool sorted by proxy ascending.

    Ties in proxy are broken uniformly at random, which equals replacing gold by its mean within each tied group.
    Proof: uniform tie-breaking inside every subset is the same as fixing a uniformly random order of each tied group
    beforehand; given that order the estimate is Σ_r w_r·gold_(π(r)), linear in gold, and each member of a group G is
    equally likely to sit at each of G's ranks, so its expected weight is mean_{r∈G} w_r — i.e.
    Σ_{r∈G} w_r · mean_G(gold).
    """
    proxy, gold = [float(p) for p in proxy], [float(g) for g in gold]
    if len(proxy) != len(gold):
        raise ValueError(f"proxy and gold differ in length ({len(proxy)} vs {len(gold)})")
    if any(math.isnan(p) for p in proxy):
        raise ValueError("best-of-n: a proxy score is NaN")
    weights = bon_weights(len(proxy), n)
    ordered = sorted(zip(proxy, gold), key=lambda pg: pg[0])
    total, rank = 0.0, 0
    for _, group in groupby(ordered, key=lambda pg: pg[0]):
        golds = [g for _, g in group]
        w = sum(weights[rank: rank + len(golds)])
        total += w * sum(golds) / len(golds)
        rank += len(golds)
    return total


def best_of_n_over_prompts(proxy_lists, gold_lists, n: int) -> Estimate:
    """Mean over prompts of the per-prompt estimate (each prompt has its own pool), stderr over prompts."""
    return mean_estimate([best_of_n_expectation(p, g, n) for p, g in zip(proxy_lists, gold_lists, strict=True)])
