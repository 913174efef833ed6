"""Shared fixtures. The tiny base model is a deterministic cache artifact: tests use the normal cache
($RMBENCH_CACHE or the user cache), so it is built at most once per machine."""
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_base():
    from harness.basemodel import ensure_tiny_base

    return ensure_tiny_base()
