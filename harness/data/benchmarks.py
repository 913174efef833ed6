"""Loaders for RewardBench 2, RMB and JudgeBench, as released, into canonical rows (registered with
``harness.data.formats``; scored by ``harness.suites.ood``).

- ``rewardbench2``: allenai/reward-bench-2 (split ``test``) rows ``{id, prompt, chosen: [..], rejected: [..],
  num_correct, num_rejected, total_completions, models, subset}`` → ``{id, prompt, chosen: [..], rejected: [..],
  subset, num_correct}``.
- ``rmb``: the RMB repository's ``RMB_dataset/Pairwise_set/**.json`` rows ``{pair_uid, conversation_input,
  chosen: {answer, …}, reject: {answer, …}, category_path}`` → pairs, and ``RMB_dataset/BoN_set/**.json`` rows
  ``{bon_uid, conversation_input, bon_best: {answer, …}, loser_list: [{answer, …}], category_path}`` → lists
  ``chosen: [best], rejected: losers``; each row keeps ``category`` (its ``category_path``) and ``set``.
- ``judgebench``: ScalerLab/JudgeBench ``data/dataset=judgebench,response_model=….jsonl`` rows ``{pair_id,
  source, question, response_A, response_B, label}`` → pairs ``{id, prompt, chosen, rejected, label,
  category}`` (chosen = the response the label prefers; ``label`` keeps its position for upstream's tie rule).
"""
from __future__ import annotations

import re
from typing import Iterable

from harness.data import formats
from harness.data.formats import Format, Loaded, Record, _get, _messages, _text, _text_list
from harness.errors import DataError
from harness.metrics import REWARDBENCH2_SUBSETS, TIES_SUBSET

TIES_ID = re.compile(r"(ref|tied):\d+")


def _count(row: dict, key: str, file: str, n: int, low: int) -> int:
    value = _get(row, key, file, n)
    if type(value) is not int or value < low:
        raise DataError(f"expected an integer ≥ {low}, got {value!r:.40}", file=file, row=n, field=key)
    return value


def rewardbench2(records: Iterable[Record], options: dict) -> Loaded:
    """RewardBench 2 as ``load_bon_dataset_v2`` (allenai/reward-bench ``rewardbench/utils.py``) reads it: the
    completions of a prompt are ``chosen + rejected``, the first ``num_correct`` of them correct. Checked here, as
    upstream's scorer assumes: a known subset; ``num_correct == len(chosen)`` and ``total_completions ==
    len(chosen) + len(rejected)`` when given; at least one rejected completion; in Ties, an id ``ref:<n>`` or
    ``tied:<n>`` and, for ``tied:``, two or more correct completions (``process_single_model`` needs their
    spread)."""
    rows = []
    for file, n, row in records:
        subset = _text(row, "subset", file, n)
        if subset not in REWARDBENCH2_SUBSETS:
            raise DataError(f"unknown subset {subset!r}; expected one of {', '.join(REWARDBENCH2_SUBSETS)}",
                            file=file, row=n, field="subset")
        chosen, rejected = (_text_list(row, key, file, n) for key in ("chosen", "rejected"))
        num_correct = _count(row, "num_correct", file, n, 1) if "num_correct" in row else len(chosen)
        if num_correct != len(chosen):
            raise DataError(f"num_correct is {num_correct} but there are {len(chosen)} chosen completions",
                            file=file, row=n, field="num_correct")
        if row.get("total_completions") is not None and row["total_completions"] != len(chosen) + len(rejected):
            raise DataError(f"total_completions is {row['total_completions']!r:.20} but there are "
                            f"{len(chosen) + len(rejected)} completions", file=file, row=n, field="total_completions")
        out = {"id": row.get("id", n), "prompt": _text(row, "prompt", file, n), "chosen": chosen,
               "rejected": rejected, "subset": subset, "num_correct": num_correct}
        if subset == TIES_SUBSET:
            ties_id = _text(row, "id", file, n)
            if not TIES_ID.fullmatch(ties_id):
                raise DataError(f"a Ties id is ref:<n> or tied:<n>, got {ties_id!r:.40}", file=file, row=n,
                                field="id")
            if ties_id.startswith("tied:") and num_correct < 2:
                raise DataError("a tied: prompt needs two or more correct completions", file=file, row=n,
                                field="num_correct")
        rows.append(out)
    return Loaded(rows)


RMB_SETS = {"Pairwise_set": "pairwise", "BoN_set": "bon"}


def _answer(row: dict, key: str, file: str, n: int, value=None) -> str:
    """The ``answer`` of an RMB response object ``{llm_name, answer[, score]}``."""
    value = _get(row, key, file, n) if value is None else value
    answer = value.get("answer") if isinstance(value, dict) else None
    if not isinstance(answer, str):
        raise DataError(f"expected an object with an answer string, got {value!r:.60}", file=file, row=n, field=key)
    if not answer.strip():
        raise DataError("empty response", file=file, row=n, field=key)
    return answer


def rmb(records: Iterable[Record], options: dict) -> Loaded:
    """RMB (Zhou et al., ICLR 2025; Zhou-Zoey/RMB-Reward-Model-Benchmark ``RMB_dataset``): the prompt is the
    ``conversation_input`` messages (``role``, ``content``), as ``eval/scripts/my_utils/utils.py``
    ``load_eval_dataset`` builds ``text_chosen`` / ``text_rejected``. A row with ``bon_best`` is a best-of-N row,
    one with ``chosen`` / ``reject`` a pair; ``category_path`` (e.g. ``Pairwise_set/Harmlessness/S1``) names its
    set and category."""
    rows = []
    for file, n, row in records:
        category = _text(row, "category_path", file, n)
        kind = RMB_SETS.get(category.split("/")[0])
        if kind is None:
            raise DataError(f"category_path {category!r:.60} starts with neither {' nor '.join(RMB_SETS)}",
                            file=file, row=n, field="category_path")
        prompt = _messages(_get(row, "conversation_input", file, n), file, n, "conversation_input")
        if kind == "pairwise":
            out = {"id": row.get("pair_uid", n), "chosen": _answer(row, "chosen", file, n),
                   "rejected": _answer(row, "reject", file, n)}
        else:
            losers = _get(row, "loser_list", file, n)
            if not isinstance(losers, list) or not losers:
                raise DataError(f"expected a non-empty list of answers, got {losers!r:.60}", file=file, row=n,
                                field="loser_list")
            out = {"id": row.get("bon_uid", n), "chosen": [_answer(row, "bon_best", file, n)],
                   "rejected": [_answer(row, "loser_list", file, n, loser) for loser in losers]}
        rows.append({**out, "prompt": prompt, "category": category, "set": kind})
    return Loaded(rows)


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
        label = _text(row, "label", file, n)
        if label not in JUDGEBENCH_LABELS:
            raise DataError(f"unknown label {label!r:.20}; expected A>B or B>A", file=file, row=n, field="label")
        a, b = _text(row, "response_A", file, n), _text(row, "response_B", file, n)
        rows.append({"id": row.get("pair_id", n), "prompt": _text(row, "question", file, n),
                     "chosen": a if label == "A>B" else b, "rejected": b if label == "A>B" else a, "label": label,
                     "category": judgebench_category(_text(row, "source", file, n))})
    return Loaded(rows)


for _fmt in (
    Format("rewardbench2", rewardbench2, "rewardbench2", "allenai/reward-bench-2", hub_split="test"),
    Format("rmb", rmb, "rmb"),
    Format("judgebench", judgebench, "judgebench", "ScalerLab/JudgeBench", hub_split="gpt"),
):
    formats.register(_fmt)
