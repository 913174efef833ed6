"""Reward models trained elsewhere: any transformers ``*ForSequenceClassification`` with one label, evaluated as a
run of method ``external``.

A local directory (trl's ``RewardTrainer`` output included) or a Hub id is loaded with
``AutoModelForSequenceClassification`` and scored by its own forward: the reward is ``logits[:, 0]``, pooled as its
class pools (decoders: the rightmost token that is not ``config.pad_token_id``, ``GenericForSequenceClassification``
in transformers' ``modeling_layers.py``; encoders: the first token), never by rmbench's head. Sequences are rendered
with the model's own chat template (``model.chat_template`` overrides it) and right-padded with the model's pad id,
so a reward does not depend on the batch it is scored in. A model shipped without ``pad_token_id`` gets the
tokenizer's pad token, else its EOS, as trl's ``RewardTrainer`` sets it (recorded in ``result.json``).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import Tensor, nn

from harness.config import ModelConfig, RunConfig
from harness.data.encode import set_chat_template
from harness.errors import ConfigError
from harness.implicit import implicit_scorer, load_causal_lm
from harness.layout import RESULT_FILE
from harness.models import META, _is_causal_lm, _torch_dtype, load_checkpoint

EXTERNAL = "external"  # the method name of an evaluated external model (in result.json and the leaderboards)
DEFAULT_POLICY = "tiny"  # bon / rl sample from the world's base LM: an external RM has no policy of its own


def is_rmbench_checkpoint(spec: str | Path) -> bool:
    return (Path(spec) / META).is_file()


def load_reward_model(spec: str | Path, cfg: ModelConfig, chat_template: str | None = None,
                      causal_lm: bool = False):
    """The model a run scores with: an rmbench checkpoint (single or ensemble) or an external sequence classifier,
    or with ``causal_lm`` (an implicit-reward run) any causal LM, as a ``RewardModel`` with its LM head and its own
    chat template. ``chat_template`` (a ``model.chat_template`` given at evaluation) replaces a checkpoint's own
    template."""
    if not is_rmbench_checkpoint(spec):
        if causal_lm:
            return load_causal_lm(str(spec), cfg, setting="--model")
        return ExternalRewardModel.load(str(spec), cfg)
    model = load_checkpoint(spec)
    if chat_template is not None:
        set_chat_template(model.tokenizer, chat_template)
    return model


def scoring_model(spec: str | Path, cfg: RunConfig, method, chat_template: str | None = None):
    """The model a run scores with, for ``rmbench eval`` and ``rmbench serve`` alike: :func:`load_reward_model`'s,
    and for an implicit-reward ``method`` (the DPO family) that policy with its reference
    (:func:`harness.implicit.implicit_scorer`)."""
    model = load_reward_model(spec, cfg.model, chat_template, method.implicit)
    if not method.implicit:
        return model
    return implicit_scorer(model, cfg, method)


def sequence_classifier_config(spec: str, trust_remote_code: bool = False):
    """The transformers config of ``spec``, checked to be a one-label sequence classifier (a reward model); for a
    peft adapter of task ``SEQ_CLS`` (trl's ``RewardTrainer`` with ``peft_config``), its base's config with one
    label."""
    from transformers import AutoConfig

    if (Path(spec) / RESULT_FILE).is_file():
        raise ConfigError(f"{spec} is an rmbench run: evaluate it with --run {spec}")
    if spec.startswith((".", "/", "~")) and not Path(spec).expanduser().exists():  # a path, never a Hub id
        raise ConfigError(f"cannot load reward model {spec!r}: no such file or directory")
    adapter = peft_adapter(spec)
    source = spec if adapter is None else adapter.base_model_name_or_path
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load reward model {source!r}: not an rmbench checkpoint (no rmbench_model.json), "
                          f"and not loadable as a transformers model directory or Hub id ({e})") from e
    if adapter is not None:
        config.num_labels = 1
        return config
    architectures = list(config.architectures or [])
    if not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise ConfigError(f"{spec} is not a reward model: its config names {architectures or 'no architecture'}, "
                          f"no *ForSequenceClassification; to train a reward model on it use "
                          f"`rmbench train METHOD --set model.backbone={spec}`")
    if config.num_labels != 1:
        raise ConfigError(f"{spec} is a sequence classifier with {config.num_labels} labels; a reward model has "
                          f"one (num_labels=1, reward = logits[:, 0])")
    return config


def peft_adapter(spec: str):
    """The ``PeftConfig`` of a local adapter directory (no ``config.json`` of its own), else None."""
    path = Path(spec)
    if not (path / "adapter_config.json").is_file() or (path / "config.json").is_file():
        return None
    from peft import PeftConfig

    adapter = PeftConfig.from_pretrained(spec)
    if adapter.task_type != "SEQ_CLS":
        raise ConfigError(f"{spec} holds a peft adapter of task {adapter.task_type}, not of a sequence classifier "
                          f"(SEQ_CLS): it is not a reward model")
    return adapter


class ExternalRewardModel(nn.Module):
    """A transformers sequence classifier with the ``RewardModel`` interface: ``forward`` gives rewards [N]
    (``logits[:, 0]``, fp32) and the final hidden state (``hidden_states[-1]``, a decoder's ``score`` reads it) at
    the pooled token [N, H]."""

    def __init__(self, model: nn.Module, tokenizer, *, source: str):
        super().__init__()
        self.model, self.tokenizer, self.source = model, tokenizer, source
        self.decoder = _is_causal_lm(model.config)

    @classmethod
    def load(cls, spec: str, cfg: ModelConfig) -> "ExternalRewardModel":
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        config = sequence_classifier_config(spec, cfg.trust_remote_code)
        adapter = peft_adapter(spec)
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                spec if adapter is None else adapter.base_model_name_or_path, config=config,
                dtype=_torch_dtype(cfg.dtype), trust_remote_code=cfg.trust_remote_code)
            if adapter is not None:  # the adapter holds the trained score head too (peft's modules_to_save)
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, spec).merge_and_unload()
            tokenizer = AutoTokenizer.from_pretrained(spec, trust_remote_code=cfg.trust_remote_code)
        except (OSError, ValueError) as e:  # custom code without trust_remote_code, missing weights or tokenizer
            raise ConfigError(f"cannot load reward model {spec!r}: {e}") from e
        set_chat_template(tokenizer, cfg.chat_template)
        pad_like_the_model(model.config.get_text_config(), tokenizer, spec)
        return cls(model.eval(), tokenizer, source=spec)

    @property
    def hidden_size(self) -> int:
        return self.model.config.get_text_config().hidden_size

    @property
    def pad_token_id(self) -> int:
        return self.model.config.get_text_config().pad_token_id

    def forward(self, input_ids: Tensor, attention_mask: Tensor, return_lm_logits: bool = False):
        if return_lm_logits:
            raise ConfigError(f"{self.source} is an external reward model: it has no LM head (methods that need "
                              f"LM log-probs cannot score with it)")
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        states = out.hidden_states[-1]
        if self.decoder:  # the token GenericForSequenceClassification pools: the rightmost non-pad one
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            pooled = ((input_ids != self.pad_token_id).long() * positions).argmax(-1)
        else:
            pooled = torch.zeros(input_ids.shape[0], dtype=torch.long, device=input_ids.device)
        hidden = states[torch.arange(states.shape[0], device=states.device), pooled].float()
        return out.logits[:, 0].float(), hidden


def pad_like_the_model(config, tokenizer, spec: str) -> None:
    """Make the tokenizer pad with the model's ``pad_token_id`` (the id its pooling skips); a model without one
    gets the tokenizer's pad token, else its EOS, as trl's ``RewardTrainer`` does."""
    if config.pad_token_id is None:
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise ConfigError(f"{spec}: neither its config nor its tokenizer has a pad or EOS token to pad with")
        config.pad_token_id = pad
    if tokenizer.pad_token_id != config.pad_token_id:
        tokenizer.pad_token = tokenizer.convert_ids_to_tokens(config.pad_token_id)


def revision(spec: str) -> str:
    """What identifies the weights: a Hub model's snapshot commit, or for a local directory a digest of its
    ``config.json`` and the name, size and modification time of its weight files."""
    local = Path(spec)
    if local.is_dir():
        digest = hashlib.sha256((local / "config.json").read_bytes() if (local / "config.json").is_file() else b"")
        for f in sorted(local.iterdir()):
            if f.suffix in (".safetensors", ".bin", ".pt", ".pth"):
                stat = f.stat()
                digest.update(f"{f.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return f"local-{digest.hexdigest()[:12]}"
    from transformers.utils import cached_file

    path = Path(cached_file(spec, "config.json"))
    return path.parent.name if path.parent.parent.name == "snapshots" else "unknown"
