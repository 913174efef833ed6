"""Evaluating a run: ``--set`` routing between suite options and the run config, suite construction, the suites'
requirements, their context, and merging each suite's metric rows and predictions into the run's ``result.json``."""
from __future__ import annotations

import time
from pathlib import Path

import methods
from harness import config as config_mod
from harness import suites, trackers
from harness.config import RunConfig
from harness.errors import ConfigError, RmbenchError
from harness.metric_keys import RENAMED_SUITES
from harness.records import check_store, record
from harness.results import merge_metrics, write_jsonl_atomic
from harness.runs import CHECKPOINT_DIR, RESULT_FILE, RunResult, load_run_config, predictions_path


def evaluate(run_dir: str | Path, suite_names: list[str], *, data: str | list[str] | None = None,
             db: str | None = None, batch_size: int | None = None, show_progress: bool = True, model=None, method=None,
             overrides: list[str] = ()) -> dict:
    """Run suites on a finished run's checkpoint; predictions and metric rows are merged into its result.

    ``overrides`` are ``--set key=value`` strings: a key under a suite's name (``noise.rates=0,0.2``) is an option
    of that suite (a field of its ``Options``), any other key changes the run config the suites see (e.g.
    ``train.max_steps=5`` for the runs the noise suite trains). Every suite's options and requirements are checked
    before anything is loaded. The runs a suite trains or evaluates through its context live beside this one (the
    same runs directory) and are recorded in the same database. ``data`` is one ``--data`` value or a list of them
    (``--data`` repeated: each value is parsed on its own, so a path may hold ``,FORMAT:``).
    """
    from harness.data.encode import Encoder, chat_template_sha256
    from harness.external import load_reward_model

    run_dir = Path(run_dir)
    result = RunResult.read(run_dir)
    if result is None:
        raise RmbenchError(f"{run_dir} has no {RESULT_FILE}: train it first (or resume it)")
    check_store(db)
    suite_names = [suites.current_name(name) for name in suite_names]
    options, cfg_overrides = split_overrides(list(overrides))
    cfg = load_run_config(run_dir)
    if cfg_overrides:
        cfg = config_mod.from_dict(RunConfig, config_mod.deep_merge(config_mod.to_dict(cfg), cfg_overrides))
    suite_options = {name: options.pop(name, {}) for name in suite_names}
    instances = [suites.get(name)(**suite_options[name]) for name in suite_names]
    if options:
        raise ConfigError(f"--set {sorted(options)[0]}.…: options for a suite that is not run")
    data = (data,) if isinstance(data, str) else tuple(data or ())
    check_requirements(cfg, suite_names, data)
    model = model or load_reward_model(result.model_path or run_dir / CHECKPOINT_DIR, cfg.model,
                                       cfg_overrides.get("model", {}).get("chat_template"))
    method = method or methods.get(cfg.method)(**cfg.method_config)
    batch_size = batch_size or cfg.train.eval_batch_size
    ctx = suites.EvalContext(model, method, Encoder(model.tokenizer, cfg.model.max_length), cfg, batch_size,
                             show_progress, data, run_dir,
                             *_run_callables(run_dir.parent, db=db, batch_size=batch_size, show_progress=show_progress))
    for suite in instances:
        started = time.perf_counter()
        outcome = suite.run(ctx)
        for name, rows in outcome.predictions.items():
            write_jsonl_atomic(predictions_path(run_dir, suite.name, name), rows)
        result = RunResult.read(run_dir)  # a suite may itself have evaluated this run (noise at rate 0)
        result.metrics = merge_metrics(result.metrics, [m.to_json() for m in outcome.metrics])
        result.wall_times[f"eval_{suite.name}_s"] = round(time.perf_counter() - started, 3)
        result.suite_options = {**(result.suite_options or {}), suite.name: suite_options[suite.name]}  # --set
        result.chat_template_sha256 = chat_template_sha256(model.tokenizer)  # None: the plain layout
        result.write(run_dir)
    with trackers.session(cfg.train.report_to, run_dir, config_mod.to_dict(cfg)):
        trackers.log_metric_rows(result.metrics, (result.train or {}).get("steps"))
    record(result.to_json(), db, saved=run_dir / RESULT_FILE)
    return result.to_json()


def split_overrides(overrides: list[str]) -> tuple[dict[str, dict], dict]:
    """``--set`` pairs → ({suite: {option: value}}, nested run-config overrides)."""
    parsed = config_mod.parse_overrides(overrides)
    options: dict[str, dict] = {}
    for key in [k for k in parsed if k in suites.names() or k in RENAMED_SUITES]:
        if not isinstance(parsed[key], dict):
            raise ConfigError(f"--set {key}=…: use {key}.OPTION=VALUE")
        name = suites.current_name(key)
        options[name] = {**options.get(name, {}), **parsed.pop(key)}
    return options, parsed


def check_requirements(cfg: RunConfig, suite_names: list[str], data: tuple[str, ...] = ()) -> None:
    """Fail when a suite's ``requires`` (:data:`harness.suites.REQUIREMENTS`) is not met by the run ``cfg`` and the
    ``--data`` values given."""
    for name in suite_names:
        for requirement in sorted(suites.get(name).requires):
            if missing := suites.REQUIREMENTS[requirement](cfg, data):
                raise ConfigError(f"the {name} suite needs {missing}")


def _run_callables(runs_dir: Path, db: str | None, batch_size: int, show_progress: bool):
    """The context's ``train_variant`` and ``evaluate_run`` (:class:`harness.suites.EvalContext`) for runs in
    ``runs_dir``, recorded in ``db``."""

    def train_variant(cfg: RunConfig) -> RunResult:
        # a local import: harness.training imports this module to evaluate its suites
        from harness.training import train

        return RunResult.from_json(train(cfg, runs_dir=runs_dir, db=db, show_progress=show_progress))

    def evaluate_run(run_id: str, suite_names: list[str]) -> RunResult:
        return RunResult.from_json(evaluate(runs_dir / run_id, suite_names, db=db, batch_size=batch_size,
                                            show_progress=show_progress))

    return train_variant, evaluate_run
