"""The claims table on hand-made results: holds / does not hold / inconclusive / no data, and its rule."""

from __future__ import annotations

import json
import math

from statistics import stdev

import pytest
from test_leaderboards import make_result

from leaderboards import CLAIMS, engine_for, record, render
from leaderboards.claims import FAILS, HOLDS, INCONCLUSIVE, NO_DATA, Claim, claims_table
from leaderboards.tables import ID_ACCURACY, Column

# per metric: values of method "new" and "old" over seeds 0, 1, 2, and whether a higher value is better
SCENARIOS = {
    "clear_win": ([0.90, 0.93, 0.91], [0.80, 0.84, 0.81], True),
    "clear_loss": ([0.70, 0.72, 0.71], [0.80, 0.81, 0.82], True),
    "noisy": ([0.80, 0.85, 0.90], [0.82, 0.84, 0.86], True),
    "lower_wins": ([0.05, 0.07, 0.06], [0.20, 0.21, 0.22], False),
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


def test_shared_seeds_are_judged_by_the_paired_t_test(engine):
    from scipy import stats

    win, loss, noisy, lower = judgements(engine, *map(claim, SCENARIOS))
    assert (win.verdict, loss.verdict, noisy.verdict, lower.verdict) == (HOLDS, FAILS, INCONCLUSIVE, HOLDS)
    new, old, _ = SCENARIOS["clear_win"]
    reference = stats.ttest_rel(new, old)
    d = [a - b for a, b in zip(new, old)]
    assert win.test == "paired" and win.df == 2 and win.diff == pytest.approx(sum(d) / 3)
    assert win.se == pytest.approx(stdev(d) / math.sqrt(3))
    assert win.p_value == pytest.approx(reference.pvalue) and win.t_crit == pytest.approx(stats.t.ppf(0.975, 2))
    assert (win.n_method, win.n_baseline) == (3, 3)
    assert noisy.p_value == pytest.approx(stats.ttest_rel(*SCENARIOS["noisy"][:2]).pvalue) and noisy.p_value > 0.05
    assert lower.diff == pytest.approx(-0.15)  # lower is better: a negative difference supports the claim


def test_disjoint_seeds_are_judged_by_welchs_test(tmp_path):
    from scipy import stats

    engine = engine_for(f"sqlite:///{tmp_path / 'welch.db'}")
    values = {"new": {0: 0.90, 1: 0.93, 2: 0.91, 3: 0.95}, "old": {4: 0.80, 5: 0.86, 6: 0.81}}
    for method, by_seed in values.items():
        for seed, value in by_seed.items():
            result = make_result(method, seed=seed)
            result["metrics"] = [metric_row("m", value)]
            record(result, engine)
    (j,) = judgements(engine, claim("m"))
    reference = stats.ttest_ind(list(values["new"].values()), list(values["old"].values()), equal_var=False)
    assert j.test == "welch" and j.verdict == HOLDS
    assert j.p_value == pytest.approx(reference.pvalue) and j.df == pytest.approx(reference.df)
    assert j.se == pytest.approx(math.sqrt(stdev(values["new"].values()) ** 2 / 4
                                           + stdev(values["old"].values()) ** 2 / 3))


def test_one_seed_uses_the_metrics_own_stderr(engine):
    with_stderr, without = judgements(engine, claim("one_seed_stderr", "solo", "solo_base"),
                                      claim("one_seed_no_stderr", "solo", "solo_base"))
    assert with_stderr.verdict == HOLDS and with_stderr.se == pytest.approx(math.hypot(0.01, 0.01))
    assert with_stderr.df == math.inf and with_stderr.t_crit == pytest.approx(1.959964, abs=1e-6)
    assert without.verdict == INCONCLUSIVE and without.se is None and "no standard error" in without.detail


def _record_control_runs(engine, method, by_seed, config=None, method_config=None, config_hash=None):
    for seed, value in enumerate(by_seed):
        result = make_result(method, seed=seed, config=config, config_hash=config_hash,
                             run_id=f"{config_hash}-s{seed}")
        if method_config is not None:
            result["method_config"] = method_config
        result["metrics"] = [{**metric_row("accuracy", value), "suite": "id", "split": "id"}]
        record(result, engine)


def test_controls_calibrate_the_instrument(tmp_path):
    from leaderboards.claims import CLAIMS as ALL

    engine = engine_for(f"sqlite:///{tmp_path / 'controls.db'}")
    clean = [0.80, 0.84, 0.81]
    # negative control: bt_margin with m = 0 is BT; the same seed gives the same model (up to float noise)
    _record_control_runs(engine, "bt", clean, config={"data": {"label_noise": 0.0}}, config_hash="bt-clean")
    _record_control_runs(engine, "bt_margin", [v + e for v, e in zip(clean, (1e-4, -2e-4, 5e-5))],
                         config={"data": {"label_noise": 0.0}}, method_config={"margin": 0.0}, config_hash="btm-0")
    _record_control_runs(engine, "bt_margin", [0.9, 0.9, 0.9], config={"data": {"label_noise": 0.0}},
                         method_config={"margin": 1.0}, config_hash="btm-1")  # not the control's side
    # positive control: 40 % flipped labels cost accuracy
    _record_control_runs(engine, "bt", [0.62, 0.70, 0.64], config={"data": {"label_noise": 0.4}},
                         config_hash="bt-noisy")
    controls = [c for c in ALL if c.expect is not None]
    negative, positive = judgements(engine, *controls)
    assert negative.verdict == INCONCLUSIVE == negative.claim.expect and negative.test == "paired"
    assert positive.verdict == HOLDS == positive.claim.expect and positive.diff == pytest.approx(0.8166667 - 0.6533333,
                                                                                                abs=1e-6)
    md = render(claims_table(engine, tuple(controls)), "md")
    assert md.count("✓") == 2 and "✗" not in md


def test_the_hard_margin_claim_is_judged_against_margin_one_only(tmp_path):
    from leaderboards.claims import CLAIMS as ALL

    hard_margin, = (c for c in ALL if "BT-Margin 1.0" in c.text)
    engine = engine_for(f"sqlite:///{tmp_path / 'margin.db'}")
    _record_control_runs(engine, "aplot", [0.85, 0.88, 0.86], config_hash="aplot")
    _record_control_runs(engine, "bt_margin", [0.80, 0.84, 0.81], method_config={"margin": 0.0}, config_hash="m0")
    assert judgements(engine, hard_margin)[0].verdict == NO_DATA  # the negative control's runs are not BT-Margin 1.0
    _record_control_runs(engine, "bt_margin", [0.95, 0.96, 0.95], method_config={"margin": 1.0}, config_hash="m1")
    judged, = judgements(engine, hard_margin)
    assert judged.verdict == FAILS and judged.diff == pytest.approx(0.8633333 - 0.9533333, abs=1e-6)


def test_method_imposed_defaults_do_not_make_contexts_incomparable(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'grm.db'}")
    _record_control_runs(engine, "aplot", [0.85, 0.88, 0.86], config={"model": {"head": "linear"}},
                         config_hash="aplot")
    _record_control_runs(engine, "grm", [0.80, 0.84, 0.81], config={"model": {"head": "mlp"}}, config_hash="grm")
    _record_control_runs(engine, "pointmargin", [0.80, 0.84, 0.81], config={"model": {"head": "mlp"}},
                         config_hash="pm-mlp")  # pointmargin imposes no head: a real difference
    grm, pointmargin = judgements(engine, Claim("x", "aplot beats grm", "aplot", "grm", ID_ACCURACY),
                                  Claim("x", "aplot beats pm", "aplot", "pointmargin", ID_ACCURACY))
    assert grm.verdict == HOLDS
    assert (pointmargin.verdict, pointmargin.detail) == (NO_DATA, "never run with the same settings")


def test_no_data_for_missing_methods_and_incomparable_settings(engine):
    missing, incomparable = judgements(engine, claim("clear_win", "rmo"), claim("clear_win", "elsewhere"))
    assert (missing.verdict, missing.detail) == (NO_DATA, "no rmo results")
    assert (incomparable.verdict, incomparable.detail) == (NO_DATA, "never run with the same settings")


def test_default_claims_cover_the_three_papers_and_report_no_data(engine):
    table = claims_table(engine)
    assert {j.claim.paper.split()[0] for j in table.judgements} == {"APLOT", "BSR", "RMO", "control"}
    assert all(j.verdict == NO_DATA for j in table.judgements)  # no aplot / bsr / rmo results recorded here
    assert len(table.judgements) == len(CLAIMS)


def test_claims_render_in_every_format(engine):
    table = claims_table(engine, tuple(map(claim, SCENARIOS)))
    md = render(table, "md")
    assert md.startswith("| paper | claim | measure | Δ mean | SE | test (df) | t* | p | MDE | 95% CI | eval noise | "
                         "seeds | verdict |")
    assert "| +0.0967 | 0.0033 | paired (2.0) | 4.30 | 0.00119 | 0.0179 | [+0.0823, +0.1110] | — | 3/3 | holds |" \
        in md and "Student's t" in md and "Bloom 1995" in md
    records = json.loads(render(table, "json"))
    assert [r["verdict"] for r in records] == [HOLDS, FAILS, INCONCLUSIVE, HOLDS]
    assert records[0]["mde"] == pytest.approx(0.0179, abs=1e-4) and records[0]["ci_low"] == pytest.approx(0.0823)
    assert "inconclusive (MDE 0.0" in md  # the noisy row: a hand metric, stated in its own unit
    assert render(table, "csv").splitlines()[0].startswith("paper,claim,method,baseline,measure,diff,se,test,df,t_crit,"
                                                           "p_value,mde,ci_low,ci_high,eval_share")
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


def test_rmo_paper_table_2_claims_read_the_winrate_suite(tmp_path):
    from leaderboards.claims import CLAIMS as ALL

    engine = engine_for(f"sqlite:///{tmp_path / 'rmo.db'}")
    full = {"filter": True, "diversify": True, "amplify": True}
    batches_only = {"filter": False, "diversify": True, "amplify": False}
    runs = (("dpo", {"beta": 0.1}, [50.0, 52.0, 51.0], "dpo"), ("rmo_dpo", full, [60.0, 61.0, 63.0], "rmo-full"),
            ("rmo_dpo", batches_only, [45.0, 46.0, 44.5], "rmo-batches"))
    for method, method_config, values, config_hash in runs:
        for seed, value in enumerate(values):
            result = make_result(method, seed=seed, config_hash=config_hash, run_id=f"{config_hash}-s{seed}")
            result["method_config"] = method_config
            result["metrics"] = [{**metric_row("lc_win_rate", value), "suite": "winrate", "split": "policy"}]
            record(result, engine)
    dpo, simpo, batching = judgements(engine, *[c for c in ALL if "LC win rate" in c.text or "High-Var" in c.text])
    assert dpo.verdict == HOLDS and dpo.diff == pytest.approx((10 + 9 + 12) / 3) and dpo.test == "paired"
    assert simpo.verdict == NO_DATA
    assert batching.verdict == FAILS and batching.diff == pytest.approx((-5 - 6 - 6.5) / 3)  # the batches-only runs


def test_the_minimum_detectable_effect_is_blooms_formula():
    from scipy import stats

    from leaderboards.claims import minimum_detectable_effect

    # hand values: t(0.975, 2) = 4.302653, t(0.8, 2) = 1.060660; z(0.975) = 1.959964, z(0.8) = 0.841621
    assert minimum_detectable_effect(0.0026, 2) == pytest.approx((4.302653 + 1.060660) * 0.0026, rel=1e-6)
    assert minimum_detectable_effect(1.0, math.inf) == pytest.approx(1.959964 + 0.841621, rel=1e-6)
    # at a true difference of one MDE the two-sided test rejects with probability ~0.8 (noncentral t, df = 30)
    se, df = 0.01, 30
    delta = minimum_detectable_effect(se, df) / se
    t_crit = stats.t.ppf(0.975, df)
    power = stats.nct.sf(t_crit, df, delta) + stats.nct.cdf(-t_crit, df, delta)
    assert power == pytest.approx(0.8, abs=0.01)


def test_an_inconclusive_accuracy_claim_states_its_mde_in_points_with_the_variance_split(tmp_path):
    """Accuracy claims over paired runs with per-pair predictions: interval, MDE in points, evaluation noise."""
    import random

    from harness.runs import predictions_path
    from leaderboards.variance import paired_matrix, read_outcomes, variance_split

    engine = engine_for(f"sqlite:///{tmp_path / 'acc.db'}")
    rng = random.Random(0)
    items = [f"id-{i}" for i in range(400)]
    hardness = {i: rng.random() for i in items}
    for method in ("new", "old"):
        for seed in range(3):
            skill = 0.7 + 0.01 * seed + (0.005 if method == "new" else 0.0)
            correct = {i: rng.random() < skill * (0.6 + 0.8 * hardness[i]) for i in items}
            result = make_result(method, seed=seed, value=sum(correct.values()) / len(items))
            record(result, engine)
            path = predictions_path(tmp_path / "runs" / result["run_id"], "id", "world-id")
            path.parent.mkdir(parents=True)
            path.write_text("".join(json.dumps({"id": i, "correct": c}) + "\n" for i, c in correct.items()))
    acc_claim = Claim("Hand et al.", "new beats old in-distribution", "new", "old", ID_ACCURACY)
    (j,) = claims_table(engine, (acc_claim,), runs_dir=tmp_path / "runs").judgements
    assert j.ci == pytest.approx((j.diff - j.t_crit * j.se, j.diff + j.t_crit * j.se))
    if j.verdict == INCONCLUSIVE:
        assert j.verdict_text == f"inconclusive (MDE {100 * j.mde:.2g} pts)"
    runs = tmp_path / "runs"
    expected = variance_split(paired_matrix(
        [tuple(read_outcomes(predictions_path(runs / f"{m}-tiny-s{s}", "id", "world-id")) for m in ("new", "old"))
         for s in range(3)]))
    assert j.variance == expected and j.variance.items == 400
    # the ANOVA's observed variance is the paired test's: SE² = var_s(d_s) / n
    assert j.variance.observed_var / 3 == pytest.approx(j.se ** 2)
    (record_,) = json.loads(render(claims_table(engine, (acc_claim,), runs_dir=runs), "json"))
    assert record_["eval_share"] == pytest.approx(round(expected.eval_share, 4)) and record_["eval_pairs"] == 400
    (without,) = claims_table(engine, (acc_claim,)).judgements  # no runs directory: no split, the rest the same
    assert without.variance is None and without.mde == j.mde
