"""JudgeBench (ScalerLab/JudgeBench) pairs → canonical rows with the label and the paper's category."""
from __future__ import annotations

from typing import Iterable

from harness.data.rows import Format, Loaded, Record, text
from harness.errors import DataError

JUDGEBENCH_LABELS = ("A>B", "B>A")
JUDGEBENCH_CATEGORIES = (("mmlu-pro", "knowledge"), ("livebench-reasoning", "reasoning"),
                         ("livebench-math", "math"), ("livecodebench", "coding"))
"""Source prefix → the paper's category (Tan et al. 2024, Table 1: Knowledge, Reasoning, Math, Coding)."""


def judgebench_category(source: str) -> str:
    """The paper's category of a JudgeBench ``source`` (``mmlu-pro-law`` → ``knowledge``); another source is its
    own category."""
    return next((category for prefix, category in JUDGEBENCH_CATEGORIES if source.startswith(prefix)), source)


def judgebench(records: Iterable[Record], options: dict) -> Loaded:
    """ScalerLab/JudgeBench pairs (``run_judge.py`` reads ``question``, ``response_A``, ``response_B``;
    ``utils/metrics.py`` compares the decision with ``label``, "A>B" or "B>A")."""
    rows = []
    for file, n, row in records:
        label = text(row, "label", file, n)
        if label not in JUDGEBENCH_LABELS:
            raise DataError(f"unknown label {label!r:.20}; expected A>B or B>A", file=file, row=n, field="label")
        a, b = text(row, "response_A", file, n), text(row, "response_B", file, n)
        rows.append({"id": row.get("pair_id", n), "prompt": text(row, "question", file, n),
                     "chosen": a if label == "A>B" else b, "rejected": b if label == "A>B" else a, "label": label,
                     "category": judgebench_category(text(row, "source", file, n))})
    return Loaded(rows)


FORMATS = (
    Format("judgebench", judgebench, "judgebench", "ScalerLab/JudgeBench", hub_split="gpt"),
)
