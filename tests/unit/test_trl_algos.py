"""RLOO / GRPO through trl (harness.rl.trl_algos): a couple of CPU steps on the untrained miniature policy."""
import math

import pytest

from harness.errors import ConfigError
from harness.rl import RLConfig

SPECIAL = ("<|end|>", "<|user|>", "<|assistant|>", "</s>", "<pad>", "<s>")
PROMPTS = [f"Question {i}: how many legs does a spider have?" for i in range(6)]


def _cfg(**kw):
    base = dict(steps=2, prompts_per_step=2, samples_per_prompt=2, max_new_tokens=8, lr=1e-3, kl_coef=0.05, seed=0)
    return RLConfig(**{**base, **kw})


@pytest.mark.parametrize("algo", ["rloo", "grpo"])
def test_trl_algo_two_steps(algo, tmp_path):
    from harness.rl.policy import load_policy
    from harness.rl.trl_algos import train_trl

    model, tokenizer = load_policy("tiny-micro")
    eos_before = model.generation_config.eos_token_id
    calls = []

    def proxy(prompts, responses):
        calls.append((list(prompts), list(responses)))
        return [-float(len(r)) for r in responses]  # toy reward: shorter is better

    gold = lambda prompts, responses: [1.0 for _ in responses]  # noqa: E731
    seen = []
    history = train_trl(algo, model, tokenizer, PROMPTS, proxy, _cfg(), output_dir=tmp_path / "trl",
                        track={"gold": gold}, on_step=seen.append, show_progress=False)

    assert [r["step"] for r in history] == [1, 2] and seen == history
    for r in history:
        assert {"step", "reward", "gold", "kl", "response_length", "seconds"} <= set(r)
        assert all(math.isfinite(r[k]) for k in ("reward", "gold", "kl", "response_length", "seconds"))
        assert r["gold"] == 1.0 and 1 <= r["response_length"] <= 8
    assert history[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # step 1: the policy still is the reference

    # one reward call per step, on 2 prompts x 2 samples: raw prompt strings and plain-text completions
    assert len(calls) == 2
    for prompts, responses in calls:
        assert len(prompts) == len(responses) == 4 and set(prompts) <= set(PROMPTS)
        assert prompts[0] == prompts[1] and prompts[2] == prompts[3]  # samples of one prompt are adjacent
        assert all(isinstance(r, str) and r == r.strip() for r in responses)
        assert not any(tok in r for r in responses for tok in SPECIAL)
    assert history[0]["reward"] == pytest.approx(sum(-len(r) for r in calls[0][1]) / 4)

    # the model is trained in place and handed back as it came, but for its weights
    assert not model.training and model.generation_config.eos_token_id == eos_before
    assert "forward" not in model.__dict__


def test_no_kl_key_without_kl_penalty(tmp_path):
    from harness.rl.policy import load_policy
    from harness.rl.trl_algos import train_trl

    model, tokenizer = load_policy("tiny-micro")
    history = train_trl("rloo", model, tokenizer, PROMPTS, lambda p, r: [0.0] * len(r), _cfg(steps=1, kl_coef=0.0),
                        output_dir=tmp_path / "trl", show_progress=False)
    assert len(history) == 1 and "kl" not in history[0] and history[0]["reward"] == 0.0


def test_config_errors(tmp_path):
    from harness.rl.trl_algos import train_trl

    reward = lambda p, r: [0.0] * len(r)  # noqa: E731
    with pytest.raises(ConfigError, match="rloo, grpo"):
        train_trl("dpo", None, None, PROMPTS, reward, _cfg(), output_dir=tmp_path)
    with pytest.raises(ConfigError, match="samples_per_prompt"):
        train_trl("grpo", None, None, PROMPTS, reward, _cfg(samples_per_prompt=1), output_dir=tmp_path)
    with pytest.raises(ConfigError, match="prompts"):
        train_trl("rloo", None, None, PROMPTS[:1], reward, _cfg(), output_dir=tmp_path)


def test_reference_is_the_policy_as_passed(tmp_path):
    """trl reloads the reference from the model's path; a policy changed in memory must still start at KL 0."""
    import torch

    from harness.rl.policy import load_policy
    from harness.rl.trl_algos import train_trl

    model, tokenizer = load_policy("tiny-micro")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn_like(p))
    history = train_trl("rloo", model, tokenizer, PROMPTS, lambda p, r: [float(len(x)) for x in r],
                        _cfg(steps=1), output_dir=tmp_path / "trl", show_progress=False)
    assert history[0]["kl"] == pytest.approx(0.0, abs=1e-6)
