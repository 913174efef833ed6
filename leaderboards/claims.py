"""The papers' headline claims, checked against the recorded results, with two control rows that calibrate the test.

A claim "METHOD beats BASELINE on COLUMN" compares two experiments run with the same settings: everything in the run
config but the method, its config, the seed and the suites must be equal, except the settings that define a side
(``Side.settings``, e.g. ``data.label_noise`` of the positive control) and the run-config defaults a method imposes
(``RewardMethod.config_defaults``, e.g. GRM's ``model.head=mlp``) where that side has its method's default.

The test (two-sided, level :data:`LEVEL`; Student's t from scipy):

- **paired** when both sides share >= 2 seeds (same seed = same data order and initialisation): diff = the mean of
  the per-seed differences d_s = METHOD_s − BASELINE_s over the shared seeds, SE = sd(d) / √n, df = n − 1;
- **unpaired** otherwise (Welch): diff = mean(METHOD) − mean(BASELINE), SE = sqrt(s_m²/n_m + s_b²/n_b), df by
  Welch–Satterthwaite; a side with one seed contributes the square of its metric's recorded stderr and infinite
  degrees of freedom (the stderr is over many examples).

t = diff / SE, p = 2·(1 − F_t(|t|; df)), critical value t* = F_t⁻¹(1 − LEVEL/2; df). With gain = diff when higher
is better, −diff otherwise, the verdict is:

- ``no data``: a side has no value, or the two sides were never run with the same settings;
- ``inconclusive``: SE is unknown (one seed and no recorded stderr), or p >= LEVEL (|t| < t*), or diff = 0;
- ``holds``: p < LEVEL and gain > 0;
- ``does not hold``: p < LEVEL and gain < 0.

Power (Bloom 1995, "Minimum detectable effects", Evaluation Review 19(5), eq. 1): the minimum detectable effect
of the test as run, MDE = (t_{1−LEVEL/2, df} + t_{POWER, df}) · SE, is the smallest true difference it finds at the
level LEVEL with probability POWER (80 %); the (1 − LEVEL) confidence interval of the difference is diff ± t*·SE
(df = ∞: the normal quantiles). An inconclusive row says "inconclusive (MDE 1.1 pts)": a true effect at least that
large would have been found four times in five, a smaller one might not. Differences of a [0, 1] measure (accuracy,
a RewardBench score) are stated in points (×100).

When the paired runs wrote per-pair predictions (``predictions/<suite>/<dataset>-<split>.jsonl`` of each run
under ``runs_dir``), the row also says how much of the paired difference's variance is evaluation noise and how
much is seed (:mod:`leaderboards.variance`): more pairs shrink the first, only more seeds the second.

When several comparable pairs of configurations exist, the pair with most shared seeds, then most seeds (the
smaller side), then the most recently recorded, is judged. A claim with a ``prefer`` column is judged on it when
both sides have results there ("the RewardBench score" is the RewardBench 2 score when both were evaluated on it,
else RewardBench's). Control rows state the verdict they must give
(``Claim.expect``): the negative control (BT against BT-Margin with m = 0, the same objective) must be
inconclusive, the positive control (BT on clean labels against BT with 40 % flipped labels) must hold.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

import methods
from harness.coerce import flatten
from harness.metric_keys import noise_split
from leaderboards.queries import facts
from leaderboards.render import Grid, rounded
from leaderboards.tables import (BON_SUITE, ID_ACCURACY, NOISE_SUITE, OOD_ACCURACY, REWARDBENCH2_COLUMNS,
                                  REWARDBENCH_COLUMNS, RL_SUITE, SPLITS_COLUMNS, Column, Experiment, experiments,
                                  frozen, mean_of)
from leaderboards.variance import VarianceSplit, paired_matrix, predictions_file, read_outcomes, variance_split

HOLDS, FAILS, INCONCLUSIVE, NO_DATA = "holds", "does not hold", "inconclusive", "no data"
POINT_METRICS = ("accuracy", "score")  # metrics in [0, 1]: differences stated in points
LEVEL = 0.05  # two-sided significance level of every verdict
POWER = 0.8  # the power at which the minimum detectable effect is stated

APLOT, BSR, RMO = "APLOT (Li et al. 2025)", "BSR (Hong et al. 2025)", "RMO (Ru et al. 2026)"
CONTROL = "control"
NOISE_20 = Column("ID acc, 20% label noise", "accuracy", NOISE_SUITE, split=noise_split("id", 0.2))
BON_GOLD_16 = Column("BoN gold@16", "gold_score@n=16", BON_SUITE, "world", "bon")
RL_GOLD = Column("gold after PPO", "gold_reward@after", RL_SUITE, "world", "ppo")
RMO_ALL = tuple((f"method_config.{part}", True) for part in ("filter", "diversify", "amplify"))  # the full method
LC_WIN_RATE = Column("LC win rate vs SFT", "lc_win_rate", "winrate", "world", "policy")  # RMO Table 2's measure
_RULE = (f"Δ = method − baseline (paired per seed when both share >= 2 seeds, else Welch); t = Δ/SE against "
         f"Student's t critical value t* at the two-sided level {LEVEL:g}: holds when p < {LEVEL:g} and the gain "
         f"> 0; inconclusive when p >= {LEVEL:g} or SE unknown. Controls must come out as expected.")
_POWER_NOTE = (f"MDE = (t*(1 − {LEVEL:g}/2, df) + t({POWER:g}, df))·SE: the smallest true difference this test finds "
               f"with {POWER:.0%} power (Bloom 1995); CI = Δ ± t*·SE. Eval noise: the share of the paired "
               f"difference's seed-to-seed variance that is evaluation noise (σ²_res/N of the seeds × pairs ANOVA, "
               f"from the runs' predictions): more pairs shrink it, only more seeds shrink the rest.")
_FIELDS = ("paper", "claim", "method", "baseline", "measure", "diff", "se", "test", "df", "t_crit", "p_value",
           "mde", "ci_low", "ci_high", "eval_share", "seed_var", "eval_var", "eval_pairs", "n_method",
           "n_baseline", "verdict", "expected", "detail")


@dataclass(frozen=True)
class Claim:
    """"``method`` beats ``baseline`` on ``column``". ``*_settings``: (dotted run-config key, value) pairs that
    select a side's experiments (``method_config.margin`` = 0, ``data.label_noise`` = 0.4); they may differ
    between the sides. ``expect``: the verdict a control row must give."""

    paper: str
    text: str
    method: str
    baseline: str
    column: Column
    prefer: Column | None = None  # judged on this column instead when both sides have results there
    method_settings: tuple[tuple[str, Any], ...] = ()
    baseline_settings: tuple[tuple[str, Any], ...] = ()
    expect: str | None = None


CLAIMS = (
    Claim(APLOT, "APLOT beats BT in-distribution", "aplot", "bt", ID_ACCURACY),
    Claim(APLOT, "APLOT beats PointMargin in-distribution", "aplot", "pointmargin", ID_ACCURACY),
    Claim(APLOT, "APLOT beats a hard margin (BT-Margin 1.0) in-distribution", "aplot", "bt_margin", ID_ACCURACY,
          baseline_settings=(("method_config.margin", 1.0),)),
    Claim(APLOT, "APLOT beats GRM in-distribution", "aplot", "grm", ID_ACCURACY),
    Claim(APLOT, "APLOT beats BT on OOD datasets", "aplot", "bt", OOD_ACCURACY),
    Claim(APLOT, "APLOT beats BT on the RewardBench score", "aplot", "bt", REWARDBENCH_COLUMNS[-1],
          REWARDBENCH2_COLUMNS[-1]),
    Claim(APLOT, "APLOT is more robust to 20% label noise than BT", "aplot", "bt", NOISE_20),
    Claim(APLOT, "APLOT's RM gives higher best-of-16 gold than BT's", "aplot", "bt", BON_GOLD_16),
    *(Claim(BSR, f"BSR improves {column.title} over BT", "bsr", "bt", column) for column in SPLITS_COLUMNS[1:]),
    Claim(BSR, "BSR's RM reaches higher gold after RL than BT's", "bsr", "bt", RL_GOLD),
    Claim(RMO, "RMO beats BT in-distribution", "rmo", "bt", ID_ACCURACY),
    Claim(RMO, "RMO is more robust to 20% label noise than BT", "rmo", "bt", NOISE_20),
    Claim(RMO, "RMO improves DPO's LC win rate", "rmo_dpo", "dpo", LC_WIN_RATE, method_settings=RMO_ALL),
    Claim(RMO, "RMO improves SimPO's LC win rate", "rmo_simpo", "simpo", LC_WIN_RATE, method_settings=RMO_ALL),
    Claim(RMO, "High-Var batching beats random batching (DPO)", "rmo_dpo", "dpo", LC_WIN_RATE,
          method_settings=(("method_config.filter", False), ("method_config.amplify", False),
                           ("method_config.diversify", True))),
    Claim(CONTROL, "negative control: BT vs BT-Margin m = 0 (the same objective)", "bt_margin", "bt", ID_ACCURACY,
          method_settings=(("method_config.margin", 0.0),), expect=INCONCLUSIVE),
    Claim(CONTROL, "positive control: BT on clean labels vs BT on 40% flipped labels", "bt", "bt", ID_ACCURACY,
          method_settings=(("data.label_noise", 0.0),), baseline_settings=(("data.label_noise", 0.4),),
          expect=HOLDS),
)


@dataclass(frozen=True)
class Judgement:
    claim: Claim
    verdict: str
    diff: float | None = None
    se: float | None = None
    n_method: int = 0
    n_baseline: int = 0
    detail: str = ""
    test: str = ""  # "paired" | "welch"
    df: float | None = None
    t_crit: float | None = None
    p_value: float | None = None
    column: Column | None = None  # the column judged: the claim's, or its ``prefer`` column
    mde: float | None = None  # minimum detectable effect at POWER and LEVEL (module docstring)
    ci: tuple[float, float] | None = None  # the (1 − LEVEL) confidence interval of diff
    variance: VarianceSplit | None = None  # evaluation noise vs seed, from the paired runs' predictions

    @property
    def measure(self) -> str:
        return (self.column or self.claim.column).title

    @property
    def in_points(self) -> bool:
        """Whether the measure is a [0, 1] fraction (accuracy, a RewardBench score), stated in points (×100)."""
        return (self.column or self.claim.column).metric in POINT_METRICS

    def amount(self, value: float) -> str:
        """``value`` as the verdict states it: ``1.1 pts`` for a fraction, else the measure's own unit."""
        return f"{100 * value:.2g} pts" if self.in_points else f"{value:.3g}"

    @property
    def verdict_text(self) -> str:
        """The verdict with its reason: ``inconclusive (MDE 1.1 pts)``, ``no data (no bt results)``."""
        reasons = [self.detail] if self.detail else []
        if self.verdict == INCONCLUSIVE and self.mde is not None:
            reasons.append(f"MDE {self.amount(self.mde)}")
        return self.verdict + (f" ({'; '.join(reasons)})" if reasons else "")


@dataclass(frozen=True)
class Test:
    diff: float
    se: float | None
    df: float
    name: str


def per_seed(exp: Experiment, column: Column) -> dict[int, tuple[float, float | None]]:
    """seed → (value, recorded stderr) of ``column`` in ``exp`` (several matching rows count as their mean)."""
    out = {}
    for seed, rows in exp.seeds.items():
        if matched := [f for f in rows if column.matches(f)]:
            value, stderr, _ = mean_of(matched)
            out[seed] = (value, stderr)
    return out


def paired_or_welch(ours: dict[int, tuple[float, float | None]],
                    theirs: dict[int, tuple[float, float | None]]) -> Test:
    """The difference, its standard error and degrees of freedom (module docstring): paired over >= 2 shared
    seeds, else Welch (a one-seed side: its recorded stderr, infinite df; None SE when that is missing)."""
    shared = sorted(set(ours) & set(theirs))
    if len(shared) >= 2:
        d = [ours[s][0] - theirs[s][0] for s in shared]
        return Test(statistics.fmean(d), statistics.stdev(d) / math.sqrt(len(d)), len(d) - 1, "paired")
    parts = []  # (mean, variance of the mean, df) per side
    for side in (ours, theirs):
        values = [v for v, _ in side.values()]
        if len(values) >= 2:
            parts.append((statistics.fmean(values), statistics.variance(values) / len(values), len(values) - 1))
        else:
            stderr = next(iter(side.values()))[1]
            parts.append((values[0], None if stderr is None else stderr * stderr, math.inf))
    diff = parts[0][0] - parts[1][0]
    if parts[0][1] is None or parts[1][1] is None:
        return Test(diff, None, math.inf, "welch")
    var = parts[0][1] + parts[1][1]
    den = sum(v * v / df for _, v, df in parts if df != math.inf and v > 0)
    df = var * var / den if den > 0 else math.inf
    return Test(diff, math.sqrt(var), df, "welch")


def _settings_match(exp: Experiment, settings) -> bool:
    return all(key in exp.settings and exp.settings[key] == frozen(value) for key, value in settings)


def _imposed(method: str) -> dict[str, Any]:
    """The run-config defaults a method imposes (``RewardMethod.config_defaults``), as dotted keys; {} for a method
    this installation does not know."""
    try:
        defaults = methods.get(method).config_defaults or {}
    except Exception:  # noqa: BLE001 — an unknown (uninstalled) method imposes nothing we can see
        return {}
    return flatten(defaults)


def comparable(claim: Claim, a: Experiment, b: Experiment) -> bool:
    """Same settings, except method configs, the sides' own settings and method-imposed defaults (docstring)."""
    skip = {k for k, _ in claim.method_settings + claim.baseline_settings}
    for exp in (a, b):
        skip |= {k for k, v in _imposed(exp.method).items()
                 if k in exp.settings and exp.settings[k] == frozen(v)}
    keys = (set(a.settings) | set(b.settings)) - skip
    return all(a.settings.get(k) == b.settings.get(k) for k in keys if not k.startswith("method_config."))


def minimum_detectable_effect(se: float, df: float, level: float = LEVEL, power: float = POWER) -> float:
    """(t_{1−level/2, df} + t_{power, df}) · SE: the smallest true difference a two-sided t-test at ``level`` with
    this SE and df finds with probability ``power`` (Bloom 1995, eq. 1; df = ∞ gives the normal quantiles)."""
    from scipy import stats

    return float((stats.t.ppf(1 - level / 2, df) + stats.t.ppf(power, df)) * se)


def evaluation_variance(exp_a: Experiment, exp_b: Experiment, column: Column,
                        runs_dir: Path | None) -> VarianceSplit | None:
    """Evaluation noise vs seed of the paired difference (:mod:`leaderboards.variance`) from the predictions the
    two experiments' runs wrote at their shared seeds; None when fewer than 2 seeds have them (or a seed's value is
    the mean of several rows, e.g. several OOD datasets)."""
    if runs_dir is None:
        return None
    outcomes = []
    for seed in sorted(set(exp_a.seeds) & set(exp_b.seeds)):
        rows = [[f for f in exp.seeds[seed] if column.matches(f)] for exp in (exp_a, exp_b)]
        if any(len(r) != 1 for r in rows):
            continue
        pair = tuple(read_outcomes(predictions_file(runs_dir, r[0])) for r in rows)
        if None not in pair:
            outcomes.append(pair)
    matrix = paired_matrix(outcomes)
    return variance_split(matrix) if matrix and matrix[0] else None


def judge(claim: Claim, exps: list[Experiment], runs_dir: Path | None = None) -> Judgement:
    """The verdict on one claim (rule in the module docstring); ``runs_dir`` holds the runs' predictions."""
    from scipy import stats

    column = claim.column
    if claim.prefer is not None and all(any(exp.method == method and exp.cell(claim.prefer) for exp in exps)
                                        for method in (claim.method, claim.baseline)):
        column = claim.prefer
    sides = [[(exp, values) for exp in exps if exp.method == method and _settings_match(exp, settings)
              and (values := per_seed(exp, column))]
             for method, settings in ((claim.method, claim.method_settings),
                                      (claim.baseline, claim.baseline_settings))]
    missing = [method + "".join(f" ({k}={v})" for k, v in settings)
               for (method, settings), side in zip(((claim.method, claim.method_settings),
                                                    (claim.baseline, claim.baseline_settings)), sides) if not side]
    if missing:
        return Judgement(claim, NO_DATA, detail=f"no {' or '.join(missing)} results", column=column)
    pairs = [(a, b) for a in sides[0] for b in sides[1] if a[0] is not b[0] and comparable(claim, a[0], b[0])]
    if not pairs:
        return Judgement(claim, NO_DATA, detail="never run with the same settings", column=column)
    (exp_a, ours), (exp_b, theirs) = max(pairs, key=lambda p: (len(set(p[0][1]) & set(p[1][1])),
                                                               min(len(p[0][1]), len(p[1][1])),
                                                               max(p[0][0].recorded_at, p[1][0].recorded_at)))
    test = paired_or_welch(ours, theirs)
    higher = exp_a.cell(column).higher_is_better
    gain = test.diff if higher else -test.diff
    common = dict(diff=test.diff, se=test.se, n_method=len(ours), n_baseline=len(theirs), test=test.name,
                  df=test.df, column=column)
    if test.se is None:
        return Judgement(claim, INCONCLUSIVE, detail="no standard error (one seed, none recorded)", **common)
    t_crit = float(stats.t.ppf(1 - LEVEL / 2, test.df))
    common.update(mde=minimum_detectable_effect(test.se, test.df),
                  ci=(test.diff - t_crit * test.se, test.diff + t_crit * test.se),
                  variance=evaluation_variance(exp_a, exp_b, column, runs_dir) if test.name == "paired" else None)
    if test.se == 0:
        p = 1.0 if test.diff == 0 else 0.0
    else:
        p = float(2 * stats.t.sf(abs(test.diff / test.se), test.df))
    verdict = INCONCLUSIVE if p >= LEVEL or gain == 0 else HOLDS if gain > 0 else FAILS
    return Judgement(claim, verdict, t_crit=t_crit, p_value=p, **common)


def _num(x: float | None, fmt: str) -> str:
    return "—" if x is None else "∞" if x == math.inf else format(x, fmt)


@dataclass(frozen=True)
class ClaimsTable:
    judgements: tuple[Judgement, ...]

    def grid(self) -> Grid:
        header = ("paper", "claim", "measure", "Δ mean", "SE", "test (df)", "t*", "p", "MDE", f"{1 - LEVEL:.0%} CI",
                  "eval noise", "seeds", "verdict")
        rows, records = [], []
        for j in self.judgements:
            c = j.claim
            verdict = j.verdict_text
            if c.expect is not None and j.verdict != NO_DATA:
                verdict += " ✓" if j.verdict == c.expect else f" ✗ (expected {c.expect})"
            v = j.variance
            rows.append((c.paper, c.text, j.measure, _num(j.diff, "+.4f"), _num(j.se, ".4f"),
                         f"{j.test} ({_num(j.df, '.1f')})" if j.test else "—", _num(j.t_crit, ".2f"),
                         _num(j.p_value, ".3g"), _num(j.mde, ".4f"),
                         "—" if j.ci is None else f"[{j.ci[0]:+.4f}, {j.ci[1]:+.4f}]",
                         "—" if v is None else f"{v.eval_share:.0%} of {v.items} pairs", f"{j.n_method}/{j.n_baseline}",
                         verdict))
            df = None if j.df is None or j.df == math.inf else rounded(j.df)
            ci = (None, None) if j.ci is None else tuple(map(rounded, j.ci))
            split = (None, None, None, None) if v is None else (round(v.eval_share, 4), v.seed_var, v.eval_var,
                                                                 v.items)
            records.append(dict(zip(_FIELDS, (c.paper, c.text, c.method, c.baseline, j.measure, rounded(j.diff),
                                               rounded(j.se), j.test or None, df, rounded(j.t_crit),
                                               rounded(j.p_value), rounded(j.mde), *ci, *split, j.n_method,
                                               j.n_baseline, j.verdict, c.expect, j.detail))))
        return Grid("Paper claims on the current results", header, rows, _FIELDS, records, "lllrrlrrrrrrl",
                    (_RULE, _POWER_NOTE))


def control_jobs(claims: tuple[Claim, ...] = CLAIMS) -> list[tuple[str, tuple[tuple[str, Any], ...]]]:
    """The sweep jobs the control rows need (``rmbench sweep --controls``): one (method, settings) per side, the
    settings (dotted run-config keys with their values) with the suite its column is judged on
    (``("suites", ["id"])``); sides asking the same are given once."""
    jobs = []
    for claim in claims:
        if claim.expect is None:
            continue
        for method, settings in ((claim.method, claim.method_settings), (claim.baseline, claim.baseline_settings)):
            job = (method, (*settings, ("suites", [claim.column.suite])))
            if job not in jobs:
                jobs.append(job)
    return jobs


def claims_table(engine: Engine, claims: tuple[Claim, ...] = CLAIMS, runs_dir: str | Path | None = None,
                 **filters: str | None) -> ClaimsTable:
    """Judge ``claims`` on the rows matching ``filters`` (those of :func:`leaderboards.queries.facts`); the runs'
    predictions under ``runs_dir`` (when given) split each paired difference's variance into evaluation noise and
    seed."""
    exps = experiments(facts(engine, **filters))
    runs = None if runs_dir is None else Path(runs_dir)
    return ClaimsTable(tuple(judge(claim, exps, runs) for claim in claims))
