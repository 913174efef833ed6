"""RMO as a two-stage run: the bt proxy is trained once, recorded in result.json, and reused by later rmo runs."""
import pytest

from harness import api, config
from harness.runs import read_result
from harness.trainer import Trainer

pytestmark = pytest.mark.slow


def test_rmo_records_filter_and_batch_statistics_and_reuses_the_proxy(tmp_path, tiny_base, monkeypatch):
    fit, trained = Trainer.fit, []

    def counting_fit(self, data, resume=False):
        trained.append(self.cfg.method)
        return fit(self, data, resume=resume)

    monkeypatch.setattr(Trainer, "fit", counting_fit)
    runs, db = tmp_path / "runs", f"sqlite:///{tmp_path / 'rm.db'}"
    overrides = ["train.max_steps=3", "train.eval_every=0", "data.world.n_train=300"]
    # margin_scale=raw: the literal comparison, where Eq. 6 rarely fires and Eq. 8 samples the rest of the target
    result = api.train(config.resolve("micro", overrides=[*overrides, "method_config.margin_scale=raw"],
                                      method="rmo"), runs_dir=runs, db=db, show_progress=False)
    assert trained == ["bt", "rmo"]  # the proxy first
    stats = result["train"]["rmo"]
    proxy = read_result(runs / stats["proxy_run_id"])
    assert proxy["method"] == "bt" and proxy["config"]["train"] == result["config"]["train"]

    removed = stats["removed_counterintuitive"] + stats["removed_sampled"]
    n_rows = result["train"]["train_pairs"] + removed  # no pair of the world is identical after truncation
    assert stats["filter_ratio"] == pytest.approx(removed / n_rows)
    assert stats["filter_expected_ratio"] == pytest.approx(0.06, abs=1e-4)
    assert stats["removed_sampled"] > 0 and stats["filter_ratio"] < 0.15  # a seeded draw around 6 % of 270 rows
    assert stats["margin_scale"] == "raw" and stats["delta_base_std"] > 0 and stats["delta_proxy_std"] > 0
    variance = stats["batch_variance"]
    assert variance["optimised"] >= variance["stratified"] >= variance["random"] > 0

    ablation = api.train(config.resolve("micro", overrides=[*overrides, "method_config.filter=false"],
                                         method="rmo"), runs_dir=runs, db=db, show_progress=False)
    assert trained == ["bt", "rmo", "rmo"]  # the proxy run was reused, not trained again
    assert ablation["train"]["rmo"]["proxy_run_id"] == stats["proxy_run_id"]
    assert "filter_ratio" not in ablation["train"]["rmo"] and ablation["train"]["train_pairs"] == n_rows

    # the default scale: both margins divided by their std, so Eq. 6 compares the tiny LM's summed log-prob gaps
    # (std ≈ 60) with the proxy's Δ (std ≈ 1) on one scale and fires
    default = api.train(config.resolve("micro", overrides=overrides, method="rmo"), runs_dir=runs, db=db,
                        show_progress=False)["train"]["rmo"]
    assert trained == ["bt", "rmo", "rmo", "rmo"] and default["margin_scale"] == "standardized"
    assert default["delta_base_std"] == pytest.approx(stats["delta_base_std"])
    assert default["delta_proxy_std"] == pytest.approx(stats["delta_proxy_std"])
    assert default["removed_counterintuitive"] > stats["removed_counterintuitive"]
