"""The reward model of a run, an rmbench checkpoint or an external sequence classifier, loaded as ``rmbench eval``
loads it (same checkpoint, method, ``max_length`` and chat template), as a :class:`harness.scoring.Scorer` with
what ``GET /info`` of ``rmbench serve`` reports about it."""
from __future__ import annotations

from pathlib import Path

import methods
from harness import __version__
from harness.checkpoint_runs import checkpoint_run, external_run
from harness.data.encode import Encoder, chat_template_sha256
from harness.errors import ConfigError, RmbenchError
from harness.external import is_rmbench_checkpoint, scoring_model
from harness.runs import CHECKPOINT_DIR, RESULT_FILE, RunResult, load_run_config
from harness.scoring import Scorer


def load_scorer(run: str | Path | None = None, model: str | None = None, batch_size: int = 64,
                device: str = "auto") -> tuple[object, dict]:
    """(scorer, info) of exactly one of a run directory ``run`` or a model ``model`` (an rmbench checkpoint
    directory, or a ``*ForSequenceClassification`` directory or Hub id), scoring in batches of ``batch_size`` on
    ``device`` (``auto``: the GPU when there is one)."""
    import torch

    if (run is None) == (model is None):
        raise ConfigError("give exactly one of a run directory (rmbench serve runs/<run_id>) or --model DIR")
    if run is not None:
        run = Path(run)
        result = RunResult.read(run)
        if result is None:
            raise RmbenchError(f"{run} has no {RESULT_FILE}: train it first (or resume it)")
        cfg = load_run_config(run)
        path = result.model_path or run / CHECKPOINT_DIR
        info = {"run_id": result.run_id, "method": result.method, "method_config": result.method_config,
                "config_hash": result.config_hash, "backbone": result.backbone, "model": str(path),
                "model_version": result.config_hash, "external_model": result.external_model}
    else:
        checkpoint = is_rmbench_checkpoint(model)
        spec = Path(model).resolve() if checkpoint else str(model)
        described = checkpoint_run(spec) if checkpoint else external_run(spec, [], [])
        cfg, path = described["cfg"], str(spec)
        info = {"run_id": None, "method": described["result"].get("method", cfg.method), "method_config": {},
                "config_hash": described["config_hash"], "backbone": cfg.model.backbone, "model": path,
                "model_version": (described["result"].get("external_model") or {}).get("revision")
                or described["config_hash"], "external_model": described["result"].get("external_model")}
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(device)
    except RuntimeError as e:
        raise ConfigError(f"--device: {e}") from None
    method = methods.get(cfg.method)(**cfg.method_config)
    reward_model = scoring_model(path, cfg, method).to(device)  # a DPO-family run: its policy and reference
    scorer = Scorer(reward_model, method,
                    Encoder(reward_model.tokenizer, cfg.model.max_length), batch_size)
    info.update(max_length=cfg.model.max_length, chat_template_sha256=chat_template_sha256(reward_model.tokenizer),
                rmbench=__version__, device=str(device), generation_prompt=scorer.encoder.generation_prompt or None)
    return scorer, info
