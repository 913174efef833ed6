"""RewardBench (allenai/reward-bench ``filtered``) and RewardBench 2 (allenai/reward-bench-2 ``test``) rows →
canonical rows."""
from __future__ import annotations

import re
from typing import Iterable

from harness.data.rows import Format, Loaded, Record, field, text, text_list
from harness.errors import DataError
from harness.metrics import (
    REWARDBENCH2_SUBSETS,
    REWARDBENCH_EXAMPLE_COUNTS,
    REWARDBENCH_PRIOR_SETS,
    TIES_SUBSET,
)


def rewardbench(records: Iterable[Record], options: dict) -> Loaded:
    """allenai/reward-bench ``filtered``: ``prompt, chosen, rejected, subset, id`` (strings)."""
    known = set(REWARDBENCH_EXAMPLE_COUNTS) | set(REWARDBENCH_PRIOR_SETS)
    rows = []
    for file, n, row in records:
        subset = text(row, "subset", file, n)
        if subset not in known:
            hint = " (a RewardBench 2 subset: read it with rewardbench2:)" if subset in REWARDBENCH2_SUBSETS else ""
            raise DataError(f"unknown subset {subset!r}{hint}", file=file, row=n, field="subset")
        rows.append({"id": row.get("id", n), "subset": subset,
                     **{k: text(row, k, file, n) for k in ("prompt", "chosen", "rejected")}})
    return Loaded(rows)


TIES_ID = re.compile(r"(ref|tied):\d+")


def _count(row: dict, key: str, file: str, n: int, low: int) -> int:
    value = field(row, key, file, n)
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
        subset = text(row, "subset", file, n)
        if subset not in REWARDBENCH2_SUBSETS:
            raise DataError(f"unknown subset {subset!r}; expected one of {', '.join(REWARDBENCH2_SUBSETS)}",
                            file=file, row=n, field="subset")
        chosen, rejected = (text_list(row, key, file, n) for key in ("chosen", "rejected"))
        num_correct = _count(row, "num_correct", file, n, 1) if "num_correct" in row else len(chosen)
        if num_correct != len(chosen):
            raise DataError(f"num_correct is {num_correct} but there are {len(chosen)} chosen completions",
                            file=file, row=n, field="num_correct")
        if row.get("total_completions") is not None and row["total_completions"] != len(chosen) + len(rejected):
            raise DataError(f"total_completions is {row['total_completions']!r:.20} but there are "
                            f"{len(chosen) + len(rejected)} completions", file=file, row=n, field="total_completions")
        out = {"id": row.get("id", n), "prompt": text(row, "prompt", file, n), "chosen": chosen,
               "rejected": rejected, "subset": subset, "num_correct": num_correct}
        if subset == TIES_SUBSET:
            ties_id = text(row, "id", file, n)
            if not TIES_ID.fullmatch(ties_id):
                raise DataError(f"a Ties id is ref:<n> or tied:<n>, got {ties_id!r:.40}", file=file, row=n,
                                field="id")
            if ties_id.startswith("tied:") and num_correct < 2:
                raise DataError("a tied: prompt needs two or more correct completions", file=file, row=n,
                                field="num_correct")
        rows.append(out)
    return Loaded(rows)


FORMATS = (
    Format("rewardbench", rewardbench, "rewardbench", "allenai/reward-bench", hub_split="filtered"),
    Format("rewardbench2", rewardbench2, "rewardbench2", "allenai/reward-bench-2", hub_split="test"),
)
