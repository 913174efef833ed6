"""Recording ``result.json`` dicts into the results database (SQLite by default, or PostgreSQL)."""

from __future__ import annotations

import json
import logging
import math
import os
import reprlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import JSON, Connection, Engine, Table, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from harness.errors import ConfigError, DataError, RmbenchError
from harness.layout import RESULT_FILE
from harness.schema import SCHEMA_VERSION, MetricRow, RunResult, recorded_fields
from leaderboards.schema import METRIC_KEY, Base, Metric, Run

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///rmbench.db"
BUSY_TIMEOUT_MS = 30_000
_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
_PG_SCHEMA_LOCK = 0x726D62656E6368  # advisory-lock key serialising concurrent CREATE TABLEs on PostgreSQL


class ResultError(DataError):
    """A ``result.json`` dict with a missing or ill-typed field (the message names the field)."""


class StoreError(RmbenchError):
    """The results database cannot be used: one line naming the URL (password masked) and what to do."""

    exit_code = 5

    def __init__(self, url: str | URL, problem: str, remedy: str):
        super().__init__(f"database {masked(url)}: {problem}; {remedy}")
        self.problem = problem


REBUILD_HINT = "move it aside and run `rmbench leaderboard rebuild` to re-create it from runs/*/result.json"
CONNECT_TIMEOUT_S = 10  # an unreachable PostgreSQL host fails in seconds instead of hanging


def database_url(url: str | None) -> str:
    """The database URL: the argument, else ``$RMBENCH_DB``, else :data:`DEFAULT_URL`."""
    return url or os.environ.get("RMBENCH_DB") or DEFAULT_URL


def masked(url: str | URL) -> str:
    """``url`` with its password shown as ``***`` (an unparsable URL is shown up to its first ``@``)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return str(url).split("@")[-1]


def engine_for(url: str | None = None) -> Engine:
    """An engine for ``url`` (see :func:`database_url`), checked before it is used: reachable, writable, with the
    tables created if missing and the expected columns if present. Any failure is a :class:`StoreError`.

    A bare ``postgresql://`` URL uses psycopg 3 (the ``postgres`` extra) when psycopg2, SQLAlchemy's default
    driver for it, is not installed."""
    text_url = database_url(url)
    try:
        parsed = make_url(text_url)
    except ArgumentError:
        raise StoreError(text_url, "not a database URL",
                         "use sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB") from None
    backend = parsed.get_backend_name()
    if backend not in _INSERTS:
        raise ConfigError(f"unsupported database {backend!r} in {masked(parsed)}: use sqlite or postgresql")
    if backend == "postgresql":
        parsed = _postgres_driver(parsed)
    elif parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(parsed, f"cannot create the directory {path.parent} ({e.strerror or e})",
                             "choose a writable path with --db or $RMBENCH_DB") from None
    try:
        engine = create_engine(parsed, **({"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
                                          if backend == "postgresql" else {}))
    except (ImportError, NoSuchModuleError) as e:
        raise StoreError(parsed, f"its driver is not installed ({e})", "pip install 'rmbench[postgres]'") from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    try:
        with _write_transaction(engine) as conn:
            if backend == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK})
            Base.metadata.create_all(conn)
            _check_schema(conn, parsed)
            _probe_write(conn)
    except SQLAlchemyError as e:
        raise _database_error(parsed, e) from None
    return engine


def _postgres_driver(url: URL) -> URL:
    if url.drivername != "postgresql":
        return url
    try:
        import psycopg2  # noqa: F401  - SQLAlchemy's default driver for postgresql://
    except ImportError:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise StoreError(url, "no PostgreSQL driver is installed", "pip install 'rmbench[postgres]'") from None
        return url.set(drivername="postgresql+psycopg")
    return url


def _check_schema(conn: Connection, url: URL) -> None:
    """The existing tables have every column this version writes (an older or foreign database does not)."""
    inspector = inspect(conn)
    for table in Base.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        missing = sorted(set(table.columns.keys()) - present)
        if missing:
            raise StoreError(url, f"table {table.name!r} lacks the columns {', '.join(missing)} (an older schema)",
                             REBUILD_HINT)


def _probe_write(conn: Connection) -> None:
    """Write a row inside the open transaction and take it back: a read-only file or role fails here."""
    table = Run.__table__
    probe = {c.name: ({} if isinstance(c.type, JSON) else 0 if c.name == "seed" else "") for c in table.columns}
    savepoint = conn.begin_nested()
    conn.execute(table.insert(), {**probe, "run_id": "rmbench-write-probe"})
    savepoint.rollback()


def _database_error(url: URL, error: SQLAlchemyError) -> StoreError:
    """One line for a failure to open or write the database, with what to do about it."""
    cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    lowered = cause.lower()
    if "not a database" in lowered or "malformed" in lowered:
        return StoreError(url, f"the file is not a usable SQLite database ({cause})", REBUILD_HINT)
    if "readonly" in lowered or "read-only" in lowered or "permission denied" in lowered:
        return StoreError(url, f"not writable ({cause})",
                          "fix its permissions or choose another --db / $RMBENCH_DB")
    if url.get_backend_name() == "postgresql":
        return StoreError(url, f"cannot reach or use the server ({cause})",
                          "check that the server is running and the host, port, user and password")
    return StoreError(url, f"cannot open it ({cause})", "check the path or choose another --db / $RMBENCH_DB")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Wait for locks instead of failing, let readers run beside the writer, and enforce foreign keys."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


@contextmanager
def _write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction committed on success; on SQLite it takes the write lock up front (waiting on busy_timeout),
    so a concurrent writer can never invalidate it half-way."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn
        conn.commit()


def record(result: Mapping[str, Any], engine: Engine) -> int:
    """Upsert one ``result.json`` dict (the run and all its metric rows) in one transaction.

    Metric rows are keyed by (config_hash, seed, suite, suite_version, dataset, split, metric), so recording the
    same result again updates values in place. The result is authoritative for its run: rows recorded earlier for
    this run id that it no longer holds are deleted. Rows whose value is null (undefined) are not stored. Returns
    the number of metric rows written.
    """
    run, metrics = _validate(result)
    run["recorded_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with _write_transaction(engine) as conn:
        _upsert(conn, Run.__table__, [run], ("run_id",))
        conn.execute(Metric.__table__.delete().where(Metric.__table__.c.run_id == run["run_id"]))
        if metrics:
            _upsert(conn, Metric.__table__, metrics, METRIC_KEY)
    return len(metrics)


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]], key: tuple[str, ...]) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE every other column (atomic under concurrent writers)."""
    stmt = _INSERTS[conn.dialect.name](table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key), set_={col: stmt.excluded[col] for col in rows[0] if col not in key})
    conn.execute(stmt, rows)


def rebuild(runs_dir: str | os.PathLike[str], engine: Engine) -> int:
    """(Re)record every ``runs_dir/*/result.json``; unreadable files are logged and skipped.

    Returns the number of runs recorded.
    """
    root = Path(runs_dir)
    if not root.is_dir():
        raise DataError("no such runs directory", file=str(root))
    recorded = 0
    for path in sorted(root.glob(f"*/{RESULT_FILE}")):
        try:
            record(json.loads(path.read_text(encoding="utf-8")), engine)
        except (OSError, ValueError) as exc:  # ValueError covers JSONDecodeError, UnicodeDecodeError, ResultError
            log.warning("skipping %s: %s", path, exc)
            continue
        recorded += 1
    return recorded


# --- validation -----------------------------------------------------------------------------------------------


class _Check(NamedTuple):
    test: Callable[[Any], bool]
    expected: str


def _is_timestamp(value: Any) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def _optional(check: _Check) -> _Check:
    return _Check(lambda v: v is None or check.test(v), f"{check.expected} or null")


_TEXT = _Check(lambda v: isinstance(v, str) and v != "", "a non-empty string")
_INT = _Check(lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer")
_NUMBER = _Check(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
                 "a finite number")
_BOOL = _Check(lambda v: isinstance(v, bool), "true or false")
_OBJECT = _Check(lambda v: isinstance(v, dict), "an object")
_TIMESTAMP = _Check(_is_timestamp, "an ISO-8601 timestamp")
_LIST = _Check(lambda v: isinstance(v, list), "a list")

_KINDS = {"text": _TEXT, "int": _INT, "number": _NUMBER, "bool": _BOOL, "object": _OBJECT, "list": _LIST,
          "timestamp": _TIMESTAMP}


def _checks(cls) -> dict[str, _Check]:
    """The check of every field of ``cls`` the database records (its kind in :mod:`harness.schema`)."""
    return {name: _optional(_KINDS[kind[:-1]]) if kind.endswith("?") else _KINDS[kind]
            for name, kind in recorded_fields(cls).items()}


_RESULT_FIELDS = _checks(RunResult)  # schema_version, the run row's fields and metrics
_METRIC_FIELDS = _checks(MetricRow)


def _fields(obj: Any, checks: Mapping[str, _Check], where: str) -> dict[str, Any]:
    """The checked fields of ``obj``; ``where`` prefixes field names in error messages."""
    if not isinstance(obj, Mapping):
        raise ResultError(f"expected an object, got {reprlib.repr(obj)}", field=where or "result")
    out = {}
    for name, check in checks.items():
        if name not in obj:
            raise ResultError("missing", field=where + name)
        if not check.test(obj[name]):
            raise ResultError(f"expected {check.expected}, got {reprlib.repr(obj[name])}", field=where + name)
        out[name] = obj[name]
    return out


def _validate(result: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Split a result dict into the run row and its metric rows, raising :class:`ResultError` on bad input."""
    run = _fields(result, _RESULT_FIELDS, "")
    if (version := run.pop("schema_version")) != SCHEMA_VERSION:
        raise ResultError(f"unsupported schema version {version} (expected {SCHEMA_VERSION})", field="schema_version")
    metrics, seen = [], set()
    for i, row in enumerate(run.pop("metrics")):
        metric = _fields(row, _METRIC_FIELDS, f"metrics[{i}].")
        metric.update(run_id=run["run_id"], config_hash=run["config_hash"], seed=run["seed"])
        key = tuple(metric[k] for k in METRIC_KEY)
        if key in seen:
            raise ResultError(f"duplicate metric row {key[2:]}", field=f"metrics[{i}]")
        seen.add(key)
        if metric["value"] is not None:  # an undefined metric (null, e.g. tau on constant scores) stays in the JSON
            metrics.append(metric)
    return run, metrics
