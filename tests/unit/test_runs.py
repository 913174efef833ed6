import json

import pytest

from harness import config
from harness.errors import RmbenchError
from harness.runs import RESULT_FILE, RunResult, load_run_config, predictions_path, read_result, run_id, \
    write_run_config


def _result(**kw) -> RunResult:
    fields = dict(run_id="bt-micro-s0-abc", method="bt", method_config={"beta": 1.0}, preset="micro",
                  config_hash="abc", config={"seed": 0}, backbone="tiny", data="world", seed=0,
                  versions={"torch": "2"}, git_sha=None, started_at="2026-01-01T00:00:00+00:00",
                  finished_at="2026-01-01T00:01:00+00:00", wall_times={"train_s": 1.5}, train={"steps": 3})
    return RunResult(**{**fields, **kw})


def test_result_round_trips_through_json_and_leaves_out_unset_optional_fields(tmp_path):
    result = _result()
    d = result.to_json()
    assert "model_path" not in d and "suite_options" not in d
    assert d["schema_version"] == 1 and d["metrics"] == [] and d["git_sha"] is None
    assert RunResult.from_json(d) == result
    result.suite_options = {"id": {}}
    result.write(tmp_path)
    assert json.loads((tmp_path / RESULT_FILE).read_text())["suite_options"] == {"id": {}}
    assert RunResult.read(tmp_path) == result and read_result(tmp_path) == result.to_json()
    assert RunResult.read(tmp_path / "missing") is None and read_result(tmp_path / "missing") is None


def test_a_result_with_a_missing_or_unknown_field_is_a_clear_error(tmp_path):
    d = _result().to_json()
    with pytest.raises(RmbenchError, match="unknown field 'bogus'"):
        RunResult.from_json({**d, "bogus": 1})
    (tmp_path / RESULT_FILE).write_text(json.dumps({k: v for k, v in d.items() if k != "seed"}))
    with pytest.raises(RmbenchError, match=rf"{RESULT_FILE}: .*'seed'"):
        RunResult.read(tmp_path)


def test_run_config_round_trips_and_the_layout_names_the_run(tmp_path):
    cfg = config.resolve("micro", seed=3, method="bt")
    write_run_config(tmp_path, cfg)
    assert load_run_config(tmp_path) == cfg
    assert run_id(cfg) == f"bt-micro-s3-{config.config_hash(cfg)[:8]}"
    assert predictions_path(tmp_path, "id", "world-id") == tmp_path / "predictions" / "id" / "world-id.jsonl"
    with pytest.raises(RmbenchError, match="not an rmbench run"):
        load_run_config(tmp_path / "elsewhere")


def test_an_explicit_default_is_the_same_run():
    implicit = config.resolve("micro", method="bt_hinge")
    explicit = config.resolve("micro", overrides=["method_config.margin=1.0"], method="bt_hinge")
    assert implicit.method_config != explicit.method_config  # as typed they differ…
    assert run_id(implicit) == run_id(explicit)  # …resolved they are one experiment
    assert run_id(implicit) != run_id(config.resolve("micro", overrides=["method_config.margin=2.0"],
                                                     method="bt_hinge"))


def test_a_changed_method_default_or_version_is_a_new_run(monkeypatch):
    import dataclasses

    import methods

    cfg = config.resolve("micro", method="bt_hinge")
    before = run_id(cfg)
    cls = methods.get("bt_hinge")
    monkeypatch.setattr(cls, "Config", dataclasses.make_dataclass("Config", [("margin", float, 2.0)]))
    changed_default = run_id(cfg)
    monkeypatch.undo()
    monkeypatch.setattr(cls, "version", "2")
    bumped = run_id(cfg)
    assert len({before, changed_default, bumped}) == 3


def test_a_changed_world_version_is_a_new_run(monkeypatch):
    cfg = config.resolve("micro", method="bt")
    before = run_id(cfg)
    monkeypatch.setitem(config.WORLD_IDS, 2, "next")
    assert run_id(cfg) != before


def test_a_changed_reward_model_architecture_is_a_new_run(monkeypatch):
    cfg = config.resolve("micro", method="bt", overrides=["model.head=mlp"])
    before = run_id(cfg)
    monkeypatch.setattr(config, "MODEL_VERSION", "next")
    assert run_id(cfg) != before


def test_a_changed_tiny_base_recipe_is_a_new_run(monkeypatch):
    """"tiny" names whatever its recipe builds: a changed pre-training recipe must not return the old base's runs."""
    import dataclasses

    from harness import basemodel

    cfg = config.resolve("micro", method="bt")
    encoder = config.resolve("micro", method="bt", overrides=["model.backbone=minilm"])
    before = run_id(cfg), run_id(encoder)
    monkeypatch.setitem(basemodel.TINY_BACKBONES, "tiny", dataclasses.replace(basemodel.TINY, steps=301))
    assert run_id(cfg) != before[0]
    assert run_id(encoder) == before[1]  # other backbones are named by their spec alone


def test_a_method_option_given_as_int_or_float_is_one_run():
    """`--set method_config.margin=0` and `=0.0` are the same configuration (the field is a float)."""
    as_int, as_float = (config.resolve("micro", method="bt_margin", overrides=[f"method_config.margin={v}"])
                        for v in ("0", "0.0"))
    assert run_id(as_int) == run_id(as_float)
    with pytest.raises(RmbenchError, match="method_config.margin: expected float"):
        run_id(config.resolve("micro", method="bt_margin", overrides=["method_config.margin=wide"]))


def test_the_database_records_the_fields_the_result_schema_marks_recorded():
    """One owner of the result fields (harness.schema): the store checks them and its tables hold them."""
    from harness.schema import MetricRow, recorded_fields
    from leaderboards.schema import Metric, Run

    run_fields = set(recorded_fields(RunResult)) - {"schema_version", "metrics"}
    assert set(Run.__table__.columns.keys()) == run_fields | {"recorded_at"}
    assert set(Metric.__table__.columns.keys()) == set(recorded_fields(MetricRow)) | {
        "id", "run_id", "config_hash", "seed"}
    assert set(recorded_fields(RunResult)) < {f for f in _result().to_json()}  # every recorded field is written
