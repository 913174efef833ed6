"""The HTML report: self-contained, every recorded text escaped, plots embedded, missing data skipped gracefully."""

from __future__ import annotations

import base64
import json
import re

import pytest
from test_leaderboards import make_result

from leaderboards import engine_for, record
from leaderboards.report import build_report

EVIL = "<script>alert('x')</script>"


def splits_rows(value):
    return [{"suite": "splits", "suite_version": "1", "dataset": EVIL, "split": split, "metric": metric,
             "value": value, "stderr": 0.01, "n": 40, "higher_is_better": True}
            for split, metric in (("id", "accuracy"), ("prompt_ood", "kendall_tau_b"),
                                  ("response_ood", "kendall_tau_b"), ("mutual_ood", "kendall_tau_b"))]


@pytest.fixture
def recorded(tmp_path):
    """bt and a method with a hostile name, 2 seeds each, with training curves in runs/."""
    engine = engine_for(f"sqlite:///{tmp_path / 'rm.db'}")
    for method in ("bt", EVIL):
        for seed in range(2):
            result = make_result(method, seed=seed, value=0.7 + 0.05 * seed, run_id=f"run-{len(method)}-{seed}")
            result["method_config"] = {"note": EVIL}
            result["metrics"] += splits_rows(0.4 + 0.1 * seed)
            record(result, engine)
            run_dir = tmp_path / "runs" / result["run_id"]
            run_dir.mkdir(parents=True)
            (run_dir / "metrics.jsonl").write_text("".join(
                json.dumps({"step": step, "loss": 0.5, **({"val_accuracy": 0.5 + step / 100} if step % 10 == 0
                                                          else {})}) + "\n" for step in range(5, 35, 5)))
    return engine, tmp_path / "runs"


def images(html):
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_recorded_text_is_escaped(recorded):
    html = build_report(*recorded)
    assert "<script" not in html  # neither the method name, the dataset, nor the method config
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert html.count("&lt;script&gt;") >= 3


def test_report_is_self_contained_with_plots(recorded):
    html = build_report(*recorded)
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # nothing fetched from elsewhere
    pngs = images(html)
    assert len(pngs) == 2 and all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)  # convergence + splits
    for section in ("convergence", "splits-plot", "claims", "main", "leaderboard", "runs"):
        assert f'id="{section}"' in html
    assert "No best-of-N results" in html and "No label-noise results" in html


def test_bon_and_noise_plots_appear_with_their_rows(recorded, tmp_path):
    engine, runs = recorded
    result = make_result("bt", seed=7, run_id="bon-run")
    result["metrics"] = [
        *({"suite": "bon", "suite_version": "1", "dataset": "world", "split": "bon", "metric": f"gold_score@n={n}",
           "value": 0.1 * n, "stderr": None, "n": 64, "higher_is_better": True} for n in (1, 4, 16)),
        *({"suite": "noise", "suite_version": "1", "dataset": "world", "split": f"id@noise={rate:g}",
           "metric": "accuracy", "value": 0.8 - rate, "stderr": 0.01, "n": 200, "higher_is_better": True}
          for rate in (0, 0.2))]
    record(result, engine)
    html = build_report(engine, runs)
    assert len(images(html)) == 4
    assert "No best-of-N results" not in html and "No label-noise results" not in html and "No RL curves" in html


def test_rl_curves_plot_reads_the_ppo_suite_files(recorded):
    engine, runs = recorded
    curve = runs / "run-2-0" / "rl" / "grpo" / "metrics.jsonl"
    curve.parent.mkdir(parents=True)
    curve.write_text("".join(json.dumps({"step": s, "reward": 1 + s, "gold": -1 + 0.1 * s, "kl": 0.2 * s}) + "\n"
                             for s in range(4)) + "not json\n")
    assert "No RL curves" in build_report(engine, runs)  # an unreadable file is skipped, never fatal
    curve.write_text("".join(json.dumps({"step": s, "reward": 1 + s, "gold": -1 + 0.1 * s, "kl": 0.2 * s}) + "\n"
                             for s in range(4)))
    html = build_report(engine, runs)
    assert 'id="rl-plot"' in html and "No RL curves" not in html and len(images(html)) == 3


def test_empty_database_gives_a_valid_report(tmp_path):
    html = build_report(engine_for(f"sqlite:///{tmp_path / 'empty.db'}"), tmp_path / "runs")
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert images(html) == [] and "No training curves" in html and "no data" in html


def test_overoptimisation_layout_and_figure(recorded):
    import math

    from leaderboards.report import _overopt_curves
    from leaderboards.tables import experiments, table

    engine, runs = recorded

    def row(suite, split, metric, value):
        return {"suite": suite, "suite_version": "1", "dataset": "world", "split": split, "metric": metric,
                "value": value, "stderr": None, "n": 64, "higher_is_better": True}

    result = make_result("bt", seed=7, run_id="overopt-run", config_hash="overopt-hash")
    result["metrics"] = [
        *(row("bon", "bon", f"{s}_score@n={n}", v) for n in (1, 2, 4, 8)
          for s, v in (("gold", 0.1 * n), ("proxy", 1.0 + n))),
        *(row("ppo", "ppo", f"{s}@step={k}", v) for k in (1, 2, 3)
          for s, v in (("gold", -0.5 + 0.1 * k), ("proxy", 0.2 * k), ("sqrt_kl", 0.3 * (k - 1)))),
        *(row(suite, suite, f"{s}_fit_{p}", 0.5) for suite in ("bon", "ppo") for s in ("gold", "proxy")
          for p in ("alpha", "beta", "rmse"))]
    record(result, engine)
    exp = next(e for e in experiments(__import__("leaderboards.queries", fromlist=["facts"]).facts(engine))
               if e.config_hash == "overopt-hash")
    bon = _overopt_curves(exp, "bon")["bon"]
    assert bon[0] == (0.0, 0.0, 0.0)
    assert bon[2] == pytest.approx((math.sqrt(math.log(4) - 0.75), 0.3, 3.0))
    assert _overopt_curves(exp, "rl")["ppo"][2] == pytest.approx((0.6, 0.2, 0.4))
    t = table(engine, "overopt")
    assert [c.title for c in t.columns][:3] == ["bon gold α", "bon gold β", "bon gold rmse"]
    assert len(t.columns) == 12 and len(t.rows) == 1
    html = build_report(engine, runs)
    assert 'id="overopt-plot"' in html and "No best-of-N or RL curves" not in html


def test_main_table_of_the_report_carries_rewardbench2(recorded):
    engine, runs = recorded
    result = make_result("bt", seed=9, run_id="rb2-run")
    result["metrics"] = [{"suite": "ood", "suite_version": "2", "dataset": "rewardbench2", "split": split,
                          "metric": "score", "value": 0.6, "stderr": None, "n": 10, "higher_is_better": True}
                         for split in ("Ties", "overall")]
    record(result, engine)
    html = build_report(engine, runs)
    assert "<th class=\"r\">RB2 Ties</th>" in html and "<th class=\"r\">RB2 Score</th>" in html


def test_claims_get_a_forest_plot_with_one_row_per_judged_claim(tmp_path):
    from leaderboards.claims import CLAIMS, claims_table
    from leaderboards.report import _forest_plot

    engine = engine_for(f"sqlite:///{tmp_path / 'claims.db'}")
    for method, base in (("aplot", 0.80), ("bt", 0.78)):
        for seed in range(3):
            record(make_result(method, seed=seed, value=base + 0.01 * seed * (method == "aplot")), engine)
    table = claims_table(engine)
    judged = [j for j in table.judgements if j.ci is not None]
    assert [j.claim.text for j in judged] == ["APLOT beats BT in-distribution"]
    png, caption = _forest_plot(table)
    assert base64.b64decode(png).startswith(b"\x89PNG") and "confidence interval" in caption
    html = build_report(engine, tmp_path / "runs")
    assert 'id="claims-plot"' in html and len(images(html)) == 1
    empty = claims_table(engine, tuple(c for c in CLAIMS if c.method == "rmo"))
    assert _forest_plot(empty)[0] is None


def test_external_models_are_labelled_by_directory_with_the_path_in_a_key_and_an_empty_panel_says_so(
        recorded, monkeypatch):
    import leaderboards.report as report

    engine, runs = recorded
    path = "/tmp/pytest-of-someone/pytest-7/test_external_0/checkpoints/trl-reward-trainer-output"
    result = make_result("external", seed=0, run_id="ext-run", config_hash="ext-hash".ljust(16, "0"),
                         config={"model": {"backbone": path}}, backbone=path)
    result["metrics"] = [{"suite": "bon", "suite_version": "1", "dataset": "world", "split": "bon",
                          "metric": f"{s}_score@n={n}", "value": v, "stderr": None, "n": 64,
                          "higher_is_better": True} for n in (1, 4, 16) for s, v in (("gold", 0.1 * n), ("proxy", n))]
    record(result, engine)
    legends, empty = [], []
    real_legend, real_empty = report._outside_legend, report._no_results

    def spy_legend(axes):
        legends.append([label for ax in axes for label in ax.get_legend_handles_labels()[1]])
        real_legend(axes)

    def spy_empty(ax, text):
        empty.append(text)
        real_empty(ax, text)

    monkeypatch.setattr(report, "_outside_legend", spy_legend)
    monkeypatch.setattr(report, "_no_results", spy_empty)
    html = build_report(engine, runs)
    overopt = html[html.index('<section id="overopt-plot">'):]
    overopt = overopt[:overopt.index("</section>")]
    assert empty == ["RL: no results (suite 'rl')"]  # the RL panel of the over-optimisation figure
    assert any("external: trl-reward-trainer-output bon gold" in labels for labels in legends)
    assert not any(path in label for labels in legends for label in labels)  # no legend entry holds the path
    assert f'<td title="{path}">trl-reward-trainer-output</td><td>{path}</td>' in overopt
