"""Presets (configs/*.yaml) and the Accelerate launch configs (configs/accelerate/*.yaml): every preset resolves,
the paper presets carry the papers' settings and name their data in the ``--data`` spec syntax, and every Accelerate
file passes Accelerate's own loader and launcher checks. No model or dataset is loaded."""
import os
from importlib import resources
from pathlib import Path
from unittest import mock

import pytest

from harness import config
from harness.data import formats

PAPER_PRESETS = ("paper-gemma2b-uf40k", "paper-llama8b-skywork80k")
ACCELERATE_DIR = Path(str(resources.files("configs"))) / "accelerate"
ACCELERATE_FILES = {"ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed_zero3": "DEEPSPEED"}


@pytest.mark.parametrize("name", config.preset_names())
def test_every_listed_preset_resolves(name):
    cfg = config.resolve(name)
    assert cfg.preset == name
    assert config.from_dict(config.RunConfig, config.to_dict(cfg)) == cfg


def test_paper_presets_are_listed_and_the_accelerate_files_are_not():
    names = config.preset_names()
    assert set(PAPER_PRESETS) <= set(names)
    assert not any(name.startswith("accelerate") or name in ACCELERATE_FILES for name in names)


@pytest.mark.parametrize("method", ["bt", "bsr", "aplot", "pointmargin"])
@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_paper_presets_resolve_with_each_method(name, method):
    cfg = config.resolve(name, method=method, overrides=["train.lr=1e-5"])
    assert cfg.method == method and cfg.train.lr == 1e-5


def test_gemma_preset_is_the_aplot_grm_setting():
    cfg = config.resolve("paper-gemma2b-uf40k")
    assert cfg.model.backbone == "google/gemma-2b-it" and cfg.model.dtype == "bf16"
    assert (cfg.model.lora.r, cfg.model.lora.alpha, cfg.model.lora.dropout) == (32, 64, 0.05)
    assert cfg.model.lora.target_modules.split(",") == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert (cfg.model.max_length, cfg.train.epochs, cfg.train.batch_size) == (1024, 2, 128)
    assert (cfg.train.lr, cfg.train.warmup_ratio, cfg.train.schedule) == (4e-5, 0.03, "cosine")
    assert cfg.suites == []  # no world: evaluation needs --data


def test_llama_preset_is_the_bsr_full_fine_tuning_setting():
    cfg = config.resolve("paper-llama8b-skywork80k")
    assert cfg.model.backbone == "meta-llama/Llama-3.1-8B-Instruct" and cfg.model.lora.r == 0
    assert cfg.model.dtype == "fp32" and cfg.model.gradient_checkpointing  # fp32 master weights, bf16 autocast
    assert (cfg.train.lr, cfg.train.batch_size) == (2e-6, 128)
    assert cfg.suites == []


@pytest.mark.parametrize("name, fmt, source, options", [
    ("paper-gemma2b-uf40k", "unified_feedback", "llm-blender/Unified-Feedback",
     {"config": "all", "split": "train", "every": "20"}),
    ("paper-llama8b-skywork80k", "skywork", "Skywork/Skywork-Reward-Preference-80K-v0.2", {}),
])
def test_paper_presets_name_their_training_data_as_a_data_spec(name, fmt, source, options):
    (spec,) = formats.parse_specs(config.resolve(name).data.train)  # known format, allowed options
    assert (spec.format, spec.source, dict(spec.options)) == (fmt, source, options)
    assert spec.source == formats.get(fmt).hub_id


# -- Accelerate launch configs ------------------------------------------------------------------------------------
def _launch_args(path: Path):
    """What ``accelerate launch --config_file PATH script`` sees after merging the file (Accelerate's own code)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    args = launch_command_parser().parse_args(["--config_file", str(path), "train.py", "train", "bt"])
    return _validate_launch_command(args)


@pytest.mark.parametrize("name", ACCELERATE_FILES)
def test_accelerate_files_load_with_accelerates_loader(name):
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file

    cfg = load_config_from_file(str(ACCELERATE_DIR / f"{name}.yaml"))  # rejects unknown top-level keys
    assert isinstance(cfg, ClusterConfig)
    assert cfg.distributed_type.value == ACCELERATE_FILES[name]
    assert (cfg.num_processes, cfg.num_machines, cfg.machine_rank) == (8, 1, 0)
    assert cfg.mixed_precision == "bf16" and not cfg.use_cpu


@pytest.mark.parametrize("name", ACCELERATE_FILES)
def test_accelerate_files_pass_the_launcher_checks(name):
    from accelerate.commands.launch import launch_command_parser

    args, defaults, _ = _launch_args(ACCELERATE_DIR / f"{name}.yaml")
    assert (args.num_processes, args.mixed_precision) == (8, "bf16")
    assert (args.multi_gpu, args.use_fsdp, args.use_deepspeed) == (name == "ddp", name == "fsdp",
                                                                    name == "deepspeed_zero3")
    # every nested key is a launcher option (Accelerate silently ignores a misspelt one)
    options = {action.dest for action in launch_command_parser()._actions}
    for key in {**defaults.fsdp_config, **defaults.deepspeed_config}:
        assert key in options, f"{name}.yaml: unknown Accelerate option {key!r}"


def test_fsdp_file_gives_full_shard_decoder_layer_wrapping_in_bf16():
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.launch import prepare_multi_gpu_env

    args, _, _ = _launch_args(ACCELERATE_DIR / "fsdp.yaml")
    env = prepare_multi_gpu_env(args)
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    with mock.patch.dict(os.environ, env):
        plugin = FullyShardedDataParallelPlugin()  # what the Accelerator of each process builds from the env
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True  # FSDP2 full shard
    assert plugin.transformer_cls_names_to_wrap == ["LlamaDecoderLayer"]
    assert plugin.auto_wrap_policy.__name__ == "transformer_auto_wrap_policy"
    assert not plugin.cpu_ram_efficient_loading


def test_fsdp_wrap_class_is_found_inside_rmbenchs_wrapper():
    """Accelerate looks the class up by name in the prepared module: rmbench's RewardModel holds the transformers
    model as ``backbone``; a miniature Llama stands in for Llama-3.1-8B (same decoder-layer class)."""
    import torch
    from accelerate.utils.dataclasses import get_module_class_from_name
    from transformers import LlamaConfig, LlamaModel

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = LlamaModel(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32,
                                                   num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
            self.head = torch.nn.Linear(16, 1)

    assert get_module_class_from_name(Wrapper(), "LlamaDecoderLayer") is not None


def test_zero3_file_is_stage_3_bf16_without_offload_and_leaves_grad_accum_to_rmbench():
    from accelerate.utils import DeepSpeedPlugin
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    args, defaults, from_config = _launch_args(ACCELERATE_DIR / "deepspeed_zero3.yaml")
    args.deepspeed_fields_from_accelerate_config = ",".join(  # as accelerate's launch_command does
        list(defaults.deepspeed_config) + (["mixed_precision"] if from_config else []))
    _, env = prepare_deepspeed_cmd_env(args)
    assert "ACCELERATE_GRADIENT_ACCUMULATION_STEPS" not in env  # it would override rmbench's train.grad_accum
    with mock.patch.dict(os.environ, env):
        plugin = DeepSpeedPlugin()  # needs no deepspeed install to parse
    zero = plugin.deepspeed_config["zero_optimization"]
    assert zero["stage"] == 3 and plugin.zero3_init_flag and plugin.zero3_save_16bit_model
    assert zero["offload_optimizer"]["device"] == "none" and zero["offload_param"]["device"] == "none"
    assert zero["offload_optimizer"]["nvme_path"] is None and zero["offload_param"]["nvme_path"] is None
    assert plugin.gradient_accumulation_steps == "auto" and plugin.gradient_clipping == 1.0
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"


def test_accelerate_files_ship_with_the_configs_package():
    """The files are read from the installed ``configs`` package (pyproject package-data must include
    ``accelerate/*.yaml``)."""
    assert sorted(p.stem for p in ACCELERATE_DIR.glob("*.yaml")) == sorted(ACCELERATE_FILES)


def _deepspeed_filled(ds_config: dict, **train) -> dict:
    """The DeepSpeed config after the trainer fills what rmbench decides (no process group, no model)."""
    from types import SimpleNamespace

    from accelerate.utils import DeepSpeedPlugin

    from harness.trainer import Trainer

    plugin = DeepSpeedPlugin(hf_ds_config=ds_config)
    cfg = config.resolve("micro", overrides=[f"train.{k}={v}" for k, v in train.items()])
    fake = SimpleNamespace(cfg=cfg, accelerator=SimpleNamespace(
        num_processes=4, state=SimpleNamespace(deepspeed_plugin=plugin)))
    Trainer._configure_deepspeed(fake)
    return plugin.deepspeed_config


def test_trainer_fills_deepspeeds_batch_sizes_clipping_and_zero3_gathering():
    pytest.importorskip("deepspeed")  # DeepSpeedPlugin(hf_ds_config=...) builds transformers' HfDeepSpeedConfig
    auto = {"train_batch_size": "auto", "train_micro_batch_size_per_gpu": "auto", "gradient_clipping": "auto",
            "zero_optimization": {"stage": 3, "stage3_gather_16bit_weights_on_model_save": False}}
    ds = _deepspeed_filled(auto, batch_size=64, grad_accum=2, max_grad_norm=0.5)
    assert (ds["train_micro_batch_size_per_gpu"], ds["train_batch_size"]) == (8, 64)  # 64 pairs / (4 ranks × 2)
    assert ds["gradient_clipping"] == 0.5
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True  # else nothing to save
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="clips gradients at 1.0 but train.max_grad_norm is 0.5"):
        _deepspeed_filled({**auto, "gradient_clipping": 1.0}, max_grad_norm=0.5)
