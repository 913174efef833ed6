"""Run results: provenance (package versions, git commit), merging metric rows, and the atomic JSON / JSONL writers
of ``result.json`` and per-example predictions. The result schema (``result.json``, its metric rows) is
:mod:`harness.schema`, the run directory's layout :mod:`harness.layout`."""
from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from harness.atomic import write_json_atomic, write_jsonl_atomic  # noqa: F401 - the result writers
from harness.metric_keys import suite_name
from harness.schema import MetricRow  # noqa: F401 - a suite's metric row

TRACKED_PACKAGES = ("rmbench", "torch", "transformers", "tokenizers", "accelerate", "peft", "pot", "trl",
                    "numpy", "sqlalchemy")


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


def merge_metrics(old: list[dict], new: list[dict]) -> list[dict]:
    """New metric rows replace the old rows of every (suite, dataset, split) they cover, so a re-run suite leaves
    no stale rows behind (e.g. best-of-N with a smaller ``n_max``), rows of its former name included (a renamed
    suite, :data:`harness.metric_keys.RENAMED_SUITES`); other old rows are kept."""
    covered = {(m["suite"], m["dataset"], m["split"]) for m in new}
    return [m for m in old if (suite_name(m["suite"]), m["dataset"], m["split"]) not in covered] + list(new)
