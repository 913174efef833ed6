"""Any table of pairs, with a column mapping → canonical pairs."""
from __future__ import annotations

from typing import Iterable

from harness.data.io import check_text
from harness.data.rows import Format, Loaded, Record, field
from harness.errors import DataError


def generic(records: Iterable[Record], options: dict) -> Loaded:
    """Any table with a column mapping: ``prompt=COL,chosen=COL,rejected=COL[,id=COL]`` (defaults: same names);
    a text is a string or a list of {role, content} messages."""
    columns = {key: options.get(key, key) for key in ("prompt", "chosen", "rejected")}
    id_col = options.get("id", "id")
    rows = []
    for file, n, row in records:
        out = {"id": row.get(id_col, n)}
        for key, col in columns.items():
            out[key] = check_text(field(row, col, file, n), file=file, row=n, field=col)
            if key != "prompt" and not isinstance(out[key], str):
                raise DataError("expected the response as a string", file=file, row=n, field=col)
        rows.append(out)
    return Loaded(rows)


FORMATS = (
    Format("generic", generic, "pairs", options=("prompt", "chosen", "rejected", "id")),
)
