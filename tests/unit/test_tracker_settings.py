"""Tracker settings: hyper-parameters flattened to scalars, unknown or uninstalled trackers named, no session off
the main process or without trackers."""
from __future__ import annotations

import re

import pytest

from harness import trackers
from harness.errors import ConfigError


def test_flat_hparams_are_dotted_scalars():
    assert trackers.flat_hparams({"seed": 1, "train": {"lr": 1e-4, "report_to": ["tensorboard"]},
                                  "method_config": {}, "git": None, "suites": ["id", "splits"]}) == {
        "seed": 1, "train.lr": 1e-4, "train.report_to": "['tensorboard']", "git": None,
        "suites": "['id', 'splits']"}


@pytest.mark.parametrize("name, install", [("wandb", "pip install 'rmbench[wandb]'"),
                                           ("comet_ml", "pip install comet_ml")])
def test_a_missing_package_names_what_to_install(name, install, monkeypatch):
    import accelerate.tracking

    monkeypatch.setattr(accelerate.tracking, "filter_trackers", lambda names, logging_dir=None: [])
    with pytest.raises(ConfigError, match=re.escape(f"the {name} tracker's package is not installed: {install}")):
        trackers.check([name])


def test_unknown_tracker():
    with pytest.raises(ConfigError, match="unknown tracker 'tb'; choose from aim, "):
        trackers.check(["tb"])


def test_no_trackers_no_session(tmp_path):
    with trackers.session([], tmp_path, {}):
        trackers.log({"step": 1, "loss": 0.5})  # nothing open: a no-op
    assert not (tmp_path / trackers.TRACKER_DIR).exists()
