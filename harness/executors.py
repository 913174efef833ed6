"""Where the jobs of ``rmbench sweep`` run: one after another in this process (``local``), several at once in
their own processes on this machine (``local`` with ``--jobs N``: the cores split between them) or as tasks on a Ray
cluster (``ray``). All run the same job function on the same grid, so they give the same rows.

A grid is method × seed × every ``--grid key=v1,v2`` axis; a job is one point of it, and its config is the sweep's
config plus the point's settings, so each point is its own experiment (config hash) in the database. ``--controls``
adds, at every seed and grid point, the jobs of the claims table's control rows (``leaderboards.claims``): each
side's method with that side's own settings, evaluated on the suite it is judged on. A job's settings are values
(parsed once, from ``--grid`` text, at the edge), merged into its config as values.

The executors do not know what a job does: the orchestrator gives them the job function
(:meth:`harness.lab.Lab.sweep_job`) and, for a job spread over several GPUs, the module whose ``python -m`` runs
one job in every process (:data:`LAUNCH_MODULE`).
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url

from harness import config as config_mod
from harness.coerce import deep_merge, nest, show
from harness.config import RunConfig
from harness.errors import ConfigError
from harness.progress import progress_bar
from harness.runs import run_id
from leaderboards import engine_for
from leaderboards.store import StoreError, database_url

EXECUTORS = ("local", "ray")
STATUSES = ("skipped", "trained", "evaluated", "failed")  # of a job's outcome
LAUNCH_MODULE = "harness.lab"  # ``python -m harness.lab PAYLOAD OUT`` runs one job (under accelerate launch)


@dataclass(frozen=True)
class Job:
    """One point of the grid: a method, a seed, the values of the extra axes and, for a control job, its side's
    own settings (dotted run-config keys with their typed values)."""

    method: str
    seed: int
    grid: tuple[tuple[str, Any], ...] = ()
    settings: tuple[tuple[str, Any], ...] = ()

    def values(self) -> dict:
        """The job's settings as the nested mapping its config is merged with."""
        return nest(self.grid + self.settings)

    def describe(self) -> str:
        return " ".join([self.method, f"seed {self.seed}", *(f"{k}={show(v)}" for k, v in self.grid + self.settings)])


JobFunction = Callable[["SweepSpec", Job], dict]


def sweep_tally(outcomes: list[dict]) -> str:
    """``"2 skipped, 1 failed"``: the count of each status among the jobs' outcomes."""
    counts = {s: sum(o["status"] == s for o in outcomes) for s in STATUSES}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "starting"


@dataclass(frozen=True)
class Resources:
    """What one job asks of the cluster (``sweep.*`` in its config)."""

    cpus: float = 1.0
    gpus: float = 0.0
    max_retries: int = 3


def parse_grid(items: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """``["data.label_noise=0,0.2"]`` → ``[("data.label_noise", [0, 0.2])]``: each value read as YAML, once; commas
    inside ``[…]`` or ``{…}`` stay in their value (``method_config.x=[1,2],[3]`` has two values)."""
    axes = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        values = _split_values(raw)
        if not sep or not key or not values:
            raise ConfigError(f"--grid expects key=v1,v2,…, got {item!r}")
        if key in ("method", "seed"):
            raise ConfigError(f"--grid {key}=…: use --methods / --seeds for the {key} axis")
        if key in (k for k, _ in axes):
            raise ConfigError(f"--grid {key} is given twice")
        parsed = []
        for value in values:
            try:
                parsed.append(yaml.safe_load(value))
            except yaml.YAMLError as e:
                raise ConfigError(f"--grid {key}: cannot parse the value {value!r} ({e})".splitlines()[0]) from None
        axes.append((key, parsed))
    return axes


def _split_values(raw: str) -> list[str]:
    values, depth, current = [], 0, ""
    for char in raw:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += char
    values.append(current.strip())
    return [v for v in values if v]


def grid_jobs(methods: Sequence[str], seeds: int, axes: Sequence[tuple[str, list[Any]]] = (),
              controls: Sequence[tuple[str, tuple[tuple[str, Any], ...]]] = ()) -> list[Job]:
    """Every job, seed-major, then the grid points (first axis slowest), then the methods, then the ``controls``
    ((method, settings) pairs: see :func:`leaderboards.claims.control_jobs`)."""
    points = list(itertools.product(*([(key, v) for v in values] for key, values in axes)))
    return [job for seed in range(seeds) for point in points
            for job in [*(Job(method, seed, point) for method in methods),
                        *(Job(method, seed, point, settings) for method, settings in controls)]]


def distinct_jobs(jobs: Sequence[Job], spec: "SweepSpec") -> list[Job]:
    """``jobs`` without those that repeat an earlier job's run (experiment and seed) with no new suite (a control side
    that is a plain run of the sweep, e.g. BT on clean labels); a job whose config does not resolve is kept (it
    fails and is reported)."""
    seen: dict[str, set[str]] = {}
    out = []
    for job in jobs:
        try:
            cfg = spec.resolve(job)
            key = run_id(cfg)
        except Exception:  # noqa: BLE001 - reported when the job runs
            out.append(job)
            continue
        if key in seen and set(cfg.suites) <= seen[key]:
            continue
        seen.setdefault(key, set()).update(cfg.suites)
        out.append(job)
    return out


def run_local(jobs: Sequence[Job], spec: SweepSpec, run_job: JobFunction, show_progress: bool = True) -> list[dict]:
    """The jobs one after another in this process."""
    outcomes = []
    with progress_bar(show_progress) as bar:
        task = bar.add_task("sweep", total=len(jobs))
        for job in jobs:
            bar.update(task, status=f"{job.describe()} · {sweep_tally(outcomes)}")
            outcomes.append(_named(job, run_job(spec, job)))
            bar.update(task, advance=1, status=sweep_tally(outcomes))
    return outcomes


@dataclass(frozen=True)
class SweepSpec:
    """What every job of a sweep shares (picklable: it travels to Ray workers): the preset, config file and
    ``--set`` strings as given, and the suites (None: the config's)."""

    preset: str
    config_file: str | None
    overrides: tuple[str, ...]
    runs_dir: str
    db: str | None
    suites: tuple[str, ...] | None = None

    def resolve(self, job: Job) -> RunConfig:
        shared = {"suites": list(self.suites)} if self.suites else {}
        return config_mod.resolve(self.preset, self.config_file, list(self.overrides), job.seed, job.method,
                                  values=deep_merge(shared, job.values()))


@functools.cache
def engine(db: str | None):
    """One checked engine per database and process (a Ray worker runs many jobs)."""
    return engine_for(db)


def _named(job: Job, outcome: dict) -> dict:
    """The outcome with the job's grid values, when the sweep has grid axes, and a control job's settings."""
    return {**outcome, **({"grid": dict(job.grid)} if job.grid else {}),
            **({"settings": dict(job.settings)} if job.settings else {})}


def run(executor: str, jobs: Sequence[Job], spec: SweepSpec, run_job: JobFunction, *, address: str | None = None,
        show_progress: bool = True, parallel: int = 1) -> list[dict]:
    """Run ``jobs`` on ``executor`` after checking the database; ``run_job(spec, job)`` (never raising an
    ``Exception``) is one job. One outcome per job, in the jobs' order. ``parallel`` > 1 (``local`` only) runs that
    many jobs at once (:func:`run_parallel`; ``run_job`` then travels to spawned processes: it must pickle)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if not isinstance(parallel, int) or parallel < 1:
        raise ConfigError(f"--jobs must be a whole number >= 1, got {parallel!r}")
    if parallel > 1 and executor != "local":
        raise ConfigError("--jobs is for the local executor; Ray places the jobs itself (sweep.cpus_per_job)")
    if executor == "local":
        engine(spec.db)  # the database is checked before the first job
        if parallel > 1:
            return run_parallel(jobs, functools.partial(_named_job, run_job, spec), parallel,
                                functools.partial(_crashed, spec), show_progress)
        return run_local(jobs, spec, run_job, show_progress)
    return run_ray(jobs, spec, run_job, address=address, show_progress=show_progress)


def _named_job(run_job: JobFunction, spec: SweepSpec, job: Job) -> dict:
    """``run_job(spec, job)`` as :func:`_named` gives it (a module function: it pickles into a job process)."""
    return _named(job, run_job(spec, job))


# -- several local jobs at once ----------------------------------------------------------------------------------
def threads_per_job(workers: int, cpus: int | None = None) -> int:
    """The cores this process may use (its CPU affinity), split evenly between ``workers`` jobs (at least 1)."""
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // workers)


def run_parallel(jobs: Sequence[Job], run_job: Callable[[Job], dict], workers: int, crashed: Callable[[Job, str], dict],
                 show_progress: bool = True, threads: int | None = None) -> list[dict]:
    """``workers`` jobs at once on this machine, each in its own fresh (spawned) process with ``threads`` torch /
    OpenMP threads (default :func:`threads_per_job`: the cores split between the workers), started in the jobs'
    order; outcomes come back in that order. A job whose process dies without an outcome (killed, out of memory)
    gets ``crashed(job, reason)`` and the others go on; Ctrl-C terminates the running ones. Each job is the same
    resumable job as in :func:`run_local`, so rerunning an interrupted sweep skips what is done."""
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads or a database
    threads = threads or threads_per_job(workers)
    outcomes: list[dict | None] = [None] * len(jobs)
    waiting, running = list(range(len(jobs))), {}  # index → (process, receiving end)
    with progress_bar(show_progress) as bar:
        task = bar.add_task(f"sweep ({workers} at once, {threads} threads each)", total=len(jobs))
        try:
            while waiting or running:
                while waiting and len(running) < workers:
                    i = waiting.pop(0)
                    receive, send = context.Pipe(duplex=False)
                    process = context.Process(target=_job_process, args=(run_job, jobs[i], threads, send),
                                              name=f"rmbench job {i}", daemon=True)
                    process.start()
                    send.close()  # the child holds the only sending end: its death reads as EOF here
                    running[i] = (process, receive)
                bar.update(task, status=" · ".join([*(jobs[i].describe() for i in running),
                                                    sweep_tally([o for o in outcomes if o is not None])]))
                ready = wait([receive for _, receive in running.values()], timeout=1.0)
                for i, (process, receive) in list(running.items()):
                    if receive not in ready:
                        continue
                    try:
                        outcome = receive.recv()
                    except EOFError:
                        outcome = None
                    process.join()
                    receive.close()
                    del running[i]
                    outcomes[i] = outcome if outcome is not None else crashed(
                        jobs[i], f"its process ended with exit code {process.exitcode} before reporting")
                    bar.update(task, advance=1, status=sweep_tally([o for o in outcomes if o is not None]))
        except KeyboardInterrupt:
            for process, _ in running.values():
                process.terminate()
            raise
    return outcomes


def _job_process(run_job: Callable[[Job], dict], job: Job, threads: int, send) -> None:
    """The body of one job process: its share of the cores, the job, its outcome sent back."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # for anything the job starts in turn
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)
    send.send(run_job(job))
    send.close()


def _crashed(spec: SweepSpec, job: Job, reason: str) -> dict:
    """The failed outcome of a job that could not report one (its process or Ray worker died): ``reason``."""
    try:
        rid = run_id(spec.resolve(job))
    except Exception:  # noqa: BLE001 - the job's own error is the one to report
        rid = None
    return _named(job, {"method": job.method, "seed": job.seed, "run_id": rid, "status": "failed", "error": reason})


# -- Ray -------------------------------------------------------------------------------------------------------
WORKER_ENV_PREFIXES = ("RMBENCH_", "HF_", "TRANSFORMERS_", "TOKENIZERS_", "OMP_", "MKL_", "MLFLOW_", "WANDB_")


def run_ray(jobs: Sequence[Job], spec: SweepSpec, run_job: JobFunction, *, address: str | None = None,
            show_progress: bool = True) -> list[dict]:
    """One Ray task per job on the cluster at ``address`` (else ``$RAY_ADDRESS``, else a cluster started on this
    machine, or a new local one), with ``sweep.cpus_per_job`` / ``gpus_per_job`` / ``max_retries`` from the job's
    config. A task whose worker dies is rerun by Ray and its run resumes from its last saved state; Ctrl-C
    cancels every task not yet finished. Paths are made absolute: workers do not share the driver's directory."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'rmbench[ray]'") from None

    spec = _absolute(spec)
    engine(spec.db)  # the database is checked before Ray starts
    started_here = not ray.is_initialized()
    if started_here:
        env = {k: v for k, v in os.environ.items() if k.startswith(WORKER_ENV_PREFIXES)}
        ray.init(address=address or os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": env})
    try:
        _check_shared_store(spec.db, ray)
        task = ray.remote(_ray_task)
        index = {}
        for i, job in enumerate(jobs):
            res = _resources(spec, job)
            ref = task.options(num_cpus=res.cpus, num_gpus=res.gpus, max_retries=res.max_retries,
                               retry_exceptions=False, name=job.describe()).remote(spec, job, res.gpus, run_job)
            index[ref] = i
        return _gather(ray, index, jobs, spec, show_progress)
    finally:
        if started_here:
            ray.shutdown()


def _gather(ray, index: dict, jobs: Sequence[Job], spec: SweepSpec, show_progress: bool) -> list[dict]:
    """Outcomes in the jobs' order, a progress bar advancing as the cluster finishes them."""
    outcomes: list[dict | None] = [None] * len(jobs)
    pending = list(index)
    with progress_bar(show_progress) as bar:
        task = bar.add_task("sweep (ray)", total=len(jobs), status=f"{len(jobs)} submitted")
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
                for ref in done:
                    i = index[ref]
                    outcomes[i] = _task_outcome(ray, ref, jobs[i], spec)
                    bar.update(task, advance=1, status=sweep_tally([o for o in outcomes if o is not None]))
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    return outcomes


def _task_outcome(ray, ref, job: Job, spec: SweepSpec) -> dict:
    """The task's outcome, or a failed one when Ray could not run it (its worker died more often than retried)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as e:
        first_line = (str(e).strip().splitlines() or [""])[0]
        return _crashed(spec, job, f"{type(e).__name__}: {first_line}")


def _ray_task(spec: SweepSpec, job: Job, gpus: float, run_job: JobFunction) -> dict:
    """The body of one Ray task: the job in this worker, or under ``accelerate launch`` with one process per GPU
    when it asks for more than one."""
    if gpus > 1:
        return _named(job, _accelerate_launch(spec, job, int(gpus)))
    return _named(job, run_job(spec, job))


def _accelerate_launch(spec: SweepSpec, job: Job, processes: int) -> dict:
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rmbench-job-") as tmp:
        out = Path(tmp) / "outcome.json"
        payload = json.dumps({"spec": dataclasses.asdict(spec), "job": dataclasses.asdict(job)})
        subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes),
                        "--multi_gpu", "--main_process_port", "0",  # a free port: jobs may share a node
                        "-m", LAUNCH_MODULE, payload, str(out)], check=True)
        return json.loads(out.read_text())


def _resources(spec: SweepSpec, job: Job) -> Resources:
    """The job's ``sweep.*`` settings; a job whose config does not resolve asks for the defaults (and fails in its
    task, where the error is recorded like any other job's)."""
    try:
        sweep = spec.resolve(job).sweep
    except Exception:  # noqa: BLE001 - reported by the job itself
        return Resources()
    return Resources(sweep.cpus_per_job, sweep.gpus_per_job, sweep.max_retries)


def _absolute(spec: SweepSpec) -> SweepSpec:
    url = make_url(database_url(spec.db))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        url = url.set(database=str(Path(url.database).expanduser().resolve()))
    return dataclasses.replace(spec, runs_dir=str(Path(spec.runs_dir).resolve()),
                               config_file=spec.config_file and str(Path(spec.config_file).resolve()),
                               db=url.render_as_string(hide_password=False))


def _check_shared_store(db: str, ray) -> None:
    """Refuse a SQLite database the workers cannot share: in memory, or on a cluster with nodes on other
    machines (a SQLite file lives on one machine's disk)."""
    url = make_url(db)
    if url.get_backend_name() != "sqlite":
        return
    remedy = "use a PostgreSQL URL that every node reaches: --db postgresql://USER:PASSWORD@HOST/DB " \
             "(pip install 'rmbench[postgres]')"
    if url.database in (None, "", ":memory:"):
        raise StoreError(url, "an in-memory SQLite database cannot be shared by Ray workers", remedy)
    here = ray.util.get_node_ip_address()
    others = sorted({n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]} - {here})
    if others:
        raise StoreError(url, f"a SQLite file on this machine cannot be shared by the Ray workers on "
                              f"{', '.join(others)}", remedy)


def decode_payload(payload: str) -> tuple[SweepSpec, Job]:
    """The spec and job of ``python -m LAUNCH_MODULE PAYLOAD OUT`` (written by :func:`_accelerate_launch`)."""
    data = json.loads(payload)
    spec = SweepSpec(**{**data["spec"], "overrides": tuple(data["spec"]["overrides"]),
                        "suites": data["spec"]["suites"] and tuple(data["spec"]["suites"])})
    job = Job(data["job"]["method"], data["job"]["seed"],
              *(tuple(tuple(p) for p in data["job"][key]) for key in ("grid", "settings")))
    return spec, job
