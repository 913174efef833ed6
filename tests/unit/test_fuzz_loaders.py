"""Property-based fuzzing of the data loaders: whatever the file holds (malformed JSON, missing fields, wrong types,
empty strings, huge rows, invalid UTF-8, absurd nesting, over-long integers, NaN), a loader returns valid canonical
rows or raises a ``DataError`` whose message names the file and the row (and the field where one is at fault),
never another exception."""
import gzip
import json
import re
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.data import formats
from harness.data.io import read_pairs
from harness.errors import DataError

FUZZ = settings(max_examples=150, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
FUZZ_PER_FORMAT = settings(FUZZ, max_examples=80)  # × 11 formats

# -- values ----------------------------------------------------------------------------------------------------------
texts = st.one_of(st.text(max_size=20), st.sampled_from(["", "   ", "\n", "ok", "Ω≈ç√", "\x00", "\u2028"]))
messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", ""]),
                                           "content": texts}), max_size=4)
odd_messages = st.lists(st.one_of(st.dictionaries(st.sampled_from(["role", "content"]), st.one_of(texts, st.none(),
                                                                                                      st.integers())),
                                  texts, st.none()), max_size=3)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([10**400, 2]), texts)
values = st.recursive(st.one_of(scalars, messages, odd_messages),
                      lambda inner: st.one_of(st.lists(inner, max_size=4),
                                              st.dictionaries(st.sampled_from(["choices", "labels", "role", "content"]),
                                                              inner, max_size=3)),
                      max_leaves=8)
FIELDS = ["prompt", "chosen", "rejected", "margin", "id", "subset", "domain", "input", "targets", "winner", "turn",
          "conversation_a", "conversation_b", "question_id", "conv_A", "conv_B", "conv_A_rating", "conv_B_rating",
          "num_correct", "total_completions", "conversation_input", "reject", "bon_best", "loser_list",
          "category_path", "question", "response_A", "response_B", "label", "source"]


def plausible(field: str):
    """Values that are often right for ``field`` in some format, so fuzzing reaches past the first check."""
    answer = st.fixed_dictionaries({"llm_name": texts, "answer": texts})
    good = {
        "prompt": texts, "input": texts, "question": texts, "response_A": texts, "response_B": texts,
        "chosen": st.one_of(texts, messages, answer, st.lists(texts, min_size=1, max_size=3)),
        "rejected": st.one_of(texts, messages, st.lists(texts, min_size=1, max_size=3)),
        "subset": st.sampled_from(["alpacaeval-easy", "harmless", "nope", "xstest-should-refuse", "Math", "Ties"]),
        "id": st.sampled_from(["ref:1", "tied:1", "tied:x", "3", 7]),
        "num_correct": st.sampled_from([1, 2, 0, -1, 1.0, True, "1"]),
        "total_completions": st.sampled_from([2, 4, None, "4"]),
        "conversation_input": messages, "reject": answer, "bon_best": answer, "loser_list": st.lists(answer, max_size=3),
        "category_path": st.sampled_from(["Pairwise_set/Harmlessness/S1", "BoN_set/Helpfulness/Chat", "Other/x", ""]),
        "label": st.sampled_from(["A>B", "B>A", "A=B"]), "source": st.sampled_from(["mmlu-pro-law", "livecodebench"]),
        "domain": st.sampled_from(["chat", "safety-refuse", "math", "bogus"]),
        "targets": st.fixed_dictionaries({"choices": st.lists(texts, max_size=3),
                                          "labels": st.lists(st.one_of(st.integers(0, 1), st.floats(0, 1),
                                                                       st.booleans(), st.lists(st.integers())),
                                                             max_size=3)}),
        "winner": st.sampled_from(["model_a", "model_b", "tie", "tie (inconsistent)", "x"]),
        "turn": st.sampled_from([1, 2, 1.0, 2.0, 3, True, "1"]),
        "conversation_a": messages, "conversation_b": messages, "conv_A": messages, "conv_B": messages,
        "conv_A_rating": st.one_of(st.integers(0, 10), st.floats()), "conv_B_rating": st.one_of(st.integers(0, 10),
                                                                                              st.floats()),
        "margin": st.one_of(st.floats(), st.integers(), st.just(10**400)),
    }
    return st.one_of(good.get(field, values), values)


rows = st.builds(dict, st.tuples(*[st.tuples(st.just(f), plausible(f)) for f in FIELDS]).map(list)).flatmap(
    lambda full: st.sets(st.sampled_from(sorted(full)), max_size=len(full)).map(
        lambda drop: {k: v for k, v in full.items() if k not in drop}))


rows = st.one_of(rows, st.builds(lambda r, f, n: {**r, f: "x" * n}, rows, st.sampled_from(["prompt", "chosen",
                                                                                           "rejected", "input"]),
                                  st.integers(100_000, 200_000)))  # huge rows


def encode_line(row) -> bytes:
    return json.dumps(row).encode()


garbage = st.one_of(st.binary(max_size=60),  # invalid UTF-8, control bytes, anything
                    st.sampled_from([b"{", b"[1, 2]", b'"text"', b"null", b"{]", b"\xff\xfe{}", b"{\"prompt\": NaN}",
                                     b"[" * 50_000 + b"]" * 50_000, b"1" * 5000, b'{"margin": ' + b"9" * 5000 + b"}",
                                     b"\xed\xa0\x80", b"{\"a\": 1}\x00"]))
lines = st.lists(st.one_of(rows.map(encode_line), garbage, st.just(b""), st.just(b"   ")), min_size=0, max_size=5)


# -- checks ----------------------------------------------------------------------------------------------------------
def decompressed(path: Path) -> bytes:
    """The file's bytes, gunzipped as far as they go when its name ends in .gz."""
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            return zlib.decompressobj(wbits=31).decompress(raw)
        except zlib.error:
            return b""
    return raw


def check_error(error: DataError, path: Path) -> None:
    message, n_lines = str(error), decompressed(path).count(b"\n") + 1
    assert str(path) in message or path.name in message, message
    if error.row is not None:
        assert 1 <= error.row <= max(n_lines, 1) and f"row {error.row}" in message, message
    else:
        assert re.search(r"no rows|cannot read|expected a JSON list|unsupported|no \.jsonl", message), message
    if error.field is not None:
        assert repr(error.field) in message


def is_text(value) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, list) and bool(value) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value)


def check_pair_row(row: dict, fmt: str = "generic") -> None:
    assert is_text(row["prompt"])
    for key in ("chosen", "rejected"):
        value = row[key]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):  # several responses
            assert all(v.strip() for v in value) and (len(value) == 3 or fmt != "rmbench")
        else:
            assert is_text(value), row


def write(lines_: list[bytes], suffix: str = ".jsonl") -> Path:
    handle = tempfile.NamedTemporaryFile("wb", suffix=suffix, delete=False, dir=TMP)
    with handle:
        handle.write(b"\n".join(lines_))
    return Path(handle.name)


TMP = tempfile.mkdtemp(prefix="rmbench-fuzz-")


# -- properties ------------------------------------------------------------------------------------------------------
@FUZZ
@given(lines)
def test_read_pairs_returns_canonical_rows_or_a_data_error(lines_):
    path = write(lines_)
    try:
        out = read_pairs(path)
    except DataError as e:
        check_error(e, path)
    else:
        assert out
        for row in out:
            check_pair_row(row)
            margin = row.get("margin")
            assert margin is None or (not isinstance(margin, bool) and float(margin) == float(margin)
                                      and abs(float(margin)) != float("inf"))
    finally:
        path.unlink()


@pytest.mark.parametrize("fmt", formats.names())
def test_every_format_returns_canonical_rows_or_a_data_error(fmt):
    @FUZZ_PER_FORMAT
    @given(st.lists(st.one_of(rows.map(encode_line), garbage), min_size=1, max_size=4))
    def run(lines_):
        path = write(lines_)
        try:
            loaded = formats.load(formats.DataSpec(fmt, str(path)))
        except DataError as e:
            check_error(e, path)
        else:
            assert loaded.rows
            for row in loaded.rows:
                check_pair_row(row, fmt)
        finally:
            path.unlink()

    run()


@FUZZ
@given(st.sampled_from([".json", ".csv", ".parquet", ".jsonl.gz", ".json.gz", ".csv.gz"]),
       st.one_of(st.binary(max_size=200), rows.map(lambda r: json.dumps([r]).encode()),
                 st.lists(st.lists(st.one_of(st.text(max_size=10), st.just("x" * 200_000)), min_size=3, max_size=3),
                          min_size=1, max_size=3).map(
                     lambda table: ("prompt,chosen,rejected\n" + "\n".join(
                         ",".join(json.dumps(c) for c in r) for r in table)).encode())),
       st.sampled_from([None, 5, 30]))
def test_json_csv_parquet_and_gzip_files_fail_cleanly(suffix, payload, cut):
    """Also gzip files, whole or cut after ``cut`` bytes of the compressed stream, and plain payloads given a .gz
    name."""
    if suffix.endswith(".gz") and cut != 5:  # cut == 5: not gzip at all
        payload = gzip.compress(payload)[:cut]
    path = write([payload], suffix)
    try:
        loaded = formats.load(formats.DataSpec("generic", str(path)))
    except DataError as e:
        check_error(e, path)
    else:
        for row in loaded.rows:
            check_pair_row(row)
    finally:
        path.unlink()
