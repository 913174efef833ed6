"""The papers' headline claims, checked against the recorded results.

A claim "METHOD beats BASELINE on COLUMN" is judged on the difference of means over seeds, diff = mean(METHOD) −
mean(BASELINE), with standard error SE = sqrt(SE_m² + SE_b²), where each side's SE² is s²/n over its n ≥ 2 seeds,
or, with one seed, the square of the metric's own recorded stderr. Let gain = diff when higher is better, −diff
otherwise. The verdict is:

- ``no data``: a side has no value, or the two sides were never run with the same settings (everything in the
  run config but the method, its config, the seed and the suites must be equal);
- ``inconclusive``: SE is unknown (one seed and no recorded stderr), or |diff| < 2·SE;
- ``holds``: gain ≥ 2·SE and gain > 0;
- ``does not hold``: otherwise (the difference is at least 2·SE the wrong way, or exactly zero).

When several comparable pairs of configurations exist, the pair with most seeds (the smaller side), then the most
recently recorded, is judged. A claim with a ``prefer`` column is judged on it when both sides have results there
("the RewardBench score" is the RewardBench 2 score when both were evaluated on it, else RewardBench's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Engine

from harness.metric_keys import noise_split
from leaderboards.queries import facts
from leaderboards.render import Grid, rounded
from leaderboards.tables import ID_ACCURACY, NOISE_SUITE, OOD_ACCURACY, REWARDBENCH2_COLUMNS, REWARDBENCH_COLUMNS, \
    SPLITS_COLUMNS, Column, Experiment, experiments

HOLDS, FAILS, INCONCLUSIVE, NO_DATA = "holds", "does not hold", "inconclusive", "no data"

APLOT, BSR, RMO = "APLOT (Li et al. 2025)", "BSR (Hong et al. 2025)", "RMO (Ru et al. 2026)"
NOISE_20 = Column("ID acc, 20% label noise", "accuracy", NOISE_SUITE, split=noise_split("id", 0.2))
_RULE = ("Δ = method − baseline; holds: the gain ≥ 2·SE; inconclusive: |Δ| < 2·SE or SE unknown; SE from the "
         "seeds, or the metric's own stderr with one seed.")
_FIELDS = ("paper", "claim", "method", "baseline", "measure", "diff", "se", "n_method", "n_baseline", "verdict",
           "detail")


@dataclass(frozen=True)
class Claim:
    paper: str
    text: str
    method: str
    baseline: str
    column: Column
    prefer: Column | None = None  # judged on this column instead when both sides have results there


CLAIMS = (
    Claim(APLOT, "APLOT beats BT in-distribution", "aplot", "bt", ID_ACCURACY),
    Claim(APLOT, "APLOT beats PointMargin in-distribution", "aplot", "pointmargin", ID_ACCURACY),
    Claim(APLOT, "APLOT beats a hard margin (BT-Margin 1.0) in-distribution", "aplot", "bt_margin", ID_ACCURACY),
    Claim(APLOT, "APLOT beats GRM in-distribution", "aplot", "grm", ID_ACCURACY),
    Claim(APLOT, "APLOT beats BT on OOD datasets", "aplot", "bt", OOD_ACCURACY),
    Claim(APLOT, "APLOT beats BT on the RewardBench score", "aplot", "bt", REWARDBENCH_COLUMNS[-1],
          REWARDBENCH2_COLUMNS[-1]),
    Claim(APLOT, "APLOT is more robust to 20% label noise than BT", "aplot", "bt", NOISE_20),
    *(Claim(BSR, f"BSR improves {column.title} over BT", "bsr", "bt", column) for column in SPLITS_COLUMNS[1:]),
    Claim(RMO, "RMO beats BT in-distribution", "rmo", "bt", ID_ACCURACY),
    Claim(RMO, "RMO is more robust to 20% label noise than BT", "rmo", "bt", NOISE_20),
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
    column: Column | None = None  # the column judged: the claim's, or its ``prefer`` column

    @property
    def measure(self) -> str:
        return (self.column or self.claim.column).title


def judge(claim: Claim, exps: list[Experiment]) -> Judgement:
    """The verdict on one claim (rule in the module docstring)."""
    column = claim.column
    if claim.prefer is not None and all(any(exp.method == method and exp.cell(claim.prefer) for exp in exps)
                                        for method in (claim.method, claim.baseline)):
        column = claim.prefer
    sides = [[(exp, cell) for exp in exps if exp.method == method and (cell := exp.cell(column))]
             for method in (claim.method, claim.baseline)]
    missing = [method for method, side in zip((claim.method, claim.baseline), sides) if not side]
    if missing:
        return Judgement(claim, NO_DATA, detail=f"no {' or '.join(missing)} results", column=column)
    pairs = [(a, b) for a in sides[0] for b in sides[1] if a[0].context == b[0].context]
    if not pairs:
        return Judgement(claim, NO_DATA, detail="never run with the same settings", column=column)
    (_, ours), (_, theirs) = max(pairs, key=lambda p: (min(p[0][1].n_seeds, p[1][1].n_seeds),
                                                       max(p[0][0].recorded_at, p[1][0].recorded_at)))
    diff = ours.mean - theirs.mean
    se = None if ours.stderr is None or theirs.stderr is None else math.hypot(ours.stderr, theirs.stderr)
    gain = diff if ours.higher_is_better else -diff
    if se is None or abs(diff) < 2 * se:
        verdict = INCONCLUSIVE
    else:
        verdict = HOLDS if gain > 0 else FAILS
    return Judgement(claim, verdict, diff, se, ours.n_seeds, theirs.n_seeds,
                     "no standard error (one seed, none recorded)" if se is None else "", column)


@dataclass(frozen=True)
class ClaimsTable:
    judgements: tuple[Judgement, ...]

    def grid(self) -> Grid:
        header = ("paper", "claim", "measure", "Δ mean", "SE", "seeds", "verdict")
        rows, records = [], []
        for j in self.judgements:
            c = j.claim
            rows.append((c.paper, c.text, j.measure, "—" if j.diff is None else f"{j.diff:+.4f}",
                         "—" if j.se is None else f"{j.se:.4f}", f"{j.n_method}/{j.n_baseline}",
                         j.verdict + (f" ({j.detail})" if j.detail else "")))
            records.append(dict(zip(_FIELDS, (c.paper, c.text, c.method, c.baseline, j.measure, rounded(j.diff),
                                               rounded(j.se), j.n_method, j.n_baseline, j.verdict, j.detail))))
        return Grid("Paper claims on the current results", header, rows, _FIELDS, records, "lllrrrl", (_RULE,))


def claims_table(engine: Engine, claims: tuple[Claim, ...] = CLAIMS, **filters: str | None) -> ClaimsTable:
    """Judge ``claims`` on the rows matching ``filters`` (those of :func:`leaderboards.queries.facts`)."""
    exps = experiments(facts(engine, **filters))
    return ClaimsTable(tuple(judge(claim, exps) for claim in claims))
