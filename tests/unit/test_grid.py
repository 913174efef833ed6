"""Sweep grids: ``--grid key=v1,v2`` axes, the job order, and the leaderboard's settings of each experiment."""
from __future__ import annotations

import pytest

from harness import config as config_mod
from harness.errors import ConfigError
from harness.executors import Job, SweepSpec, grid_jobs, parse_grid
from harness.sweep import sweep_tally
from leaderboards.queries import experiment_settings


def test_parse_grid_keeps_bracketed_values_whole_and_reads_each_value_once():
    assert parse_grid(["data.label_noise=0,0.2, 0.4", "method_config.x=[1,2],[3],{a: 1, b: 2}"]) == [
        ("data.label_noise", [0, 0.2, 0.4]), ("method_config.x", [[1, 2], [3], {"a": 1, "b": 2}])]


@pytest.mark.parametrize("bad, message", [
    ("data.label_noise", "key=v1,v2"), ("=1,2", "key=v1,v2"), ("train.lr=", "key=v1,v2"),
    ("seed=1,2", "--seeds"), ("method=bt,bsr", "--methods"), ("x=[1,", "cannot parse")])
def test_parse_grid_errors(bad, message):
    with pytest.raises(ConfigError, match=message):
        parse_grid([bad])


def test_an_axis_given_twice_is_an_error():
    with pytest.raises(ConfigError, match="twice"):
        parse_grid(["train.lr=1,2", "train.lr=3"])


def test_jobs_are_seed_major_then_grid_points_then_methods():
    jobs = grid_jobs(["bt", "bsr"], 2, parse_grid(["data.label_noise=0,0.4"]))
    assert [(j.seed, dict(j.grid)["data.label_noise"], j.method) for j in jobs] == [
        (0, 0, "bt"), (0, 0, "bsr"), (0, 0.4, "bt"), (0, 0.4, "bsr"),
        (1, 0, "bt"), (1, 0, "bsr"), (1, 0.4, "bt"), (1, 0.4, "bsr")]
    assert jobs[2].values() == {"data": {"label_noise": 0.4}} and jobs[2].describe() == "bt seed 0 data.label_noise=0.4"
    assert grid_jobs(["bt"], 2) == [Job("bt", 0), Job("bt", 1)]  # no axes: method × seed as before


def test_a_grid_point_is_its_own_experiment_and_sweep_settings_are_not():
    resolve = lambda *o: config_mod.resolve("micro", overrides=list(o), method="bt")  # noqa: E731
    base = config_mod.config_hash(resolve())
    assert config_mod.config_hash(resolve("data.label_noise=0.2")) != base
    assert config_mod.config_hash(resolve("sweep.gpus_per_job=2", "train.report_to=[tensorboard]")) == base


def test_a_job_resolves_to_the_config_its_settings_as_text_give():
    """A job's values are merged as values: the same run as the --set strings they were read from."""
    spec = SweepSpec("micro", None, ("train.lr=1e-3",), "runs", None, suites=("id", "splits"))
    job = grid_jobs(["bt_margin"], 1, parse_grid(["data.label_noise=0.2"]),
                    [("bt_margin", (("method_config.margin", 0), ("suites", ["id"])))])[1]
    as_text = config_mod.resolve("micro", None, ["train.lr=1e-3", "suites=[id,splits]", "data.label_noise=0.2",
                                                 "method_config.margin=0", "suites=[id]"], 0, "bt_margin")
    assert spec.resolve(job) == as_text and spec.resolve(job).suites == ["id"]
    assert spec.resolve(Job("bt", 0)).suites == ["id", "splits"]


def test_tally():
    assert sweep_tally([]) == "starting"
    assert sweep_tally([{"status": "failed"}, {"status": "skipped"}, {"status": "failed"}]) == "1 skipped, 2 failed"


def _row(method, config_hash, config):
    return {"method": method, "config_hash": config_hash, "config": config,
            "method_config": {"gamma": 0.5, **config["method_config"]} if method == "rmo" else {}}


def test_experiment_settings_are_the_keys_that_vary_within_a_method():
    def config(noise, gamma=None, seed=0, gpus=0.0):
        cfg = {"seed": seed, "preset": "micro", "suites": ["id"], "data": {"label_noise": noise, "world": {"n": 5}},
               "sweep": {"gpus_per_job": gpus}, "train": {"lr": 0.1, "report_to": []}, "method_config": {}}
        if gamma is not None:
            cfg["method_config"] = {"gamma": gamma}
        return cfg

    rows = [_row("bt", "a", config(0.0)), _row("bt", "a", config(0.0, seed=1)), _row("bt", "b", config(0.4, gpus=1)),
            _row("rmo", "c", config(0.0)), _row("rmo", "d", config(0.0, gamma=0.75)),
            _row("bsr", "e", config(0.4))]
    assert experiment_settings(rows) == {
        ("bt", "a"): {"data.label_noise": 0.0}, ("bt", "b"): {"data.label_noise": 0.4},
        ("rmo", "c"): {"method_config.gamma": 0.5}, ("rmo", "d"): {"method_config.gamma": 0.75},
        ("bsr", "e"): {}}


def test_controls_add_each_control_side_once_per_seed_and_grid_point_without_repeating_a_plain_run():
    from harness.executors import distinct_jobs
    from leaderboards.claims import control_jobs

    controls = control_jobs()
    assert controls == [("bt_margin", (("method_config.margin", 0.0), ("suites", ["id"]))),
                        ("bt", (("suites", ["id"]),)),
                        ("bt", (("data.label_noise", 0.0), ("suites", ["id"]))),
                        ("bt", (("data.label_noise", 0.4), ("suites", ["id"])))]
    spec = SweepSpec("micro", None, (), "runs", None, suites=("id", "splits"))
    jobs = distinct_jobs(grid_jobs(["bt", "bsr"], 2, parse_grid(["train.lr=1e-4,2e-4"]), controls), spec)
    per_point = [j.describe() for j in jobs if j.seed == 1 and dict(j.grid)["train.lr"] == "2e-4"]
    assert per_point == ["bt seed 1 train.lr=2e-4", "bsr seed 1 train.lr=2e-4",
                         "bt_margin seed 1 train.lr=2e-4 method_config.margin=0.0 suites=[id]",
                         "bt seed 1 train.lr=2e-4 data.label_noise=0.4 suites=[id]"]
    assert len(jobs) == 2 * 2 * 4
    alone = distinct_jobs(grid_jobs(["bsr"], 1, (), controls), spec)  # no plain bt in the sweep: one clean bt job
    assert [j.describe() for j in alone] == ["bsr seed 0", "bt_margin seed 0 method_config.margin=0.0 suites=[id]",
                                             "bt seed 0 suites=[id]", "bt seed 0 data.label_noise=0.4 suites=[id]"]
