"""Downstream RL against the trained RM: PPO (written here), RLOO or GRPO (trl), with lm-eval before and after.

The policy (the run's backbone as a causal LM, or ``policy=``) is optimised for the proxy RM on world prompts from
the id reservation (never in the RM's training data) and evaluated before and after on other such prompts, with
held-out templates, by the proxy RM and by the world's gold reward of free text (``harness.world.judge``): a proxy
gain without a gold gain is over-optimisation. Per-step proxy reward, gold reward and KL to the initial policy go to
``<run>/rl/<algo>/metrics.jsonl``, the trained policy to ``<run>/rl/<algo>/policy/``.
"""
from __future__ import annotations

import json

from harness import suites
from harness.config import from_dict
from harness.errors import ConfigError
from harness.metrics import Estimate, mean_estimate
from harness.rl import RLConfig

ALGOS = ("ppo", "rloo", "grpo")
DEFAULT_LM_EVAL = ("rmbench_world_qa",)


@suites.register
class Downstream(suites.Suite):
    name = "ppo"
    summary = "RL (PPO / RLOO / GRPO) against the RM: gold and proxy reward before/after, KL, lm-eval before/after."

    def __init__(self, algo: str = "ppo", n_prompts: int = 256, n_eval_prompts: int = 64, eval_samples: int = 2,
                 policy: str | None = None, lm_eval: list[str] | str = DEFAULT_LM_EVAL, lm_eval_limit: int = 64,
                 **rl_options):
        if algo not in ALGOS:
            raise ConfigError(f"unknown RL algorithm {algo!r}; choose one of {', '.join(ALGOS)}")
        self.algo, self.policy = algo, policy
        self.n_prompts, self.n_eval_prompts, self.eval_samples = n_prompts, n_eval_prompts, eval_samples
        self.lm_eval = [t.strip() for t in lm_eval.split(",") if t.strip()] if isinstance(lm_eval, str) \
            else list(lm_eval)
        self.lm_eval_limit = lm_eval_limit
        self.rl = from_dict(RLConfig, rl_options, "ppo")  # type-checked; unknown keys get a did-you-mean

    def run(self, ctx) -> suites.SuiteResult:
        from harness.rl.policy import load_policy
        from harness.rl.rewards import proxy_rewarder
        from harness.world import tasks
        from harness.world.judge import gold_rewarder

        if ctx.config.data.train != "world" or ctx.run_dir is None:
            raise ConfigError("the ppo suite needs a run trained on the world: the gold reward exists only there")
        seed = ctx.config.data.world.seed
        train_tasks = tasks(seed, self.n_prompts)
        eval_tasks = tasks(seed, self.n_eval_prompts, heldout_templates=True)
        proxy, gold = proxy_rewarder(ctx), gold_rewarder(train_tasks + eval_tasks)
        out_dir = ctx.run_dir / "rl" / self.algo
        out_dir.mkdir(parents=True, exist_ok=True)
        model, tokenizer = load_policy(self.policy or ctx.config.model.backbone)

        before = self._evaluate(model, tokenizer, eval_tasks, proxy, gold, out_dir, ctx, "before")
        history = self._train(model, tokenizer, [t.prompt for t in train_tasks], proxy, gold, out_dir, ctx)
        model.save_pretrained(out_dir / "policy")
        tokenizer.save_pretrained(out_dir / "policy")
        after = self._evaluate(model, tokenizer, eval_tasks, proxy, gold, out_dir, ctx, "after")

        split = self.algo
        rows = []
        for key in sorted(before):
            b, a = before[key], after[key]
            dataset, metric = key
            rows += [self.row(dataset, split, f"{metric}@before", b), self.row(dataset, split, f"{metric}@after", a),
                     self.row(dataset, split, f"{metric}_change", Estimate(a.value - b.value, None, a.n))]
        last = history[-1] if history else {}
        if "kl" in last:
            rows.append(self.row("world", split, "kl_final", Estimate(float(last["kl"]), None, len(history)),
                                 higher_is_better=False))
        return suites.SuiteResult(metrics=rows)

    def _train(self, model, tokenizer, prompts, proxy, gold, out_dir, ctx) -> list[dict]:
        path = out_dir / "metrics.jsonl"
        with open(path, "w", encoding="utf-8") as fh:  # a re-run starts the curve afresh
            def on_step(record: dict) -> None:
                fh.write(json.dumps(record) + "\n")
                fh.flush()

            common = dict(track={"gold": gold}, on_step=on_step, show_progress=ctx.show_progress)
            if self.algo == "ppo":
                from harness.rl.ppo import train_ppo

                return train_ppo(model, tokenizer, prompts, proxy, self.rl, **common)
            from harness.rl.trl_algos import train_trl

            return train_trl(self.algo, model, tokenizer, prompts, proxy, self.rl, output_dir=out_dir / "trl",
                             **common)

    def _evaluate(self, model, tokenizer, eval_tasks, proxy, gold, out_dir, ctx, when: str) -> dict:
        """Mean proxy and gold reward of sampled responses to the evaluation prompts, and the lm-eval tasks."""
        from harness.rl.policy import sample_responses

        prompts = [t.prompt for t in eval_tasks]
        responses = sample_responses(model, tokenizer, prompts, self.eval_samples,
                                     max_new_tokens=self.rl.max_new_tokens, temperature=self.rl.temperature,
                                     seed=self.rl.seed + 1)
        flat_prompts = [p for p, rs in zip(prompts, responses) for _ in rs]
        flat = [r for rs in responses for r in rs]
        proxy_scores, gold_scores = proxy(flat_prompts, flat), gold(flat_prompts, flat)
        k = self.eval_samples
        per_prompt = lambda xs: [sum(xs[i: i + k]) / k for i in range(0, len(xs), k)]  # noqa: E731
        out = {("world", "proxy_reward"): mean_estimate(per_prompt(proxy_scores)),
               ("world", "gold_reward"): mean_estimate(per_prompt(gold_scores))}
        if self.lm_eval:
            from harness.rl.lmeval import evaluate_policy, write_tasks

            include = write_tasks(out_dir / "lm_eval_tasks", world_seed=ctx.config.data.world.seed,
                                  n_world=self.lm_eval_limit, gsm8k_limit=self.lm_eval_limit)
            scores = evaluate_policy(model, tokenizer, self.lm_eval, include_path=include, limit=self.lm_eval_limit)
            for task, metrics in scores.items():
                for metric, (value, stderr) in metrics.items():
                    out[(task, metric)] = Estimate(value, stderr, self.lm_eval_limit)
        return out
