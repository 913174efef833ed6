"""``rmbench``: the command line over ``harness.api``. Heavy imports happen inside commands, so ``--help`` is instant."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

# our own Rich bars report progress; the Hugging Face libraries' tqdm bars would interleave with them
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

app = typer.Typer(help="Benchmark reward-model training objectives against Bradley-Terry.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
world_app = typer.Typer(help="The embedded preference world.", no_args_is_help=True)
app.add_typer(world_app, name="world")

DbOption = Annotated[Optional[str], typer.Option("--db", help="SQLAlchemy URL (default: $RMBENCH_DB or "
                                                             "sqlite:///rmbench.db)")]
RunsOption = Annotated[Path, typer.Option("--runs-dir", help="Where runs/<run_id>/ directories go.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
WorldSeedOption = Annotated[int, typer.Option("--seed", help="World seed (the fact table and the prompts).")]
WorldVersionOption = Annotated[int, typer.Option("--version", help="World version of the prompts and the tiny "
                                                 "builds.")]
MixtureOption = Annotated[str, typer.Option("--mixture", help="World v2's families: learnable | hard | all.")]


_json_stdout = None  # the real stdout while a --json command runs with everything else printed sent to stderr


def _errors_exit(command):
    """Turn rmbench's own errors into one red line on stderr and their exit code (no traceback). Under ``--json``
    stdout carries the JSON document alone: whatever else is printed meanwhile (a library's log line, such as the
    notice DeepSpeed prints on import) goes to stderr."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        from harness.errors import RmbenchError

        global _json_stdout
        try:
            if kwargs.get("as_json"):
                _json_stdout = sys.stdout
                with contextlib.redirect_stdout(sys.stderr):
                    return command(*args, **kwargs)
            return command(*args, **kwargs)
        except RmbenchError as e:
            from rich.markup import escape

            from harness.progress import console

            # escaped: a message naming an extra (pip install 'rmbench[postgres]') is not Rich markup
            console.print(f"[bold red]error:[/] {escape(str(e))}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        finally:
            _json_stdout = None

    return run


def _names(text: str | None) -> list[str]:
    """``"id, splits"`` → ``["id", "splits"]`` (a comma-separated option's names; none for None or "")."""
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _print_json(payload) -> None:
    (_json_stdout or sys.stdout).write(json.dumps(payload, indent=2, default=str) + "\n")


def _print(renderable) -> None:
    from rich.console import Console

    Console().print(renderable)


@app.command()
@_errors_exit
def methods(as_json: JsonOption = False):
    """List the RM training methods: name, paper, summary, default config."""
    from harness import api

    rows = api.method_table()
    if as_json:
        return _print_json(rows)
    from rich.table import Table

    table = Table("method", "paper", "summary", "defaults", title="rmbench methods")
    for row in rows:
        table.add_row(row["name"], row["paper"], row["summary"],
                      ", ".join(f"{k}={v}" for k, v in row["defaults"].items()) or "—")
    _print(table)


@world_app.command("generate")
@_errors_exit
def world_generate(out: Annotated[Path, typer.Option("--out", help="Output directory.")],
                   seed: int = 0, n_train: int = 20000, n_id: int = 1000, n_ood: int = 300, n_style: int = 300,
                   version: Annotated[int, typer.Option(help="World version: 2 (default) or 1.")] = 2,
                   spurious: Annotated[Optional[float], typer.Option(
                       help="World v2's shortcut dial s in [0, 1] (default: WorldConfig's).")] = None,
                   mixture: MixtureOption = "learnable",
                   as_json: JsonOption = False):
    """Write the preference world's splits as JSONL (same seed → byte-identical files)."""
    from harness import world
    from harness.config import from_dict

    dial = {} if spurious is None else {"spurious": spurious}
    cfg = from_dict(world.WorldConfig, dict(seed=seed, n_train=n_train, n_id=n_id, n_ood=n_ood, n_style=n_style,
                                            version=version, mixture=mixture, **dial), "data.world")
    paths = world.write(world.generate(cfg), out)
    if as_json:
        return _print_json([str(p) for p in paths])
    for path in paths:
        typer.echo(str(path))


@world_app.command("quality")
@_errors_exit
def world_quality(policy: Annotated[str, typer.Argument(help="Policy: tiny-sft (default), tiny, smollm2, a "
                                                        "directory, a Hub id.")] = "tiny-sft",
                  seed: WorldSeedOption = 0,
                  prompts: Annotated[int, typer.Option(help="Held-out prompts.")] = 64,
                  samples: Annotated[int, typer.Option(help="Samples per prompt (the oracle is best of these).")] = 16,
                  version: WorldVersionOption = 2,
                  as_json: JsonOption = False):
    """How good a policy's samples are on held-out world prompts, per prompt family: the share correct (refusing,
    for unsafe requests), the mean gold of one sample and of the oracle best-of-n."""
    from harness.rl.quality import quality

    from harness import world

    world.WorldConfig(seed=seed, version=version).check()
    q = quality(policy, seed, n_prompts=prompts, n=samples, world_version=version)
    if as_json:
        return _print_json({"policy": policy, **q})
    from rich.table import Table

    def share(x: float) -> str:
        return "—" if x != x else f"{x:.1%}"  # nan: no prompt of that kind among the drawn ones

    table = Table("family", "prompts", "correct / refusing", "gold, 1 sample", f"oracle gold, best of {samples}",
                  title=f"{policy}: correct on {share(q['correct_safe'])} of safe prompts, refusing "
                        f"{share(q['refused_unsafe'])} of unsafe ones")
    for name, f in [*q["families"].items(), ("all", {"prompts": prompts, "good": float("nan"),
                                                      "gold": q["gold_single"],
                                                      "oracle_gold": q[f"oracle_gold@{samples}"]})]:
        table.add_row(name, str(f["prompts"]), share(f["good"]),
                      f"{f['gold']:+.3f}", f"{f['oracle_gold']:+.3f}")
    _print(table)


@world_app.command("probe")
@_errors_exit
def world_probe(policy: Annotated[str, typer.Argument(help="Causal LM: tiny (the base, default), tiny-sft, smollm2, "
                                                      "a directory, a Hub id.")] = "tiny",
                seed: WorldSeedOption = 0,
                prompts: Annotated[int, typer.Option(help="Held-out prompts, one minimal pair each.")] = 600,
                version: WorldVersionOption = 2,
                mixture: MixtureOption = "learnable",
                as_json: JsonOption = False):
    """Does a causal LM know the world's truth? Per family, the share of minimal pairs (same generator, style and
    phrasing; right vs wrong answer, refusal vs compliance) whose better response it finds more likely."""
    from harness.rl.probe import probe

    from harness import world

    world.WorldConfig(seed=seed, version=version, mixture=mixture).check()
    p = probe(policy, seed, n_prompts=prompts, world_version=version, mixture=mixture, show_progress=not as_json)
    if as_json:
        return _print_json(p)
    from rich.table import Table

    table = Table("family", "pairs", "better response more likely",
                  title=f"{policy}: prefers the better response on {p['accuracy']:.1%} of {p['pairs']} minimal pairs")
    for name, f in [*p["families"].items(), ("all", p)]:
        table.add_row(name, str(f["pairs"]), f"{f['accuracy']:.3f}")
    _print(table)


@app.command()
@_errors_exit
def train(method: Annotated[str, typer.Argument(help="Method name (see `rmbench methods`).")],
          preset: Annotated[str, typer.Option(help="Preset in configs/ (tiny, micro, minilm, …).")] = "tiny",
          config: Annotated[Optional[Path], typer.Option("--config", help="YAML config file.")] = None,
          overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Override: a.b=value.")] = None,
          seed: Annotated[Optional[int], typer.Option(help="Run seed.")] = None,
          suite_names: Annotated[Optional[str], typer.Option("--suites", help="Comma-separated suites to evaluate "
                                                              "after training (default: the preset's).")] = None,
          resume: Annotated[bool, typer.Option(help="Continue an interrupted run.")] = False,
          force: Annotated[bool, typer.Option(help="Delete an existing run and train again.")] = False,
          runs_dir: RunsOption = Path("runs"), db: DbOption = None, as_json: JsonOption = False):
    """Train a reward model with METHOD, evaluate its suites and record the result."""
    from harness import api, config as config_mod

    cfg = config_mod.resolve(preset, config, overrides or [], seed, method)
    if suite_names is not None:
        cfg = dataclasses.replace(cfg, suites=_names(suite_names))
    result = api.train(cfg, runs_dir=runs_dir, db=db, resume=resume, force=force, show_progress=not as_json)
    if result:  # empty on the non-main processes of a multi-process run: only rank 0 reports
        _report(result, as_json)


@app.command("eval")
@_errors_exit
def evaluate(suite: Annotated[list[str], typer.Option("--suite", help="Suite name(s); repeat or comma-separate.")],
             run: Annotated[Optional[Path], typer.Option("--run", help="A run directory.")] = None,
             model: Annotated[Optional[str], typer.Option("--model", help="A reward model that is not a run: an "
                                                          "rmbench checkpoint directory, or a *ForSequenceClassification"
                                                          " directory or Hub id (trl's RewardTrainer output, a public "
                                                          "RM).")] = None,
             data: Annotated[Optional[list[str]], typer.Option(
                 "--data", help="FORMAT:PATH_OR_HUB_ID for ood (repeat, or comma-separate: a list splits only before "
                           "a known FORMAT:, so paths may hold commas); a pairs file for id.")
             ] = None,
             overrides: Annotated[Optional[list[str]], typer.Option(
                 "--set", help="SUITE.OPTION=V (noise.rates=0,0.2) or a run-config key (train.max_steps=5).")] = None,
             batch_size: Annotated[Optional[int], typer.Option(help="Scoring batch size.")] = None,
             algo: Annotated[Optional[str], typer.Option(help="RL algorithm of the rl suite: ppo, rloo or grpo "
                                                         "(same as --set rl.algo=…).")] = None,
             kind: Annotated[str, typer.Option(help="What --model is: rm (a reward model), or dpo (any causal LM, "
                                               "scored by its implicit reward; also ipo, simpo).")] = "rm",
             ref: Annotated[Optional[str], typer.Option(help="--kind dpo: the reference policy (a causal LM with "
                                                        "the model's tokenizer).")] = None,
             ref_free_type: Annotated[Optional[str], typer.Option(
                 help="--kind dpo without --ref: sum, avg (default) or norm, as reward-bench's.")] = None,
             runs_dir: RunsOption = Path("runs"), db: DbOption = None, as_json: JsonOption = False):
    """Evaluate a trained run (--run) or a reward model (--model) on one or more suites."""
    from harness import api, suites
    from harness.errors import ConfigError

    if (run is None) == (model is None):
        raise ConfigError("give exactly one of --run RUN_DIR or --model CHECKPOINT_DIR")
    names = [suites.current_name(name.strip()) for item in suite for name in item.split(",") if name.strip()]
    if algo is not None:
        if "rl" not in names:
            raise ConfigError("--algo chooses the RL algorithm of the rl suite: add --suite rl")
        overrides = [*(overrides or []), f"rl.algo={algo}"]
    kwargs = dict(data=data or None, db=db, batch_size=batch_size, show_progress=not as_json,
                  overrides=overrides or [])
    if run is not None and (kind != "rm" or ref or ref_free_type):
        raise ConfigError("--kind, --ref and --ref-free-type describe a --model; a run knows its method")
    result = (api.evaluate(run, names, **kwargs) if run is not None
              else api.evaluate_model(model, names, runs_dir=runs_dir, kind=kind, ref=ref,
                                      ref_free_type=ref_free_type, **kwargs))
    _report(result, as_json, names)


@app.command()
@_errors_exit
def export(run: Annotated[Path, typer.Argument(help="A run directory (or an rmbench checkpoint directory).")],
           out: Annotated[Path, typer.Option("--out", help="Directory to write the transformers checkpoint to.")],
           as_json: JsonOption = False):
    """Write a run's reward model as a standard AutoModelForSequenceClassification checkpoint (num_labels=1)."""
    from harness.export import export as export_model

    info = export_model(run, out)
    if as_json:
        return _print_json(info)
    typer.echo(f"wrote {info['out']} ({info['architecture']}, pad_token_id {info['pad_token_id']}; max |reward "
               f"difference| to rmbench {info['max_abs_diff']:.2e}); load it with "
               f"AutoModelForSequenceClassification.from_pretrained({str(info['out'])!r})")


@app.command()
@_errors_exit
def serve(run: Annotated[Optional[Path], typer.Argument(help="A run directory (runs/<run_id>).")] = None,
          model: Annotated[Optional[str], typer.Option("--model", help="A reward model that is not a run (as for "
                                                       "`eval --model`).")] = None,
          host: Annotated[str, typer.Option(help="Interface to bind (loopback unless told otherwise).")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="TCP port.")] = 5000,
          max_batch: Annotated[int, typer.Option(help="Sequences per model batch (the longest batch; shorter "
                                                 "sequences fill the same token budget).")] = 64,
          max_items: Annotated[int, typer.Option(help="Texts per request (more: 413).")] = 1024,
          max_bytes: Annotated[int, typer.Option(help="Request body bytes (more: 413).")] = 8 * 1024 * 1024,
          max_wait_ms: Annotated[float, typer.Option(help="How long a model call waits to batch more "
                                                     "requests.")] = 5.0,
          token_file: Annotated[Optional[Path], typer.Option("--token-file", help="File holding the bearer token "
                                                             "every request must send.")] = None,
          device: Annotated[str, typer.Option(help="auto (the GPU when there is one), cpu, cuda, cuda:1, "
                                              "…")] = "auto"):
    """Serve a reward model over HTTP for RL trainers: POST /get_reward (OpenRLHF --remote_rm_url), POST /score,
    GET /health, GET /info (docs/serve.md). Stops on SIGTERM after finishing the requests in flight."""
    from harness import api
    from harness.errors import ConfigError

    if (run is None) == (model is None):
        raise ConfigError("give exactly one of RUN_DIR or --model DIR")
    api.serve(run, model, token_file=token_file, device=device, host=host, port=port, max_batch=max_batch,
              max_items=max_items, max_bytes=max_bytes, max_wait_ms=max_wait_ms,
              announce=lambda line: typer.echo(line, err=True))


def _report(result: dict, as_json: bool, suite_names: list[str] | None = None) -> None:
    rows = [m for m in result.get("metrics", []) if suite_names is None or m["suite"] in suite_names]
    if as_json:
        return _print_json({"run_id": result.get("run_id"), "metrics": rows})
    from rich.table import Table

    table = Table("suite", "dataset", "split", "metric", "value", "± stderr", "n", title=result.get("run_id"))
    for m in rows:
        value = "nan" if m["value"] is None else f"{m['value']:.4f}"
        table.add_row(m["suite"], m["dataset"], m["split"], m["metric"], value,
                      "" if m["stderr"] is None else f"{m['stderr']:.4f}", str(m["n"]))
    _print(table)


leaderboard_app = typer.Typer(help="Leaderboards over the results database.")
app.add_typer(leaderboard_app, name="leaderboard")
PresetFilter = Annotated[Optional[str], typer.Option("--preset", help="Only runs of this preset.")]
BackboneFilter = Annotated[Optional[str], typer.Option("--backbone", help="Only runs with this backbone.")]
DataFilter = Annotated[Optional[str], typer.Option("--data", help="Only runs trained on this data (as recorded).")]


@leaderboard_app.callback(invoke_without_command=True)
@_errors_exit
def leaderboard(ctx: typer.Context, suite: Optional[str] = None, dataset: Optional[str] = None,
                split: Optional[str] = None, metric: Optional[str] = None, preset: PresetFilter = None,
                backbone: BackboneFilter = None, data: DataFilter = None,
                layout: Annotated[str, typer.Option("--layout", help="flat | main | noise | splits | bon | rl | "
                                                    "shortcut | overopt | claims")] = "flat",
                fmt: Annotated[str, typer.Option("--format", help="table | md | csv | json")] = "table",
                as_json: JsonOption = False,
                runs_dir: RunsOption = Path("runs"), db: DbOption = None):
    """Mean ± std over seeds: every recorded metric (flat, best first), a paper-style table or the papers' claims."""
    if ctx.invoked_subcommand is not None:
        return
    from harness import api
    from leaderboards import render

    fmt = "json" if as_json else fmt
    out = render(api.results_view(layout, db, runs_dir=runs_dir, suite=suite, dataset=dataset, split=split,
                                  metric=metric, preset=preset, backbone=backbone, data=data), fmt)
    _print(out) if fmt == "table" else sys.stdout.write(out if out.endswith("\n") else out + "\n")


@leaderboard_app.command("rebuild")
@_errors_exit
def leaderboard_rebuild(runs_dir: RunsOption = Path("runs"), db: DbOption = None):
    """Re-create the database contents from runs/*/result.json (idempotent; unreadable files are skipped)."""
    from harness import api

    typer.echo(f"recorded {api.rebuild(runs_dir, db)} runs from {runs_dir}")


@app.command("report")
@_errors_exit
def report_html(out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
                preset: PresetFilter = None, backbone: BackboneFilter = None, data: DataFilter = None,
                runs_dir: RunsOption = Path("runs"), db: DbOption = None):
    """One self-contained HTML file: paper tables, claims, convergence / best-of-N / noise / splits plots."""
    from harness import api

    typer.echo(str(api.report(out, runs_dir=runs_dir, db=db, preset=preset, backbone=backbone, data=data)))


@app.command()
@_errors_exit
def sweep(method_names: Annotated[str, typer.Option("--methods", help="Comma-separated method names.")],
          seeds: Annotated[int, typer.Option(help="Seeds 0 … N−1 for every method.")] = 1,
          preset: Annotated[str, typer.Option(help="Preset in configs/.")] = "tiny",
          suite_names: Annotated[Optional[str], typer.Option("--suites", help="Comma-separated suites (default: the "
                                                              "preset's).")] = None,
          config: Annotated[Optional[Path], typer.Option("--config", help="YAML config file.")] = None,
          overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Override: a.b=value.")] = None,
          grid: Annotated[Optional[list[str]], typer.Option(
              "--grid", help="Another grid axis over a config key: key=v1,v2 (repeat for more axes).")] = None,
          executor: Annotated[str, typer.Option(help="local (one job after another here) or ray (one task per "
                                                "job on a Ray cluster; pip install 'rmbench[ray]').")] = "local",
          address: Annotated[Optional[str], typer.Option(
              "--address", help="Ray cluster address (default: $RAY_ADDRESS, else a local cluster).")] = None,
          controls: Annotated[bool, typer.Option(
              "--controls", help="Also run the claims table's control rows (BT-Margin m = 0, BT on 40% flipped "
                                 "labels) at every seed and grid point.")] = False,
          parallel: Annotated[int, typer.Option(
              "--jobs", help="Jobs at once on this machine (local executor), each with its share of the cores "
                             "(OMP threads = cores / N).")] = 1,
          runs_dir: RunsOption = Path("runs"), db: DbOption = None, as_json: JsonOption = False):
    """Resumable grid over methods × seeds (× --grid axes): skips recorded results, keeps going past failures
    (exit 1 if any)."""
    from harness import api
    from harness.errors import ConfigError

    if address and executor != "ray":
        raise ConfigError("--address is the Ray cluster's: add --executor ray")
    jobs = api.sweep(_names(method_names), seeds, preset=preset, suite_names=_names(suite_names),
                     config_file=config, overrides=overrides or [], runs_dir=runs_dir, db=db,
                     show_progress=not as_json, grid=grid or [], executor=executor, address=address,
                     controls=controls, parallel=parallel)
    _print_json(jobs) if as_json else _print_sweep(jobs)
    if any(job["status"] == "failed" for job in jobs):
        raise typer.Exit(1)


def _print_sweep(jobs: list[dict]) -> None:
    """The jobs as a table (a column per --grid axis, one for control settings), then each failure with its error
    on stderr."""
    from rich.markup import escape
    from rich.table import Table

    from harness.api import sweep_tally
    from harness.coerce import show

    axes = list(jobs[0].get("grid", {})) if jobs else []
    settings = ["settings"] if any("settings" in job for job in jobs) else []
    table = Table("method", "seed", *axes, *settings, "run", "status", title=f"sweep: {sweep_tally(jobs)}")
    for job in jobs:  # values are escaped: "suites=[id]" is not Rich markup
        table.add_row(job["method"], str(job["seed"]), *(escape(show(job["grid"][a])) for a in axes),
                      *(escape(" ".join(f"{k}={show(v)}" for k, v in job.get("settings", {}).items()))
                        for _ in settings),
                      job["run_id"] or "—", job["status"])
    _print(table)
    for job in jobs:
        if job["status"] == "failed":
            where = " ".join([f"seed {job['seed']}", *(f"{k}={show(v)}" for k, v in {**job.get("grid", {}),
                                                                             **job.get("settings", {})}.items())])
            typer.echo(f"FAILED {job['method']} {where}: {job['error']}", err=True)


@app.command()
@_errors_exit
def demo(runs_dir: RunsOption = Path("runs"), db: DbOption = None,
         preset: Annotated[str, typer.Option(help="Preset to run.")] = "tiny",
         force: Annotated[bool, typer.Option(help="Train again even if the run exists.")] = False):
    """The whole pipeline on the embedded world: base model and SFT policy → train bt → evaluate → best-of-N with
    the SFT policy → leaderboard."""
    import time

    from harness import api, config as config_mod
    from harness.basemodel import ensure_tiny_base
    from harness.progress import console
    from harness.rl.sft import ensure_sft_policy
    from leaderboards import render

    started = time.perf_counter()
    console.rule("[bold]1/4 base model and SFT policy")
    console.print(f"tiny world LM at {ensure_tiny_base()}")
    console.print(f"SFT policy (the tiny LM fine-tuned on training-generator demonstrations) at {ensure_sft_policy()}")
    console.rule("[bold]2/4 train bt on the preference world, evaluate id + splits")
    cfg = config_mod.resolve(preset, method="bt", values={"suites": ["id", "splits"]})
    result = api.train(cfg, runs_dir=runs_dir, db=db, force=force)
    _report(result, False)
    console.rule("[bold]3/4 best-of-N with the SFT policy: proxy RM vs gold reward")
    api.evaluate(runs_dir / result["run_id"], ["bon"], db=db, overrides=["bon.n_prompts=32"])
    console.rule("[bold]4/4 leaderboard")
    headline = [row for row in api.leaderboard(db, preset=preset, suite="splits") if row["higher_is_better"]]
    _print(render(headline, "table"))
    _print(render(api.results_view("bon", db, preset=preset), "table"))
    console.print(f"demo finished in {time.perf_counter() - started:.0f} s; run directory {runs_dir / result['run_id']}")
