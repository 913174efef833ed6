import pytest

from harness import config
from harness.errors import ConfigError, UnknownNameError


def test_resolution_order(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("train: {lr: 0.5, batch_size: 8}\n")
    cfg = config.resolve("micro", file, ["train.lr=2e-3", "model.lora.r=4", "suites=id,splits"], seed=7, method="bt")
    assert cfg.train.lr == 2e-3  # --set beats the file
    assert cfg.train.batch_size == 8  # the file beats the preset
    assert cfg.model.lora.r == 4 and cfg.seed == 7 and cfg.suites == ["id", "splits"]
    assert cfg.data.world.n_train == 800  # from the preset


def test_unknown_keys_and_presets_fail_with_close_matches():
    with pytest.raises(ConfigError, match="unknown config key 'train.lrr'; did you mean: lr"):
        config.resolve("micro", overrides=["train.lrr=1"])
    with pytest.raises(UnknownNameError, match="did you mean: tiny"):
        config.resolve("tinyy")


def test_wrong_types_are_rejected():
    with pytest.raises(ConfigError, match="train.batch_size: expected int"):
        config.resolve("micro", overrides=["train.batch_size=big"])
    with pytest.raises(ConfigError, match="expects key=value"):
        config.resolve("micro", overrides=["train.lr"])


def test_config_hash_ignores_seed_but_not_hyperparameters():
    a = config.resolve("micro", seed=0)
    assert config.config_hash(a) == config.config_hash(config.resolve("micro", seed=1))
    assert config.config_hash(a) != config.config_hash(config.resolve("micro", overrides=["train.lr=1e-5"]))


def test_round_trip_through_dict():
    cfg = config.resolve("tiny", overrides=["method_config.x=1"])
    assert config.from_dict(config.RunConfig, config.to_dict(cfg)) == cfg


def test_method_config_defaults_sit_below_the_preset_and_overrides():
    assert config.resolve("micro", method="grm").model.head == "mlp"  # GRM's paper head
    assert config.resolve("micro", overrides=["model.head=linear"], method="grm").model.head == "linear"
    assert config.resolve("micro", method="bt").model.head == "linear"
