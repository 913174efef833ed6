"""Sweep → leaderboard → claims → report → rebuild, end to end through the CLI on the micro preset."""

from __future__ import annotations

import json

import pytest

from cli_runner import invoke
from leaderboards import engine_for
from leaderboards.queries import facts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_base):
    root = tmp_path_factory.mktemp("sweep")
    db = f"sqlite:///{root / 'rm.db'}"
    small = ("train.max_steps=3", "data.world.n_id=80", "data.world.n_ood=12", "data.validation_pairs=16")
    common = ("--preset", "micro", "--suites", "id,splits", *(x for item in small for x in ("--set", item)),
              "--runs-dir", root / "runs", "--db", db, "--json")
    first = invoke("sweep", "--methods", "bt,bsr", "--seeds", 2, *common)
    assert first.exit_code == 0, first.output
    return root, db, common, json.loads(first.stdout)


def test_sweep_trains_the_grid_then_skips_it(swept):
    root, db, common, jobs = swept
    assert [(j["method"], j["seed"], j["status"]) for j in jobs] == [
        ("bt", 0, "trained"), ("bsr", 0, "trained"), ("bt", 1, "trained"), ("bsr", 1, "trained")]
    again = invoke("sweep", "--methods", "bt,bsr", "--seeds", 2, *common)
    assert again.exit_code == 0
    assert [j["status"] for j in json.loads(again.stdout)] == ["skipped"] * 4
    assert len(list((root / "runs").iterdir())) == 4


def test_a_failing_job_is_reported_and_the_others_run(swept):
    root, db, common, _ = swept
    result = invoke("sweep", "--methods", "bt,bsr", "--seeds", 1, *common, "--set", "method_config.lam=0.01")
    assert result.exit_code == 1
    bt, bsr = json.loads(result.stdout)
    assert bt["status"] == "failed" and "lam" in bt["error"]
    assert bsr["status"] == "trained" and bsr["error"] is None


def test_leaderboard_views_and_report(swept):
    root, db, _, _ = swept
    board = json.loads(invoke("leaderboard", "--db", db, "--format", "json", "--suite", "splits").stdout)
    assert {(r["method"], r["n_seeds"]) for r in board if r["split"] == "response_ood"} >= {("bt", 2), ("bsr", 2)}
    claims = json.loads(invoke("leaderboard", "--db", db, "--layout", "claims", "--format", "json").stdout)
    bsr_claims = [c for c in claims if c["method"] == "bsr" and c["measure"] != "gold after PPO"]  # no ppo run here
    assert len(bsr_claims) == 3 and all(c["n_baseline"] == 2 for c in bsr_claims)
    assert all(c["verdict"] in ("holds", "does not hold", "inconclusive") for c in bsr_claims)
    splits_md = invoke("leaderboard", "--db", db, "--layout", "splits", "--format", "md").stdout
    assert splits_md.startswith("| method | ID acc | prompt-OOD τ |") and "(n=2)" in splits_md

    out = root / "report.html"
    assert invoke("report", "--out", out, "--runs-dir", root / "runs", "--db", db).exit_code == 0
    html = out.read_text()
    assert html.count("data:image/png;base64,") == 3  # convergence, splits, the claims' forest plot; no BoN / noise
    assert 'id="claims-plot"' in html


def test_controls_run_with_the_sweep_and_calibrate_the_claims(swept):
    root, db, common, _ = swept
    result = invoke("sweep", "--methods", "bt", "--seeds", 2, "--controls", *common)
    assert result.exit_code == 0, result.output
    jobs = json.loads(result.stdout)
    assert [(j["method"], j["seed"], j.get("settings"), j["status"]) for j in jobs] == [
        (method, seed, settings, status) for seed in (0, 1) for method, settings, status in (
            ("bt", None, "skipped"), ("bt_margin", {"method_config.margin": 0.0, "suites": ["id"]}, "trained"),
            ("bt", {"data.label_noise": 0.4, "suites": ["id"]}, "trained"))]  # --json: the settings as values
    claims = json.loads(invoke("leaderboard", "--db", db, "--layout", "claims", "--format", "json").stdout)
    controls = [c for c in claims if c["expected"]]
    assert len(controls) == 2 and all(c["n_method"] == c["n_baseline"] == 2 and c["test"] == "paired"
                                      for c in controls)
    table = invoke("sweep", "--methods", "bt", "--seeds", 1, "--controls", *common[:-1])
    assert table.exit_code == 0 and "settings" in table.output and "suites=[id]" in table.output


def test_two_jobs_at_once_give_the_rows_of_one_at_a_time(swept, tmp_path):
    """``--jobs 2`` on the same grid: the same outcomes and the same recorded metrics as the sequential sweep; a
    failing job is named and the others finish."""
    root, db, common, jobs = swept
    db2 = f"sqlite:///{tmp_path / 'rm.db'}"
    common2 = [*common[:-5], "--runs-dir", tmp_path / "runs", "--db", db2, "--json"]
    result = invoke("sweep", "--methods", "bt,bsr", "--seeds", 2, "--jobs", 2, *common2)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == jobs
    values = lambda url: sorted((r["method"], r["seed"], r["suite"], r["split"], r["metric"], r["value"])  # noqa: E731
                                for r in facts(engine_for(url)) if r["run_id"] in {j["run_id"] for j in jobs})
    assert values(db2) == values(db)
    again = invoke("sweep", "--methods", "bt,bsr,nosuch", "--seeds", 1, "--jobs", 2, *common2)
    assert again.exit_code == 1
    assert [j["status"] for j in json.loads(again.stdout)] == ["skipped", "skipped", "failed"]
    named = invoke("sweep", "--methods", "bt,nosuch", "--seeds", 1, "--jobs", 2, *common2[:-1])
    assert "FAILED nosuch seed 0" in named.output


def test_rebuild_reconstructs_the_database(swept):
    root, db, _, _ = swept
    rebuilt = f"sqlite:///{root / 'rebuilt.db'}"
    result = invoke("leaderboard", "rebuild", "--runs-dir", root / "runs", "--db", rebuilt)
    assert result.exit_code == 0 and "recorded 9 runs" in result.stdout
    flat = lambda url: json.loads(invoke("leaderboard", "--db", url, "--format", "json").stdout)  # noqa: E731
    assert flat(rebuilt) == flat(db)
