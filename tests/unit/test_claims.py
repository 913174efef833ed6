"""The claims table on hand-made results: holds / does not hold / inconclusive / no data, and its rule."""

from __future__ import annotations

import json
import math

import pytest
from test_leaderboards import make_result

from leaderboards import CLAIMS, engine_for, record, render
from leaderboards.claims import FAILS, HOLDS, INCONCLUSIVE, NO_DATA, Claim, claims_table
from leaderboards.tables import Column

# per metric: values of method "new" and "old" over seeds, and whether a higher value is better
SCENARIOS = {
    "clear_win": ([0.90, 0.91, 0.92], [0.80, 0.81, 0.82], True),
    "clear_loss": ([0.70, 0.71, 0.72], [0.80, 0.81, 0.82], True),
    "noisy": ([0.80, 0.85, 0.90], [0.82, 0.84, 0.86], True),
    "lower_wins": ([0.05, 0.06, 0.07], [0.20, 0.21, 0.22], False),
}


def metric_row(metric, value, stderr=0.01, higher_is_better=True):
    return {"suite": "hand", "suite_version": "1", "dataset": "world", "split": "test", "metric": metric,
            "value": value, "stderr": stderr, "n": 100, "higher_is_better": higher_is_better}


def claim(metric, method="new", baseline="old"):
    return Claim("Hand et al.", f"{method} beats {baseline} on {metric}", method, baseline,
                 Column(metric, metric, "hand", split="test"))


@pytest.fixture
def engine(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'claims.db'}")
    for side, method in enumerate(("new", "old")):
        for seed in range(3):
            result = make_result(method, seed=seed)
            result["metrics"] = [metric_row(m, (new, old)[side][seed], higher_is_better=higher)
                                 for m, (new, old, higher) in SCENARIOS.items()]
            record(result, engine)
    single = {"one_seed_stderr": 0.01, "one_seed_no_stderr": None}
    for method, value in (("solo", 0.9), ("solo_base", 0.8)):
        result = make_result(method)
        result["metrics"] = [metric_row(m, value, stderr) for m, stderr in single.items()]
        record(result, engine)
    other = make_result("elsewhere", config={"lr": 5e-3}, config_hash="elsewhere-lr5e-3")
    other["metrics"] = [metric_row("clear_win", 0.99)]
    record(other, engine)
    return engine


def judgements(engine, *claims):
    return claims_table(engine, claims).judgements


def test_verdicts_follow_the_two_standard_error_rule(engine):
    win, loss, noisy, lower = judgements(engine, *map(claim, SCENARIOS))
    assert (win.verdict, loss.verdict, noisy.verdict, lower.verdict) == (HOLDS, FAILS, INCONCLUSIVE, HOLDS)
    # seeds give SE = sqrt(s1²/n1 + s2²/n2), here with s = 0.01 on both sides
    assert win.diff == pytest.approx(0.10) and win.se == pytest.approx(math.sqrt(2 * 0.01**2 / 3))
    assert (win.n_method, win.n_baseline) == (3, 3)
    assert abs(noisy.diff) < 2 * noisy.se
    assert lower.diff == pytest.approx(-0.15)  # lower is better: a negative difference supports the claim


def test_one_seed_uses_the_metrics_own_stderr(engine):
    with_stderr, without = judgements(engine, claim("one_seed_stderr", "solo", "solo_base"),
                                      claim("one_seed_no_stderr", "solo", "solo_base"))
    assert with_stderr.verdict == HOLDS and with_stderr.se == pytest.approx(math.hypot(0.01, 0.01))
    assert without.verdict == INCONCLUSIVE and without.se is None and "no standard error" in without.detail


def test_no_data_for_missing_methods_and_incomparable_settings(engine):
    missing, incomparable = judgements(engine, claim("clear_win", "rmo"), claim("clear_win", "elsewhere"))
    assert (missing.verdict, missing.detail) == (NO_DATA, "no rmo results")
    assert (incomparable.verdict, incomparable.detail) == (NO_DATA, "never run with the same settings")


def test_default_claims_cover_the_three_papers_and_report_no_data(engine):
    table = claims_table(engine)
    assert {j.claim.paper.split()[0] for j in table.judgements} == {"APLOT", "BSR", "RMO"}
    assert all(j.verdict == NO_DATA for j in table.judgements)  # no aplot / bsr / rmo results recorded here
    assert len(table.judgements) == len(CLAIMS)


def test_claims_render_in_every_format(engine):
    table = claims_table(engine, tuple(map(claim, SCENARIOS)))
    md = render(table, "md")
    assert md.startswith("| paper | claim | measure | Δ mean | SE | seeds | verdict |")
    assert "| +0.1000 | 0.0082 | 3/3 | holds |" in md and "2·SE" in md
    records = json.loads(render(table, "json"))
    assert [r["verdict"] for r in records] == [HOLDS, FAILS, INCONCLUSIVE, HOLDS]
    assert render(table, "csv").splitlines()[0].startswith("paper,claim,method,baseline,measure,diff,se")
    assert render(table, "table").row_count == 4


def test_a_claim_with_a_preferred_column_is_judged_on_it_when_both_sides_have_it(engine):
    preferred = Claim("Hand et al.", "new beats old on the score", "new", "old",
                      Column("clear_loss", "clear_loss", "hand", split="test"),
                      Column("clear_win", "clear_win", "hand", split="test"))
    (on_preferred,) = judgements(engine, preferred)
    assert (on_preferred.verdict, on_preferred.measure) == (HOLDS, "clear_win")
    only_one_side = Claim("Hand et al.", "solo beats solo_base", "solo", "solo_base",
                          Column("one_seed_stderr", "one_seed_stderr", "hand", split="test"),
                          Column("clear_win", "clear_win", "hand", split="test"))  # solo has no clear_win rows
    (fallback,) = judgements(engine, only_one_side)
    assert (fallback.verdict, fallback.measure) == (HOLDS, "one_seed_stderr")


def test_the_rewardbench_claim_prefers_rewardbench2():
    (rb_claim,) = [c for c in CLAIMS if c.text == "APLOT beats BT on the RewardBench score"]
    assert (rb_claim.column.title, rb_claim.prefer.title) == ("RB Score", "RB2 Score")
    assert rb_claim.prefer.matches({"metric": "score", "suite": "ood", "split": "overall",
                                    "dataset": "rewardbench2-test-00000-of-00001"})
