"""DPO-family runs end to end: a micro DPO run raises the chosen-over-rejected log-ratio; a causal LM trained by
trl's ``DPOTrainer`` is scored by ``rmbench eval --kind dpo`` as a plain transformers computation of its implicit
reward; bad settings exit 2 with one line."""
import json
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from harness.basemodel import resolve_backbone
from cli_runner import invoke

SMALL_WORLD = ["--set", "data.world.n_id=24", "--set", "model.max_length=512"]
MICRO = ["model.backbone=tiny-micro", "train.max_steps=10", "train.eval_every=0"]


def tiny_lm(path, seed=0, extra_token=None):
    """A random 2-layer LlamaForCausalLM with the tiny world tokenizer (and its chat template), saved to ``path``."""
    tokenizer = AutoTokenizer.from_pretrained(resolve_backbone("tiny-micro"))
    if extra_token:
        tokenizer.add_tokens([extra_token])
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)


def summed_logprob(model, tokenizer, prompt: str, response: str) -> float:
    """Σ logπ(response tokens | prompt) by transformers' own forward on the whole conversation, unpadded."""
    head = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)
    full = tokenizer.apply_chat_template([{"role": "user", "content": prompt},
                                          {"role": "assistant", "content": response}], tokenize=False)
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    start = len(tokenizer(head, add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
    return sum(logp[t - 1, ids[t]].item() for t in range(start, len(ids)))


@pytest.mark.slow
def test_trl_dpo_trainer_output_is_scored_as_its_implicit_reward(tmp_path):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from harness.data import world_splits
    from harness.world import WorldConfig

    tiny_lm(tmp_path / "ref")
    splits = world_splits(WorldConfig(n_train=32, n_id=24))
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}],
                               "chosen": [{"role": "assistant", "content": r["chosen"]}],
                               "rejected": [{"role": "assistant", "content": r["rejected"]}]}
                              for r in splits["train"]])
    trainer = DPOTrainer(model=str(tmp_path / "ref"), train_dataset=data, args=DPOConfig(
        output_dir=str(tmp_path / "trl"), max_steps=3, per_device_train_batch_size=8, learning_rate=1e-2, beta=0.1,
        report_to="none", use_cpu=True, bf16=False, save_strategy="no", max_length=512, seed=0))
    trainer.train()
    trainer.save_model(str(tmp_path / "trl"))

    result = invoke("eval", "--model", tmp_path / "trl", "--kind", "dpo", "--ref", tmp_path / "ref", "--suite", "id",
                    *SMALL_WORLD, "--runs-dir", tmp_path / "runs", "--db", f"sqlite:///{tmp_path / 'db.sqlite'}",
                    "--json")
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / json.loads(result.stdout)["run_id"]
    assert run_dir.name.startswith("external-dpo-trl-")
    rows = [json.loads(line) for line in (run_dir / "predictions/id/world-id.jsonl").read_text().splitlines()]
    pairs = {r["id"]: r for r in splits["id"]}
    policy = AutoModelForCausalLM.from_pretrained(tmp_path / "trl").eval()
    reference = AutoModelForCausalLM.from_pretrained(tmp_path / "ref").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "trl")
    for side in ("chosen", "rejected"):
        texts = [(pairs[r["id"]]["prompt"], pairs[r["id"]][side]) for r in rows]
        expected = torch.tensor([0.1 * (summed_logprob(policy, tokenizer, *t)
                                        - summed_logprob(reference, tokenizer, *t)) for t in texts])
        ours = torch.tensor([r[f"score_{side}"] for r in rows])
        assert expected.abs().max() > 1e-3  # the policy moved away from its reference
        assert (ours - expected).abs().max() <= 1e-5

    # reference-free (reward-bench's --ref_free_type sum): β·Σ logπ
    result = invoke("eval", "--model", tmp_path / "trl", "--kind", "dpo", "--ref-free-type", "sum", "--suite", "id",
                    *SMALL_WORLD, "--runs-dir", tmp_path / "runs", "--db", f"sqlite:///{tmp_path / 'db.sqlite'}",
                    "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "runs" / json.loads(result.stdout)["run_id"] /
                                          "predictions/id/world-id.jsonl").read_text().splitlines()][:4]
    expected = [0.1 * summed_logprob(policy, tokenizer, pairs[r["id"]]["prompt"], pairs[r["id"]]["chosen"])
                for r in rows]
    assert [r["score_chosen"] for r in rows] == pytest.approx(expected, abs=1e-4)


def test_bad_settings_exit_2_with_one_line(tmp_path):
    tiny_lm(tmp_path / "policy")
    tiny_lm(tmp_path / "other", extra_token="<other>")
    common = ["--suite", "id", *SMALL_WORLD, "--runs-dir", tmp_path / "runs", "--db",
              f"sqlite:///{tmp_path / 'db.sqlite'}"]
    cases = [(["--kind", "dpo", "--ref", tmp_path / "other"], "model.ref: the reference"),
             (["--kind", "dpo", "--ref-free-type", "none"], "give --ref REF_DIR"),
             (["--kind", "dpo", "--ref-free-type", "mean"], "ref_free_type must be one of"),
             (["--kind", "dpo", "--ref", tmp_path / "policy", "--set", "method_config.beta=0"], "beta must be > 0"),
             (["--ref", tmp_path / "policy"], "add --kind dpo")]
    for extra, message in cases:
        result = invoke("eval", "--model", tmp_path / "policy", *extra, *common)
        assert result.exit_code == 2, (extra, result.output)
        assert message in result.output and len(result.output.strip().splitlines()) <= 3, result.output
    train = invoke("train", "dpo", "--preset", "micro", "--set", "method_config.beta=-1", "--runs-dir",
                   tmp_path / "runs")
    assert train.exit_code == 2 and "method_config.beta must be > 0" in train.output


@pytest.mark.slow
def test_micro_dpo_run_raises_the_chosen_over_rejected_log_ratio_and_serves_as_rmo_proxy(tmp_path):
    from harness import api, config

    cfg = config.resolve("micro", method="dpo", overrides=MICRO)
    result = api.train(cfg, runs_dir=tmp_path / "runs", db=f"sqlite:///{tmp_path / 'rm.db'}", show_progress=False)
    rows = [json.loads(line) for line in (tmp_path / "runs" / result["run_id"] / "predictions/id/world-id.jsonl")
            .read_text().splitlines()]
    # at the start the policy is its reference: every implicit reward is 0, the margin 0 and no pair is right
    margins = torch.tensor([r["score_chosen"] - r["score_rejected"] for r in rows])
    assert margins.mean() > 0
    accuracy = next(m for m in result["metrics"] if m["metric"] == "accuracy")
    assert accuracy["value"] > 0.5 and accuracy["n"] == 200

    # rmbench serve scores through the same path: the served reward is the implicit reward the suites recorded
    from harness.data import world_splits
    from harness.reward_source import load_scorer

    scorer, info = load_scorer(run=tmp_path / "runs" / result["run_id"], device="cpu")
    by_id = {r["id"]: r for r in world_splits(cfg.data.world)["id"]}
    texts = [(by_id[r["id"]]["prompt"], by_id[r["id"]]["chosen"]) for r in rows[:5]]
    served = scorer.rewards(scorer.encode([p for p, _ in texts], [c for _, c in texts])[0])
    assert info["method"] == "dpo" and served == pytest.approx([r["score_chosen"] for r in rows[:5]], abs=1e-5)

    # the downstream measure: its samples against the SFT policy's, gold-judged
    evaluated = api.evaluate(tmp_path / "runs" / result["run_id"], ["winrate"], db=f"sqlite:///{tmp_path / 'rm.db'}",
                             show_progress=False, overrides=["winrate.n_prompts=6", "winrate.max_new_tokens=8"])
    rows = {(m["split"], m["metric"]): m for m in evaluated["metrics"] if m["suite"] == "winrate"}
    assert 0 <= rows["policy", "win_rate"]["value"] <= 100 and rows["policy", "win_rate"]["n"] == 6
    assert rows["policy", "lc_win_rate"]["stderr"] is not None and math.isfinite(rows["policy", "kl"]["value"])
    assert rows["reference", "gold_reward"]["n"] == 6

    # RMO as its paper runs it: the proxy policy is this very dpo run (same config), reused, not trained again
    rmo_cfg = config.resolve("micro", method="rmo_dpo", overrides=MICRO)
    rmo = api.train(rmo_cfg, runs_dir=tmp_path / "runs", db=f"sqlite:///{tmp_path / 'rm.db'}", show_progress=False)
    stats = rmo["train"]["rmo_dpo"]
    assert stats["proxy_run_id"] == result["run_id"]
    assert stats["margin_scale"] == "raw" and 0.02 < stats["filter_ratio"] < 0.1
    assert stats["batch_variance"]["optimised"] >= stats["batch_variance"]["stratified"]


def test_export_refuses_an_implicit_reward_run(tmp_path):
    run = tmp_path / "dpo-run"
    run.mkdir()
    (run / "result.json").write_text(json.dumps({
        "schema_version": 1, "run_id": "dpo-run", "method": "dpo", "method_config": {}, "preset": "micro",
        "config_hash": "0" * 16, "config": {}, "backbone": "tiny", "data": "world", "seed": 0, "versions": {},
        "git_sha": None, "started_at": "2026-12-07T12:00:00+00:00", "finished_at": "2026-12-07T12:05:00+00:00",
        "wall_times": {}, "train": {}, "metrics": []}))
    result = invoke("export", run, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "implicit reward of a policy" in result.output
