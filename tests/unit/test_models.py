"""RewardModel: padding invariance, checkpoint round trips, seeded heads, helpful errors (micro tiny base, MiniLM)."""
import pytest
import torch
from torch import nn

from harness.config import LoraSettings, ModelConfig
from harness.errors import ConfigError
from harness.models import RewardModel, _make_head

TEXTS = ["<|user|>\nWhat is 2 plus 3?<|end|>\n<|assistant|>\n5.<|end|>", "hi", "a somewhat longer text than the rest"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _private_cache(cache_dir, monkeypatch):
    monkeypatch.setenv("RMBENCH_CACHE", str(cache_dir))


def build(**kwargs) -> RewardModel:
    lm = kwargs.pop("need_lm_head", False)
    seed = kwargs.pop("seed", 0)
    return RewardModel.build(ModelConfig(**{"backbone": "tiny-micro", **kwargs}), need_lm_head=lm, seed=seed).eval()


@torch.no_grad()
def rewards(model: RewardModel, side: str = "right", texts=TEXTS) -> torch.Tensor:
    model.tokenizer.padding_side = side
    batch = model.tokenizer(texts, padding=True, add_special_tokens=False, return_tensors="pt")
    return model(batch["input_ids"], batch["attention_mask"])[0]


def perturb(model: RewardModel) -> None:
    """Move every trainable weight, so a round trip cannot pass by reloading the pre-trained / zero-init values."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)


@pytest.mark.parametrize("kwargs", [{}, {"need_lm_head": True}, {"backbone": "minilm", "head": "mlp"},
                                    {"lora": LoraSettings(r=4)}], ids=["tiny", "tiny-lm", "minilm", "tiny-lora"])
def test_left_and_right_padding_give_the_same_rewards(kwargs):
    model = build(**kwargs)
    right, left = rewards(model, "right"), rewards(model, "left")
    assert right.dtype == torch.float32 and right.shape == (len(TEXTS),)
    torch.testing.assert_close(left, right, atol=1e-5, rtol=0)
    alone = torch.stack([rewards(model, texts=[t])[0] for t in TEXTS])  # padding changes nothing at all
    torch.testing.assert_close(alone, right, atol=1e-5, rtol=0)


def test_forward_outputs_and_lm_logits():
    model = build(need_lm_head=True)
    batch = model.tokenizer(TEXTS, padding=True, return_tensors="pt")
    r, hidden, logits = model(batch["input_ids"], batch["attention_mask"], return_lm_logits=True)
    assert hidden.shape == (3, model.hidden_size) and logits.shape == (*batch["input_ids"].shape, len(model.tokenizer))
    assert model.is_causal_lm and not build(backbone="minilm").is_causal_lm
    with pytest.raises(ConfigError, match="need_lm_head"):
        build()(batch["input_ids"], batch["attention_mask"], return_lm_logits=True)


@pytest.mark.parametrize("kwargs, merge", [({}, False), ({"need_lm_head": True, "head": "mlp"}, False),
                                           ({"lora": LoraSettings(r=4)}, False), ({"lora": LoraSettings(r=4)}, True)],
                         ids=["full", "full-lm-mlp", "lora", "lora-merged"])
def test_save_load_round_trip(kwargs, merge, tmp_path):
    model = build(**kwargs)
    perturb(model)
    model.save(tmp_path / "ckpt", merge_lora=merge)
    loaded = RewardModel.load(tmp_path / "ckpt").eval()
    torch.testing.assert_close(rewards(loaded), rewards(model), atol=1e-5, rtol=0)
    assert loaded.is_lora == (model.is_lora and not merge)
    assert (tmp_path / "ckpt" / ("adapter" if loaded.is_lora else "backbone")).is_dir()
    assert loaded.need_lm_head == model.need_lm_head and loaded.cfg.head == model.cfg.head
    model.save(tmp_path / "ckpt", merge_lora=merge)  # overwriting a checkpoint is atomic too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_lora_trains_only_adapters_and_head():
    model = build(lora=LoraSettings(r=4))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    assert {n for n in trainable if n.startswith("head.")} == {"head.0.weight"}  # no bias: a seq-cls head


def test_head_init_is_seeded():
    first, again, other = (build(seed=s).head.state_dict() for s in (3, 3, 4))
    assert all(first[k].equal(again[k]) for k in first)
    assert not first["0.weight"].equal(other["0.weight"])
    mlp = build(head="mlp", gradient_checkpointing=True)
    assert [type(m).__name__ for m in mlp.head] == ["Dropout", "Linear", "ReLU", "Linear"]


def test_mlp_head_drops_out_the_hidden_state_first_as_the_official_grm_head():
    # docs/methods.md (GRM): Dropout(0.1) → Linear(H, 1024) → ReLU → Linear(1024, 1)
    head = _make_head("mlp", 16, seed=0)
    dropout, first, relu, last = head
    assert isinstance(dropout, nn.Dropout) and dropout.p == 0.1 and isinstance(relu, nn.ReLU)
    assert (first.in_features, first.out_features, last.in_features, last.out_features) == (16, 1024, 1024, 1)
    seen = []
    first.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    x = torch.ones(64, 16)
    torch.manual_seed(0)
    head.train()(x)
    dropped = seen[0] == 0  # the first Linear reads the dropped-out hidden state: zeros, the rest scaled by 1/0.9
    assert 0.05 < dropped.float().mean().item() < 0.15
    assert torch.allclose(seen[0][~dropped], torch.full_like(seen[0][~dropped], 1 / 0.9))
    with torch.no_grad():
        assert torch.equal(head.eval()(x), last(relu(first(x))))  # no dropout at inference


def test_encoder_with_lm_head_is_a_clear_error():
    with pytest.raises(ConfigError, match="needs a causal LM backbone; minilm is an encoder"):
        build(backbone="minilm", need_lm_head=True)


def test_a_policy_loads_like_a_reward_model_backbone():
    from harness.rl.policy import load_policy

    with pytest.raises(ConfigError, match="a policy needs a causal LM backbone; minilm is an encoder"):
        load_policy("minilm")
    policy, tokenizer = load_policy("tiny-micro")
    reward_model = build(need_lm_head=True)
    assert tokenizer.padding_side == "left" and tokenizer.pad_token == reward_model.tokenizer.pad_token
    assert not policy.training and policy.state_dict().keys() == reward_model.backbone.state_dict().keys()


def test_unknown_backbone_and_head_are_config_errors(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # the env var is read at import
    with pytest.raises(ConfigError, match="no-such-org/no-such-model"):
        build(backbone="no-such-org/no-such-model")
    with pytest.raises(ConfigError, match="did you mean: mlp"):
        build(head="mpl")
    with pytest.raises(ConfigError, match="not an rmbench reward-model checkpoint"):
        RewardModel.load(tmp_path)


def test_a_checkpoint_with_the_old_mlp_layer_order_loads_to_the_same_rewards(tmp_path):
    """Checkpoints written when the mlp head was Linear, ReLU, Dropout, Linear keep their rewards."""
    from safetensors.torch import load_file, save_file

    model = build(head="mlp")
    perturb(model)
    model.save(tmp_path / "ckpt")
    head = load_file(tmp_path / "ckpt" / "head.safetensors")
    save_file({k.replace("1.", "0.", 1) if k.startswith("1.") else k: v for k, v in head.items()},
              tmp_path / "ckpt" / "head.safetensors")
    loaded = RewardModel.load(tmp_path / "ckpt").eval()
    torch.testing.assert_close(rewards(loaded), rewards(model.eval()), atol=1e-6, rtol=0)
