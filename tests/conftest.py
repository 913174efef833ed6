"""Shared fixtures. The tiny base model is a deterministic cache artifact: tests use the normal cache
($RMBENCH_CACHE or the user cache), so it is built at most once per machine.

Tests never touch the user's files: every test runs in its own temporary working directory (where the defaults
``runs/`` and ``report.html`` land) with ``RMBENCH_DB`` pointing at a database there, and the session fails if the
repository's working tree gained a file (``git status --porcelain --ignored`` before and after; per process, so it
holds under ``pytest -n N`` too)."""
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
# hypothesis keeps its example database in the working directory it was imported in unless told otherwise
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "rmbench-tests-hypothesis"))
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:  # under `pytest -n N`: the N workers share the cores (set before torch)
    os.environ.setdefault("OMP_NUM_THREADS",
                          str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))


ROOT = Path(__file__).resolve().parents[1]
#: what running Python and pytest leave in a checkout by design (byte code, pytest's cache), not a test's output
_TOOLING = ("__pycache__/", ".pytest_cache/")


@pytest.fixture(autouse=True)
def _own_workdir_and_database(tmp_path, monkeypatch):
    """Defaults that name the current directory or the user's database point into this test's temporary directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RMBENCH_DB", f"sqlite:///{tmp_path / 'rmbench.db'}")


def working_tree_entries() -> set[str] | None:
    """The repository's untracked and ignored entries (``git status --porcelain --ignored``), without Python's and
    pytest's own caches; None outside a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--ignored"], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {line[3:] for line in out.splitlines() if line[:2] in ("??", "!!") and not line.endswith(_TOOLING)}


_BEFORE = working_tree_entries()  # taken when this file is imported: before collection, which imports test modules


@pytest.fixture(scope="session", autouse=True)
def _working_tree_gains_no_file():
    before = _BEFORE
    yield
    after = working_tree_entries()
    if before is not None and after is not None and (new := sorted(after - before)):
        pytest.fail(f"the tests wrote into the working tree: {', '.join(new)}", pytrace=False)


@pytest.fixture(scope="session")
def tiny_base():
    from harness.basemodel import ensure_tiny_base

    return ensure_tiny_base()


@pytest.fixture(scope="session")
def trained_micro_rm(tiny_base):
    """A micro-backbone reward model after a few optimiser steps, and its training pairs."""
    from harness import config
    from harness.trainer import Trainer

    cfg = config.resolve("micro", overrides=["model.backbone=tiny-micro", "train.max_steps=4", "train.eval_every=0",
                                             "data.world.n_train=200", "data.validation_pairs=8", "train.lr=0.01"],
                         method="bt")
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, show_progress=False)
        data = trainer.prepare_data()
        trainer.fit(data)
        return trainer.trained_model().eval(), data[0]


@pytest.fixture
def entry_point_method(monkeypatch):
    """Advertise a method class in the ``rmbench.methods`` entry-point group, as an installed plugin would."""
    from importlib import metadata

    import harness.registry
    import methods

    def advertise(cls):
        class EntryPoint:
            name = cls.name

            def load(self):
                return cls

        monkeypatch.setattr(harness.registry, "entry_points", lambda group: [EntryPoint()]
                            if group == "rmbench.methods" else metadata.entry_points(group=group))
        monkeypatch.setattr(methods._registry, "_plugins_loaded", False)
        monkeypatch.setattr(methods._registry, "_items", dict(methods._registry._items))

    return advertise


@pytest.fixture
def length_scored(monkeypatch):
    """Stand-in scorer: reward = response length in characters; ``run(suite, data)`` → {(dataset, split, metric):
    value}."""
    import torch

    import harness.suites.id as id_suite
    import harness.suites.ood as ood_suite
    import harness.suites.style as style_suite
    from harness import suites
    from harness.config import RunConfig

    def pairs(ctx, rows, description):
        return ([], torch.tensor([float(len(r["chosen"])) for r in rows]),
                torch.tensor([float(len(r["rejected"])) for r in rows]))

    monkeypatch.setattr(id_suite, "score_pair_rows", pairs)

    def lists(ctx, prompts, responses, description, with_identical=False):
        scores = [[float(len(y)) for y in ys] for ys in responses]
        return (scores, [i for i, ys in enumerate(responses) if len(set(ys)) < len(ys)]) if with_identical else scores

    monkeypatch.setattr(style_suite, "score_response_lists", lists)
    monkeypatch.setattr(ood_suite, "score_response_lists", lists)

    def run(suite: str, data: str | list[str] | None = None):
        data = (data,) if isinstance(data, str) else tuple(data or ())
        ctx = suites.EvalContext(None, None, None, RunConfig(), data=data, show_progress=False)
        rows = suites.get(suite)().run(ctx).metrics
        return {(m.dataset, m.split, m.metric): m.value for m in rows}

    return run
