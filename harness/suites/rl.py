"""Downstream RL against the trained RM: PPO (written here), RLOO or GRPO (trl), with lm-eval before and after.

The policy (the run's backbone as a causal LM, or ``policy=``) is optimised for the proxy RM on world prompts from
the id reservation (never in the RM's training data) and evaluated before and after on other such prompts, with
held-out templates, by the proxy RM and by the world's gold reward of free text (``harness.world.judge``): a proxy
gain without a gold gain is over-optimisation. Per-step proxy reward, gold reward and KL to the initial policy go to
``<run>/rl/<algo>/metrics.jsonl``, the trained policy to ``<run>/rl/<algo>/policy/``.

The default policy is the SFT policy of a tiny base (``harness.rl.sft``), else the run's backbone; its version is
part of every row's suite version. ``proxy=gold`` optimises the world's gold reward itself (a sanity check: RL must
then raise gold; rows and files under the split ``<algo>+gold``); ``proxy=<URL>`` optimises the reward model an
``rmbench serve`` server serves (split ``<algo>+remote``, docs/serve.md). Over-optimisation curve (Gao et al.
2023, eq. 2): per step the mean gold and proxy reward of the step's samples and d = sqrt(KL) (the algorithm's own
per-sequence KL estimate, clipped at 0) are stored as rows ``{gold,proxy}@step=<k>`` and ``sqrt_kl@step=<k>``, and
the gains over step 1 (the initial policy's samples) are fitted by least squares to R_RL(d) = d(α − β log d): rows
``{gold,proxy}_fit_{alpha,beta,rmse}``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from harness import suites
from harness.errors import ConfigError
from harness.layout import METRICS_FILE, RL_DIR
from harness.metric_keys import (
    fit_metric,
    proxy_split,
    rl_change,
    rl_metric,
    rl_split,
    rl_step_metric,
)
from harness.metrics import Estimate, mean_estimate
from harness.rl import RLConfig
from harness.rl.curves import fit
from harness.rl.lmeval import evaluate_policy, write_tasks
from harness.rl.policy import decode, load_policy, response_logprobs, sample_tokens, suite_policy
from harness.rl.ppo import train_ppo
from harness.rl.rewards import check_proxy, optimised_rewarder
from harness.rl.trl_algos import ALGOS as TRL_ALGOS
from harness.rl.trl_algos import train_trl
from harness.world import tasks
from harness.world.judge import gold_rewarder

ALGOS = ("ppo", *TRL_ALGOS)
VERSION = "1"
DEFAULT_LM_EVAL = ("rmbench_world_qa",)


@suites.register
class Downstream(suites.Suite):
    name = "rl"  # formerly "ppo" (harness.metric_keys.RENAMED_SUITES)
    version = VERSION  # + "+<policy version>" once the policy is resolved
    summary = "RL (PPO / RLOO / GRPO) against the RM: gold and proxy reward before/after, KL, lm-eval before/after."
    requires = frozenset({"world"})

    @dataclass
    class Options(RLConfig):
        """The suite's own options, and every ``RLConfig`` key (``--set rl.steps=2``)."""

        algo: str = "ppo"
        n_prompts: int = 256
        n_eval_prompts: int = 64
        eval_samples: int = 2
        policy: str | None = None
        lm_eval: list[str] = field(default_factory=lambda: list(DEFAULT_LM_EVAL))
        lm_eval_limit: int = 64
        proxy: str = "rm"  # the optimised reward: "rm", "gold" or an `rmbench serve` URL (harness.rl.rewards)

    def __init__(self, **options):
        super().__init__(**options)
        o = self.options
        if o.algo not in ALGOS:
            raise ConfigError(f"unknown RL algorithm {o.algo!r}; choose one of {', '.join(ALGOS)}")
        self.algo, self.policy, self.proxy = o.algo, o.policy, check_proxy(o.proxy, self.name)
        self.n_prompts, self.n_eval_prompts, self.eval_samples = o.n_prompts, o.n_eval_prompts, o.eval_samples
        self.lm_eval, self.lm_eval_limit = o.lm_eval, o.lm_eval_limit
        self.rl = RLConfig(**{f.name: getattr(o, f.name) for f in dataclasses.fields(RLConfig)})

    @property
    def split(self) -> str:
        """The rows' split and the directory under ``<run>/rl/``: the algorithm (``+gold`` with ``proxy=gold``)."""
        return proxy_split(rl_split(self.algo), self.proxy)

    def run(self, ctx) -> suites.SuiteResult:
        if ctx.run_dir is None:
            raise ConfigError("the rl suite writes its policy into the run: evaluate a run directory")
        world = ctx.config.data.world
        seed = world.seed
        train_tasks = tasks(seed, self.n_prompts, version=world.version, mixture=world.mixture)
        eval_tasks = tasks(seed, self.n_eval_prompts, heldout_templates=True, version=world.version,
                           mixture=world.mixture)
        proxy = optimised_rewarder(self.proxy, ctx, train_tasks + eval_tasks)
        gold = gold_rewarder(train_tasks + eval_tasks)
        out_dir = ctx.run_dir / RL_DIR / self.split
        out_dir.mkdir(parents=True, exist_ok=True)
        backbone, policy_version = suite_policy(self.policy, ctx)
        self.version = f"{VERSION}+{policy_version}"
        device = next(ctx.model.parameters()).device
        model, tokenizer = load_policy(backbone, trust_remote_code=ctx.config.model.trust_remote_code)
        model.to(device)

        lm_tasks = None
        if self.lm_eval:  # the local lm-eval task files, written once for the evaluations before and after
            lm_tasks = write_tasks(out_dir / "lm_eval_tasks", world_seed=seed, n_world=self.lm_eval_limit,
                                   gsm8k_limit=self.lm_eval_limit)
        before = self._evaluate(model, tokenizer, eval_tasks, proxy, gold, lm_tasks)
        history = self._train(model, tokenizer, [t.prompt for t in train_tasks], proxy, gold, out_dir, ctx)
        model.save_pretrained(out_dir / "policy")
        tokenizer.save_pretrained(out_dir / "policy")
        reference = load_policy(backbone, trust_remote_code=ctx.config.model.trust_remote_code)[0].to(device)
        after = self._evaluate(model, tokenizer, eval_tasks, proxy, gold, lm_tasks, reference)
        kl = after.pop(("world", "kl"))

        split, rows = self.split, []
        for key in sorted(before):
            b, a = before[key], after[key]
            dataset, metric = key
            rows += [self.row(dataset, split, rl_metric(metric, "before"), b),
                     self.row(dataset, split, rl_metric(metric, "after"), a),
                     self.row(dataset, split, rl_change(metric), Estimate(a.value - b.value, None, a.n))]
        rows.append(self.row("world", split, "kl", kl, higher_is_better=False))
        return suites.SuiteResult(metrics=rows + self._curve(history))

    def _curve(self, history: list[dict]) -> list:
        """Per-step gold / proxy / sqrt(KL) rows and Gao et al.'s R_RL fits of the gains over step 1 (module
        docstring); no fit with fewer than 2 steps of positive KL."""
        import math

        n, split = self.rl.prompts_per_step * self.rl.samples_per_prompt, self.split
        d = [math.sqrt(max(r.get("kl", 0.0), 0.0)) for r in history]
        rows = []
        for r, dk in zip(history, d):
            k = r["step"]
            rows += [self.row("world", split, rl_step_metric("gold", k), Estimate(r["gold"], None, n)),
                     self.row("world", split, rl_step_metric("proxy", k), Estimate(r["reward"], None, n)),
                     self.row("world", split, rl_step_metric("sqrt_kl", k), Estimate(dk, None, n),
                              higher_is_better=False)]
        if sum(x > 0 for x in d) >= 2:
            for score, key in (("gold", "gold"), ("proxy", "reward")):
                f = fit("rl", d, [r[key] - history[0][key] for r in history])
                rows += [self.row("world", split, fit_metric(score, name), Estimate(v, None, len(history)),
                                  higher_is_better=higher)
                         for name, v, higher in f.parameters()]
        return rows

    def _train(self, model, tokenizer, prompts, proxy, gold, out_dir, ctx) -> list[dict]:
        path = out_dir / METRICS_FILE
        with open(path, "w", encoding="utf-8") as fh:  # a re-run starts the curve afresh
            def on_step(record: dict) -> None:
                fh.write(json.dumps(record) + "\n")
                fh.flush()

            common = dict(track={"gold": gold}, on_step=on_step, show_progress=ctx.show_progress)
            if self.algo == "ppo":
                return train_ppo(model, tokenizer, prompts, proxy, self.rl, **common)
            return train_trl(self.algo, model, tokenizer, prompts, proxy, self.rl, output_dir=out_dir / "trl",
                             **common)

    def _evaluate(self, model, tokenizer, eval_tasks, proxy, gold, lm_tasks, reference=None) -> dict:
        """Mean proxy and gold reward of sampled responses to the evaluation prompts and the lm-eval scores; with a
        ``reference``, also ("world", "kl"): KL(π ‖ π_ref) estimated on the same samples as
        E_y~π Σ_t log π(y_t|x, y_<t) − log π_ref(y_t|x, y_<t) (nats per response), measured alike for every algorithm
        (the per-step ``kl`` of metrics.jsonl is each algorithm's own estimator)."""
        prompts, k = [t.prompt for t in eval_tasks], self.eval_samples
        tokens = sample_tokens(model, tokenizer, prompts, k, max_new_tokens=self.rl.max_new_tokens,
                               temperature=self.rl.temperature, seed=self.rl.seed + 1)
        flat_prompts = [p for p in prompts for _ in range(k)]
        flat = decode(tokenizer, [t for ts in tokens for t in ts])
        out = {("world", "proxy_reward"): _per_prompt_mean(proxy(flat_prompts, flat), k),
               ("world", "gold_reward"): _per_prompt_mean(gold(flat_prompts, flat), k)}
        if reference is not None:
            own, ref = (response_logprobs(m, tokenizer, prompts, tokens, temperature=self.rl.temperature)
                        for m in (model, reference))
            out[("world", "kl")] = _per_prompt_mean([a - b for xs, ys in zip(own, ref) for a, b in zip(xs, ys)], k)
        if self.lm_eval:
            scores = evaluate_policy(model, tokenizer, self.lm_eval, include_path=lm_tasks, limit=self.lm_eval_limit)
            for task, metrics in scores.items():
                for metric, (value, stderr) in metrics.items():
                    out[(task, metric)] = Estimate(value, stderr, self.lm_eval_limit)
        return out


def _per_prompt_mean(values: list[float], k: int) -> Estimate:
    """Mean over prompts of the mean of each prompt's ``k`` consecutive values; stderr over prompts."""
    return mean_estimate([sum(values[i: i + k]) / k for i in range(0, len(values), k)])
