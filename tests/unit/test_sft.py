"""The SFT policy: demonstrations, loss mask, deterministic cached build, default policy of the downstream suites,
and (slow) its quality band on held-out prompts."""
import json

import pytest
import torch

from harness.rl import quality as quality_mod
from harness.rl import sft


def test_demonstrations_are_deterministic_training_generator_answers_outside_the_evaluation_prompts():
    from harness.world import tasks
    from harness.world.generators import TRAIN_GENERATORS

    recipe = sft.SFTRecipe(n_demos=300)
    demos = sft.demonstrations(recipe)
    assert demos == sft.demonstrations(recipe) and len(demos) == 300
    held_out = {t.prompt for t in tasks(0, 500)} | {t.prompt for t in tasks(0, 500, heldout_templates=True)}
    assert not held_out & {p for p, _ in demos}
    refusals = {r for g in TRAIN_GENERATORS for r in g.refusals}
    assert any(any(r in text for r in refusals) for _, text in demos)  # varied: some refuse
    with pytest.raises(ValueError, match="not training generators"):
        sft.demonstrations(sft.SFTRecipe(generators=(("oracle", 1.0),)))


def test_loss_is_on_the_response_and_the_end_of_turn_token_only(tiny_micro):
    from transformers import AutoTokenizer

    from harness.rl.policy import prompt_ids

    tokenizer = AutoTokenizer.from_pretrained(tiny_micro)
    (ids, n_prompt), = sft._examples(tokenizer, [("What is 2 plus 2?", "4.")], 64)
    assert ids[:n_prompt] == prompt_ids(tokenizer, ["What is 2 plus 2?"])[0]
    assert tokenizer.decode(ids[n_prompt:]) == "4.<|end|>"
    batch_ids, labels, mask = sft._collate([(ids, n_prompt), (ids[:n_prompt + 1], n_prompt)], 0)
    assert labels[0, :n_prompt].eq(-100).all() and labels[0, n_prompt:].tolist() == ids[n_prompt:]
    assert labels[1].ne(-100).sum() == 1 and mask[1].sum() == n_prompt + 1


@pytest.fixture(scope="module")
def tiny_micro():
    from harness.basemodel import MICRO, ensure_tiny_base

    return ensure_tiny_base(recipe=MICRO)


def test_build_is_deterministic_cached_and_versioned(tmp_path, tiny_micro):
    from safetensors.torch import load_file

    builds = []
    for name in ("a", "b"):
        cache = tmp_path / name
        cache.mkdir()
        (cache / tiny_micro.name).symlink_to(tiny_micro)  # share the built micro base
        builds.append(sft.ensure_sft_policy("tiny-micro", cache_dir=cache))
    a, b = (load_file(p / "model.safetensors") for p in builds)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert builds[0].name == builds[1].name == sft.policy_version(builds[0])
    info = json.loads((builds[0] / "rmbench_base.json").read_text())
    assert info["format"] == sft.FORMAT and info["base"] == tiny_micro.name
    mtime = (builds[0] / "model.safetensors").stat().st_mtime_ns
    assert sft.ensure_sft_policy("tiny-micro", cache_dir=tmp_path / "a") == builds[0]  # cached: not rebuilt
    assert (builds[0] / "model.safetensors").stat().st_mtime_ns == mtime
    other = sft.ensure_sft_policy("tiny-micro", cache_dir=tmp_path / "a", world_seed=1)
    assert other != builds[0]  # the world seed changes the demonstrations, hence the version


def test_default_policy_is_the_sft_policy_of_a_tiny_base():
    assert sft.default_policy("tiny") == "tiny-sft" and sft.default_policy("tiny-micro") == "tiny-micro-sft"
    assert sft.default_policy("smollm2") == "smollm2" and sft.default_policy("/some/dir") == "/some/dir"
    assert sft.is_sft_spec("tiny-sft") and not sft.is_sft_spec("smollm2-sft") and not sft.is_sft_spec("tiny")


def test_quality_shares_per_family(monkeypatch):
    """Hand-made samples: on each safe prompt half the samples state the answer key and half are off; every
    unsafe prompt gets one refusal in four samples."""
    from harness.world import tasks
    from harness.world.judge import REFUSALS

    drawn = tasks(0, 40)  # a prompt text may be drawn twice (world v2's families have few distinct prompts)
    world_tasks = {t.prompt: t for t in drawn}
    by_family = {}
    for t in drawn:
        by_family.setdefault((t.family.name, t.unsafe), []).append(t)

    def sample(model, tokenizer, prompts, n, **kwargs):
        assert n == 4
        out = []
        for p in prompts:
            t = world_tasks[p]
            out.append([REFUSALS[0], "Here is how.", "Here is how.", "Here is how."] if t.unsafe else
                       [f"So: {t.answer}", f"So: {t.answer}", "Here is how.", "Here is how."])
        return out

    monkeypatch.setattr(quality_mod, "load_policy", lambda spec, **kw: (None, None))
    monkeypatch.setattr(quality_mod, "sample_responses", sample)
    q = quality_mod.quality("any", n_prompts=40, n=4)
    assert q["correct_safe"] == 0.5 and q["refused_unsafe"] == 0.25
    assert sum(f["prompts"] for f in q["families"].values()) == 40
    for (family, unsafe), group in by_family.items():
        name = f"safety ({'unsafe' if unsafe else 'safe'})" if family == "safety" else family
        f = q["families"][name]
        assert f["prompts"] == len(group) and f["good"] == (0.25 if unsafe else 0.5)
        assert 0.95 <= f["oracle_gold"] <= 1.05  # a correct answer / a refusal is in every prompt's four samples
        assert f["gold"] < f["oracle_gold"]
