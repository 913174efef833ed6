"""Atomic writes: a reader (or a run resumed after a crash) sees the old file or directory or the whole new one,
never a partial one. Every file and directory rmbench writes for later reading goes through here."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


def write_text_atomic(path: Path, chunks: Iterable[str]) -> None:
    """Write ``chunks`` (UTF-8, ``\\n`` line ends) to a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as f:
        f.writelines(chunks)
    os.replace(tmp, path)


def write_tensors_atomic(path: Path, payload) -> None:
    """``torch.save`` ``payload`` to a temporary file beside ``path``, then rename it over ``path``."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def write_json_atomic(path: Path, payload) -> None:
    write_text_atomic(path, [json.dumps(payload, indent=2, allow_nan=False) + "\n"])


def write_jsonl_atomic(path: Path, rows: Iterable[dict]) -> None:
    write_text_atomic(path, (json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def replace_directory(new: Path, target: Path, aside: Path | None = None) -> None:
    """Move the finished directory ``new`` to ``target``, replacing what is there: ``os.replace`` cannot overwrite
    a non-empty directory, so the old one is first moved to ``aside`` (a fresh temporary name by default; a fixed
    one is cleared first) and removed last. A crash in between leaves the old directory at ``aside``."""
    if not target.exists():
        os.replace(new, target)
        return
    if aside is None:
        holder = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        aside = holder / "d"
    else:
        shutil.rmtree(aside, ignore_errors=True)  # left by a crash in an earlier swap
        holder = aside
    os.replace(target, aside)
    os.replace(new, target)
    shutil.rmtree(holder)


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``target``; on success it replaces ``target`` atomically.

    On an exception the temporary directory is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        replace_directory(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
