"""The results database seen from the harness: record a run, rebuild from ``runs/``, query, lay out, report."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from leaderboards import engine_for, view
from leaderboards import leaderboard as query
from leaderboards import rebuild as store_rebuild
from leaderboards import record as store_record
from leaderboards.report import build_report
from leaderboards.store import StoreError, database_url


def check_store(db: str | None = None) -> None:
    """Fail now, in one line, if the database is unreachable, not writable or of another schema."""
    engine_for(db).dispose()


def record(result: dict, db: str | None = None, *, saved: Path | None = None) -> int:
    """Record ``result`` in the database; ``saved`` (its ``result.json``) is named if recording fails."""
    try:
        return store_record(result, engine_for(db))
    except (StoreError, SQLAlchemyError) as e:
        if saved is None:
            raise
        cause = e.problem if isinstance(e, StoreError) else str(getattr(e, "orig", None) or e).splitlines()[0]
        raise StoreError(database_url(db), f"recording failed ({cause}); the result is safe in {saved}",
                         "fix the database, then `rmbench leaderboard rebuild` records it") from None


def leaderboard(db: str | None = None, **filters) -> list[dict]:
    return query(engine_for(db), **filters)


def results_view(name: str = "flat", db: str | None = None, runs_dir: str | Path | None = None,
                 **filters) -> object:
    """A view of the results for ``leaderboards.render``: ``flat`` (every metric), a paper layout (``main``,
    ``noise``, ``splits``, ``bon``) or ``claims`` (which reads the runs' predictions under ``runs_dir``);
    ``filters`` as for :func:`leaderboard`."""
    return view(engine_for(db), name, runs_dir=runs_dir, **filters)


def rebuild(runs_dir: str | Path = "runs", db: str | None = None) -> int:
    """Record every ``runs_dir/*/result.json`` into the database (idempotent); returns the number of runs."""
    return store_rebuild(runs_dir, engine_for(db))


def report(out: str | Path, *, runs_dir: str | Path = "runs", db: str | None = None, **filters) -> Path:
    """Write the self-contained HTML report (tables, claims, plots) over the results matching ``filters``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(engine_for(db), runs_dir, **filters), encoding="utf-8")
    return out
