"""Every registered method trains through the one generic trainer (a few steps of the micro preset)."""
import math

import pytest

import methods
from harness import api, config

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", methods.names())
def test_method_trains_on_the_micro_preset(name, tmp_path, tiny_base):
    cfg = config.resolve("micro", overrides=["train.max_steps=3", "train.eval_every=0"], method=name)
    result = api.train(cfg, runs_dir=tmp_path / "runs", db=f"sqlite:///{tmp_path / 'rm.db'}", show_progress=False)
    trained = result["train"].get("members", [result["train"]])
    assert result["method"] == name and all(member["steps"] == 3 for member in trained)
    accuracy = next(m for m in result["metrics"] if m["metric"] == "accuracy")
    assert accuracy["n"] == 200 and math.isfinite(accuracy["value"])


def test_out_of_tree_method_is_found_and_trained(tmp_path, tiny_base, entry_point_method):
    class MyBT(methods.get("bt")):
        name = "my_bt"
        summary = "an out-of-tree copy of bt"

    entry_point_method(MyBT)
    cfg = config.resolve("micro", overrides=["train.max_steps=2", "train.eval_every=0"], method="my_bt")
    result = api.train(cfg, runs_dir=tmp_path / "runs", db=f"sqlite:///{tmp_path / 'rm.db'}", show_progress=False)
    assert result["method"] == "my_bt" and result["train"]["steps"] == 2


def test_ensemble_members_differ_and_resume_skips_finished_members(tmp_path, tiny_base, monkeypatch):
    import json

    import torch

    from harness.models import EnsembleRewardModel, load_checkpoint
    from harness.trainer import Trainer

    cfg = config.resolve("micro", overrides=["train.max_steps=2", "train.eval_every=0", "method_config.k=2",
                                             "method_config.agg=min"], method="bt_ensemble", seed=1)
    fit = Trainer.fit
    calls = []

    def fail_second_member(self, data, resume=False):
        calls.append(self.cfg.seed)
        if len(calls) == 2:
            raise RuntimeError("member 2 crashed")
        return fit(self, data, resume=resume)

    monkeypatch.setattr(Trainer, "fit", fail_second_member)
    with pytest.raises(RuntimeError):
        api.train(cfg, runs_dir=tmp_path, show_progress=False)
    monkeypatch.setattr(Trainer, "fit", fit)
    result = api.train(cfg, runs_dir=tmp_path, db=f"sqlite:///{tmp_path / 'rm.db'}", resume=True,
                       show_progress=False)
    assert calls == [2, 3]  # member seeds seed·K + k; member 1 was not trained again
    assert [m["steps"] for m in result["train"]["members"]] == [2, 2]

    run_dir = tmp_path / result["run_id"]
    model = load_checkpoint(run_dir / "checkpoint")
    assert isinstance(model, EnsembleRewardModel) and len(model.members) == 2
    ids = model.tokenizer(["<|user|>\nhi<|end|>\n<|assistant|>\nhello<|end|>"], return_tensors="pt")
    rewards, hidden = model(ids["input_ids"], ids["attention_mask"])
    assert rewards.shape == (1, 2) and rewards[0, 0] != rewards[0, 1]  # different seeds, different members
    method = methods.get("bt_ensemble")(k=2, agg="min")
    assert method.score(rewards) == rewards.min(-1).values
    predictions = [json.loads(x) for x in (run_dir / "predictions" / "id" / "world-id.jsonl").read_text().splitlines()]
    assert len(predictions) == 200
