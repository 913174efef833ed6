"""Evaluating a run: ``--set`` routing between suite options and the run config, suite construction, the suites'
requirements, their context, and merging each suite's metric rows and predictions into the run's ``result.json``.

:func:`evaluate` is run by the orchestrator (:class:`harness.lab.Lab`), which it is given: the suites' context
trains and evaluates the runs a suite asks for through it."""
from __future__ import annotations

import time
from pathlib import Path

import methods
from harness import config as config_mod
from harness import suites, trackers
from harness.config import RunConfig
from harness.data.encode import Encoder, chat_template_sha256
from harness.errors import ConfigError, RmbenchError
from harness.external import scoring_model
from harness.implicit import implicit_scorer
from harness.records import check_store, record
from harness.results import merge_metrics, write_jsonl_atomic
from harness.runs import CHECKPOINT_DIR, RESULT_FILE, RunResult, load_run_config, predictions_path
from harness.suites import check_requirements, split_overrides  # noqa: F401 - evaluation's own steps


def evaluate(lab, run_dir: Path, suite_names: list[str], *, data: str | list[str] | None = None,
             batch_size: int | None = None, model=None, method=None, overrides: list[str] = (),
             suite_values: dict[str, dict] | None = None) -> dict:
    """Run suites on a finished run's checkpoint in ``lab`` (a :class:`harness.lab.Lab`: its database and progress);
    predictions and metric rows are merged into its result.

    ``overrides`` are ``--set key=value`` strings: a key under a suite's name (``noise.rates=0,0.2``) is an option
    of that suite (a field of its ``Options``), any other key changes the run config the suites see (e.g.
    ``train.max_steps=5`` for the runs the noise suite trains). Every suite's options and requirements are checked
    before anything is loaded. The runs a suite trains or evaluates through its context live beside this one (the
    same runs directory) and are recorded in the same database. ``data`` is one ``--data`` value or a list of them
    (``--data`` repeated: each value is parsed on its own, so a path may hold ``,FORMAT:``). ``suite_values`` are
    more suite options, as values (``{"bon": {"policy": "tiny"}}``), over those of ``overrides``.
    """
    run_dir = Path(run_dir)
    result = RunResult.read(run_dir)
    if result is None:
        raise RmbenchError(f"{run_dir} has no {RESULT_FILE}: train it first (or resume it)")
    check_store(lab.db)
    suite_names = [suites.current_name(name) for name in suite_names]
    options, cfg_overrides = split_overrides(list(overrides))
    for name, values in (suite_values or {}).items():  # options given as values (an external model's policy)
        options[name] = {**options.get(name, {}), **values}
    cfg = load_run_config(run_dir)
    if cfg_overrides:
        cfg = config_mod.from_dict(RunConfig, config_mod.deep_merge(config_mod.to_dict(cfg), cfg_overrides))
    suite_options = {name: options.pop(name, {}) for name in suite_names}
    instances = [suites.get(name)(**suite_options[name]) for name in suite_names]
    if options:
        raise ConfigError(f"--set {sorted(options)[0]}.…: options for a suite that is not run")
    data = (data,) if isinstance(data, str) else tuple(data or ())
    check_requirements(cfg, suite_names, data)
    method = method or methods.get(cfg.method)(**cfg.method_config)
    if model is None:
        model = scoring_model(result.model_path or run_dir / CHECKPOINT_DIR, cfg, method,
                              cfg_overrides.get("model", {}).get("chat_template"))
    elif method.implicit:  # a trained policy, scored by its implicit reward (with its reference when it reads one)
        model = implicit_scorer(model, cfg, method)
    batch_size = batch_size or cfg.train.eval_batch_size
    beside = lab.beside(run_dir)  # the runs a suite trains or evaluates live beside this one
    ctx = suites.EvalContext(model, method, Encoder(model.tokenizer, cfg.model.max_length), cfg, batch_size,
                             lab.show_progress, data, run_dir,
                             beside.train_variant,
                             lambda run, names: beside.evaluate_run(run, names, batch_size=batch_size))
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
    record(result.to_json(), lab.db, saved=run_dir / RESULT_FILE)
    return result.to_json()
