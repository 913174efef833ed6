"""The reward model: a transformers backbone (encoder or decoder body, optionally with LoRA) and a scalar head.

The reward is read at the last non-pad token, with position ids taken from the attention mask, so a sequence gets
the same reward whichever side it is padded on. A checkpoint is a self-describing directory (``META``), either with
the full backbone or with only a LoRA adapter over a base that is re-resolved from the recorded backbone spec.
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import math
import os
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from harness.atomic import atomic_directory
from harness.basemodel import resolve_backbone
from harness.config import LoraSettings, ModelConfig, from_dict
from harness.data.encode import set_chat_template
from harness.errors import ConfigError
from harness.registry import close_matches
from harness.scoring import implicit_columns, packed_implicit_columns

META = "rmbench_model.json"
FORMAT_VERSION = 1
HEADS = ("linear", "mlp")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class RewardModel(nn.Module):
    """Backbone + scalar reward head; ``forward`` gives rewards [N] (fp32) and last-token hidden states [N, H]."""

    world_version = 2  # the world whose tiny base a tiny backbone is (set by ``build``)

    def __init__(self, cfg: ModelConfig, backbone: nn.Module, tokenizer, *, source: str, need_lm_head: bool,
                 seed: int = 0):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.source = source  # what the backbone was loaded from (resolved spec)
        self.need_lm_head = need_lm_head
        self.head = _make_head(cfg.head, self.hidden_size, seed)
        accepted = inspect.signature(self._body.forward).parameters
        self._extra_inputs = {name for name in ("position_ids", "use_cache") if name in accepted}
        if cfg.gradient_checkpointing:
            self._core.activation_checkpointing_enable()

    # -- construction ---------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, cfg: ModelConfig, *, need_lm_head: bool = False, seed: int = 0,
              world_version: int = 2) -> "RewardModel":
        """A fresh reward model: pre-trained backbone (LoRA-wrapped if ``cfg.lora.r > 0``; a tiny backbone is the
        base pre-trained on world ``world_version``'s text) and a seeded new head."""
        source = resolve_backbone(cfg.backbone, world_version)
        with torch.random.fork_rng():  # LoRA init (and any newly initialised backbone weight) is seeded
            torch.manual_seed(seed)
            backbone = load_backbone(source, cfg, need_lm_head, name=cfg.backbone)
            if cfg.lora.r > 0:
                backbone = get_peft_model(backbone, _lora_config(cfg.lora))
        tokenizer = load_tokenizer(source, cfg)
        model = cls(cfg, backbone, tokenizer, source=source, need_lm_head=need_lm_head, seed=seed)
        model.world_version = world_version
        return model

    @classmethod
    def load(cls, path: str | Path) -> "RewardModel":
        """Reconstruct a model written by :meth:`save`, whole in this process (also inside a ZeRO-3 launch)."""
        with _without_zero3_init():
            return cls._load(Path(path))

    @classmethod
    def _load(cls, path: Path) -> "RewardModel":
        try:
            meta = json.loads((path / META).read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path} is not an rmbench reward-model checkpoint (cannot read {META}: {e})") from e
        if meta.get("format_version") != FORMAT_VERSION:
            raise ConfigError(f"{path}: unsupported checkpoint format {meta.get('format_version')!r}")
        cfg = from_dict(ModelConfig, meta["model_config"])
        need_lm_head = meta["need_lm_head"]
        if meta["weights"] == "adapter":  # the base it was trained on (a tiny base: of the run's world version)
            resolved = meta.get("backbone_resolved")
            source = resolved if resolved and Path(resolved).is_dir() else resolve_backbone(cfg.backbone)
            base = load_backbone(source, cfg, need_lm_head, name=cfg.backbone)
            backbone = PeftModel.from_pretrained(base, path / "adapter", is_trainable=True)
        else:
            source = meta["backbone_resolved"]
            backbone = load_backbone(str(path / "backbone"), cfg, need_lm_head, name=str(path))
        model = cls(cfg, backbone, load_tokenizer(str(path), cfg, template=False), source=source,
                    need_lm_head=need_lm_head)
        try:
            head = load_file(path / "head.safetensors")
            if cfg.head == "linear" and "0.bias" in head:  # written when the linear head still had a bias
                model.head = _make_head("linear", model.hidden_size, 0, linear_bias=True)
            if cfg.head == "mlp" and "0.weight" in head:  # written as Linear, ReLU, Dropout, Linear (dropout last):
                head = {k.replace("0.", "1.", 1) if k.startswith("0.") else k: v for k, v in head.items()}  # same
                # function at inference, where dropout is the identity
            model.head.load_state_dict(head)
        except Exception as e:  # safetensors raises its own error type for a truncated or garbled file
            raise ConfigError(f"{path}: corrupt or incomplete checkpoint (cannot load head.safetensors: {e})") from e
        return model

    def save(self, path: str | Path, *, merge_lora: bool = False, state_dict: dict[str, Tensor] | None = None) -> None:
        """Write a checkpoint directory atomically; ``merge_lora`` folds the adapter in, so loading needs no peft.

        ``state_dict`` (this model's full state, as ``Accelerator.get_state_dict`` gathers it after sharded
        ZeRO-3 / FSDP training, where each rank holds only a shard) is written instead of the in-memory weights.
        """
        adapter = self.is_lora and not merge_lora
        cfg = self.cfg if adapter or not self.is_lora else dataclasses.replace(self.cfg, lora=LoraSettings())
        state_dict = self.state_dict() if state_dict is None else state_dict
        head, body = ({k.removeprefix(prefix): v.contiguous() for k, v in state_dict.items() if k.startswith(prefix)}
                      for prefix in ("head.", "backbone."))
        with atomic_directory(Path(path)) as tmp:
            self.tokenizer.save_pretrained(tmp)
            save_file(head, tmp / "head.safetensors")
            if adapter:
                self.backbone.save_pretrained(tmp / "adapter", state_dict=body)
            elif self.is_lora:
                merged = copy.deepcopy(self.backbone)
                merged.load_state_dict(body)
                merged.merge_and_unload().save_pretrained(tmp / "backbone")
            else:
                self.backbone.save_pretrained(tmp / "backbone", state_dict=body)
            meta = {"format_version": FORMAT_VERSION, "model_config": dataclasses.asdict(cfg),
                    "backbone": cfg.backbone, "backbone_resolved": self.source, "head": cfg.head,
                    "hidden_size": self.hidden_size, "need_lm_head": self.need_lm_head,
                    "weights": "adapter" if adapter else "full"}
            (tmp / META).write_text(json.dumps(meta, indent=2))

    # -- properties -----------------------------------------------------------------------------------------------
    @property
    def is_lora(self) -> bool:
        return isinstance(self.backbone, PeftModel)

    @property
    def _core(self) -> nn.Module:
        """The transformers model (inside the peft wrapper, if any)."""
        return self.backbone.get_base_model() if self.is_lora else self.backbone

    @property
    def _body(self) -> nn.Module:
        """The transformer body that yields ``last_hidden_state`` (without any LM head)."""
        return self._core.base_model

    @property
    def hidden_size(self) -> int:
        return self._core.config.hidden_size

    @property
    def is_causal_lm(self) -> bool:
        return _is_causal_lm(self._core.config)

    # -- frozen reference (regularisers towards the initial model, e.g. GRM's dpo) --------------------------------
    def frozen_reference(self) -> "RewardModel":
        """The initial model, to take before training: with LoRA this model itself, scored with its adapter disabled
        (no second copy in memory); with full fine-tuning a frozen deep copy (eval mode, no gradient), whole in
        every process also under ZeRO-3. Score it inside :meth:`as_reference`."""
        if self.is_lora:
            return self
        from transformers.integrations import is_deepspeed_zero3_enabled

        if is_deepspeed_zero3_enabled():  # this model's weights are partitioned: load the initial weights whole
            with _without_zero3_init():
                reference = RewardModel.build(self.cfg, need_lm_head=self.need_lm_head,
                                              world_version=self.world_version).eval()
        else:
            reference = copy.deepcopy(self).eval()
        reference.requires_grad_(False)
        return reference

    @contextmanager
    def as_reference(self):
        """Forward passes inside score the frozen reference: no gradient, eval mode (no dropout), LoRA adapter
        disabled; the training mode is restored afterwards."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad(), self.backbone.disable_adapter() if self.is_lora else nullcontext():
                yield self
        finally:
            self.train(was_training)

    # -- forward --------------------------------------------------------------------------------------------------
    def forward_packed(self, packed, return_lm_logits: bool = False):
        """``(rewards [N] fp32, hidden [N, H] fp32)`` of the sequences of a ``harness.packing.Packed`` batch (a causal
        LM only: its explicit mask keeps each token's context as in its own sequence), plus with
        ``return_lm_logits`` the LM logits at ``packed.predictors`` only, the positions that predict the response
        tokens: [T, V] (``harness.scoring.packed_token_logprobs``)."""
        if return_lm_logits and not self.need_lm_head:
            raise ConfigError("LM logits were requested from a reward model built without need_lm_head=True")
        states = self._body(input_ids=packed.input_ids, attention_mask=packed.attention_mask,
                            position_ids=packed.position_ids, use_cache=False).last_hidden_state
        flat = states.reshape(-1, states.shape[-1])
        hidden = flat[packed.readout].float()
        rewards = self.head(hidden).squeeze(-1)
        if not return_lm_logits:
            return rewards, hidden
        return rewards, hidden, self._core.get_output_embeddings()(flat[packed.predictors])

    def forward(self, input_ids: Tensor | None, attention_mask: Tensor | None, return_lm_logits: bool = False, *,
                packed=None):
        """``(rewards [N] fp32, hidden [N, H] fp32)``, plus LM ``logits [N, L, V]`` when ``return_lm_logits``.

        Works for left and right padding alike: the reward token is the last one the mask keeps, and positions
        count only kept tokens. ``packed`` (a ``harness.packing.Packed``, ids and mask None): :meth:`forward_packed`
        (through ``forward``, so that DDP sees the call).
        """
        if packed is not None:
            return self.forward_packed(packed, return_lm_logits)
        if return_lm_logits and not self.need_lm_head:
            raise ConfigError("LM logits were requested from a reward model built without need_lm_head=True")
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "position_ids" in self._extra_inputs:
            inputs["position_ids"] = position_ids(attention_mask)
        if "use_cache" in self._extra_inputs:
            inputs["use_cache"] = False
        states = self._body(**inputs).last_hidden_state
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        last = (attention_mask.long() * positions).argmax(-1)
        hidden = states[torch.arange(states.shape[0], device=states.device), last].float()
        rewards = self.head(hidden).squeeze(-1)
        if not return_lm_logits:
            return rewards, hidden
        return rewards, hidden, self._core.get_output_embeddings()(states)


class ImplicitRewardModel(nn.Module):
    """A causal-LM policy scored by its implicit reward (the DPO family): ``forward(input_ids, attention_mask,
    response_mask)`` gives the columns :data:`harness.types.IMPLICIT_COLUMNS` [N, 4] (Σ logπ over the response, the
    same under the frozen ``reference`` or 0 without one, |y|, ‖logπ_t‖₂), which the method's ``score`` turns into
    the reward, and the policy's last-token hidden states [N, H]. ``policy`` and ``reference`` are
    :class:`RewardModel` s built with ``need_lm_head`` (the reference may be the policy itself when it is a LoRA
    model: it is then scored with its adapter disabled)."""

    scores_responses = True  # harness.scoring passes the response mask to forward

    def __init__(self, policy: RewardModel, reference: RewardModel | None = None):
        super().__init__()
        self.policy, self.reference, self.tokenizer = policy, reference, policy.tokenizer

    @property
    def hidden_size(self) -> int:
        return self.policy.hidden_size

    @property
    def is_causal_lm(self) -> bool:  # harness.packing.can_pack: its packed columns are exact
        return self.policy.is_causal_lm and (self.reference is None or self.reference.is_causal_lm)

    def forward(self, input_ids: Tensor | None, attention_mask: Tensor | None, response_mask: Tensor | None, *,
                packed=None):
        """The columns and hidden states of a padded batch, or of a ``harness.packing.Packed`` one (``packed``; ids
        and masks None)."""
        ref_logits = None
        if self.reference is not None:
            with self.reference.as_reference():
                ref_logits = self.reference(input_ids, attention_mask, return_lm_logits=True, packed=packed)[2]
        _, hidden, logits = self.policy(input_ids, attention_mask, return_lm_logits=True, packed=packed)
        if packed is not None:
            return packed_implicit_columns(logits, packed, ref_logits), hidden
        return implicit_columns(logits, input_ids, response_mask, ref_logits), hidden


def same_tokenizer(a, b) -> bool:
    """Whether two tokenizers map every token to the same id (log-probs of one sequence are then comparable)."""
    return a.get_vocab() == b.get_vocab() and a.all_special_ids == b.all_special_ids


def _make_head(kind: str, hidden_size: int, seed: int, linear_bias: bool = False) -> nn.Sequential:
    """The reward head in fp32, initialised from ``torch.Generator(seed)`` (the global RNG is not touched).

    The linear head has no bias, as the ``score`` layer of transformers' ``*ForSequenceClassification`` decoders:
    a decoder run then exports exactly (``harness.export``). ``linear_bias`` reads checkpoints written before."""
    if kind == "linear":
        head = nn.Sequential(nn.Linear(hidden_size, 1, bias=linear_bias, device="meta"))
    elif kind == "mlp":  # the official GRM value head: dropout on the hidden state first (docs/methods.md, GRM)
        head = nn.Sequential(nn.Dropout(0.1), nn.Linear(hidden_size, 1024, device="meta"), nn.ReLU(),
                             nn.Linear(1024, 1, device="meta"))
    else:
        raise ConfigError(f"unknown model.head {kind!r}{close_matches(kind, list(HEADS))}")
    head = head.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in head:
            if isinstance(layer, nn.Linear):
                layer.weight.normal_(0.0, 1.0 / math.sqrt(layer.in_features + 1), generator=generator)
                if layer.bias is not None:
                    layer.bias.zero_()
    return head


def _is_causal_lm(config) -> bool:
    """A decoder-only LM: has a causal-LM class and no masked-LM class (BERT-likes have both)."""
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    kind = config.model_type
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def _torch_dtype(name: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    if name not in DTYPES:
        raise ConfigError(f"unknown model.dtype {name!r}{close_matches(name, ['auto', *DTYPES])}")
    return DTYPES[name]


def position_ids(attention_mask: Tensor) -> Tensor:
    """Positions counted over the kept tokens only (0 at each row's first one), so left and right padding agree."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


@contextmanager
def _without_zero3_init():
    """Inside a DeepSpeed ZeRO-3 launch transformers builds every model partitioned over the processes, a
    collective; a model loaded to evaluate in one process must be built whole instead. (Accelerate's
    ``zero3_init_context_manager`` only toggles its flag: transformers still sees the ZeRO-3 config.)"""
    from transformers.integrations import is_deepspeed_zero3_enabled, set_hf_deepspeed_config, unset_hf_deepspeed_config

    if not is_deepspeed_zero3_enabled():
        yield
        return
    from accelerate.state import AcceleratorState

    unset_hf_deepspeed_config()
    try:
        yield
    finally:
        set_hf_deepspeed_config(AcceleratorState().deepspeed_plugin.dschf)


def load_backbone(source: str, cfg: ModelConfig, need_lm_head: bool, *, name: str,
                   purpose: str = "need_lm_head (LM log-probs, e.g. for GRM)") -> nn.Module:
    """The backbone body (``AutoModel``), or the whole causal LM when ``need_lm_head`` (``purpose`` says what needs
    it in the error for an encoder). Reward models and policies (``rl.policy.load_policy``) load through here."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=cfg.trust_remote_code)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load backbone {name!r}: it is not a local model directory and could not be "
                          f"loaded as a Hub id ({e})") from e
    if need_lm_head and not _is_causal_lm(config):
        raise ConfigError(f"{purpose} needs a causal LM backbone; {name} is an encoder ({config.model_type}); use "
                          f"a decoder backbone such as 'tiny'")
    auto = AutoModelForCausalLM if need_lm_head else AutoModel
    return auto.from_pretrained(source, config=config, dtype=_torch_dtype(cfg.dtype),
                                trust_remote_code=cfg.trust_remote_code)


def load_tokenizer(source: str, cfg: ModelConfig, *, template: bool = True):
    """The backbone's tokenizer, with a pad token (EOS or UNK stands in when it has none) and, when ``template``,
    the chat template ``cfg.chat_template`` chooses (a checkpoint's tokenizer already holds the one it was trained
    with)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=cfg.trust_remote_code)
    if template:
        set_chat_template(tokenizer, cfg.chat_template)
    if tokenizer.pad_token is None:
        stand_in = tokenizer.eos_token or tokenizer.unk_token
        if stand_in is None:
            raise ConfigError(f"the tokenizer of {cfg.backbone!r} has no pad, EOS or UNK token to pad with")
        tokenizer.pad_token = stand_in
    return tokenizer


def _lora_config(lora: LoraSettings) -> LoraConfig:
    targets = lora.target_modules
    if targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets)


class EnsembleRewardModel(nn.Module):
    """K reward models scored together: ``forward`` gives member rewards [N, K] (the method's ``score``
    aggregates them) and the members' mean last-token hidden state [N, H]. Members share one tokenizer."""

    def __init__(self, members: list[RewardModel]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.tokenizer = members[0].tokenizer

    def forward(self, input_ids: Tensor | None, attention_mask: Tensor | None, *, packed=None):
        return self._combine([member(input_ids, attention_mask, packed=packed) for member in self.members])

    @staticmethod
    def _combine(outputs):
        return torch.stack([o[0] for o in outputs], dim=-1), torch.stack([o[1] for o in outputs]).mean(0)

    @staticmethod
    def save_reference(path: str | Path, member_checkpoints: list[Path]) -> None:
        """An ensemble checkpoint: a ``META`` file naming its members' checkpoints relative to ``path``."""
        path = Path(path)
        with atomic_directory(path) as tmp:
            members = [os.path.relpath(Path(m).resolve(), path.resolve()) for m in member_checkpoints]
            (tmp / META).write_text(json.dumps({"format_version": FORMAT_VERSION, "ensemble": members}, indent=2))


def load_checkpoint(path: str | Path) -> RewardModel | EnsembleRewardModel:
    """The model of any rmbench checkpoint: a single reward model or an ensemble of them."""
    path = Path(path)
    meta_file = path / META
    try:
        members = json.loads(meta_file.read_text()).get("ensemble") if meta_file.exists() else None
    except (OSError, ValueError, AttributeError) as e:
        raise ConfigError(f"{path} is not a readable rmbench reward-model checkpoint (cannot read {META}: {e})") from e
    if members is None:
        return RewardModel.load(path)
    return EnsembleRewardModel([RewardModel.load(path / member) for member in members])
