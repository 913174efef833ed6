"""The downstream suites end to end on the micro preset: train → eval --suite bon / rl → result.json,
predictions, RL curves, leaderboard layouts."""
import json

import pytest

from cli_runner import invoke

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory, tiny_base):
    root = tmp_path_factory.mktemp("rl")
    db = f"sqlite:///{root / 'rm.db'}"
    trained = invoke("train", "bt", "--preset", "micro", "--set", "train.max_steps=4", "--set", "suites=[]",
                     "--runs-dir", root / "runs", "--db", db, "--json")
    assert trained.exit_code == 0, trained.output
    return root / "runs" / json.loads(trained.stdout)["run_id"], db


def test_bon_suite_rows_predictions_and_leaderboard(micro_run):
    run_dir, db = micro_run
    bad = invoke("eval", "--run", run_dir, "--suite", "bon", "--set", "bon.n_max=3", "--db", db)
    assert bad.exit_code == 2 and "power of 2" in bad.output

    result = invoke("eval", "--run", run_dir, "--suite", "bon", "--set", "bon.n_max=4", "--set", "bon.n_prompts=6",
                    "--set", "bon.max_new_tokens=8", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    rows = {(m["split"], m["metric"]): m for m in json.loads((run_dir / "result.json").read_text())["metrics"]
            if m["suite"] == "bon"}
    for n in (1, 2, 4):
        gold, proxy = rows["bon", f"gold_score@n={n}"], rows["bon", f"proxy_score@n={n}"]
        assert gold["dataset"] == "world" and gold["n"] == 6 and -1.75 <= gold["value"] <= 1.05
        assert proxy["n"] == 6 and gold["stderr"] is not None
        assert rows["bon", f"oracle_gold_score@n={n}"]["value"] >= gold["value"] - 1e-9
    assert rows["bon", "kl_bon@n=1"]["value"] == 0.0
    assert rows["bon", "proxy_score@n=4"]["value"] >= rows["bon", "proxy_score@n=1"]["value"] - 1e-9
    assert ("bon", "pool_share_hedged") in rows

    predictions = [json.loads(line) for line in
                   (run_dir / "predictions" / "bon" / "world-bon.jsonl").read_text().splitlines()]
    assert len(predictions) == 6
    assert all(len(p["responses"]) == len(p["proxy_scores"]) == len(p["gold_scores"]) == len(p["outcomes"]) == 4
               for p in predictions)

    assert rows["bon", "gold_fit_alpha"]["n"] == 6 and ("bon", "proxy_fit_rmse") in rows
    version = rows["bon", "gold_score@n=1"]["suite_version"]
    assert version.startswith("2+tiny-sft-v1-")  # the default policy of the tiny backbone: its SFT build

    board = invoke("leaderboard", "--db", db, "--layout", "bon", "--format", "json")
    assert board.exit_code == 0, board.output
    assert {"gold@n=1", "gold@n=2", "gold@n=4"} <= set(json.loads(board.stdout)[0])


def test_bon_with_the_gold_proxy_rises_monotonically_and_is_the_oracle(micro_run):
    run_dir, db = micro_run
    result = invoke("eval", "--run", run_dir, "--suite", "bon", "--set", "bon.n_max=8", "--set", "bon.n_prompts=6",
                    "--set", "bon.max_new_tokens=8", "--set", "bon.proxy=gold", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    rows = {m["metric"]: m["value"] for m in json.loads((run_dir / "result.json").read_text())["metrics"]
            if m["suite"] == "bon" and m["split"] == "bon+gold"}
    gold = [rows[f"gold_score@n={n}"] for n in (1, 2, 4, 8)]
    assert all(b >= a - 1e-12 for a, b in zip(gold, gold[1:])) and gold[-1] > gold[0]
    assert all(rows[f"gold_score@n={n}"] == pytest.approx(rows[f"oracle_gold_score@n={n}"]) for n in (1, 2, 4, 8))
    assert len((run_dir / "predictions" / "bon" / "world-bon+gold.jsonl").read_text().splitlines()) == 6
    assert any(m["split"] == "bon" for m in json.loads((run_dir / "result.json").read_text())["metrics"])  # kept
    bad = invoke("eval", "--run", run_dir, "--suite", "bon", "--set", "bon.proxy=oracle", "--db", db)
    assert bad.exit_code == 2 and "rm, gold" in bad.output


RL = ("--set", "rl.steps=2", "--set", "rl.prompts_per_step=2", "--set", "rl.minibatch_size=2", "--set",
      "rl.n_prompts=4", "--set", "rl.n_eval_prompts=3", "--set", "rl.max_new_tokens=8", "--set",
      "rl.lm_eval_limit=2")


def test_ppo_and_rloo_suites_record_before_after_kl_curves_and_policy(micro_run):
    run_dir, db = micro_run
    bad = invoke("eval", "--run", run_dir, "--suite", "bon", "--algo", "ppo", "--db", db)
    assert bad.exit_code == 2 and "--suite rl" in bad.output
    bad = invoke("eval", "--run", run_dir, "--suite", "rl", "--algo", "dpo", "--db", db)
    assert bad.exit_code == 2 and "ppo, rloo, grpo" in bad.output

    for algo in ("ppo", "rloo"):
        result = invoke("eval", "--run", run_dir, "--suite", "rl", "--algo", algo, *RL, "--db", db, "--json")
        assert result.exit_code == 0, result.output
        curve = [json.loads(line) for line in (run_dir / "rl" / algo / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in curve] == [1, 2] and curve[0]["kl"] == 0.0
        assert all({"reward", "gold", "kl"} <= set(r) for r in curve)
        assert (run_dir / "rl" / algo / "policy" / "config.json").exists()

    result = json.loads((run_dir / "result.json").read_text())
    rows = {(m["dataset"], m["split"], m["metric"]): m for m in result["metrics"] if m["suite"] == "rl"}
    for algo in ("ppo", "rloo"):  # a second algorithm adds its rows, it does not replace the first one's
        before, after = rows["world", algo, "gold_reward@before"], rows["world", algo, "gold_reward@after"]
        assert before["n"] == 3 and -1.75 <= before["value"] <= 1.05
        assert rows["world", algo, "gold_reward_change"]["value"] == pytest.approx(after["value"] - before["value"])
        assert rows["world", algo, "kl"]["value"] is not None and rows["world", algo, "kl"]["higher_is_better"] is False
        assert ("rmbench_world_qa", algo, "contains@before") in rows
        assert {("world", algo, f"{m}@step={k}") for m in ("gold", "proxy", "sqrt_kl") for k in (1, 2)} <= set(rows)
    assert result["suite_options"]["rl"]["algo"] == "rloo" and result["suite_options"]["rl"]["steps"] == 2

    board = invoke("leaderboard", "--db", db, "--layout", "rl", "--format", "json")
    assert board.exit_code == 0, board.output
    assert {"ppo gold", "ppo Δgold", "ppo KL", "rloo gold"} <= set(json.loads(board.stdout)[0])


def test_demo_runs_the_pipeline_through_best_of_n(tmp_path, tiny_base):
    result = invoke("demo", "--preset", "micro", "--runs-dir", tmp_path / "runs", "--db",
                    f"sqlite:///{tmp_path / 'rm.db'}")
    assert result.exit_code == 0, result.output
    assert "4/4 leaderboard" in result.output and "gold@n=16" in result.output


def test_ppo_against_the_gold_reward_raises_gold(micro_run):
    """RL that provably works: optimising the world's gold reward itself (``rl.proxy=gold``) raises the gold of the
    policy's samples over the steps (the micro preset's tiny backbone: the default policy is ``tiny-sft``)."""
    run_dir, db = micro_run
    result = invoke("eval", "--run", run_dir, "--suite", "rl", "--set", "rl.proxy=gold", "--set", "rl.steps=10",
                    "--set", "rl.prompts_per_step=8", "--set", "rl.samples_per_prompt=4", "--set",
                    "rl.minibatch_size=8", "--set", "rl.lr=3e-4", "--set", "rl.n_prompts=8", "--set",
                    "rl.n_eval_prompts=4", "--set", "rl.max_new_tokens=24", "--set", "rl.lm_eval=", "--db", db,
                    "--json")  # the same 8 prompts every step: the per-step gold differs by the policy only
    assert result.exit_code == 0, result.output
    rows = {m["metric"]: m["value"] for m in json.loads((run_dir / "result.json").read_text())["metrics"]
            if m["suite"] == "rl" and m["split"] == "ppo+gold"}
    gold = [rows[f"gold@step={k}"] for k in range(1, 11)]
    assert all(rows[f"proxy@step={k}"] == pytest.approx(gold[k - 1]) for k in range(1, 11))  # gold is the reward
    assert sum(gold[-3:]) / 3 > sum(gold[:3]) / 3 + 0.1, gold
    assert {"gold_fit_alpha", "gold_fit_beta", "gold_fit_rmse"} <= set(rows)
    assert (run_dir / "rl" / "ppo+gold" / "metrics.jsonl").is_file()
