"""Shared fixtures. The tiny base model is a deterministic cache artifact: tests use the normal cache
($RMBENCH_CACHE or the user cache), so it is built at most once per machine."""
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(scope="session")
def tiny_base():
    from harness.basemodel import ensure_tiny_base

    return ensure_tiny_base()


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
