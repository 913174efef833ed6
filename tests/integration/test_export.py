"""``rmbench export``: a trained run as a standard AutoModelForSequenceClassification checkpoint, exact or refused."""
import json

import pytest
import torch
from cli_runner import invoke
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from harness.config import ModelConfig
from harness.data import world_splits
from harness.data.encode import Encoder
from harness.models import EnsembleRewardModel, RewardModel
from harness.world import WorldConfig

TRAIN = ["--preset", "micro", "--set", "train.max_steps=3", "--set", "data.world.n_train=64",
         "--set", "data.world.n_id=24", "--set", "data.validation_pairs=8", "--set", "train.eval_every=0"]


@pytest.mark.slow
@pytest.mark.parametrize("settings", [[], ["--set", "model.lora.r=4"]], ids=["full", "lora"])
def test_train_export_load_gives_the_predictions(tmp_path, settings):
    trained = invoke("train", "bt", *TRAIN, *settings, "--runs-dir", tmp_path / "runs",
                     "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--json")
    assert trained.exit_code == 0, trained.output
    run_dir = tmp_path / "runs" / json.loads(trained.stdout)["run_id"]
    exported = invoke("export", run_dir, "--out", tmp_path / "hf", "--json")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["max_abs_diff"] <= 1e-5

    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "hf").eval()  # the one line a user writes
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert model.config.num_labels == 1 and model.config.pad_token_id == tokenizer.pad_token_id is not None
    assert tokenizer.chat_template and not any("lora" in k for k in model.state_dict())
    rows = [json.loads(line) for line in (run_dir / "predictions/id/world-id.jsonl").read_text().splitlines()]
    pairs = {r["id"]: r for r in world_splits(WorldConfig(seed=0, n_train=64, n_id=24, n_ood=40, n_style=40))["id"]}
    encoder = Encoder(tokenizer, 128)
    for side in ("chosen", "rejected"):
        seqs = encoder.encode([pairs[r["id"]]["prompt"] for r in rows], [pairs[r["id"]][side] for r in rows])
        batch = tokenizer.pad({"input_ids": [ids for ids, _ in seqs]}, return_tensors="pt")  # right padding
        with torch.no_grad():
            rewards = model(**batch).logits[:, 0]
        assert (rewards - torch.tensor([r[f"score_{side}"] for r in rows])).abs().max() <= 1e-5

    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    conversation = [{"prompt": [{"role": "user", "content": pairs[r["id"]]["prompt"]}],
                     "chosen": [{"role": "assistant", "content": pairs[r["id"]]["chosen"]}],
                     "rejected": [{"role": "assistant", "content": pairs[r["id"]]["rejected"]}]} for r in rows]
    data = Dataset.from_list(conversation)
    trainer = RewardTrainer(model=str(tmp_path / "hf"), processing_class=tokenizer, train_dataset=data,
                            eval_dataset=data, args=RewardConfig(output_dir=str(tmp_path / "trl"), per_device_eval_batch_size=8,
                                         report_to="none", use_cpu=True, bf16=False, max_length=128))
    metrics = trainer.evaluate()
    accuracy = sum(r["correct"] for r in rows) / len(rows)  # trl renders the same chat: the same accuracy
    assert metrics["eval_accuracy"] == pytest.approx(accuracy) and metrics["eval_loss"] > 0


def _checkpoint(path, **model):
    RewardModel.build(ModelConfig(**{"backbone": "tiny-micro", **model})).save(path)
    return path


@pytest.mark.parametrize("case, reason", [("encoder", "encoder"), ("mlp", "'mlp' head"), ("ensemble", "ensemble")])
def test_export_refuses_what_it_cannot_express(tmp_path, case, reason):
    if case == "ensemble":
        members = [_checkpoint(tmp_path / f"m{k}") for k in range(2)]
        EnsembleRewardModel.save_reference(tmp_path / "ckpt", members)
    else:
        _checkpoint(tmp_path / "ckpt", **({"backbone": "minilm"} if case == "encoder" else {"head": "mlp"}))
    result = invoke("export", tmp_path / "ckpt", "--out", tmp_path / "hf")
    assert result.exit_code == 2 and reason in result.output
    assert not (tmp_path / "hf").exists()


def test_a_checkpoint_whose_linear_head_has_a_bias_loads_and_exports_only_when_it_is_zero(tmp_path):
    from safetensors.torch import load_file, save_file

    path = _checkpoint(tmp_path / "ckpt")
    head = load_file(path / "head.safetensors")
    for bias, code in ((0.0, 0), (0.5, 2)):  # written before the linear head lost its bias
        save_file({**head, "0.bias": torch.tensor([bias])}, path / "head.safetensors")
        model = RewardModel.load(path)
        assert model.head[0].bias.item() == bias
        result = invoke("export", path, "--out", tmp_path / f"hf{code}")
        assert result.exit_code == code and (code == 0 or "bias" in result.output), result.output


def test_a_pad_token_that_ends_sequences_is_replaced_by_a_dedicated_one(tmp_path):
    from harness.export import PAD_TOKEN, export

    model = RewardModel.build(ModelConfig(backbone="tiny-micro"))
    model.tokenizer.pad_token = model.tokenizer.eos_token  # a stand-in pad, as for backbones shipped without one
    with torch.no_grad():
        model.head[0].weight.normal_()
    model.save(tmp_path / "ckpt")
    info = export(tmp_path / "ckpt", tmp_path / "hf")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    classifier = AutoModelForSequenceClassification.from_pretrained(tmp_path / "hf")
    assert info["added_pad_token"] and tokenizer.pad_token == PAD_TOKEN != tokenizer.eos_token
    assert classifier.config.pad_token_id == tokenizer.pad_token_id and info["max_abs_diff"] <= 1e-5
    assert classifier.get_input_embeddings().num_embeddings == len(tokenizer)


def test_chat_template_set_at_evaluation_replaces_a_checkpoints_own(tmp_path):
    from harness.data.encode import chat_template_sha256
    from harness.external import load_reward_model

    path = _checkpoint(tmp_path / "ckpt")
    cfg = ModelConfig(backbone="tiny-micro")
    assert chat_template_sha256(load_reward_model(path, cfg).tokenizer) is not None
    assert chat_template_sha256(load_reward_model(path, cfg, "none").tokenizer) is None
