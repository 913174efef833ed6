"""A saved reward-model checkpoint that is not a run, evaluated as one."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from harness import config as config_mod
from harness.config import RunConfig
from harness.errors import ConfigError
from harness.evaluation import evaluate
from harness.results import git_sha, versions
from harness.runs import RunResult, now, write_run_config


def evaluate_model(model_path: str | Path, suite_names: list[str], *, runs_dir: str | Path = "runs",
                   **kwargs) -> dict:
    """Evaluate a saved checkpoint that is not a run (a directory with ``rmbench_model.json``).

    A run-like directory ``runs/ckpt-<name>-<hash of the absolute path>/`` is created once, with a ``config.yaml``
    (the checkpoint's model config, method ``bt``: scores are the raw head outputs) and a ``result.json`` whose
    ``model_path`` points at the checkpoint, whose ``data`` is ``checkpoint:<path>`` and whose config hash covers the
    path (two checkpoints never share leaderboard rows); then :func:`harness.evaluation.evaluate` runs on it.
    """
    from harness.models import META

    path = Path(model_path).resolve()
    try:
        meta = json.loads((path / META).read_text())
        if "ensemble" in meta:  # an ensemble reference: the members share one model config
            meta = json.loads((path / meta["ensemble"][0] / META).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path} is not an rmbench reward-model checkpoint (cannot read {META}: {e})") from e
    cfg = config_mod.from_dict(RunConfig, {"method": "bt", "preset": "checkpoint", "model": meta["model_config"],
                                           "suites": []})
    digest = hashlib.sha256(f"{path}\n{config_mod.config_hash(cfg)}".encode()).hexdigest()[:16]
    run_dir = Path(runs_dir) / f"ckpt-{path.name}-{digest[:8]}"
    if RunResult.read(run_dir) is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_run_config(run_dir, cfg)
        started = now()
        RunResult(run_id=run_dir.name, method="bt", method_config={}, preset="checkpoint", config_hash=digest,
                  config=config_mod.to_dict(cfg), backbone=cfg.model.backbone, data=f"checkpoint:{path}",
                  model_path=str(path), seed=0, versions=versions(), git_sha=git_sha(), started_at=started,
                  finished_at=started, wall_times={}, train={}).write(run_dir)
    return evaluate(run_dir, suite_names, **kwargs)
