"""Real preference formats → the canonical schema (``docs/data-formats.md``): the format registry and ``--data``
spec parsing, read by local path always and by Hub id when online. Files and the Hub are read by
:mod:`harness.data.readers`; each benchmark's rows are converted by its module in :mod:`harness.data.converters`.

A data spec is ``FORMAT:SOURCE[:key=value,...]``: SOURCE is a local file or directory (JSONL, JSON, Parquet, CSV,
and ``.jsonl.gz`` / ``.json.gz`` / ``.csv.gz``; a directory is read file by file in sorted order) or, when no such
path exists and ``HF_HUB_OFFLINE`` is unset, a Hub dataset id loaded with ``datasets.load_dataset``. A
comma-separated list of specs splits only before a known ``FORMAT:``, so a path may hold commas (JudgeBench's
``dataset=judgebench,response_model=….jsonl``). Options: ``split=`` / ``config=`` (Hub loads), and per format
(``every=N`` for Unified-Feedback, the column mapping ``prompt=,chosen=,rejected=,id=`` for ``generic``).

Every converter turns numbered source rows into canonical rows and raises ``DataError`` naming the file, the row and
the field on bad input (missing field, wrong type, empty response, unknown subset or domain). Conversations become
``prompt`` = every message but the last assistant turn and ``chosen`` / ``rejected`` = that turn's text; when the two
histories differ (MT-Bench turn 2) the rejected side keeps its own history in ``prompt_rejected``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from harness.data.converters import (
    generic,
    judgebench,
    preferences,
    rewardbench,
    rmb,
    rmbench,
)
from harness.data.io import safe_name
from harness.data.readers import data_suffix, hub_records, looks_local, read_records
from harness.data.rows import Format, Loaded, Record  # noqa: F401 - the format API's types
from harness.errors import ConfigError, DataError
from harness.registry import Registry


def source_stem(source: str) -> str:
    """A file name without its table suffixes (``test.jsonl.gz`` → ``test``), a directory's or Hub id's last
    part."""
    name = Path(source.rstrip("/\\")).name
    suffix = data_suffix(Path(name))
    for ending in (f"{suffix}.gz", suffix) if suffix else ():
        name = name.removesuffix(ending)
    return name


_formats: Registry[Format] = Registry("data format")
COMMON_OPTIONS = ("split", "config")


def register(fmt: Format) -> Format:
    return _formats.register(fmt.name)(fmt)


def get(name: str) -> Format:
    return _formats.get(name)


def names() -> list[str]:
    return _formats.names()


for _fmt in (*rewardbench.FORMATS, *rmbench.FORMATS, *preferences.FORMATS, *rmb.FORMATS, *judgebench.FORMATS,
             *generic.FORMATS):
    register(_fmt)


# -- specs and sources -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSpec:
    format: str
    source: str
    options: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        """The dataset name of metric rows and prediction files: the format, plus ``-<source stem>`` (as a safe file
        name) when the source is not the format's default Hub id."""
        fmt = get(self.format)
        return self.format if self.source == fmt.hub_id else f"{self.format}-{safe_name(source_stem(self.source))}"


def parse_specs(text: str | list[str] | tuple[str, ...]) -> list[DataSpec]:
    """``"rewardbench:/d/rb.jsonl,generic:/d/x.csv:prompt=q,chosen=a,rejected=b"`` → specs; a list (``--data``
    repeated) is the concatenation of its items' specs.

    An item splits on a comma only where a known ``FORMAT:`` follows, so paths may hold commas, and not at all
    when its SOURCE is an existing path; after SOURCE, ``:key=value[,key=value…]`` are the spec's options.
    """
    if isinstance(text, (list, tuple)):
        return [spec for item in text for spec in parse_specs(item)]
    known = "|".join(re.escape(name) for name in sorted(names(), key=len, reverse=True))
    source = re.fullmatch(r"(?:[^:]*):(.*?)(?::\w+=.*)?", text.strip())
    whole = bool(source) and Path(source.group(1)).exists()  # an existing path is never split, even at ",rmb:"
    out = []
    for item in [text.strip()] if whole else (part.strip() for part in re.split(rf",(?=\s*(?:{known}):)", text)):
        if not item:
            continue
        fmt, sep, rest = item.partition(":")
        if not sep or not rest:
            raise ConfigError(f"--data expects FORMAT:PATH_OR_HUB_ID, got {item!r} (formats: {', '.join(names())})")
        allowed = COMMON_OPTIONS + get(fmt.strip()).options
        match = re.fullmatch(r"(.*?):(\w+=.*)", rest)
        source, options = (match.group(1), match.group(2).split(",")) if match else (rest, [])
        pairs = []
        for option in options:
            key, sep, value = option.partition("=")
            if not sep or key not in allowed:
                raise ConfigError(f"--data {fmt}: unknown option {key!r}; allowed: {', '.join(allowed)}")
            pairs.append((key, value))
        out.append(DataSpec(fmt.strip(), source, tuple(pairs)))
    return out


def check_source(spec: DataSpec) -> None:
    """Fail, without reading anything, when ``spec``'s source is neither a local path nor a Hub id to load."""
    if Path(spec.source).exists():
        return
    if looks_local(spec.source):
        raise DataError("no such file", file=spec.source)
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0"):
        raise DataError("no such file, and HF_HUB_OFFLINE is set so it is not loaded from the Hub", file=spec.source)


def load(spec: DataSpec) -> Loaded:
    """The canonical rows of ``spec``: the local path when it exists, else the Hub id when online."""
    fmt, options = get(spec.format), dict(spec.options)
    path = Path(spec.source)
    check_source(spec)
    records = read_records(path) if path.exists() else hub_records(fmt, spec.source, options)
    try:
        loaded = fmt.convert(records, options)
    except (ConnectionError, OSError) as e:  # from the Hub: network, unknown dataset id, missing config
        if path.exists():
            raise
        raise DataError(f"cannot load it from the Hub ({type(e).__name__}: {e})".splitlines()[0],
                        file=spec.source) from e
    if not loaded.rows:
        raise DataError("no rows", file=spec.source)
    return loaded
