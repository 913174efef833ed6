"""World v1 stays what it was: its bytes, its corpus, its prompt draws and the run ids of v1 configs are frozen here
(values recorded before world v2 existed), so every recorded run stays valid and comparable."""
from __future__ import annotations

import hashlib

import pytest

from harness import config
from harness.runs import run_id
from harness.world import WorldConfig, corpus, generate, tasks, write

V1 = ["data.world.version=1", "train.packing=false"]  # world v1, trained on padded batches as it was
V1_SIZES = {"tiny": ["data.world.n_id=1000", "data.world.n_ood=300"], "micro": []}  # the presets' sizes of then
FROZEN_RUN_IDS = [  # (preset, method, overrides) -> run id recorded before world v2
    ("tiny", "bt", [], "bt-tiny-s0-8a803bc6"),
    ("micro", "bt", [], "bt-micro-s0-ec42af10"),
    ("tiny", "bsr", [], "bsr-tiny-s0-af58cdd5"),
    ("tiny", "bt", ["data.label_noise=0.2"], "bt-tiny-s0-ab79a0fb"),
    ("micro", "grm", ["model.backbone=minilm"], "grm-micro-s0-b89715ff"),
    ("tiny", "aplot", ["data.world.seed=1"], "aplot-tiny-s0-909d8eed"),
]


@pytest.mark.parametrize("preset,method,overrides,expected", FROZEN_RUN_IDS)
def test_a_v1_config_keeps_its_run_id(preset, method, overrides, expected):
    cfg = config.resolve(preset, method=method, overrides=V1 + V1_SIZES[preset] + overrides)
    assert run_id(cfg) == expected


@pytest.mark.parametrize("preset,method,overrides,expected", FROZEN_RUN_IDS)
def test_the_default_world_is_a_new_run(preset, method, overrides, expected):
    assert run_id(config.resolve(preset, method=method, overrides=overrides)) != expected


def test_v1_generates_byte_identically(tmp_path):
    world = generate(WorldConfig(seed=3, n_train=500, n_id=100, n_ood=40, n_style=20, version=1))
    digest = hashlib.sha256()
    for path in write(world, tmp_path):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    assert digest.hexdigest() == "607981099f5a1d1fb9117d836c1f03b3f191f9d2e0827f451f857a249f566b66"


def test_v1_corpus_and_prompt_draws_are_unchanged():
    assert hashlib.sha256("\x1e".join(corpus(0, 300, version=1)).encode()).hexdigest() == \
        "139a3c3ed32e48fefeb3c2eaaa5f495f94136ffc3e8251535c5d7dea32a7518c"
    drawn = repr([(t.prompt, t.answer) for t in tasks(0, 50, version=1)])
    assert hashlib.sha256(drawn.encode()).hexdigest() == \
        "db590efa1f36c995ccb3f92a646ec434fbaade5bc5c48c1f14de3612a5557fec"


def test_v1_base_and_sft_builds_keep_their_cache_names():
    from harness.basemodel import tiny_recipe
    from harness.rl.sft import sft_recipe

    assert tiny_recipe("tiny", 1).dirname() == "tiny-base-v1-9d722324fe57"
    assert tiny_recipe("tiny-micro", 1).dirname() == "tiny-base-v1-6152930b1d19"
    assert sft_recipe("tiny", 1).dirname("tiny-base-v1-9d722324fe57") == "tiny-sft-v1-83a3976aed90"
    assert tiny_recipe("tiny", 2).dirname() != "tiny-base-v1-9d722324fe57"
