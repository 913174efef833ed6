"""Real preference formats → the canonical schema (ARCHITECTURE.md §3), one registry, read by local path always and
by Hub id when online.

A data spec is ``FORMAT:SOURCE[:key=value,...]``: SOURCE is a local file or directory (JSONL, JSON, Parquet, CSV;
a directory is read file by file in sorted order) or, when no such path exists and ``HF_HUB_OFFLINE`` is unset, a
Hub dataset id loaded with ``datasets.load_dataset``. Options: ``split=`` / ``config=`` (Hub loads), and per format
(``every=N`` for Unified-Feedback, the column mapping ``prompt=,chosen=,rejected=,id=`` for ``generic``).

Every converter turns numbered source rows into canonical rows and raises ``DataError`` naming the file, the row and
the field on bad input (missing field, wrong type, empty response, unknown subset or domain). Conversations become
``prompt`` = every message but the last assistant turn and ``chosen`` / ``rejected`` = that turn's text; when the two
histories differ (MT-Bench turn 2) the rejected side keeps its own history in ``prompt_rejected``.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from harness.data.io import check_text, iter_jsonl
from harness.errors import ConfigError, DataError
from harness.metrics import REWARDBENCH_EXAMPLE_COUNTS, REWARDBENCH_PRIOR_SETS
from harness.registry import Registry

Record = tuple[str, int, dict]  # (file or Hub id, row number, row)
SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


@dataclass
class Loaded:
    """Canonical rows plus counts of rows the official scorer leaves out (e.g. ``ties_excluded``)."""

    rows: list[dict]
    excluded: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Format:
    name: str
    convert: Callable[[Iterable[Record], dict], Loaded]
    kind: str  # how the ood suite scores it: "pairs" | "rewardbench" | "rmbench"
    hub_id: str | None = None
    hub_configs: tuple[str | None, ...] = (None,)
    hub_split: str = "train"
    options: tuple[str, ...] = ()  # format-specific option keys


_formats: Registry[Format] = Registry("data format")
COMMON_OPTIONS = ("split", "config")


def register(fmt: Format) -> Format:
    return _formats.register(fmt.name)(fmt)


def get(name: str) -> Format:
    return _formats.get(name)


def names() -> list[str]:
    return _formats.names()


# -- specs and sources -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSpec:
    format: str
    source: str
    options: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        """The dataset name of metric rows and prediction files: the format, plus ``-<file stem>`` when the source
        is not the format's default Hub id."""
        fmt = get(self.format)
        return self.format if self.source == fmt.hub_id else f"{self.format}-{Path(self.source).stem}"


def parse_specs(text: str) -> list[DataSpec]:
    """``"rewardbench:/d/rb.jsonl,generic:/d/x.csv:prompt=q,chosen=a,rejected=b"`` → specs.

    Comma-separated; an item ``key=value`` continues the options of the spec before it.
    """
    specs: list[list] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if re.fullmatch(r"\w+=.*", item):
            if not specs:
                raise ConfigError(f"--data: option {item!r} before any FORMAT:SOURCE")
            specs[-1][2].append(item)
            continue
        fmt, sep, rest = item.partition(":")
        if not sep or not rest:
            raise ConfigError(f"--data expects FORMAT:PATH_OR_HUB_ID, got {item!r} (formats: {', '.join(names())})")
        match = re.fullmatch(r"(.*?):(\w+=.*)", rest)
        source, options = (match.group(1), [match.group(2)]) if match else (rest, [])
        specs.append([fmt, source, options])
    out = []
    for fmt, source, options in specs:
        allowed = COMMON_OPTIONS + get(fmt).options
        pairs = tuple(tuple(o.split("=", 1)) for o in options)
        for key, _ in pairs:
            if key not in allowed:
                raise ConfigError(f"--data {fmt}: unknown option {key!r}; allowed: {', '.join(allowed)}")
        out.append(DataSpec(fmt, source, pairs))
    return out


def read_records(path: Path) -> Iterator[Record]:
    """Rows of a local file (by suffix) or of every supported file under a directory, numbered from 1
    (JSONL: line number; CSV: line number, the header being line 1)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        if not files:
            raise DataError(f"no {', '.join(SUFFIXES)} files in the directory", file=str(path))
        for file in files:
            yield from read_records(file)
        return
    name = str(path)
    if path.suffix == ".jsonl":
        yield from ((name, n, row) for n, row in iter_jsonl(path))
    elif path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as e:  # ValueError: bad UTF-8 or JSON, an over-long integer
            raise DataError(f"cannot read JSON: {e}", file=name) from e
        if not isinstance(data, list):
            raise DataError(f"expected a JSON list of rows, got {type(data).__name__}", file=name)
        yield from _numbered(name, data)
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow raises its own error types for a corrupt or truncated file
            raise DataError(f"cannot read Parquet: {e}", file=name) from e
        yield from _numbered(name, rows)
    elif path.suffix == ".csv":
        yield from _csv_records(path)
    else:
        raise DataError(f"unsupported file type (use {', '.join(SUFFIXES)})", file=name)


def _csv_records(path: Path) -> Iterator[Record]:
    name, raw = str(path), path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"invalid UTF-8 at byte {e.start}", file=name, row=raw.count(b"\n", 0, e.start) + 1) from e
    reader, line = csv.DictReader(io.StringIO(text, newline="")), 1
    try:
        for row in reader:
            line = reader.line_num
            yield name, line, row
    except csv.Error as e:  # e.g. a field over csv.field_size_limit()
        raise DataError(f"malformed CSV: {e}", file=name, row=reader.line_num or line) from e


def _numbered(name: str, rows: list) -> Iterator[Record]:
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
        yield from _numbered(label, load_dataset(hub_id, config, split=options.get("split", fmt.hub_split)))


def _looks_local(source: str) -> bool:
    """A path no Hub id can be: absolute, relative to ``.``/``~``, nested deeper than ``owner/name``, or ending in a
    file suffix (Hub ids are ``name`` or ``owner/name`` without one)."""
    return (source.startswith(("/", ".", "~")) or source.count("/") > 1
            or Path(source).suffix in SUFFIXES)


def load(spec: DataSpec) -> Loaded:
    """The canonical rows of ``spec``: the local path when it exists, else the Hub id when online."""
    fmt, options = get(spec.format), dict(spec.options)
    path = Path(spec.source)
    if path.exists():
        records = read_records(path)
    elif _looks_local(spec.source):
        raise DataError("no such file", file=spec.source)
    elif os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0"):
        raise DataError("no such file, and HF_HUB_OFFLINE is set so it is not loaded from the Hub", file=spec.source)
    else:
        records = hub_records(fmt, spec.source, options)
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


# -- field checks --------------------------------------------------------------------------------------------------
def _get(row: dict, key: str, file: str, n: int):
    if key not in row or row[key] is None:
        raise DataError("missing field", file=file, row=n, field=key)
    return row[key]


def _text(row: dict, key: str, file: str, n: int) -> str:
    value = _get(row, key, file, n)
    if not isinstance(value, str):
        raise DataError(f"expected a string, got {type(value).__name__}", file=file, row=n, field=key)
    if not value.strip():
        raise DataError("empty text", file=file, row=n, field=key)
    return value


def _messages(value, file: str, n: int, key: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise DataError(f"expected a non-empty list of {{role, content}} messages, got {value!r:.60}",
                        file=file, row=n, field=key)
    out = []
    for m in value:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise DataError(f"expected {{role, content}} messages, got {m!r:.60}", file=file, row=n, field=key)
        out.append({"role": m["role"], "content": m["content"]})
    return out


def conversation_pair(chosen: list[dict], rejected: list[dict], file: str, n: int,
                      fields: tuple[str, str] = ("chosen", "rejected")) -> dict:
    """Two conversations that end in the compared assistant turns → a canonical pair."""
    sides = []
    for messages, key in zip((chosen, rejected), fields):
        last = messages[-1]
        if last["role"] != "assistant" or len(messages) < 2:
            raise DataError("a conversation must end with an assistant turn after a prompt", file=file, row=n,
                            field=key)
        if not last["content"].strip():
            raise DataError("empty response", file=file, row=n, field=key)
        sides.append((messages[:-1], last["content"]))
    (prompt, good), (prompt_rejected, bad) = sides
    row = {"prompt": prompt, "chosen": good, "rejected": bad}
    if prompt_rejected != prompt:
        row["prompt_rejected"] = prompt_rejected
    return row


# -- converters ----------------------------------------------------------------------------------------------------
def rewardbench(records: Iterable[Record], options: dict) -> Loaded:
    """allenai/reward-bench ``filtered``: ``prompt, chosen, rejected, subset, id`` (strings)."""
    known = set(REWARDBENCH_EXAMPLE_COUNTS) | set(REWARDBENCH_PRIOR_SETS)
    rows = []
    for file, n, row in records:
        subset = _text(row, "subset", file, n)
        if subset not in known:
            raise DataError(f"unknown subset {subset!r}", file=file, row=n, field="subset")
        rows.append({"id": row.get("id", n), "subset": subset,
                     **{k: _text(row, k, file, n) for k in ("prompt", "chosen", "rejected")}})
    return Loaded(rows)


RMBENCH_DOMAINS = {"chat": "chat", "math": "math", "code": "code", "safety-refuse": "safety",
                   "safety-response": "safety"}


def rmbench(records: Iterable[Record], options: dict) -> Loaded:
    """THU-KEG/RM-Bench ``total_dataset.json``: ``prompt, chosen[3], rejected[3], domain`` (variants ordered
    concise, detailed plain, detailed markdown); safety-refuse and safety-response merge into ``safety``."""
    rows = []
    for file, n, row in records:
        domain = _text(row, "domain", file, n)
        if domain not in RMBENCH_DOMAINS:
            raise DataError(f"unknown domain {domain!r}; expected one of {', '.join(RMBENCH_DOMAINS)}", file=file,
                            row=n, field="domain")
        sides = {}
        for key in ("chosen", "rejected"):
            value = _get(row, key, file, n)
            if not isinstance(value, list) or len(value) != 3 or not all(isinstance(v, str) for v in value):
                raise DataError(f"expected a list of 3 strings, got {value!r:.60}", file=file, row=n, field=key)
            if not all(v.strip() for v in value):
                raise DataError("empty response", file=file, row=n, field=key)
            sides[key] = value
        rows.append({"id": row.get("id", n), "prompt": _text(row, "prompt", file, n), **sides,
                     "domain": RMBENCH_DOMAINS[domain], "subdomain": domain})
    return Loaded(rows)


HHH_SUBSETS = ("harmless", "helpful", "honest", "other")


def hhh(records: Iterable[Record], options: dict) -> Loaded:
    """HHH-Alignment (BIG-bench; HuggingFaceH4/hhh_alignment): ``input, targets: {choices, labels}``.

    Each response labelled 1 is paired with each response labelled 0 (for the released data: one pair per row).
    The subset is the row's ``subset``, else the file name or its directory (harmless / helpful / honest / other;
    on the Hub, the config).
    """
    rows = []
    for file, n, row in records:
        prompt = _text(row, "input", file, n)
        targets = _get(row, "targets", file, n)
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
        winner = _text(row, "winner", file, n)
        if winner.startswith("tie"):
            ties += 1
            continue
        if winner not in ("model_a", "model_b"):
            raise DataError(f"unknown winner {winner!r}", file=file, row=n, field="winner")
        turn = _get(row, "turn", file, n)
        if type(turn) is not int or turn not in (1, 2):
            raise DataError(f"expected turn 1 or 2, got {turn!r}", file=file, row=n, field="turn")
        conv = {k: _messages(_get(row, f"conversation_{k[-1]}", file, n), file, n, f"conversation_{k[-1]}")[: 2 * turn]
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
            value = _get(row, key, file, n)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise DataError(f"expected a number, got {value!r:.40}", file=file, row=n, field=key)
            ratings.append(value)
        if ratings[0] == ratings[1]:
            ties += 1
            continue
        a, b = (_messages(_get(row, key, file, n), file, n, key) for key in ("conv_A", "conv_B"))
        good, bad, fields = (a, b, ("conv_A", "conv_B")) if ratings[0] > ratings[1] else (b, a, ("conv_B", "conv_A"))
        rows.append({"id": row.get("id", n), **conversation_pair(good, bad, file, n, fields)})
    return Loaded(rows, {"ties_excluded": ties})


def skywork(records: Iterable[Record], options: dict) -> Loaded:
    """Skywork-Reward-Preference: ``chosen, rejected`` as message lists including the user turn."""
    return Loaded([{"id": row.get("id", n), **conversation_pair(
        *(_messages(_get(row, key, file, n), file, n, key) for key in ("chosen", "rejected")), file, n)}
        for file, n, row in records])


TRANSCRIPT_TURN = re.compile(r"\n\n(Human|Assistant): ")


def parse_transcript(text: str, file: str, n: int, key: str) -> list[dict]:
    """``"\\n\\nHuman: … \\n\\nAssistant: …"`` → chat messages (user / assistant)."""
    parts = TRANSCRIPT_TURN.split(text)
    if len(parts) < 3 or parts[0].strip():
        raise DataError('expected a "\\n\\nHuman: … \\n\\nAssistant: …" transcript', file=file, row=n, field=key)
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[who], "content": said.strip()} for who, said in zip(parts[1::2], parts[2::2])]


def hh_rlhf(records: Iterable[Record], options: dict) -> Loaded:
    """Anthropic/hh-rlhf: ``chosen, rejected`` transcripts; prompt = every turn but the last assistant turn."""
    return Loaded([{"id": row.get("id", n), **conversation_pair(
        *(parse_transcript(_text(row, key, file, n), file, n, key) for key in ("chosen", "rejected")), file, n)}
        for file, n, row in records])


def generic(records: Iterable[Record], options: dict) -> Loaded:
    """Any table with a column mapping: ``prompt=COL,chosen=COL,rejected=COL[,id=COL]`` (defaults: same names);
    a text is a string or a list of {role, content} messages."""
    columns = {key: options.get(key, key) for key in ("prompt", "chosen", "rejected")}
    id_col = options.get("id", "id")
    rows = []
    for file, n, row in records:
        out = {"id": row.get(id_col, n)}
        for key, col in columns.items():
            out[key] = check_text(_get(row, col, file, n), file=file, row=n, field=col)
            if key != "prompt" and not isinstance(out[key], str):
                raise DataError("expected the response as a string", file=file, row=n, field=col)
        rows.append(out)
    return Loaded(rows)


for _fmt in (
    Format("rewardbench", rewardbench, "rewardbench", "allenai/reward-bench", hub_split="filtered"),
    Format("rmbench", rmbench, "rmbench", "THU-KEG/RM-Bench"),
    Format("hhh", hhh, "pairs", "HuggingFaceH4/hhh_alignment", HHH_SUBSETS, "test"),
    Format("mtbench", mtbench, "pairs", "lmsys/mt_bench_human_judgments", hub_split="human"),
    Format("unified_feedback", unified_feedback, "pairs", "llm-blender/Unified-Feedback", ("all",), "val",
           options=("every",)),
    Format("skywork", skywork, "pairs", "Skywork/Skywork-Reward-Preference-80K-v0.2"),
    Format("hh_rlhf", hh_rlhf, "pairs", "Anthropic/hh-rlhf", hub_split="test"),
    Format("generic", generic, "pairs", options=("prompt", "chosen", "rejected", "id")),
):
    register(_fmt)
