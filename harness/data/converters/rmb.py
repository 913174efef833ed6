"""RMB (Zhou et al., ICLR 2025) pairwise and best-of-N rows → canonical rows."""
from __future__ import annotations

from typing import Iterable

from harness.data.rows import Format, Loaded, Record, field, messages, text
from harness.errors import DataError

RMB_SETS = {"Pairwise_set": "pairwise", "BoN_set": "bon"}


def _answer(row: dict, key: str, file: str, n: int, value=None) -> str:
    """The ``answer`` of an RMB response object ``{llm_name, answer[, score]}``."""
    value = field(row, key, file, n) if value is None else value
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
        category = text(row, "category_path", file, n)
        kind = RMB_SETS.get(category.split("/")[0])
        if kind is None:
            raise DataError(f"category_path {category!r:.60} starts with neither {' nor '.join(RMB_SETS)}",
                            file=file, row=n, field="category_path")
        prompt = messages(field(row, "conversation_input", file, n), file, n, "conversation_input")
        if kind == "pairwise":
            out = {"id": row.get("pair_uid", n), "chosen": _answer(row, "chosen", file, n),
                   "rejected": _answer(row, "reject", file, n)}
        else:
            losers = field(row, "loser_list", file, n)
            if not isinstance(losers, list) or not losers:
                raise DataError(f"expected a non-empty list of answers, got {losers!r:.60}", file=file, row=n,
                                field="loser_list")
            out = {"id": row.get("bon_uid", n), "chosen": [_answer(row, "bon_best", file, n)],
                   "rejected": [_answer(row, "loser_list", file, n, loser) for loser in losers]}
        rows.append({**out, "prompt": prompt, "category": category, "set": kind})
    return Loaded(rows)


FORMATS = (
    Format("rmb", rmb, "rmb"),
)
