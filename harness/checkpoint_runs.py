"""A reward model that is not a run (a saved rmbench checkpoint, an external reward model), evaluated as one."""
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


def evaluate_model(model_path: str | Path, suite_names: list[str], *, runs_dir: str | Path = "runs", kind: str = "rm",
                   ref: str | None = None, ref_free_type: str | None = None, **kwargs) -> dict:
    """Evaluate a model that is not a run: a saved rmbench checkpoint (a directory with ``rmbench_model.json``) or
    an external reward model (``harness.external``: a ``*ForSequenceClassification`` directory or Hub id).

    A checkpoint gets a run-like directory ``runs/ckpt-<name>-<hash of the absolute path>/``, created once, with a
    ``config.yaml`` (the checkpoint's model config, method ``bt``: scores are the raw head outputs) and a
    ``result.json`` whose ``model_path`` points at the checkpoint, whose ``data`` is ``checkpoint:<path>`` and whose
    config hash covers the path (two checkpoints never share leaderboard rows); an external model gets the run
    :func:`harness.external.external_run` describes. With ``kind`` an implicit-reward method (``dpo``), the model
    is a causal LM scored by its implicit reward against ``ref`` (or reference-free by ``ref_free_type``), a run
    :func:`harness.external.implicit_run` describes. Then :func:`harness.evaluation.evaluate` runs on it.
    """
    from harness import suites
    from harness.external import external_run, implicit_run, is_rmbench_checkpoint

    for name in suite_names:  # an unknown suite fails before any model is looked up
        suites.get(suites.current_name(name))
    if kind != "rm":
        run = implicit_run(str(model_path), kind, ref, ref_free_type, suite_names, list(kwargs.get("overrides") or []))
    elif ref is not None or ref_free_type is not None:
        raise ConfigError("--ref and --ref-free-type score a policy by its implicit reward: add --kind dpo")
    elif is_rmbench_checkpoint(model_path):
        run = _checkpoint_run(Path(model_path).resolve())
    else:
        run = external_run(str(model_path), suite_names, list(kwargs.get("overrides") or []))
        kwargs["overrides"] = run["overrides"]
    run_dir, cfg = Path(runs_dir) / run["run_id"], run["cfg"]
    if RunResult.read(run_dir) is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_run_config(run_dir, cfg)
        started = now()
        fields = {"method": "bt", "preset": "checkpoint", **run["result"]}
        RunResult(run_id=run_dir.name, method_config={}, config_hash=run["config_hash"],
                  config=config_mod.to_dict(cfg), backbone=cfg.model.backbone, seed=0, versions=versions(),
                  git_sha=git_sha(), started_at=started, finished_at=started, wall_times={}, train={},
                  **fields).write(run_dir)
    return evaluate(run_dir, suite_names, **kwargs)


def _checkpoint_run(path: Path) -> dict:
    """The run-like directory of a saved rmbench checkpoint (see :func:`evaluate_model`)."""
    from harness.models import META

    try:
        meta = json.loads((path / META).read_text())
        if "ensemble" in meta:  # an ensemble reference: the members share one model config
            meta = json.loads((path / meta["ensemble"][0] / META).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path} is not an rmbench reward-model checkpoint (cannot read {META}: {e})") from e
    cfg = config_mod.from_dict(RunConfig, {"method": "bt", "preset": "checkpoint", "model": meta["model_config"],
                                           "suites": []})
    digest = hashlib.sha256(f"{path}\n{config_mod.config_hash(cfg)}".encode()).hexdigest()[:16]
    return {"run_id": f"ckpt-{path.name}-{digest[:8]}", "cfg": cfg, "config_hash": digest,
            "result": {"data": f"checkpoint:{path}", "model_path": str(path)}}
