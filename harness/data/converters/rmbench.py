"""RM-Bench (THU-KEG/RM-Bench) rows → canonical rows of three style variants per side."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from harness.data.rows import Format, Loaded, Record, text, text_list
from harness.errors import DataError

RMBENCH_DOMAINS = {"chat": "chat", "math": "math", "code": "code", "safety-refuse": "safety",
                   "safety-response": "safety"}


def rmbench(records: Iterable[Record], options: dict) -> Loaded:
    """THU-KEG/RM-Bench ``data/total_dataset.json`` or the per-domain ``data/<domain>_filtered.json`` (whose rows
    carry no ``domain``: it is taken from the file name), or a directory of them: ``prompt, chosen[3],
    rejected[3], domain`` (variants ordered concise, detailed plain, detailed markdown); safety-refuse and
    safety-response merge into ``safety``. A row met twice (``data/`` holds both the per-domain files and the
    total) is scored once and counted as ``duplicates_skipped``."""
    rows, seen, duplicates = [], set(), 0
    for file, n, row in records:
        if row.get("domain") is None:
            domain = Path(file).name.split(".")[0].removesuffix("_filtered")
            if domain not in RMBENCH_DOMAINS:
                raise DataError(f"no domain, and the file name names none of {', '.join(RMBENCH_DOMAINS)} "
                                "(as data/<domain>_filtered.json)", file=file, row=n, field="domain")
        else:
            domain = text(row, "domain", file, n)
        if domain not in RMBENCH_DOMAINS:
            raise DataError(f"unknown domain {domain!r}; expected one of {', '.join(RMBENCH_DOMAINS)}", file=file,
                            row=n, field="domain")
        sides = {key: text_list(row, key, file, n, size=3) for key in ("chosen", "rejected")}
        prompt = text(row, "prompt", file, n)
        key = (domain, prompt, tuple(sides["chosen"]), tuple(sides["rejected"]))
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        rows.append({"id": row.get("id", n), "prompt": prompt, **sides, "domain": RMBENCH_DOMAINS[domain],
                     "subdomain": domain})
    return Loaded(rows, {"duplicates_skipped": duplicates} if duplicates else {})


FORMATS = (
    Format("rmbench", rmbench, "rmbench", "THU-KEG/RM-Bench"),
)
