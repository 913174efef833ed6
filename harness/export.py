"""Export a trained reward model as a standard transformers ``AutoModelForSequenceClassification`` checkpoint.

rmbench reads the reward at the last non-pad token through a linear head without bias; a decoder's
``*ForSequenceClassification`` (``GenericForSequenceClassification`` in transformers' ``modeling_layers.py``)
computes ``score(last_hidden_state)``, a linear layer without bias, at the rightmost token that is not
``config.pad_token_id``. With right padding and a pad token that never ends a sequence the two are the same function,
so the export is exact: the body's weights (LoRA merged), the head as ``score.weight``, the tokenizer with its pad
token and chat template, ``config.pad_token_id`` set. The written model is loaded back and checked against rmbench's
own rewards before it is kept. Anything else (an encoder, the mlp head, an ensemble) has no exact equivalent and is
refused with the reason.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import torch

import methods
from harness.atomic import atomic_directory
from harness.data.encode import Encoder, pad_sequences
from harness.errors import ConfigError
from harness.external import EXTERNAL, is_rmbench_checkpoint
from harness.models import META, RewardModel, _is_causal_lm
from harness.runs import CHECKPOINT_DIR, read_result

EXPORT_TOLERANCE = 1e-4  # max |reward difference| accepted by the check (fp32 gives ~1e-6; bf16 weights more)
CHECK_TEXTS = [("What is the capital of France?", "Paris."), ("Say hello.", "Hello! How can I help you today?"),
               ("2 + 2 = ?", "5")]
PAD_TOKEN = "<|rmbench_pad|>"


def checkpoint_of(run_or_checkpoint: str | Path) -> Path:
    """The checkpoint of a run directory (``RUN/checkpoint``, or the checkpoint an evaluated one points at), or the
    directory itself when it is a checkpoint."""
    path = Path(run_or_checkpoint)
    if is_rmbench_checkpoint(path):
        return path
    result = read_result(path)
    if result is None:
        raise ConfigError(f"{path} is neither an rmbench run (no result.json) nor a checkpoint (no "
                          f"rmbench_model.json)")
    if result.get("method") == EXTERNAL:
        raise ConfigError(f"{path} evaluates the external model {result.get('model_path')!r}: it already is a "
                          f"transformers checkpoint, load it directly")
    if result.get("method") in methods.names() and methods.get(result["method"]).implicit:
        raise ConfigError(f"{path} is a {result['method']} run: its reward is the implicit reward of a policy "
                          f"(log-probs against a reference), which no sequence-classification head computes; its "
                          f"policy is a causal LM in {path / CHECKPOINT_DIR / 'backbone'}")
    return Path(result.get("model_path") or path / CHECKPOINT_DIR)


def exportable(meta: dict, config, head) -> None:
    """Raise a ``ConfigError`` saying why a checkpoint has no exact ``*ForSequenceClassification`` equivalent."""
    if "ensemble" in meta:
        raise ConfigError(f"an ensemble of {len(meta['ensemble'])} reward models scores with its members' rewards "
                          f"together; one sequence classifier cannot express that: export a member instead "
                          f"(`rmbench export RUN/members/0/checkpoint --out DIR`)")
    if meta["head"] != "linear":
        raise ConfigError(f"the {meta['head']!r} head (Linear-ReLU-Linear) is not a sequence-classification head "
                          f"(one linear layer without bias): no exact export; train with model.head=linear, or "
                          f"evaluate this checkpoint with `rmbench eval --model`")
    if not _is_causal_lm(config):
        raise ConfigError(f"the backbone is an encoder ({config.model_type}): its *ForSequenceClassification pools "
                          f"the first token (through a pooler and a biased classifier) while rmbench reads the last "
                          f"non-pad token, so no exact export exists; use a decoder backbone, or evaluate this "
                          f"checkpoint with `rmbench eval --model`")
    bias = None if head[0].bias is None else head[0].bias.detach()
    if bias is not None and float(bias.abs().max()) != 0.0:
        raise ConfigError(f"this checkpoint's linear head has a bias ({float(bias[0]):.6g}; written before "
                          f"the head lost it), which the sequence-classification head has not: retrain to export")


def export(run_or_checkpoint: str | Path, out: str | Path) -> dict:
    """Write ``out`` (atomically): a checkpoint ``AutoModelForSequenceClassification.from_pretrained(out)`` loads,
    with ``num_labels=1``; returns ``{"out", "architecture", "pad_token_id", "max_abs_diff"}``."""
    from transformers import AutoModelForSequenceClassification

    path = checkpoint_of(run_or_checkpoint)
    meta = json.loads((path / META).read_text())
    if "ensemble" in meta:
        exportable(meta, None, None)
    model = RewardModel.load(path).eval()
    exportable(meta, model._core.config, model.head)

    tokenizer = copy.deepcopy(model.tokenizer)
    tokenizer.padding_side = "right"
    added = _dedicated_pad_token(tokenizer)
    core = copy.deepcopy(model.backbone).merge_and_unload() if model.is_lora else model._core
    body = core.base_model
    config = copy.deepcopy(body.config)
    config.num_labels = 1
    try:
        classifier = AutoModelForSequenceClassification.from_config(config, dtype=body.dtype)
    except ValueError as e:
        raise ConfigError(f"transformers has no sequence-classification class for {config.model_type}: {e}") from e
    score = getattr(classifier, "score", None)
    if not isinstance(score, torch.nn.Linear) or score.bias is not None:
        raise ConfigError(f"{type(classifier).__name__} has no bias-free linear `score` head: no exact export")
    state = {f"{classifier.base_model_prefix}.{k}": v for k, v in body.state_dict().items()}
    state["score.weight"] = model.head[0].weight.detach().to(body.dtype)
    classifier.load_state_dict(state, strict=True)
    if added:  # the new pad row is only ever seen at padded positions, which no kept token attends to
        classifier.resize_token_embeddings(len(tokenizer))
    classifier.config.pad_token_id = tokenizer.pad_token_id
    classifier.config.architectures = [type(classifier).__name__]
    with atomic_directory(Path(out)) as tmp:
        classifier.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        diff = _check(model, tmp)
        if diff > EXPORT_TOLERANCE:
            raise ConfigError(f"the exported model's rewards differ from rmbench's by {diff:.3g} (> "
                              f"{EXPORT_TOLERANCE}); nothing was written")
    return {"out": str(out), "architecture": type(classifier).__name__, "pad_token_id": tokenizer.pad_token_id,
            "added_pad_token": added, "max_abs_diff": diff}


def _dedicated_pad_token(tokenizer) -> bool:
    """Give the tokenizer a pad token that no sequence ends with (the classifier pools the rightmost non-pad
    token, so a pad that is also EOS or SEP would move the pooled position); True when one was added."""
    endings = {tokenizer.eos_token_id, tokenizer.sep_token_id, tokenizer.bos_token_id, tokenizer.cls_token_id}
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id not in endings:
        return False
    tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    return True


def _check(model, out: Path) -> float:
    """Max |reward difference| between ``model`` and the classifier loaded from ``out``, one batch of
    ``CHECK_TEXTS`` chosen/plain pairs, encoded as rmbench encodes and right-padded with the exported pad id."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    classifier = AutoModelForSequenceClassification.from_pretrained(out).eval()
    seqs = Encoder(model.tokenizer, model.cfg.max_length).encode([p for p, _ in CHECK_TEXTS],
                                                                 [r for _, r in CHECK_TEXTS])
    ids, mask, _ = pad_sequences(seqs, tokenizer.pad_token_id)
    with torch.no_grad():
        ours = model(*pad_sequences(seqs, model.tokenizer.pad_token_id)[:2])[0]
        theirs = classifier(input_ids=ids, attention_mask=mask).logits[:, 0].float()
    return float((ours - theirs).abs().max())
