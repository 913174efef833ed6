"""Experiment trackers (``train.report_to: [tensorboard, wandb, mlflow, trackio, …]``) through Accelerate's tracker
API: the resolved config as hyper-parameters, every ``metrics.jsonl`` record, then the final metric rows.

Accelerate's trackers are used directly (``accelerate.tracking``: ``filter_trackers``, ``LOGGER_TYPE_TO_CLASS``,
``GeneralTracker.start`` / ``store_init_configuration`` / ``log`` / ``finish``), exactly as
``Accelerator.init_trackers`` builds them, rather than through a second ``Accelerator``: one created beside the
trainer's would share and reset its gradient-accumulation state. Only the main process logs.

A session spans one ``train`` or ``evaluate`` call (:func:`session`); the trainer's logging hook (:func:`log`)
writes to the open session, if any. Tracker files go to ``runs/<id>/trackers/`` (TensorBoard) or where the tracker's
own environment says (``MLFLOW_TRACKING_URI``, ``WANDB_MODE`` / ``WANDB_DIR``, …).
"""
from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator
from pathlib import Path

from harness.coerce import flatten
from harness.errors import ConfigError
from harness.layout import TRACKER_DIR

PROJECT = "rmbench"
EXTRAS = ("tensorboard", "wandb", "mlflow", "trackio")  # trackers with an rmbench extra of the same name

_active: contextvars.ContextVar[_Session | None] = contextvars.ContextVar("rmbench_trackers", default=None)


def flat_hparams(config: dict) -> dict:
    """``{"train": {"lr": 1e-4}}`` → ``{"train.lr": 1e-4}``; lists become strings (trackers take scalars)."""
    return {name: value if value is None or isinstance(value, (bool, int, float, str)) else str(value)
            for name, value in flatten(config).items()}


def check(names: list[str]) -> None:
    """Fail on an unknown tracker or one whose package is not installed, naming the extra to install."""
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS, filter_trackers

    for name in names:
        if name not in LOGGER_TYPE_TO_CLASS:
            raise ConfigError(f"train.report_to: unknown tracker {name!r}; choose from "
                              f"{', '.join(sorted(LOGGER_TYPE_TO_CLASS))}")
        if not filter_trackers([name], logging_dir="."):  # Accelerate drops a tracker whose package is missing
            install = f"'rmbench[{name}]'" if name in EXTRAS else name
            raise ConfigError(f"train.report_to: the {name} tracker's package is not installed: "
                              f"pip install {install}")


class _Session:
    def __init__(self, names: list[str], run_dir: Path, config: dict):
        from accelerate.tracking import LOGGER_TYPE_TO_CLASS

        self.trackers = []
        for name in names:
            cls = LOGGER_TYPE_TO_CLASS[name]
            kwargs = {"wandb": {"name": run_dir.name}, "mlflow": {"run_name": run_dir.name},
                      "trackio": {"name": run_dir.name}}.get(name, {})
            try:
                tracker = (cls(PROJECT, str(run_dir / TRACKER_DIR), **kwargs) if cls.requires_logging_directory
                           else cls(PROJECT, **kwargs))
                tracker.start()
                tracker.store_init_configuration(flat_hparams(config))
            except Exception as e:  # the tracker's own configuration (a server, a login, a store) is wrong
                self.finish()
                raise ConfigError(f"train.report_to: the {name} tracker did not start: "
                                  f"{type(e).__name__}: {str(e).strip()[:300]}".splitlines()[0]) from e
            self.trackers.append(tracker)

    def log(self, values: dict, step: int | None) -> None:
        numbers = {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        for tracker in self.trackers:
            tracker.log(numbers, step=step)

    def finish(self) -> None:
        for tracker in self.trackers:
            tracker.finish()


@contextlib.contextmanager
def session(names: list[str], run_dir: Path, config: dict) -> Iterator[None]:
    """Open the trackers ``names`` for the run in ``run_dir`` (hyper-parameters: ``config``) on the main process;
    nested sessions reuse the outer one."""
    from accelerate import PartialState

    if not names or _active.get() is not None or not PartialState().is_main_process:
        yield
        return
    check(names)
    current = _Session(names, Path(run_dir), config)
    token = _active.set(current)
    try:
        yield
    finally:
        _active.reset(token)
        current.finish()


def log(record: dict) -> None:
    """Log one ``metrics.jsonl`` record (its numbers, at its ``step``) to the open session, if any."""
    current = _active.get()
    if current is not None:
        current.log({k: v for k, v in record.items() if k != "step"}, record.get("step"))


def log_metric_rows(rows: list[dict], step: int | None) -> None:
    """Log final metric rows as ``SUITE/DATASET/SPLIT/METRIC`` scalars (undefined values skipped)."""
    current = _active.get()
    if current is not None:
        current.log({tracker_key(f"{r['suite']}/{r['dataset']}/{r['split']}/{r['metric']}"): r["value"] for r in rows
                     if r["value"] is not None}, step)


def tracker_key(name: str) -> str:
    """``name`` in the characters every tracker accepts (MLflow's metric names: letters, digits, ``_ - . : /`` and
    space): a group metric ``accuracy@kind=differ`` is logged as ``accuracy:kind.differ``."""
    return re.sub(r"[^\w\-. :/]", "_", name.replace("@", ":").replace("=", "."))
