"""The bon suite end to end on the micro preset: train → eval --suite bon → result.json, predictions, board."""
import json

import pytest

from cli_runner import invoke

pytestmark = pytest.mark.slow


def test_bon_suite_rows_predictions_and_leaderboard(tmp_path, tiny_base):
    db = f"sqlite:///{tmp_path / 'rm.db'}"
    trained = invoke("train", "bt", "--preset", "micro", "--set", "train.max_steps=4", "--set", "suites=[]",
                     "--runs-dir", tmp_path / "runs", "--db", db, "--json")
    assert trained.exit_code == 0, trained.output
    run_dir = tmp_path / "runs" / json.loads(trained.stdout)["run_id"]

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

    board = invoke("leaderboard", "--db", db, "--layout", "bon", "--format", "json")
    assert board.exit_code == 0, board.output
    assert {"gold@n=1", "gold@n=2", "gold@n=4"} <= set(json.loads(board.stdout)[0])
