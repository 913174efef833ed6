"""Run configuration: dataclasses, YAML presets, a config file and dotted ``--set a.b=c`` overrides.

Resolution order (later wins): dataclass defaults < the method's ``config_defaults`` < preset YAML < ``--config``
file < ``--set`` overrides < ``--seed``.
Every YAML is read with ``yaml.safe_load``; unknown keys fail with the closest valid names.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

import methods
from harness.basemodel import TINY_BACKBONES, tiny_recipe
from harness.coerce import deep_merge, flatten, from_dict, parse_overrides  # noqa: F401 - the config's own API
from harness.domains import setting
from harness.errors import ConfigError, UnknownNameError
from harness.registry import close_matches
from harness.world import WORLD_IDS, WorldConfig


@dataclass
class LoraSettings:
    """LoRA adapters (peft). ``r = 0`` means full fine-tuning."""

    r: int = setting(0, ge=0)
    alpha: int = setting(16, gt=0)  # peft's lora_alpha: the update is scaled by alpha / r
    dropout: float = setting(0.05, ge=0, lt=1)
    target_modules: str = "all-linear"


# The reward model's architecture around the backbone (head layers, pooling): part of every run's identity, so a
# changed head never returns a result trained with the old one. 2: the mlp head applies its dropout first (GRM).
# 3: the linear head has no bias (as transformers' sequence-classification heads: exact export).
MODEL_VERSION = "3"

#: the shortest ``model.max_length`` a run accepts: room for the separators and a few tokens each of the prompt head
#: and the response tail (the encoder keeps at least half the budget for the prompt when both are long)
MIN_MAX_LENGTH = 16


@dataclass
class ModelConfig:
    backbone: str = "tiny"  # "tiny" (built-in world LM), "minilm" (packaged encoder), a Hub id or a local directory
    head: Literal["linear", "mlp"] = "linear"  # reward head on the last non-pad hidden state
    lora: LoraSettings = field(default_factory=LoraSettings)
    max_length: int = setting(256, ge=MIN_MAX_LENGTH)  # truncation keeps the prompt head and the response tail
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: bf16 on a CUDA device that supports it, else fp32
    trust_remote_code: bool = False
    chat_template: str = "auto"  # "auto" = the tokenizer's own | "none" = plain layout | path of a Jinja template
    gradient_checkpointing: bool = False
    # the frozen reference policy of an implicit-reward method (dpo, ipo; grm's dpo regulariser): a causal LM spec
    # with the policy's tokenizer; "" = the starting policy
    ref: str = ""


@dataclass
class DataConfig:
    train: str = "world"  # "world" or a local file / directory / Hub id in a supported format
    world: WorldConfig = field(default_factory=WorldConfig)
    label_noise: float = setting(0.0, ge=0, le=1)  # mode "uniform": fraction of training pairs whose labels are swapped
    label_noise_mode: Literal["uniform", "bt"] = "uniform"  # bt: each pair's label drawn from σ(Δgold / T)
    label_noise_temperature: float = setting(1.0, gt=0)  # T of mode "bt"
    max_train_pairs: int = setting(0, ge=0)  # 0 = all
    validation_pairs: int = setting(512, ge=0)  # held out from the in-domain split for the convergence curve

    def invalid(self) -> tuple[str, str] | None:
        if self.train == "world" and self.world.n_train < 1:
            return "world.n_train", f"training on the world needs at least 1 pair, got {self.world.n_train}"
        return None


@dataclass
class TrainConfig:
    epochs: float = setting(1.0, ge=0)  # may be fractional; must be > 0 unless max_steps is set
    max_steps: int = setting(0, ge=0)  # > 0 overrides epochs
    batch_size: int = setting(32, ge=1)  # global batch: pairs per optimiser step over all processes and accumulation
    grad_accum: int = setting(1, ge=1)
    lr: float = setting(1e-4, gt=0)
    weight_decay: float = setting(0.0, ge=0)
    warmup_ratio: float = setting(0.03, ge=0, le=1)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    max_grad_norm: float = setting(1.0, gt=0)
    eval_every: int = setting(50, ge=0)  # optimiser steps between validations (0 = only at the end)
    save_every: int = setting(0, ge=0)  # optimiser steps between resumable checkpoints (0 = only at the end)
    log_every: int = setting(10, ge=1)
    eval_batch_size: int = setting(64, ge=1)
    group_by_length: bool = True  # bucket pairs of similar length into a batch (less padding)
    packing: bool = True  # train on packed pairs: no padding, a shared prefix computed once (harness.packing)
    report_to: list[str] = field(default_factory=list)  # Accelerate trackers: tensorboard, wandb, mlflow, trackio…

    def invalid(self) -> tuple[str, str] | None:
        if self.max_steps == 0 and self.epochs <= 0:
            return "epochs", "must be > 0 when max_steps is 0 (set one of them)"
        if self.batch_size < self.grad_accum:
            return "batch_size", (f"the global batch ({self.batch_size}) must hold at least one pair per "
                                  f"accumulation step (grad_accum {self.grad_accum})")
        return None


@dataclass
class SweepConfig:
    """Resources of one job under ``rmbench sweep --executor ray`` (a job with gpus_per_job > 1 trains through
    ``accelerate launch`` with one process per GPU)."""

    gpus_per_job: float = setting(0.0, ge=0)
    cpus_per_job: float = setting(1.0, ge=0)
    max_retries: int = setting(3, ge=0)  # times Ray reruns a job whose worker died (the run resumes from its state)


@dataclass
class RunConfig:
    method: str = "bt"
    method_config: dict[str, Any] = field(default_factory=dict)
    preset: str = "tiny"
    seed: int = setting(0, ge=0)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    suites: list[str] = field(default_factory=lambda: ["id"])
    sweep: SweepConfig = field(default_factory=SweepConfig)


def preset_names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in resources.files("configs").iterdir() if p.name.endswith(".yaml"))


def preset_dict(name: str) -> dict:
    names = preset_names()
    if name not in names:
        raise UnknownNameError(f"unknown preset {name!r}{close_matches(name, names)}")
    return _read_yaml(resources.files("configs") / f"{name}.yaml")


def _read_yaml(path) -> dict:
    try:
        data = yaml.safe_load(Path(str(path)).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read YAML config: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping, got {type(data).__name__}")
    return data


def resolve(preset: str = "tiny", config_file: str | Path | None = None, overrides: list[str] = (),
            seed: int | None = None, method: str | None = None, values: dict | None = None) -> RunConfig:
    """The resolved run configuration (see module docstring for the order). ``values`` is a nested mapping of typed
    settings applied with (after) the ``--set`` ``overrides`` strings: a sweep job's grid point and settings."""
    data = {"preset": preset, **preset_dict(preset)}
    if config_file is not None:
        data = deep_merge(data, _read_yaml(config_file))
    data = deep_merge(data, parse_overrides(list(overrides)))
    if values:
        data = deep_merge(data, values)
    if method is not None:
        if data.get("method", method) != method:
            data["method_config"] = {}  # a preset's method settings belong to its own method
        data["method"] = method
    if seed is not None:
        data["seed"] = seed
    data = deep_merge(methods.get(data.get("method", "bt")).config_defaults, data)
    return from_dict(RunConfig, data)


def to_dict(cfg) -> dict:
    """``cfg`` as nested dicts; an unset ``model.ref`` (added after the first runs) is left out, so run configs,
    their identity and their leaderboard settings stay as they were without it."""
    d = dataclasses.asdict(cfg)
    if isinstance(cfg, RunConfig) and not cfg.model.ref:
        d["model"].pop("ref")
    return d


IDENTITY_LEGACY = {"train.packing": False}
"""Settings added after runs were recorded, with the value that reproduces those runs: at that value a setting is
left out of :func:`config_hash`, so a config that asks for the old behaviour keeps its old run id, while the new
default (which changes a training trajectory, if only in float rounding) is a new experiment."""


def config_hash(cfg: RunConfig) -> str:
    """Identity of an experiment: the fully resolved config (the method's config with its defaults filled in, so
    passing a default explicitly changes nothing), the method's ``version``, the world's generator identity
    (``harness.world.WORLD_IDS``; the world's fields as ``WorldConfig.identity`` gives them) and the
    reward model's ``MODEL_VERSION`` and, for a built-in ``tiny`` backbone, its build recipe's cache name (so a changed
    loss, world, head or base model is a new experiment); not the seed (seeds
    of one config are aggregated), the suites, nor what only changes where a run executes or logs (``sweep``,
    ``train.report_to``).

    The world version is always included: besides ``data.train: world``, the ``tiny`` backbones are pre-trained on
    the world's corpus and the evaluation suites fall back to its splits.
    """
    method = methods.get(cfg.method)
    d = to_dict(cfg)
    for key in ("seed", "suites", "sweep"):
        d.pop(key)
    d["train"].pop("report_to")
    for dotted, legacy in IDENTITY_LEGACY.items():  # a setting at its value from before it existed: as before
        *parents, key = dotted.split(".")
        node = functools.reduce(lambda tree, name: tree[name], parents, d)
        if node.get(key) == legacy:
            node.pop(key)
    d["method_config"] = method(**cfg.method_config).config_dict()
    d["data"]["world"] = cfg.data.world.identity()
    if cfg.data.label_noise_mode == "uniform":  # the settings of the other modes (absent from runs before them)
        d["data"].pop("label_noise_mode")
        d["data"].pop("label_noise_temperature")
    world_version = cfg.data.world.version
    d["versions"] = {"method": method.version, "world": WORLD_IDS[world_version], "model": MODEL_VERSION}
    if cfg.model.backbone in TINY_BACKBONES:  # "tiny" names whatever its recipe builds (on the run's world)
        d["versions"]["backbone"] = tiny_recipe(cfg.model.backbone, world_version).dirname()
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]
