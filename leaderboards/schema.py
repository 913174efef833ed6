"""ORM tables for recorded runs and their metric rows (portable across SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

METRIC_KEY = ("config_hash", "seed", "suite", "suite_version", "dataset", "split", "metric")
"""Identity of a metric row: one value per experiment, seed and measurement."""


class Base(DeclarativeBase):
    pass


class Run(Base):
    """One training run (one ``result.json``); timestamps are ISO-8601 strings."""

    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    method: Mapped[str] = mapped_column(String(100), index=True)
    method_config: Mapped[dict] = mapped_column(JSON)
    preset: Mapped[str] = mapped_column(String(100))
    config_hash: Mapped[str] = mapped_column(String(64), index=True)
    backbone: Mapped[str] = mapped_column(String(200))
    data: Mapped[str] = mapped_column(String(200))
    seed: Mapped[int] = mapped_column(Integer)
    versions: Mapped[dict] = mapped_column(JSON)
    git_sha: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[str] = mapped_column(String(40))
    finished_at: Mapped[str] = mapped_column(String(40))
    wall_times: Mapped[dict] = mapped_column(JSON)
    config: Mapped[dict] = mapped_column(JSON)
    recorded_at: Mapped[str] = mapped_column(String(40))


class Metric(Base):
    """One evaluation number; ``config_hash`` and ``seed`` are copied from the run for the unique key."""

    __tablename__ = "metrics"
    __table_args__ = (UniqueConstraint(*METRIC_KEY, name="uq_metrics_identity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), index=True)
    config_hash: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer)
    suite: Mapped[str] = mapped_column(String(100))
    suite_version: Mapped[str] = mapped_column(String(40))
    dataset: Mapped[str] = mapped_column(String(200))
    split: Mapped[str] = mapped_column(String(100))
    metric: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float)
    stderr: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    higher_is_better: Mapped[bool] = mapped_column(Boolean)
