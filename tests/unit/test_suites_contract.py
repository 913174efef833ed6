"""The suite plugin contract (harness/suites/__init__.py): options, requirements checked in one place, a context
instead of the orchestrator (that no suite imports it is a contract of ``lint-imports``: tests/unit/test_layers.py),
and the metric keys the leaderboards parse back (harness/metric_keys.py)."""
import dataclasses
from types import SimpleNamespace

import pytest
import yaml

from harness import metric_keys as keys
from harness import suites
from harness.config import RunConfig, from_dict, to_dict
from harness.errors import ConfigError, RmbenchError
from harness.lab import Lab
from harness.runs import RunResult



@pytest.mark.parametrize("name", suites.names())
def test_contract(name):
    cls = suites.get(name)
    assert issubclass(cls, suites.Suite) and cls.name == name and cls.summary and isinstance(cls.version, str)
    assert cls.requires <= set(suites.REQUIREMENTS)
    assert dataclasses.is_dataclass(cls.Options)
    suite = cls()  # every option has a default
    assert suite.options == cls.Options()
    recorded = dataclasses.asdict(suite.options)  # options written out (e.g. to YAML) are read back alike
    assert cls(**yaml.safe_load(yaml.safe_dump(recorded))).options == suite.options
    with pytest.raises(ConfigError, match="bogus_option"):
        cls(bogus_option=1)


def test_unknown_options_name_the_close_match_or_list_the_options():
    with pytest.raises(ConfigError, match="unknown config key 'noise.rate'; did you mean: rates"):
        suites.get("noise")(rate=0.2)
    with pytest.raises(ConfigError, match="choose from: bins, pairs"):
        suites.get("diagnostics")(zzz=1)
    with pytest.raises(ConfigError, match="suite 'style' takes no options, got depth"):
        suites.get("style")(depth=2)
    with pytest.raises(ConfigError, match="rl.stepz'; did you mean: steps"):
        suites.get("rl")(stepz=2)  # the RL config's keys are the suite's options too


def test_noise_rates_parse_like_before():
    noise = suites.get("noise")
    assert noise(rates="0.4,0,0.2,0.2").rates == [0.0, 0.2, 0.4]  # `--set noise.rates=0.4,0,0.2,0.2`
    assert noise(rates=0.2).rates == [0.2] and noise(rates=[0, 1]).rates == [0.0, 1.0] and noise().rates == [0.2]
    for bad in ("", "0,x", 1.5, [-0.1]):
        with pytest.raises(ConfigError, match="noise.rates"):
            noise(rates=bad)


def test_requirements_are_checked_before_anything_is_loaded(tmp_path):
    """bon on a run trained on a file fails on its requirement, not on the missing checkpoint."""
    cfg = from_dict(RunConfig, {"data": {"train": "pairs.jsonl"}, "suites": []})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg)))
    RunResult(run_id=tmp_path.name, method="bt", method_config={}, preset="tiny", config_hash="0", config={},
              backbone="tiny", data="pairs.jsonl", seed=0, versions={}, git_sha=None, started_at="", finished_at="",
              wall_times={}, train={}).write(tmp_path)
    for name in ("bon", "rl"):
        with pytest.raises(ConfigError, match=f"the {name} suite needs a run trained on the world"):
            Lab(db="sqlite://").evaluate(tmp_path, [name])
    suites.check_requirements(RunConfig(), ["bon", "rl", "id"])  # the world meets them


def test_noise_trains_and_evaluates_through_its_context():
    """The noise suite asks the context for its runs; its rows carry the noise split the leaderboards parse."""
    trained, evaluated = [], []

    def train_variant(cfg):
        trained.append(cfg)
        return SimpleNamespace(run_id=f"run-{cfg.data.label_noise:g}")

    def evaluate_run(run_id, names):
        evaluated.append((run_id, names))
        return SimpleNamespace(data="world", train={"train_pairs": 10, "label_flipped": 2, "flipped_rows": [1, 5]},
                               metrics=[{"suite": "splits", "dataset": "world", "split": "id", "metric": "accuracy",
                                         "value": 0.75, "stderr": 0.1, "n": 8, "higher_is_better": True},
                                        {"suite": "other", "dataset": "world", "split": "id", "metric": "x",
                                         "value": 1.0, "stderr": None, "n": 1, "higher_is_better": True}])

    ctx = suites.EvalContext(None, None, None, RunConfig(), show_progress=False, train_variant=train_variant,
                             evaluate_run=evaluate_run)
    result = suites.get("noise")(rates="0.2").run(ctx)
    assert [c.data.label_noise for c in trained] == [0.2] and trained[0].suites == []
    assert evaluated == [("run-0.2", ["splits"])]
    rows = {(m.dataset, m.split, m.metric): m.value for m in result.metrics}
    assert rows == {("world", "id@noise=0.2", "accuracy"): 0.75, ("world", "train@noise=0.2", "flip_rate"): 0.2,
                    ("world", "train@noise=0.2", "label_flipped"): 2.0}
    assert {keys.noise_rate(split) for _, split, _ in rows} == {0.2, None}
    assert result.predictions["runs"] == [{"rate": 0.2, "run_id": "run-0.2", "flipped_rows": [1, 5]}]


def test_a_suite_outside_the_orchestrator_cannot_train():
    ctx = suites.EvalContext(None, None, None, RunConfig(), show_progress=False)
    with pytest.raises(RmbenchError, match="given by the evaluation orchestrator"):
        suites.get("noise")().run(ctx)


def test_metric_keys_are_the_stored_strings_and_parse_back():
    assert keys.noise_split("id", 0.2) == "id@noise=0.2" and keys.noise_split("mutual_ood", 0.0) == "mutual_ood@noise=0"
    assert keys.parse_noise_split("mutual_ood@noise=0.5") == ("mutual_ood", 0.5)
    assert keys.noise_rate("id@noise=0.25") == 0.25 and keys.noise_rate("train@noise=0.25") is None
    assert keys.noise_rate("train@noise=0.25", base="train") == 0.25
    for other in ("id", "id@noise=", "@noise=0.2", "id@noise=x", "id@noise=0.20"):
        assert keys.parse_noise_split(other) is None
    assert [keys.bon_metric(q, 16) for q in keys.BON_QUANTITIES] == [
        "gold_score@n=16", "proxy_score@n=16", "oracle_gold_score@n=16", "kl_bon@n=16"]
    assert keys.bon_n("gold_score@n=16") == 16 and keys.bon_n("proxy_score@n=4", "proxy_score") == 4
    for other in ("proxy_score@n=4", "gold_score@n=", "gold_score@n=x", "gold_score@n=04", "oracle_gold_score@n=2"):
        assert keys.bon_n(other) is None
    with pytest.raises(ValueError):
        keys.bon_metric("gold", 2)
    assert (keys.rl_metric("gold_reward", "after"), keys.rl_change("gold_reward")) == ("gold_reward@after",
                                                                                      "gold_reward_change")
    assert keys.rl_changed("exact_match_change") == "exact_match" and keys.rl_changed("kl") is None
    assert keys.rl_split("grpo") == "grpo"


def test_downstream_curve_keys_are_the_stored_strings_and_parse_back():
    assert keys.parse_bon_metric("proxy_score@n=8") == ("proxy_score", 8) and keys.parse_bon_metric("kl") is None
    assert keys.rl_step_metric("sqrt_kl", 3) == "sqrt_kl@step=3" and keys.parse_rl_step("gold@step=12") == ("gold", 12)
    for other in ("gold@step=", "reward@step=2", "gold@step=02", "gold_reward@after"):
        assert keys.parse_rl_step(other) is None
    assert keys.fit_metric("gold", "alpha") == "gold_fit_alpha"
    assert (keys.proxy_split("bon_heldout", "gold"), keys.proxy_split("rloo", "rm")) == ("bon_heldout+gold", "rloo")
    for bad in (lambda: keys.rl_step_metric("kl", 1), lambda: keys.fit_metric("gold", "gamma")):
        with pytest.raises(ValueError):
            bad()


def test_the_former_ppo_suite_runs_as_rl_with_a_warning(tmp_path):
    from harness.suites import split_overrides
    from harness.results import merge_metrics

    assert "ppo" not in suites.names() and keys.RENAMED_SUITES == {"ppo": "rl"}
    with pytest.warns(FutureWarning, match="suite 'ppo' is now called 'rl'"):
        assert suites.get("ppo") is suites.get("rl")
    with pytest.warns(FutureWarning):
        assert split_overrides(["ppo.steps=2", "rl.algo=rloo", "train.lr=1"]) == (
            {"rl": {"steps": 2, "algo": "rloo"}}, {"train": {"lr": 1}})
    old = [{"suite": "ppo", "dataset": "world", "split": "ppo", "metric": "kl"},
           {"suite": "ppo", "dataset": "world", "split": "grpo", "metric": "kl"}]
    new = [{"suite": "rl", "dataset": "world", "split": "ppo", "metric": "kl"}]
    assert merge_metrics(old, new) == [old[1], new[0]]  # a re-run under the new name replaces the old rows
    assert keys.suite_name("ppo") == "rl" and keys.stored_suite_names("rl") == ["rl", "ppo"]
