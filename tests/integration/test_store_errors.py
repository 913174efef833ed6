"""The results database fails fast, in one line naming the URL (password masked) and what to do, before any
training starts; a record that fails after training says the result is safe in result.json."""
from __future__ import annotations

import sqlite3
import sys

import pytest

from cli_runner import invoke
from ports import free_port
from harness import api
from harness.data.formats import DataSpec, load
from harness.errors import DataError
from leaderboards import engine_for
from leaderboards.store import StoreError, masked

PASSWORD = "s3cret-pw"


def _train_cli(tmp_path, db: str):
    """``rmbench train`` with ``db``; it must fail before any run directory exists."""
    result = invoke("train", "bt", "--preset", "micro", "--runs-dir", tmp_path / "runs", "--db", db)
    assert result.exit_code == 5, result.output
    assert not (tmp_path / "runs").exists()
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: database "), result.output
    assert PASSWORD not in result.output
    return lines[0]


def test_corrupt_sqlite_file_is_one_line_before_training(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    line = _train_cli(tmp_path, f"sqlite:///{bad}")
    assert str(bad) in line and "not a usable SQLite database" in line and "rmbench leaderboard rebuild" in line


def test_unreachable_postgresql_is_one_line_with_the_password_masked(tmp_path):
    pytest.importorskip("psycopg", reason="the psycopg driver is not installed")
    url = f"postgresql+psycopg://rmbench:{PASSWORD}@127.0.0.1:{free_port()}/x"
    line = _train_cli(tmp_path, url)
    assert "rmbench:***@127.0.0.1" in line and "cannot reach" in line and "server is running" in line


def test_missing_driver_names_the_extra(tmp_path, monkeypatch):
    for module in ("psycopg2", "psycopg"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    line = _train_cli(tmp_path, f"postgresql://rmbench:{PASSWORD}@127.0.0.1:5432/x")
    assert "no PostgreSQL driver" in line and "pip install 'rmbench[postgres]'" in line and ":***@" in line


def test_missing_named_driver_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    line = _train_cli(tmp_path, f"postgresql+psycopg2://rmbench:{PASSWORD}@127.0.0.1:5432/x")
    assert "driver is not installed" in line and "pip install 'rmbench[postgres]'" in line


def test_older_schema_is_caught(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table runs (run_id text primary key, method text)")
    with pytest.raises(StoreError, match=r"table 'runs' lacks the columns .*rmbench leaderboard rebuild"):
        engine_for(f"sqlite:///{path}")


def test_writes_are_probed_and_rolled_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'ok.db'}"
    engine_for(url)
    with sqlite3.connect(tmp_path / "ok.db") as conn:
        assert conn.execute("select count(*) from runs").fetchone()[0] == 0


def test_not_a_url():
    with pytest.raises(StoreError, match="not a database URL"):
        engine_for("no-scheme-here")


def test_masked():
    assert masked(f"postgresql://u:{PASSWORD}@h/db") == "postgresql://u:***@h/db"


def test_record_failing_after_training_says_the_result_is_safe(tmp_path, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def broken(result, engine):
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr("harness.records.store_record", broken)
    saved = tmp_path / "runs" / "r" / "result.json"
    with pytest.raises(StoreError) as err:
        api.record({}, f"sqlite:///{tmp_path / 'x.db'}", saved=saved)
    message = str(err.value)
    assert "disk I/O error" in message and f"the result is safe in {saved}" in message
    assert "rmbench leaderboard rebuild" in message and "\n" not in message


@pytest.mark.parametrize("source", ["./missing.jsonl", "/no/such/dir/rb.jsonl", "data/sub/x.json", "rb.parquet"])
def test_missing_local_data_file_says_no_such_file(source, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # not the offline message: it is a path, not a Hub id
    with pytest.raises(DataError, match="no such file") as err:
        load(DataSpec("rewardbench", source))
    assert "rmbench[hub]" not in str(err.value)


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_sweep_checks_the_database_before_its_first_job(tmp_path, executor):
    if executor == "ray":
        pytest.importorskip("ray", reason="ray is not installed (pip install 'rmbench[ray]')")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database" * 100)
    result = invoke("sweep", "--methods", "bt,bsr", "--preset", "micro", "--executor", executor,
                    "--runs-dir", tmp_path / "runs", "--db", f"sqlite:///{bad}")
    assert result.exit_code == 5, result.output
    assert "not a usable SQLite database" in result.output and not (tmp_path / "runs").exists()
