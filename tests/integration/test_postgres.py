"""The results database on a real PostgreSQL server: record (idempotent), query, rebuild, concurrent writers.

The fixture starts Debian's PostgreSQL (``/usr/lib/postgresql/*/bin``) in a temporary directory on a free localhost
port, as the ``postgres`` user when running as root; without the binaries the tests skip, saying why.
"""

from __future__ import annotations

import glob
import json
import multiprocessing
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from leaderboards import engine_for, leaderboard, rebuild, record, table
from ports import free_port

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


def _as_server_user() -> tuple[list[str], str | None]:
    """The command prefix that runs the server binaries (which refuse root) and the user it switches to."""
    if os.geteuid() != 0:
        return [], None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run the server as")
    if shutil.which("runuser") is None:
        pytest.skip("running as root and runuser(1) is missing")
    return ["runuser", "-u", "postgres", "--"], "postgres"


@pytest.fixture(scope="module")
def pg_url():
    if not BINARIES:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install -y postgresql)")
    pytest.importorskip("psycopg", reason="the psycopg driver is not installed")
    bindir = Path(BINARIES[-1]).parent
    prefix, user = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="rmbench-pg-"))
    if user:
        shutil.chown(root, user)
    data, port = root / "data", free_port()
    run = lambda *args: subprocess.run([*prefix, *map(str, args)], check=True, capture_output=True,  # noqa: E731
                                       text=True, timeout=60)
    try:
        run(bindir / "initdb", "-D", data, "-U", "rmbench", "--auth=trust", "-E", "UTF8", "--no-sync")
        run(bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-t", "30", "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    except subprocess.CalledProcessError as e:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {e.stderr}{log}")
    try:
        yield f"postgresql+psycopg://rmbench@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def result(method: str, seed: int, value: float) -> dict:
    """A result.json dict with an in-distribution accuracy and a splits row."""
    rows = [("id", "id", "accuracy", value), ("splits", "response_ood", "kendall_tau_b", value - 0.5)]
    return {
        "schema_version": 1, "run_id": f"{method}-s{seed}", "method": method, "method_config": {"k": "ü"},
        "preset": "micro", "config_hash": f"{method}-hash", "config": {"train": {"lr": 1e-3}}, "backbone": "tiny",
        "data": "world", "seed": seed, "versions": {"rmbench": "0.1.0"}, "git_sha": None,
        "started_at": "2026-11-21T12:00:00+00:00", "finished_at": "2026-11-21T12:05:00+00:00",
        "wall_times": {"train_s": 1.0},
        "metrics": [{"suite": suite, "suite_version": "1", "dataset": "world", "split": split, "metric": metric,
                     "value": v, "stderr": 0.01, "n": 100, "higher_is_better": True}
                    for suite, split, metric, v in rows]}


@pytest.fixture
def pg_engine(pg_url):
    engine = engine_for(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE runs, metrics")
    yield engine
    engine.dispose()


def test_record_query_and_rebuild_round_trip(pg_engine, tmp_path):
    results = [result(m, seed, 0.7 + 0.1 * (m == "bsr") + 0.01 * seed) for m in ("bt", "bsr") for seed in range(3)]
    for r in results:
        assert record(r, pg_engine) == 2
        (tmp_path / r["run_id"]).mkdir()
        (tmp_path / r["run_id"] / "result.json").write_text(json.dumps(r))
    record(results[0], pg_engine)  # idempotent
    board = leaderboard(pg_engine, suite="id")
    assert [(r["method"], r["n_seeds"]) for r in board] == [("bsr", 3), ("bt", 3)]
    assert board[0]["mean"] == pytest.approx(0.81)
    assert table(pg_engine, "splits").rows[0].cells[2].mean == pytest.approx(0.31)

    with pg_engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE runs, metrics")
    assert leaderboard(pg_engine) == []
    assert rebuild(tmp_path, pg_engine) == 6
    assert leaderboard(pg_engine, suite="id") == board


def _write_many(url: str, worker: int) -> None:
    engine = engine_for(url)
    for seed in range(10):
        record(result(f"m{worker}", seed, 0.5), engine)
        record(result(f"m{worker}", seed, 0.6), engine)  # concurrent upserts of the same keys
    engine.dispose()


def test_concurrent_writers(pg_engine, pg_url):
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    procs = [ctx.Process(target=_write_many, args=(pg_url, w % 2)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * 4
    assert {(r["method"], r["n_seeds"], round(r["mean"], 4)) for r in leaderboard(pg_engine, suite="id")} == {
        ("m0", 10, 0.6), ("m1", 10, 0.6)}
