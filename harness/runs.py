"""A run on disk (``docs/architecture.md``, "Run identity"): the run id, the run config it holds and its typed
``result.json`` (:class:`harness.schema.RunResult`), in the directory laid out as :mod:`harness.layout` names it.

A run lives in ``runs/<run_id>/``. The run id is derived from (method, preset, seed, config hash), so the same
experiment always lands in the same directory: a finished run is not trained again, an interrupted one is continued
with ``resume=True``, and re-recording a result is idempotent.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import yaml

from harness import config as config_mod
from harness.config import RunConfig
from harness.errors import RmbenchError
from harness.layout import (CHECKPOINT_DIR, CONFIG_FILE, MEMBERS_DIR, METRICS_FILE,  # noqa: F401 - the layout's names
                            OUTCOME_FILE, PREDICTIONS_DIR, RESULT_FILE, STATE_DIR, STATE_FILE)
from harness.schema import SCHEMA_VERSION, RunResult  # noqa: F401 - the result schema


def run_id(cfg: RunConfig) -> str:
    return f"{cfg.method}-{cfg.preset}-s{cfg.seed}-{config_mod.config_hash(cfg)[:8]}"


def predictions_path(run_dir: Path, suite: str, name: str) -> Path:
    return Path(run_dir) / PREDICTIONS_DIR / suite / f"{name}.jsonl"


def now() -> str:
    """The current UTC time as the ISO-8601 timestamp of ``started_at`` / ``finished_at``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_run_config(run_dir: Path, cfg: RunConfig) -> None:
    (Path(run_dir) / CONFIG_FILE).write_text(yaml.safe_dump(config_mod.to_dict(cfg), sort_keys=False))


def load_run_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise RmbenchError(f"{run_dir} is not an rmbench run (no {CONFIG_FILE})")
    return config_mod.from_dict(RunConfig, yaml.safe_load(path.read_text()))


def read_result(run_dir: Path) -> dict | None:
    """The run's ``result.json`` as a dict (validated as a :class:`RunResult`), or None."""
    result = RunResult.read(run_dir)
    return None if result is None else result.to_json()
