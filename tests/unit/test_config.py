import dataclasses
import typing

import pytest

from harness import config
from harness.domains import Domain, domain_of
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
    cfg = config.resolve("tiny", overrides=["method_config.margin=2", "train.lr=1e-5"], method="bt_margin")
    assert config.from_dict(config.RunConfig, config.to_dict(cfg)) == cfg


def _dataclasses_of(cls):
    yield cls
    for hint in typing.get_type_hints(cls).values():
        if dataclasses.is_dataclass(hint):
            yield from _dataclasses_of(hint)


def _all_settings():
    import methods
    from harness import suites

    return [*_dataclasses_of(config.RunConfig), *(methods.get(n).Config for n in methods.names()),
            *(suites.get(n).Options for n in suites.names())]


@pytest.mark.parametrize("cls", _all_settings(), ids=lambda c: c.__qualname__)
def test_every_default_lies_in_its_domain_and_passes_the_validator(cls):
    """Building a settings class from its own defaults (as YAML would give them) goes through the one validator."""
    defaults = {f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)}
    assert config.from_dict(cls, {k: v for k, v in defaults.items() if not dataclasses.is_dataclass(v)}) == cls()
    for f in dataclasses.fields(cls):
        if (domain := domain_of(f)) is not None:
            assert domain.contains(defaults[f.name]), (cls, f.name)


def test_a_domain_bound_is_inclusive_or_strict_as_declared():
    assert Domain(ge=0).contains(0) and not Domain(gt=0).contains(0)
    assert Domain(lt=1).contains(0.999) and not Domain(lt=1).contains(1) and Domain(le=1).contains(1)
    assert not Domain(ge=0).contains(float("nan")) and Domain(gt=0).contains(None)  # None: an unset optional
    assert Domain(ge=0, lt=0.5).describe() == "≥ 0 and < 0.5"


def test_a_setting_outside_its_domain_names_the_key_and_the_domain():
    with pytest.raises(ConfigError, match=r"^train\.warmup_ratio: must be ≥ 0 and ≤ 1, got 1\.5$"):
        config.resolve("micro", overrides=["train.warmup_ratio=1.5"])
    with pytest.raises(ConfigError, match=r"^data\.world\.n_id: must be ≥ 0, got -1$"):
        config.resolve("micro", overrides=["data.world.n_id=-1"])
    with pytest.raises(ConfigError, match=r"^train\.lr: expected a finite number, got inf$"):
        config.resolve("micro", overrides=["train.lr=.inf"])


def test_constraints_between_settings():
    assert config.resolve("micro", overrides=["train.epochs=0"]).train.max_steps == 20  # max_steps wins: fine
    with pytest.raises(ConfigError, match=r"^train\.epochs: must be > 0 when max_steps is 0"):
        config.resolve("tiny", overrides=["train.epochs=0"])
    assert config.resolve("tiny", overrides=["train.epochs=0.5"]).train.epochs == 0.5
    with pytest.raises(ConfigError, match=r"^data\.world\.n_train: training on the world needs at least 1 pair"):
        config.resolve("micro", overrides=["data.world.n_train=0"])
    assert config.resolve("micro", overrides=["data.world.n_train=0", "data.train=x.jsonl"]).data.world.n_train == 0


def test_method_config_defaults_sit_below_the_preset_and_overrides():
    assert config.resolve("micro", method="grm").model.head == "mlp"  # GRM's paper head
    assert config.resolve("micro", overrides=["model.head=linear"], method="grm").model.head == "linear"
    assert config.resolve("micro", method="bt").model.head == "linear"
