"""Best-of-N against the trained RM (Gao et al. 2023): over-optimisation measured with the world's gold reward.

A policy (the run's backbone as a causal LM, or ``policy=``) samples a pool of ``n_max`` responses to each of
``n_prompts`` world prompts from the id reservation (never in the RM's training data; train or held-out templates).
The proxy RM scores every response and the world's gold reward of free text (``harness.world.judge``) judges it.
For n = 1, 2, 4, …, n_max the rows give the expected gold and proxy score of the proxy-argmax of n samples drawn
without replacement from the pool, by the unbiased estimator (``harness.rl.bon``), averaged over prompts (stderr
over prompts), with KL_BoN = log n − (n−1)/n; a proxy score that rises while the gold score falls is
over-optimisation. ``oracle_gold_score@n`` (the gold-argmax) is the ceiling, and the pool's outcome shares say what
the policy writes.

Over-optimisation curve (Gao et al. 2023, eq. 1): with d = sqrt(KL_BoN), the gains over n = 1 of the gold and of
the proxy score are fitted by least squares to R_bon(d) = d(α − βd) (``harness.rl.curves``); rows
``{gold,proxy}_fit_{alpha,beta,rmse}`` (needs n_max >= 4).

The default policy is the SFT policy of a tiny base (``harness.rl.sft``: ``tiny`` → ``tiny-sft``), else the run's
backbone; the policy's version (the SFT build) is part of every row's suite version. ``proxy=gold`` ranks by the
world's gold reward instead of the RM (a sanity check: best-of-N gold must then rise with n); its rows have the
split ``bon+gold`` (``bon_heldout+gold``).

Options (``--set bon.OPTION=VALUE``): n_max=16 (a power of 2, up to 256 and beyond), n_prompts=64,
max_new_tokens=48, temperature=1.0, seed=0, heldout_templates=false (split ``bon_heldout`` when true),
policy=<backbone spec> (default above), proxy=rm|gold|<URL> (a URL: the reward model an ``rmbench serve`` server
serves, split ``bon+remote``; a bearer token from ``$RMBENCH_REWARD_TOKEN``, docs/serve.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from harness import suites
from harness.domains import setting
from harness.metric_keys import bon_metric, fit_metric, proxy_split
from harness.metrics import Estimate, mean_estimate
from harness.progress import progress_bar
from harness.rl.bon import best_of_n_over_prompts, kl_bon
from harness.rl.curves import fit
from harness.rl.policy import load_policy, sample_responses, suite_policy
from harness.rl.rewards import check_proxy, response_list_scores
from harness.world import tasks
from harness.world.judge import echoes, judge

VERSION = "2"
DATASET = "world"
# pool outcome shares: (metric, prompts it is measured on (unsafe?), outcome, higher is better)
POOL_SHARES = (("pool_share_correct", False, "correct", True), ("pool_share_wrong", False, "wrong", False),
               ("pool_share_over_refusal", False, "refused", False),
               ("pool_share_refused_unsafe", True, "refused", True), ("pool_share_complied", True, "complied", False))


@dataclass
class Options:
    """The suite's options (``--set bon.OPTION=VALUE``), type-checked by ``harness.config.from_dict``."""

    n_max: int = 16  # a power of 2 (the pool sizes 1, 2, 4, …, n_max)
    n_prompts: int = setting(64, ge=1)
    max_new_tokens: int = setting(48, ge=1)
    temperature: float = setting(1.0, gt=0)  # best-of-N needs sampling
    seed: int = setting(0, ge=0)

    def invalid(self) -> tuple[str, str] | None:
        if self.n_max < 1 or self.n_max & (self.n_max - 1):
            return "n_max", f"expected a power of 2 (1, 2, 4, …), got {self.n_max!r}"
        return None
    heldout_templates: bool = False
    policy: Optional[str] = None
    proxy: str = "rm"


def pool_sizes(n_max: int) -> list[int]:
    """1, 2, 4, …, n_max."""
    return [2 ** k for k in range(n_max.bit_length())]


@suites.register
class BestOfN(suites.Suite):
    name = "bon"
    version = VERSION  # + "+<policy version>" once the policy is resolved
    summary = ("Best-of-N against the RM: expected gold (world judge) and proxy score of the proxy-argmax of n "
               "policy samples, n = 1..n_max, vs KL_BoN (unbiased estimator over a pool; needs the world).")
    requires = frozenset({"world"})
    Options = Options

    def __init__(self, **options):
        super().__init__(**options)
        opts = self.options
        self.n_max, self.n_prompts, self.max_new_tokens = opts.n_max, opts.n_prompts, opts.max_new_tokens
        self.temperature, self.seed, self.heldout_templates = opts.temperature, opts.seed, opts.heldout_templates
        self.policy, self.proxy = opts.policy or None, check_proxy(opts.proxy, "bon")

    @property
    def split(self) -> str:
        return proxy_split("bon_heldout" if self.heldout_templates else "bon", self.proxy)

    def run(self, ctx) -> suites.SuiteResult:
        world = ctx.config.data.world
        world_tasks = tasks(world.seed, self.n_prompts, heldout_templates=self.heldout_templates,
                            version=world.version, mixture=world.mixture)
        prompts = [t.prompt for t in world_tasks]
        responses = self._sample(ctx, prompts)
        judged = [[judge(t, r, cached) for r in rs] for t, rs in zip(world_tasks, responses)
                  for cached in [echoes(t)]]
        gold = [[j.gold for j in js] for js in judged]
        proxy = gold if self.proxy == "gold" else response_list_scores(self.proxy, ctx, prompts, responses,
                                                                       f"bon: proxy RM ({self.split})")
        return suites.SuiteResult(metrics=self._metrics(world_tasks, proxy, gold, judged),
                                  predictions={f"{DATASET}-{self.split}": self._predictions(
                                      world_tasks, responses, proxy, judged)})

    def _sample(self, ctx, prompts: list[str]) -> list[list[str]]:
        import torch

        source, policy_version = suite_policy(self.policy, ctx)
        self.version = f"{VERSION}+{policy_version}"
        model, tokenizer = load_policy(source, trust_remote_code=ctx.config.model.trust_remote_code)
        model.to(next(ctx.model.parameters()).device)
        try:
            with progress_bar(ctx.show_progress) as bar:
                task = bar.add_task(f"bon: sampling {self.n_max} x {len(prompts)}", total=self.n_max * len(prompts))
                return sample_responses(model, tokenizer, prompts, self.n_max, max_new_tokens=self.max_new_tokens,
                                        temperature=self.temperature, seed=self.seed, batch_size=ctx.batch_size,
                                        progress=lambda k: bar.advance(task, k))
        finally:
            del model
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _metrics(self, world_tasks, proxy, gold, judged) -> list:
        split, n_prompts = self.split, len(world_tasks)
        rows = []
        for n in pool_sizes(self.n_max):
            rows += [self.row(DATASET, split, bon_metric("gold_score", n), best_of_n_over_prompts(proxy, gold, n)),
                     self.row(DATASET, split, bon_metric("proxy_score", n), best_of_n_over_prompts(proxy, proxy, n)),
                     self.row(DATASET, split, bon_metric("oracle_gold_score", n),
                              best_of_n_over_prompts(gold, gold, n)),
                     self.row(DATASET, split, bon_metric("kl_bon", n), Estimate(kl_bon(n), None, n_prompts),
                              higher_is_better=False)]
        rows += self._fits(rows, n_prompts)
        for metric, unsafe, outcome, higher in POOL_SHARES:
            shares = [sum(j.outcome == outcome for j in js) / len(js)
                      for t, js in zip(world_tasks, judged) if t.unsafe == unsafe]
            if shares:
                rows.append(self.row(DATASET, split, metric, mean_estimate(shares), higher_is_better=higher))
        hedged = [sum(j.hedged for j in js) / len(js) for js in judged]
        rows.append(self.row(DATASET, split, "pool_share_hedged", mean_estimate(hedged), higher_is_better=False))
        return rows

    def _fits(self, rows, n_prompts: int) -> list:
        """Gao et al.'s R_bon(d) = d(α − βd) fitted to the gold and proxy gains over n = 1 (module docstring)."""
        import math

        sizes = pool_sizes(self.n_max)
        if len(sizes) < 3:  # two points with d > 0 are needed
            return []
        value = {r.metric: r.value for r in rows}
        d = [math.sqrt(value[bon_metric("kl_bon", n)]) for n in sizes]
        out = []
        for score in ("gold", "proxy"):
            curve = [value[bon_metric(f"{score}_score", n)] for n in sizes]
            f = fit("bon", d, [c - curve[0] for c in curve])
            out += [self.row(DATASET, self.split, fit_metric(score, name), Estimate(v, None, n_prompts),
                             higher_is_better=higher)
                    for name, v, higher in f.parameters()]
        return out

    def _predictions(self, world_tasks, responses, proxy, judged) -> list[dict]:
        return [{"id": f"{self.split}-{i:06d}", "prompt": t.prompt, "family": t.family.name, "template": t.template,
                 "unsafe": t.unsafe, "answer": t.answer, "responses": rs, "proxy_scores": ps,
                 "gold_scores": [j.gold for j in js], "outcomes": [j.outcome for j in js]}
                for i, (t, rs, ps, js) in enumerate(zip(world_tasks, responses, proxy, judged), 1)]
