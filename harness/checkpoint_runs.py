"""A reward model that is not a run (a saved rmbench checkpoint, an external reward model), evaluated as one."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from harness import config as config_mod
from harness import suites
from harness.coerce import deep_merge, from_dict
from harness.config import RunConfig, config_hash
from harness.errors import ConfigError
from harness.external import (DEFAULT_POLICY, EXTERNAL, is_rmbench_checkpoint, revision,
                              sequence_classifier_config)
from harness.metric_keys import suite_name
from harness.models import META
from harness.results import git_sha, versions
from harness.runs import RunResult, now, write_run_config


def evaluate_model(lab, model_path: str | Path, suite_names: list[str], **kwargs) -> dict:
    """Evaluate a model that is not a run: a saved rmbench checkpoint (a directory with ``rmbench_model.json``) or
    an external reward model (``harness.external``: a ``*ForSequenceClassification`` directory or Hub id).

    A checkpoint gets a run-like directory ``runs/ckpt-<name>-<hash of the absolute path>/``, created once, with a
    ``config.yaml`` (the checkpoint's model config, method ``bt``: scores are the raw head outputs) and a
    ``result.json`` whose ``model_path`` points at the checkpoint, whose ``data`` is ``checkpoint:<path>`` and whose
    config hash covers the path (two checkpoints never share leaderboard rows); an external model gets the run
    :func:`external_run` describes. Then ``lab.evaluate`` (:class:`harness.lab.Lab`) runs on it, the
    run-like directory in ``lab.runs_dir``.
    """
    for name in suite_names:  # an unknown suite fails before any model is looked up
        suites.get(suites.current_name(name))
    if is_rmbench_checkpoint(model_path):
        run = checkpoint_run(Path(model_path).resolve())
    else:
        run = external_run(str(model_path), suite_names, list(kwargs.get("overrides") or []))
        kwargs["suite_values"] = run["suite_values"]
    run_dir, cfg = lab.runs_dir / run["run_id"], run["cfg"]
    if RunResult.read(run_dir) is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_run_config(run_dir, cfg)
        started = now()
        fields = {"method": "bt", "preset": "checkpoint", **run["result"]}
        RunResult(run_id=run_dir.name, method_config={}, config_hash=run["config_hash"],
                  config=config_mod.to_dict(cfg), backbone=cfg.model.backbone, seed=0, versions=versions(),
                  git_sha=git_sha(), started_at=started, finished_at=started, wall_times={}, train={},
                  **fields).write(run_dir)
    return lab.evaluate(run_dir, suite_names, **kwargs)


def checkpoint_run(path: Path) -> dict:
    """The run-like directory of a saved rmbench checkpoint (see :func:`evaluate_model`)."""
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


def external_run(spec: str, suite_names: list[str], overrides: list[str]) -> dict:
    """The run of an external model: run id ``external-<name>-<hash>``, the hash over the model id, its revision,
    the model settings and the suite options (``--set``), and the fields its first ``result.json`` holds.

    The run config has method ``bt`` (scores are the raw rewards) and the default world (the world suites score on
    it); ``bon`` / ``rl`` sample from the world's base LM unless ``bon.policy`` / ``rl.policy`` is given: that
    default is returned as ``suite_values`` (``{"bon": {"policy": "tiny"}}``), the options the evaluation adds.
    """
    options, run_settings = suites.split_overrides(list(overrides))
    given = sorted(overrides)  # the identity: a suite added later, without options, lands in the same run
    defaults = {name: {"policy": DEFAULT_POLICY} for name in ("bon", "rl")
                if name in map(suite_name, suite_names) and "policy" not in options.get(name, {})}
    base = {"method": "bt", "preset": EXTERNAL, "suites": [], "model": {"backbone": spec}}
    cfg = from_dict(RunConfig, deep_merge(base, run_settings))
    model_config = sequence_classifier_config(spec, cfg.model.trust_remote_code)
    rev = revision(spec)
    key = {"model": spec, "revision": rev, "config": config_hash(cfg), "options": given}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(spec.rstrip("/")).name)
    return {"run_id": f"{EXTERNAL}-{name}-{digest[:8]}", "cfg": cfg, "config_hash": digest, "suite_values": defaults,
            "result": {"method": EXTERNAL, "preset": EXTERNAL, "data": EXTERNAL, "model_path": spec,
                       "external_model": {"id": spec, "revision": rev, "architectures": model_config.architectures,
                                 "pad_token_id": model_config.pad_token_id}}}
