"""External reward models (any one-label ``*ForSequenceClassification``) scored as runs of method ``external``."""
import json

import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

from harness.basemodel import resolve_backbone
from harness.config import ModelConfig
from harness.data.encode import Encoder, chat_template_sha256
from harness.errors import ConfigError
from harness.checkpoint_runs import external_run
from harness.external import ExternalRewardModel, sequence_classifier_config
from harness.scoring import score_sequences
from cli_runner import invoke

SMALL_WORLD = ["--set", "data.world.n_id=24", "--set", "model.max_length=64"]
TEMPLATE = ("{% for m in messages %}<s>[{{ m['role'] | upper }}] {{ m['content'] }}</s>{% endfor %}"
            "{% if add_generation_prompt %}<s>[ASSISTANT] {% endif %}")


def tiny_classifier(path, *, pad_token_id=0, chat_template=None, num_labels=1, seed=0):
    """A random 2-layer LlamaForSequenceClassification with the tiny world tokenizer, saved to ``path``."""
    tokenizer = AutoTokenizer.from_pretrained(resolve_backbone("tiny-micro"))
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         num_labels=num_labels, pad_token_id=pad_token_id)
    model = LlamaForSequenceClassification(config).eval()
    with torch.no_grad():
        model.score.weight.normal_()  # a visible reward scale
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


def plain_rewards(model, seqs):
    """The reference: transformers' own forward, one unpadded sequence at a time."""
    with torch.no_grad():
        return torch.stack([model(input_ids=torch.tensor([ids])).logits[0, 0] for ids, _ in seqs]).float()


@pytest.mark.parametrize("pad_token_id", [0, None], ids=["with-pad-id", "without-pad-id"])
def test_rewards_are_the_plain_forward_at_batch_1_and_16(tmp_path, pad_token_id):
    plain, tokenizer = tiny_classifier(tmp_path / "rm", pad_token_id=pad_token_id)
    ours = ExternalRewardModel.load(str(tmp_path / "rm"), ModelConfig(dtype="fp32"))
    texts = [("Where is the red key?", "In the box " * k) for k in range(1, 20)]
    seqs = Encoder(ours.tokenizer, 128).encode([p for p, _ in texts], [r for _, r in texts])
    one, sixteen = (score_sequences(ours, seqs, ours.tokenizer.pad_token_id, b, show_progress=False) for b in (1, 16))
    assert (one - sixteen).abs().max() <= 1e-5
    if pad_token_id is None:  # the tokenizer's pad token stands in, as trl sets it; sequences never end with it
        assert ours.model.config.pad_token_id == tokenizer.pad_token_id
        plain.config.pad_token_id = tokenizer.pad_token_id
    assert (one - plain_rewards(plain, seqs)).abs().max() <= 1e-5
    raw, hidden = score_sequences(ours, seqs, ours.tokenizer.pad_token_id, 16, show_progress=False, with_hidden=True)
    assert hidden.shape == (len(seqs), 32)


def test_an_encoder_classifier_pools_its_first_token_at_any_batch_size(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(resolve_backbone("minilm"))
    torch.manual_seed(0)
    plain = BertForSequenceClassification(BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_labels=1, pad_token_id=tokenizer.pad_token_id)).eval()
    plain.save_pretrained(tmp_path / "rm")
    tokenizer.save_pretrained(tmp_path / "rm")
    ours = ExternalRewardModel.load(str(tmp_path / "rm"), ModelConfig(dtype="fp32"))
    assert not ours.decoder and chat_template_sha256(ours.tokenizer) is None
    texts = [("Where is the red key?", "In the box " * k) for k in range(1, 20)]
    seqs = Encoder(ours.tokenizer, 128).encode([p for p, _ in texts], [r for _, r in texts])
    assert seqs[0][0] == tokenizer("Where is the red key?", "In the box ")["input_ids"]  # [CLS] q [SEP] a [SEP]
    one, sixteen = (score_sequences(ours, seqs, ours.tokenizer.pad_token_id, b, show_progress=False) for b in (1, 16))
    assert (one - sixteen).abs().max() <= 1e-5 and (one - plain_rewards(plain, seqs)).abs().max() <= 1e-5


def test_eval_cli_on_a_sequence_classifier_directory(tmp_path):
    plain, _ = tiny_classifier(tmp_path / "rm")
    runs = tmp_path / "runs"
    outcomes, scores = [], []
    for batch in (1, 16):
        result = invoke("eval", "--model", tmp_path / "rm", "--suite", "id", *SMALL_WORLD, "--batch-size", batch,
                        "--runs-dir", runs, "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--json")
        assert result.exit_code == 0, result.output
        outcomes.append(json.loads(result.stdout)["run_id"])
        rows = [json.loads(line) for line in
                (runs / outcomes[-1] / "predictions/id/world-id.jsonl").read_text().splitlines()]
        scores.append(torch.tensor([[r["score_chosen"], r["score_rejected"]] for r in rows]))
    assert outcomes[0] == outcomes[1] and outcomes[0].startswith("external-rm-")
    assert (scores[0] - scores[1]).abs().max() <= 1e-5  # batch size 1 and 16
    run_dir = runs / outcomes[0]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["method"] == "external" and result["external_model"]["architectures"] == ["LlamaForSequenceClassification"]
    assert result["chat_template_sha256"] == chat_template_sha256(plain_tokenizer := AutoTokenizer.from_pretrained(
        tmp_path / "rm"))
    from harness.data import world_splits
    from harness.world import WorldConfig

    pairs = {r["id"]: r for r in world_splits(WorldConfig(n_id=24))["id"]}
    encoder = Encoder(plain_tokenizer, 64)
    chosen = encoder.encode([pairs[r["id"]]["prompt"] for r in rows], [pairs[r["id"]]["chosen"] for r in rows])
    expected = plain_rewards(plain, chosen)
    assert (torch.tensor([r["score_chosen"] for r in rows]) - expected).abs().max() <= 1e-5
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    flat = invoke("leaderboard", "--db", db, "--format", "md").stdout
    assert f"| external | external ({tmp_path / 'rm'}) |" in flat  # method, then preset (model)
    main = invoke("leaderboard", "--db", db, "--layout", "main", "--format", "csv").stdout
    assert f"external: {tmp_path / 'rm'}" in main
    claims = invoke("leaderboard", "--db", db, "--layout", "claims", "--format", "json").stdout
    assert "external" not in claims


def test_own_chat_template_renders_and_none_turns_it_off(tmp_path):
    _, tokenizer = tiny_classifier(tmp_path / "rm", chat_template=TEMPLATE)
    ours = ExternalRewardModel.load(str(tmp_path / "rm"), ModelConfig())
    conversation = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Where is the key?"}]
    (ids, start), = Encoder(ours.tokenizer, 256).encode([conversation], ["Under the mat."])
    expected = tokenizer.apply_chat_template(conversation + [{"role": "assistant", "content": "Under the mat."}],
                                             tokenize=False)
    assert ours.tokenizer.decode(ids) == expected and expected.count("[USER]") == 2
    whole = tokenizer.apply_chat_template(conversation + [{"role": "assistant", "content": "Under the mat."}],
                                          tokenize=True, return_dict=False)
    assert ids == whole  # tokenized whole: " Under" after "[ASSISTANT]" is one token, as its authors tokenize it
    assert ours.tokenizer.decode(ids[start:]).strip() == "Under the mat.</s>"
    plain = ExternalRewardModel.load(str(tmp_path / "rm"), ModelConfig(chat_template="none"))
    assert chat_template_sha256(plain.tokenizer) is None
    (ids, _), = Encoder(plain.tokenizer, 256).encode(["Where is the key?"], ["Under the mat."])
    assert "[USER]" not in plain.tokenizer.decode(ids)
    (tmp_path / "other.jinja").write_text(TEMPLATE.replace("[{{", "<{{").replace("}}]", "}}>"))
    other = ExternalRewardModel.load(str(tmp_path / "rm"), ModelConfig(chat_template=str(tmp_path / "other.jinja")))
    assert "<USER>" in other.tokenizer.apply_chat_template(conversation, tokenize=False)
    with pytest.raises(ConfigError, match="model.chat_template"):
        ExternalRewardModel.load(str(tmp_path / "rm"), ModelConfig(chat_template=str(tmp_path / "missing.jinja")))


def test_run_identity_and_refusals(tmp_path):
    tiny_classifier(tmp_path / "rm")
    spec = str(tmp_path / "rm")
    base = external_run(spec, ["id"], [])
    assert external_run(spec, ["id", "ood"], [])["run_id"] == base["run_id"]  # more suites: the same run
    for other in (["model.chat_template=none"], ["id.x=1"]):
        assert external_run(spec, ["id"], other)["run_id"] != base["run_id"]
    bon = external_run(spec, ["bon"], [])
    assert bon["suite_values"] == {"bon": {"policy": "tiny"}}  # scored against the world's base LM policy
    assert bon["run_id"] == base["run_id"]  # a default is not an option given
    tiny_classifier(tmp_path / "three", num_labels=3)
    with pytest.raises(ConfigError, match="3 labels"):
        sequence_classifier_config(str(tmp_path / "three"))
    with pytest.raises(ConfigError, match="not a reward model"):
        sequence_classifier_config(resolve_backbone("tiny-micro"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "result.json").write_text("{}")
    result = invoke("eval", "--model", tmp_path / "run", "--suite", "id", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "--run" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora-adapter"])
def test_trl_reward_trainer_output_is_evaluated_as_trl_scores_it(tmp_path, lora):
    from datasets import Dataset
    from peft import LoraConfig
    from trl import RewardConfig, RewardTrainer

    from harness.data import world_splits
    from harness.world import WorldConfig

    tiny_classifier(tmp_path / "init")
    world = WorldConfig(n_train=32, n_id=24)
    splits = world_splits(world)
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}],
                               "chosen": [{"role": "assistant", "content": r["chosen"]}],
                               "rejected": [{"role": "assistant", "content": r["rejected"]}]}
                              for r in splits["train"]])
    trainer = RewardTrainer(model=str(tmp_path / "init"), train_dataset=data, args=RewardConfig(
        output_dir=str(tmp_path / "trl"), max_steps=4, per_device_train_batch_size=8, learning_rate=1e-3,
        report_to="none", use_cpu=True, bf16=False, save_strategy="no", max_length=128, seed=0),
        peft_config=LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules="all-linear") if lora else None)
    trainer.train()
    trainer.save_model(str(tmp_path / "trl"))
    assert (tmp_path / "trl" / ("adapter_config.json" if lora else "config.json")).is_file()

    result = invoke("eval", "--model", tmp_path / "trl", "--suite", "id", *SMALL_WORLD, "--set",
                    "model.max_length=512", "--runs-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / json.loads(result.stdout)["run_id"]
    rows = [json.loads(line) for line in (run_dir / "predictions/id/world-id.jsonl").read_text().splitlines()]
    pairs = {r["id"]: r for r in splits["id"]}
    model, tokenizer = trainer.model.eval(), trainer.processing_class
    for side in ("chosen", "rejected"):  # trl's own model, one whole conversation at a time as trl renders it
        ids = [tokenizer.apply_chat_template([{"role": "user", "content": pairs[r["id"]]["prompt"]},
                                              {"role": "assistant", "content": pairs[r["id"]][side]}],
                                             tokenize=True, return_dict=False) for r in rows]
        expected = plain_rewards(model, [(i, 0) for i in ids])
        assert (torch.tensor([r[f"score_{side}"] for r in rows]) - expected).abs().max() <= 1e-5


@pytest.mark.slow
def test_external_model_is_the_proxy_rm_of_best_of_n(tmp_path):
    plain, tokenizer = tiny_classifier(tmp_path / "rm")
    result = invoke("eval", "--model", tmp_path / "rm", "--suite", "bon", "--set", "bon.n_max=2", "--set",
                    "bon.n_prompts=3", "--set", "bon.max_new_tokens=6", "--runs-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / json.loads(result.stdout)["run_id"]
    assert json.loads((run_dir / "result.json").read_text())["suite_options"]["bon"]["policy"] == "tiny"
    rows = [json.loads(line) for line in (run_dir / "predictions/bon/world-bon.jsonl").read_text().splitlines()]
    encoder = Encoder(tokenizer, 256)
    seqs = encoder.encode([r["prompt"] for r in rows for _ in r["responses"]], [x for r in rows for x in r["responses"]])
    proxy = torch.tensor([s for r in rows for s in r["proxy_scores"]])
    assert (proxy - plain_rewards(plain, seqs)).abs().max() <= 1e-5
