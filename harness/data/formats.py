"""Real preference formats → the canonical schema (ARCHITECTURE.md §3), one registry, read by local path always and
by Hub id when online.

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

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from harness.data.io import check_text, iter_jsonl, read_data_bytes, safe_name
from harness.errors import ConfigError, DataError
from harness.metrics import REWARDBENCH2_SUBSETS, REWARDBENCH_EXAMPLE_COUNTS, REWARDBENCH_PRIOR_SETS
from harness.registry import Registry

Record = tuple[str, int, dict]  # (file or Hub id, row number, row)
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


def source_stem(source: str) -> str:
    """A file name without its table suffixes (``test.jsonl.gz`` → ``test``), a directory's or Hub id's last
    part."""
    name = Path(source.rstrip("/\\")).name
    suffix = data_suffix(Path(name))
    for ending in (f"{suffix}.gz", suffix) if suffix else ():
        name = name.removesuffix(ending)
    return name


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
        yield from _numbered(name, data)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow raises its own error types for a corrupt or truncated file
            raise DataError(f"cannot read Parquet: {e}", file=name) from e
        yield from _numbered(name, rows)
    elif suffix == ".csv":
        yield from _csv_records(path)
    else:
        raise DataError(f"unsupported file type (use {', '.join(SUFFIXES + GZ_SUFFIXES)})", file=name)


def _csv_records(path: Path) -> Iterator[Record]:
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


def check_source(spec: DataSpec) -> None:
    """Fail, without reading anything, when ``spec``'s source is neither a local path nor a Hub id to load."""
    if Path(spec.source).exists():
        return
    if _looks_local(spec.source):
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


def _text_list(row: dict, key: str, file: str, n: int, size: int | None = None) -> list[str]:
    """A list of non-empty response strings (``size`` of them when given)."""
    value = _get(row, key, file, n)
    if not isinstance(value, list) or not value or (size and len(value) != size) or not all(
            isinstance(v, str) for v in value):
        raise DataError(f"expected a list of {size or 'one or more'} strings, got {value!r:.60}", file=file, row=n,
                        field=key)
    if not all(v.strip() for v in value):
        raise DataError("empty response", file=file, row=n, field=key)
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
            hint = " (a RewardBench 2 subset: read it with rewardbench2:)" if subset in REWARDBENCH2_SUBSETS else ""
            raise DataError(f"unknown subset {subset!r}{hint}", file=file, row=n, field="subset")
        rows.append({"id": row.get("id", n), "subset": subset,
                     **{k: _text(row, k, file, n) for k in ("prompt", "chosen", "rejected")}})
    return Loaded(rows)


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
            domain = _text(row, "domain", file, n)
        if domain not in RMBENCH_DOMAINS:
            raise DataError(f"unknown domain {domain!r}; expected one of {', '.join(RMBENCH_DOMAINS)}", file=file,
                            row=n, field="domain")
        sides = {key: _text_list(row, key, file, n, size=3) for key in ("chosen", "rejected")}
        prompt = _text(row, "prompt", file, n)
        key = (domain, prompt, tuple(sides["chosen"]), tuple(sides["rejected"]))
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        rows.append({"id": row.get("id", n), "prompt": prompt, **sides, "domain": RMBENCH_DOMAINS[domain],
                     "subdomain": domain})
    return Loaded(rows, {"duplicates_skipped": duplicates} if duplicates else {})


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


TRANSCRIPT_TURN = re.compile(r"\n\n(Human|Assistant):(?: |(?=\n)|$)")  # an empty turn may lack the space


def parse_transcript(text: str, file: str, n: int, key: str) -> list[dict]:
    """``"\\n\\nHuman: … \\n\\nAssistant: …"`` → chat messages (user / assistant); a turn that ends the text with
    nothing after its colon is an empty message."""
    parts = TRANSCRIPT_TURN.split(text)
    if len(parts) < 3 or parts[0].strip():
        raise DataError('expected a "\\n\\nHuman: … \\n\\nAssistant: …" transcript', file=file, row=n, field=key)
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[who], "content": said.strip()} for who, said in zip(parts[1::2], parts[2::2])]


def hh_rlhf(records: Iterable[Record], options: dict) -> Loaded:
    """Anthropic/hh-rlhf (``<subset>/test.jsonl.gz``): ``chosen, rejected`` transcripts; prompt = every turn but the
    last assistant turn. A row whose last assistant turn is empty on either side (4 of the 2,312 rows of
    harmless-base test) cannot be compared: it is skipped and counted as ``empty_response_skipped``."""
    rows, empty = [], 0
    for file, n, row in records:
        sides = [parse_transcript(_text(row, key, file, n), file, n, key) for key in ("chosen", "rejected")]
        if any(side[-1]["role"] == "assistant" and not side[-1]["content"] for side in sides):
            empty += 1
            continue
        rows.append({"id": row.get("id", n), **conversation_pair(*sides, file, n)})
    return Loaded(rows, {"empty_response_skipped": empty})


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

from harness.data import benchmarks  # noqa: E402,F401  (registers rewardbench2, rmb and judgebench)
