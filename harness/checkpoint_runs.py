"""A reward model that is not a run (a saved rmbench checkpoint, an external reward model), evaluated as one."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import methods
from harness import config as config_mod
from harness import suites
from harness.coerce import deep_merge, from_dict
from harness.config import RunConfig, config_hash
from harness.errors import ConfigError
from harness.external import (DEFAULT_POLICY, EXTERNAL, is_rmbench_checkpoint, revision,
                              sequence_classifier_config)
from harness.metric_keys import suite_name
from harness.models import META, _is_causal_lm
from harness.results import git_sha, versions
from harness.runs import RunResult, now, write_run_config


def evaluate_model(lab, model_path: str | Path, suite_names: list[str], *, kind: str = "rm", ref: str | None = None,
                   ref_free_type: str | None = None, **kwargs) -> dict:
    """Evaluate a model that is not a run: a saved rmbench checkpoint (a directory with ``rmbench_model.json``) or
    an external reward model (``harness.external``: a ``*ForSequenceClassification`` directory or Hub id).

    A checkpoint gets a run-like directory ``runs/ckpt-<name>-<hash of the absolute path>/``, created once, with a
    ``config.yaml`` (the checkpoint's model config, method ``bt``: scores are the raw head outputs) and a
    ``result.json`` whose ``model_path`` points at the checkpoint, whose ``data`` is ``checkpoint:<path>`` and whose
    config hash covers the path (two checkpoints never share leaderboard rows); an external model gets the run
    :func:`external_run` describes. With ``kind`` an implicit-reward method (``dpo``), the model is a causal LM
    scored by its implicit reward against ``ref`` (or reference-free by ``ref_free_type``), a run
    :func:`implicit_run` describes. Then ``lab.evaluate`` (:class:`harness.lab.Lab`) runs on it, the run-like
    directory in ``lab.runs_dir``.
    """
    for name in suite_names:  # an unknown suite fails before any model is looked up
        suites.get(suites.current_name(name))
    if kind != "rm":
        run = implicit_run(str(model_path), kind, ref, ref_free_type, suite_names, list(kwargs.get("overrides") or []))
    elif ref is not None or ref_free_type is not None:
        raise ConfigError("--ref and --ref-free-type score a policy by its implicit reward: add --kind dpo")
    elif is_rmbench_checkpoint(model_path):
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


def implicit_run(spec: str, kind: str, ref: str | None, ref_free_type: str | None, suite_names: list[str],
                 overrides: list[str]) -> dict:
    """The run of a causal LM trained elsewhere (trl's ``DPOTrainer`` output, any policy) scored by the implicit
    reward of method ``kind`` (``dpo``, ``ipo``, ``simpo``), as :func:`external_run` describes an external RM's.

    ``ref`` is the reference policy (``model.ref``); without it a ``dpo`` / ``ipo`` model is scored
    reference-free, by ``ref_free_type`` (``sum`` | ``avg`` | ``norm``, default ``avg`` as reward-bench's
    ``scripts/run_dpo.py``). The model's own chat template renders the sequences (``model.chat_template``
    overrides it)."""
    from transformers import AutoConfig

    method_cls = methods.get(kind)
    if not method_cls.implicit:
        raise ConfigError(f"--kind {kind}: not an implicit-reward method; choose rm (a sequence classifier) or one "
                          f"of {', '.join(n for n in methods.names() if methods.get(n).implicit)}")
    method_config = {}
    if "ref_free_type" in method_cls.default_config():
        method_config["ref_free_type"] = ref_free_type or ("none" if ref else "avg")
        if method_config["ref_free_type"] == "none" and not ref:
            raise ConfigError(f"--kind {kind} scores with a reference policy: give --ref REF_DIR, or "
                              f"--ref-free-type sum|avg|norm")
    elif ref or ref_free_type:
        raise ConfigError(f"--kind {kind} has no reference: --ref and --ref-free-type do not apply")
    options, run_settings = suites.split_overrides(list(overrides))
    base = {"method": kind, "method_config": method_config, "preset": EXTERNAL, "suites": [],
            "model": {"backbone": spec, "ref": ref or ""}}
    cfg = from_dict(RunConfig, deep_merge(base, run_settings))
    method_cls(**cfg.method_config)  # a bad setting (β ≤ 0, an unknown ref_free_type) fails here
    for name, path in (("--model", spec), ("--ref", ref)):
        if path is None:
            continue
        if path.startswith((".", "/", "~")) and not Path(path).expanduser().exists():
            raise ConfigError(f"{name} {path!r}: no such file or directory")
        try:
            config = AutoConfig.from_pretrained(path, trust_remote_code=cfg.model.trust_remote_code)
        except (OSError, ValueError) as e:
            raise ConfigError(f"{name} {path!r}: not loadable as a transformers model directory or Hub id ({e})") \
                from e
        if not _is_causal_lm(config):
            raise ConfigError(f"{name} {path!r} is not a causal LM ({config.model_type}): --kind {kind} scores a "
                              f"policy's log-probs")
    key = {"model": spec, "revision": revision(spec), "ref": ref, "ref_revision": ref and revision(ref),
           "config": config_hash(cfg), "options": sorted(overrides)}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(spec.rstrip("/")).name)
    return {"run_id": f"{EXTERNAL}-{kind}-{name}-{digest[:8]}", "cfg": cfg, "config_hash": digest,
            "result": {"method": EXTERNAL, "preset": EXTERNAL, "data": EXTERNAL, "model_path": spec,
                       "external_model": {"id": spec, "revision": key["revision"], "kind": kind, "ref": ref,
                                          "ref_revision": key["ref_revision"]}}}
