"""GRM end to end through the CLI: the dpo regulariser (reference log-probs) with full fine-tuning and LoRA, the
checkpoint evaluated by `rmbench eval` with no extra step, and the clear error on an encoder backbone."""
import json

import pytest

from cli_runner import invoke

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("settings", [["model.head=mlp"], ["model.lora.r=4"]], ids=["full-mlp", "lora"])
def test_dpo_regulariser_trains_and_its_checkpoint_evaluates(settings, tmp_path, tiny_base):
    db = f"sqlite:///{tmp_path / 'rm.db'}"
    overrides = [arg for s in ["method_config.regularizer=dpo", "train.max_steps=2", *settings] for arg in ("--set", s)]
    result = invoke("train", "grm", "--preset", "micro", *overrides, "--runs-dir", tmp_path / "runs", "--db", db,
                    "--json")
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / json.loads(result.stdout)["run_id"]
    curve = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = next(r for r in curve if "reg_loss" in r)
    assert logged["step"] == 2 and all(k in logged for k in ("bt_loss", "logp_chosen", "accuracy"))
    meta = json.loads((run_dir / "checkpoint" / "rmbench_model.json").read_text())
    assert meta["need_lm_head"] and meta["weights"] == ("adapter" if "model.lora.r=4" in settings else "full")

    evaluated = invoke("eval", "--run", run_dir, "--suite", "id", "--db", db, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    accuracy = next(m for m in json.loads(evaluated.stdout)["metrics"] if m["metric"] == "accuracy")
    assert accuracy["n"] == 200


def test_encoder_backbone_is_a_clear_error_and_writes_nothing(tmp_path):
    result = invoke("train", "grm", "--preset", "minilm", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert "method 'grm'" in result.output and "needs a causal LM backbone" in result.output
    assert not (tmp_path / "runs").exists()
