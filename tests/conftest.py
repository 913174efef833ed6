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
