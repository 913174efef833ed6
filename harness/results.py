"""Run results (ARCHITECTURE.md §5): metric rows, provenance (package versions, git commit) and the atomic JSON /
JSONL writers of ``result.json`` and per-example predictions (the layout is :mod:`harness.runs`)."""
from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from harness.atomic import write_text_atomic
from harness.metric_keys import suite_name

TRACKED_PACKAGES = ("rmbench", "torch", "transformers", "tokenizers", "accelerate", "peft", "pot", "trl",
                    "numpy", "sqlalchemy")


@dataclass(frozen=True)
class MetricRow:
    suite: str
    suite_version: str
    dataset: str
    split: str
    metric: str
    value: float
    stderr: float | None
    n: int
    higher_is_better: bool = True

    def to_json(self) -> dict:
        d = asdict(self)
        d["value"] = None if math.isnan(d["value"]) else d["value"]
        return d


def versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def git_sha() -> str | None:
    """The commit of the rmbench source tree, when it is a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def write_json_atomic(path: Path, payload) -> None:
    write_text_atomic(path, [json.dumps(payload, indent=2, allow_nan=False) + "\n"])


def write_jsonl_atomic(path: Path, rows: Iterable[dict]) -> None:
    write_text_atomic(path, (json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def merge_metrics(old: list[dict], new: list[dict]) -> list[dict]:
    """New metric rows replace the old rows of every (suite, dataset, split) they cover, so a re-run suite leaves
    no stale rows behind (e.g. best-of-N with a smaller ``n_max``), rows of its former name included (a renamed
    suite, :data:`harness.metric_keys.RENAMED_SUITES`); other old rows are kept."""
    covered = {(m["suite"], m["dataset"], m["split"]) for m in new}
    return [m for m in old if (suite_name(m["suite"]), m["dataset"], m["split"]) not in covered] + list(new)
