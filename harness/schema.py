"""The result schema, in one place: the version of ``result.json`` and its fields (:class:`RunResult`), and the
fields of a metric row (:class:`MetricRow`). The harness writes it (:mod:`harness.runs`); the results database
(``leaderboards.store``) validates and records it from these same definitions: each field the database records
says so, with the kind of value it must hold, in its ``metadata["recorded"]``.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from harness.atomic import write_json_atomic
from harness.errors import RmbenchError
from harness.layout import RESULT_FILE

SCHEMA_VERSION = 1
#: the kinds of value a recorded field holds ("?" after a kind: it may also be null)
KINDS = ("text", "int", "number", "bool", "object", "list", "timestamp")


def recorded(kind: str, **kwargs):
    """A dataclass field the results database records, holding a value of ``kind`` (one of :data:`KINDS`)."""
    assert kind.rstrip("?") in KINDS, kind
    return field(metadata={"recorded": kind}, **kwargs)


def recorded_fields(cls) -> dict[str, str]:
    """Field name → kind, for the fields of ``cls`` the results database records."""
    return {f.name: f.metadata["recorded"] for f in dataclasses.fields(cls) if "recorded" in f.metadata}


@dataclass(frozen=True)
class MetricRow:
    """One evaluation number of a suite (``value`` NaN: undefined, written as null)."""

    suite: str = recorded("text")
    suite_version: str = recorded("text")
    dataset: str = recorded("text")
    split: str = recorded("text")
    metric: str = recorded("text")
    value: float = recorded("number?")
    stderr: float | None = recorded("number?")
    n: int = recorded("int")
    higher_is_better: bool = recorded("bool", default=True)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["value"] = None if math.isnan(d["value"]) else d["value"]
        return d


@dataclass(kw_only=True)
class RunResult:
    """The content of ``result.json``: what the leaderboard records (the ``recorded`` fields, and each of
    ``metrics`` as a :class:`MetricRow`) plus the training outcome. ``model_path`` is set for a checkpoint
    evaluated as a run; ``suite_options`` once a suite has run."""

    schema_version: int = recorded("int", default=SCHEMA_VERSION)
    run_id: str = recorded("text")
    method: str = recorded("text")
    method_config: dict = recorded("object")
    preset: str = recorded("text")
    config_hash: str = recorded("text")
    config: dict = recorded("object")
    backbone: str = recorded("text")
    data: str = recorded("text")
    model_path: str | None = None
    seed: int = recorded("int")
    versions: dict = recorded("object")
    git_sha: str | None = recorded("text?")
    started_at: str = recorded("timestamp")
    finished_at: str = recorded("timestamp")
    wall_times: dict = recorded("object")
    train: dict
    metrics: list[dict] = recorded("list", default_factory=list)
    suite_options: dict | None = None  # {suite: its --set options} of the last evaluation of each suite
    chat_template_sha256: str | None = None  # of the template sequences were rendered with (None: plain layout)
    external_model: dict | None = None  # an external reward model's id, revision, architecture, pad id

    def to_json(self) -> dict:
        optional = ("model_path", "suite_options", "chat_template_sha256", "external_model")
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None or k not in optional}

    @classmethod
    def from_json(cls, data: dict, where: str = RESULT_FILE) -> RunResult:
        names = {f.name for f in dataclasses.fields(cls)}
        if unknown := sorted(set(data) - names):
            raise RmbenchError(f"{where}: unknown field {unknown[0]!r}")
        try:
            return cls(**data)
        except TypeError as e:  # a missing field
            raise RmbenchError(f"{where}: {e}") from None

    @classmethod
    def read(cls, run_dir: Path) -> RunResult | None:
        """The run's result, or None when it has none yet."""
        path = Path(run_dir) / RESULT_FILE
        return cls.from_json(json.loads(path.read_text()), str(path)) if path.exists() else None

    def write(self, run_dir: Path) -> None:
        write_json_atomic(Path(run_dir) / RESULT_FILE, self.to_json())
