"""Reading source rows: a local file by its suffix (JSONL, JSON, Parquet, CSV, gzipped JSONL/JSON/CSV), every such
file under a directory, or a Hub dataset; each row numbered (:data:`harness.data.rows.Record`)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Iterator

from harness.data.io import iter_jsonl, read_data_bytes
from harness.data.rows import Format, Record
from harness.errors import DataError

SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
GZ_SUFFIXES = (".jsonl.gz", ".json.gz", ".csv.gz")


def data_suffix(path: Path) -> str | None:
    """The table type of ``path`` (``.jsonl``, ``.json``, ``.parquet``, ``.csv``; ``.gz`` ones by their inner
    suffix), None when it is none of them."""
    name = path.name
    gz = next((s for s in GZ_SUFFIXES if name.endswith(s)), None)
    if gz:
        return gz.removesuffix(".gz")
    return path.suffix if path.suffix in SUFFIXES else None


def read_records(path: Path) -> Iterator[Record]:
    """Rows of a local file (by suffix) or of every supported file under a directory, numbered from 1
    (JSONL: line number; CSV: line number, the header being line 1)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if data_suffix(p) and p.is_file())
        if not files:
            raise DataError(f"no {', '.join(SUFFIXES + GZ_SUFFIXES)} files in the directory", file=str(path))
        for file in files:
            yield from read_records(file)
        return
    name, suffix = str(path), data_suffix(path)
    if suffix == ".jsonl":
        yield from ((name, n, row) for n, row in iter_jsonl(path))
    elif suffix == ".json":
        try:
            data = json.loads(read_data_bytes(path).decode("utf-8"))
        except (ValueError, RecursionError) as e:  # ValueError: bad UTF-8 or JSON, an over-long integer
            raise DataError(f"cannot read JSON: {e}", file=name) from e
        if not isinstance(data, list):
            raise DataError(f"expected a JSON list of rows, got {type(data).__name__}", file=name)
        yield from numbered(name, data)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow raises its own error types for a corrupt or truncated file
            raise DataError(f"cannot read Parquet: {e}", file=name) from e
        yield from numbered(name, rows)
    elif suffix == ".csv":
        yield from csv_records(path)
    else:
        raise DataError(f"unsupported file type (use {', '.join(SUFFIXES + GZ_SUFFIXES)})", file=name)




def csv_records(path: Path) -> Iterator[Record]:
    """Rows of a CSV file read strictly (``csv`` with ``strict=True``): a file cut inside a quoted field, a stray
    quote or a row with another number of fields than the header is a ``DataError`` naming the row (its first
    line), never a silently truncated text."""
    name, raw = str(path), read_data_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"invalid UTF-8 at byte {e.start}", file=name, row=raw.count(b"\n", 0, e.start) + 1) from e
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        header = next(reader, None)
        if header is None:
            return
        start = reader.line_num + 1
        for fields in reader:
            if fields and len(fields) != len(header):
                raise DataError(f"malformed CSV: {len(fields)} fields, the header has {len(header)}", file=name,
                                row=start)
            if fields:
                yield name, start, dict(zip(header, fields))
            start = reader.line_num + 1
    except csv.Error as e:  # a quoted field cut by the end of the file, a stray quote, a field over the size limit
        cut = "unexpected end of data" in str(e)  # what csv says when the file ends inside a quoted field
        raise DataError(f"malformed CSV: {'the file ends inside a quoted field' if cut else e}", file=name,
                        row=start) from e


def numbered(name: str, rows: list) -> Iterator[Record]:
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise DataError(f"expected an object, got {type(row).__name__}", file=name, row=n)
        yield name, n, row


def hub_records(fmt: Format, hub_id: str, options: dict) -> Iterator[Record]:
    """Rows of a Hub dataset (one or several configs) via ``datasets.load_dataset``."""
    try:
        from datasets import load_dataset
    except ImportError:
        raise DataError("loading by Hub id needs the datasets package: pip install 'rmbench[hub]'",
                        file=hub_id) from None

    configs = (options["config"],) if "config" in options else fmt.hub_configs
    for config in configs:
        label = f"{hub_id}/{config}" if config else hub_id
        yield from numbered(label, load_dataset(hub_id, config, split=options.get("split", fmt.hub_split)))


def looks_local(source: str) -> bool:
    """A path no Hub id can be: absolute, relative to ``.``/``~``, nested deeper than ``owner/name``, or ending in a
    file suffix (Hub ids are ``name`` or ``owner/name`` without one)."""
    return (source.startswith(("/", ".", "~")) or source.count("/") > 1
            or Path(source).suffix in SUFFIXES)
