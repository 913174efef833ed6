"""Pairwise human-preference sets → canonical pairs: HHH-Alignment, MT-Bench human judgments, Unified-Feedback,
Skywork-Reward-Preference and Anthropic HH-RLHF."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from harness.data.rows import (
    Format,
    Loaded,
    Record,
    conversation_pair,
    field,
    messages,
    parse_transcript,
    text,
)
from harness.errors import DataError

HHH_SUBSETS = ("harmless", "helpful", "honest", "other")


def hhh(records: Iterable[Record], options: dict) -> Loaded:
    """HHH-Alignment (BIG-bench; HuggingFaceH4/hhh_alignment): ``input, targets: {choices, labels}``.

    Each response labelled 1 is paired with each response labelled 0 (for the released data: one pair per row).
    The subset is the row's ``subset``, else the file name or its directory (harmless / helpful / honest / other;
    on the Hub, the config).
    """
    rows = []
    for file, n, row in records:
        prompt = text(row, "input", file, n)
        targets = field(row, "targets", file, n)
        choices, labels = (targets.get("choices"), targets.get("labels")) if isinstance(targets, dict) else (None,
                                                                                                          None)
        if not (isinstance(choices, list) and isinstance(labels, list) and len(choices) == len(labels) >= 2
                and all(isinstance(c, str) for c in choices)
                and all(type(label) is int for label in labels) and set(labels) <= {0, 1} and 1 in labels
                and 0 in labels):
            raise DataError("expected {choices: [str, ...], labels: [0|1, ...]} of equal length with both labels",
                            file=file, row=n, field="targets")
        if not all(c.strip() for c in choices):
            raise DataError("empty response", file=file, row=n, field="targets")
        path = Path(file)
        subset = row.get("subset") or next((p for p in (path.stem, path.parent.name) if p in HHH_SUBSETS), None)
        if subset not in HHH_SUBSETS:
            raise DataError(f"unknown subset {subset!r}: name the file or directory after one of "
                            f"{', '.join(HHH_SUBSETS)} or give a subset field", file=file, row=n, field="subset")
        for i, good in enumerate(c for c, label in zip(choices, labels) if label == 1):
            for j, bad in enumerate(c for c, label in zip(choices, labels) if label == 0):
                rows.append({"id": f"{subset}-{n}-{i}-{j}", "subset": subset, "prompt": prompt, "chosen": good,
                             "rejected": bad})
    return Loaded(rows)


def mtbench(records: Iterable[Record], options: dict) -> Loaded:
    """lmsys/mt_bench_human_judgments ``human``: the winner's conversation up to ``turn`` is chosen; ties
    ("tie", "tie (inconsistent)") are excluded and counted, never turned into wins."""
    rows, ties = [], 0
    for file, n, row in records:
        winner = text(row, "winner", file, n)
        if winner.startswith("tie"):
            ties += 1
            continue
        if winner not in ("model_a", "model_b"):
            raise DataError(f"unknown winner {winner!r}", file=file, row=n, field="winner")
        turn = field(row, "turn", file, n)
        if type(turn) is not int or turn not in (1, 2):
            raise DataError(f"expected turn 1 or 2, got {turn!r}", file=file, row=n, field="turn")
        conv = {k: messages(field(row, f"conversation_{k[-1]}", file, n), file, n, f"conversation_{k[-1]}")[: 2 * turn]
                for k in ("model_a", "model_b")}
        loser = "model_b" if winner == "model_a" else "model_a"
        pair = conversation_pair(conv[winner], conv[loser], file, n,
                                 (f"conversation_{winner[-1]}", f"conversation_{loser[-1]}"))
        rows.append({"id": f"{row.get('question_id', n)}-t{turn}-{n}", **pair})
    return Loaded(rows, {"ties_excluded": ties})


def unified_feedback(records: Iterable[Record], options: dict) -> Loaded:
    """llm-blender/Unified-Feedback: ``conv_A, conv_B`` message lists rated ``conv_A_rating, conv_B_rating``; the
    higher rating is chosen, equal ratings are excluded and counted. ``every=N`` keeps every N-th row (``every=20``
    on the train split is the 40K training subset of Yang et al. 2024)."""
    every = int(options.get("every", 1))
    rows, ties = [], 0
    for k, (file, n, row) in enumerate(records):
        if k % every:
            continue
        ratings = []
        for key in ("conv_A_rating", "conv_B_rating"):
            value = field(row, key, file, n)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise DataError(f"expected a number, got {value!r:.40}", file=file, row=n, field=key)
            ratings.append(value)
        if ratings[0] == ratings[1]:
            ties += 1
            continue
        a, b = (messages(field(row, key, file, n), file, n, key) for key in ("conv_A", "conv_B"))
        good, bad, fields = (a, b, ("conv_A", "conv_B")) if ratings[0] > ratings[1] else (b, a, ("conv_B", "conv_A"))
        rows.append({"id": row.get("id", n), **conversation_pair(good, bad, file, n, fields)})
    return Loaded(rows, {"ties_excluded": ties})


def skywork(records: Iterable[Record], options: dict) -> Loaded:
    """Skywork-Reward-Preference: ``chosen, rejected`` as message lists including the user turn."""
    return Loaded([{"id": row.get("id", n), **conversation_pair(
        *(messages(field(row, key, file, n), file, n, key) for key in ("chosen", "rejected")), file, n)}
        for file, n, row in records])


def hh_rlhf(records: Iterable[Record], options: dict) -> Loaded:
    """Anthropic/hh-rlhf (``<subset>/test.jsonl.gz``): ``chosen, rejected`` transcripts; prompt = every turn but the
    last assistant turn. A row whose last assistant turn is empty on either side (4 of the 2,312 rows of
    harmless-base test) cannot be compared: it is skipped and counted as ``empty_response_skipped``."""
    rows, empty = [], 0
    for file, n, row in records:
        sides = [parse_transcript(text(row, key, file, n), file, n, key) for key in ("chosen", "rejected")]
        if any(side[-1]["role"] == "assistant" and not side[-1]["content"] for side in sides):
            empty += 1
            continue
        rows.append({"id": row.get("id", n), **conversation_pair(*sides, file, n)})
    return Loaded(rows, {"empty_response_skipped": empty})


FORMATS = (
    Format("hhh", hhh, "pairs", "HuggingFaceH4/hhh_alignment", HHH_SUBSETS, "test"),
    Format("mtbench", mtbench, "pairs", "lmsys/mt_bench_human_judgments", hub_split="human"),
    Format("unified_feedback", unified_feedback, "pairs", "llm-blender/Unified-Feedback", ("all",), "val",
           options=("every",)),
    Format("skywork", skywork, "pairs", "Skywork/Skywork-Reward-Preference-80K-v0.2"),
    Format("hh_rlhf", hh_rlhf, "pairs", "Anthropic/hh-rlhf", hub_split="test"),
)
