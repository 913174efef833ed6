"""Reading row files (JSONL) into the canonical schema, with errors that name the file, row and field."""
from __future__ import annotations

import gzip
import json
import math
import re
import zlib
from pathlib import Path
from typing import Iterator

from harness.errors import DataError

PAIR_FIELDS = ("prompt", "chosen", "rejected")
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)  # not gzip; cut short; corrupt stream
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """``text`` as one file-name component: runs of characters other than letters, digits, ``.``, ``_`` and
    ``-`` become ``_`` (no separators, no ``..`` path); never empty."""
    return _UNSAFE.sub("_", text).strip("._") or "data"


def open_data(path: Path):
    """A binary handle on ``path``, decompressed on the fly when its name ends in ``.gz``."""
    try:
        return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")
    except OSError as e:
        raise DataError(f"cannot open: {e.strerror}", file=str(path)) from e


def read_data_bytes(path: Path) -> bytes:
    """The whole content of ``path``, gunzipped when its name ends in ``.gz``."""
    with open_data(path) as handle:
        try:
            return handle.read()
        except GZIP_ERRORS as e:
            raise DataError(f"cannot read gzip: {e}", file=str(path)) from e


def _lines(handle, path: Path) -> Iterator[bytes]:
    try:
        yield from handle
    except GZIP_ERRORS as e:
        raise DataError(f"cannot read gzip: {e}", file=str(path)) from e


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, row)`` for each non-blank line (``.jsonl`` or ``.jsonl.gz``); malformed JSON or a
    non-object row is a ``DataError``."""
    path = Path(path)
    with open_data(path) as handle:
        for number, raw in enumerate(_lines(handle, path), start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                raise DataError(f"invalid UTF-8 at byte {e.start}", file=str(path), row=number) from e
            except json.JSONDecodeError as e:
                raise DataError(f"malformed JSON: {e.msg} (column {e.colno})", file=str(path), row=number) from e
            except (ValueError, RecursionError) as e:  # an integer over Python's digit limit; absurd nesting
                raise DataError(f"unreadable JSON: {e}", file=str(path), row=number) from e
            if not isinstance(row, dict):
                raise DataError(f"expected a JSON object, got {type(row).__name__}", file=str(path), row=number)
            yield number, row


def check_text(value, *, file: str, row: int, field: str) -> str | list:
    """A prompt or response: a non-empty string, or a non-empty list of chat messages ``{role, content}``."""
    if isinstance(value, str):
        if not value.strip():
            raise DataError("empty text", file=file, row=row, field=field)
        return value
    if isinstance(value, list) and value and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in value):
        return value
    raise DataError(f"expected a non-empty string or a list of {{role, content}} messages, got {value!r:.80}",
                    file=file, row=row, field=field)


def check_pair(row: dict, *, file: str, line: int) -> dict:
    """Validate one preference pair in place; optional ``margin`` must be a number."""
    for field in PAIR_FIELDS:
        if field not in row:
            raise DataError("missing field", file=file, row=line, field=field)
        check_text(row[field], file=file, row=line, field=field)
    margin = row.get("margin")
    if margin is not None and not _finite_number(margin):
        raise DataError(f"expected a finite number, got {margin!r:.40}", file=file, row=line, field="margin")
    return row


def _finite_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def read_pairs(path: str | Path) -> list[dict]:
    """All preference pairs of a JSONL file in the canonical schema ``{prompt, chosen, rejected[, margin, id, …]}``."""
    rows = [check_pair(row, file=str(path), line=n) for n, row in iter_jsonl(path)]
    if not rows:
        raise DataError("no rows", file=str(path))
    return rows
