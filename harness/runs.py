"""A run on disk (ARCHITECTURE.md §5): the directory layout, the run id and the typed ``result.json``.

A run lives in ``runs/<run_id>/``. The run id is derived from (method, preset, seed, config hash), so the same
experiment always lands in the same directory: a finished run is not trained again, an interrupted one is continued
with ``resume=True``, and re-recording a result is idempotent. Layout::

    config.yaml          the resolved run config          (CONFIG_FILE)
    result.json          the run's RunResult              (RESULT_FILE)
    train_outcome.json   written when training finished   (OUTCOME_FILE)
    metrics.jsonl        the convergence curve            (METRICS_FILE)
    checkpoint/          the trained reward model         (CHECKPOINT_DIR)
    state/               resumable trainer state          (STATE_DIR, STATE_FILE inside)
    predictions/<suite>/<name>.jsonl                      (predictions_path)
    members/<k>/         an ensemble member, laid out like a run (MEMBERS_DIR)
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from harness import config as config_mod
from harness.config import RunConfig
from harness.errors import RmbenchError
from harness.results import write_json_atomic

SCHEMA_VERSION = 1
CONFIG_FILE = "config.yaml"
RESULT_FILE = "result.json"
OUTCOME_FILE = "train_outcome.json"  # written when a model's training has finished
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoint"
STATE_DIR, STATE_FILE = "state", "trainer_state.json"
MEMBERS_DIR = "members"
PREDICTIONS_DIR = "predictions"


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


@dataclass(kw_only=True)
class RunResult:
    """The content of ``result.json``: what the leaderboard records (``leaderboards.store``) plus the training
    outcome. ``model_path`` is set for a checkpoint evaluated as a run; ``suite_options`` once a suite has run."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    method: str
    method_config: dict
    preset: str
    config_hash: str
    config: dict
    backbone: str
    data: str
    model_path: str | None = None
    seed: int
    versions: dict
    git_sha: str | None
    started_at: str
    finished_at: str
    wall_times: dict
    train: dict
    metrics: list[dict] = field(default_factory=list)
    suite_options: dict | None = None  # {suite: its --set options} of the last evaluation of each suite
    chat_template_sha256: str | None = None  # of the template sequences were rendered with (None: plain layout)
    external_model: dict | None = None  # an external reward model's id, revision, architecture, pad id

    def to_json(self) -> dict:
        optional = ("model_path", "suite_options", "chat_template_sha256", "external_model")
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None or k not in optional}

    @classmethod
    def from_json(cls, data: dict, where: str = RESULT_FILE) -> "RunResult":
        names = {f.name for f in dataclasses.fields(cls)}
        if unknown := sorted(set(data) - names):
            raise RmbenchError(f"{where}: unknown field {unknown[0]!r}")
        try:
            return cls(**data)
        except TypeError as e:  # a missing field
            raise RmbenchError(f"{where}: {e}") from None

    @classmethod
    def read(cls, run_dir: Path) -> "RunResult | None":
        """The run's result, or None when it has none yet."""
        path = Path(run_dir) / RESULT_FILE
        return cls.from_json(json.loads(path.read_text()), str(path)) if path.exists() else None

    def write(self, run_dir: Path) -> None:
        write_json_atomic(Path(run_dir) / RESULT_FILE, self.to_json())


def read_result(run_dir: Path) -> dict | None:
    """The run's ``result.json`` as a dict (validated as a :class:`RunResult`), or None."""
    result = RunResult.read(run_dir)
    return None if result is None else result.to_json()
