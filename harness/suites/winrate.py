"""Downstream quality of a DPO-family policy as the RMO paper measures it (Table 2), with the world's gold reward as
the judge: the trained policy's samples against the reference policy's on held-out world prompts.

For each of ``n_prompts`` prompts (the id reservation, held-out templates: never in training) the trained policy
and the reference policy (``model.ref``, else the starting policy: the SFT policy of a tiny base) each sample one
response; the one with the higher gold reward (``harness.world.judge``) wins, a tie counts ½. Rows (split
``policy``): ``win_rate`` (raw WR, %), ``lc_win_rate`` (AlpacaEval 2's length-controlled WR at zero length
difference, %, :func:`harness.metrics.win_rates`), ``length_coef`` (its length coefficient), the mean gold reward of
both policies, the mean response lengths in tokens, and ``kl``: KL(π ‖ π_ref) estimated on the policy's samples as
E_y~π Σ_t log π(y_t|x, y_<t) − log π_ref(y_t|x, y_<t) (nats per response), as the ``rl`` suite measures it — so a
DPO-family run lands on the same gold-vs-KL chart as best-of-N and RL against explicit RMs.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness import suites
from harness.errors import ConfigError
from harness.metrics import mean_estimate, win_rates
from harness.models import ImplicitRewardModel
from harness.rl.policy import decode, load_policy, response_logprobs, sample_tokens, suite_policy
from harness.world import tasks
from harness.world.judge import gold_rewarder


@suites.register
class WinRate(suites.Suite):
    name = "winrate"
    version = "1"  # + "+<reference policy version>" once it is resolved
    summary = "A DPO-family policy's samples vs the reference policy's, gold-judged: raw and LC win rate, gold, KL."
    requires = frozenset({"world"})

    @dataclass
    class Options:
        n_prompts: int = 128
        max_new_tokens: int = 48
        temperature: float = 1.0
        seed: int = 0

    def __init__(self, **options):
        super().__init__(**options)
        if self.options.n_prompts < 3:
            raise ConfigError("winrate.n_prompts must be at least 3 (the length-controlled fit has 2 parameters)")

    def run(self, ctx) -> suites.SuiteResult:
        if not isinstance(ctx.model, ImplicitRewardModel):
            raise ConfigError("the winrate suite samples the trained policy: evaluate a DPO-family run (dpo, simpo, "
                              "ipo, rmo_dpo, rmo_simpo) or --model DIR --kind dpo")
        o = self.options
        world = ctx.config.data.world
        drawn = tasks(world.seed, o.n_prompts, heldout_templates=True, version=world.version, mixture=world.mixture)
        prompts = [t.prompt for t in drawn]
        gold = gold_rewarder(drawn)
        source, version = suite_policy(ctx.config.model.ref or None, ctx)
        self.version = f"{WinRate.version}+{version}"
        device = next(ctx.model.parameters()).device
        reference, ref_tokenizer = load_policy(source, trust_remote_code=ctx.config.model.trust_remote_code)
        reference.to(device)
        policy, tokenizer = ctx.model.policy.backbone, ctx.model.tokenizer
        sampling = dict(max_new_tokens=o.max_new_tokens, temperature=o.temperature, seed=o.seed)
        was_training = policy.training
        policy.eval()
        try:
            ours = [ts[0] for ts in sample_tokens(policy, tokenizer, prompts, 1, **sampling)]
            theirs = [ts[0] for ts in sample_tokens(reference, ref_tokenizer, prompts, 1, **sampling)]
            own, ref = (response_logprobs(m, tokenizer, prompts, [[t] for t in ours], temperature=o.temperature)
                        for m in (policy, reference))
        finally:
            policy.train(was_training)
        gold_ours, gold_theirs = gold(prompts, decode(tokenizer, ours)), gold(prompts, decode(ref_tokenizer, theirs))
        wins = [1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(gold_ours, gold_theirs)]
        rates = win_rates(wins, [len(t) for t in ours], [len(t) for t in theirs])
        rows = [self.row("world", "policy", "win_rate", rates["win_rate"]),
                self.row("world", "policy", "lc_win_rate", rates["lc_win_rate"]),
                self.row("world", "policy", "length_coef", rates["length_coef"], higher_is_better=False),
                self.row("world", "policy", "gold_reward", mean_estimate(gold_ours)),
                self.row("world", "reference", "gold_reward", mean_estimate(gold_theirs)),
                self.row("world", "policy", "length", mean_estimate([len(t) for t in ours]), higher_is_better=False),
                self.row("world", "reference", "length", mean_estimate([len(t) for t in theirs]),
                         higher_is_better=False),
                self.row("world", "policy", "kl", mean_estimate([a[0] - b[0] for a, b in zip(own, ref)]),
                         higher_is_better=False)]
        return suites.SuiteResult(metrics=rows)
