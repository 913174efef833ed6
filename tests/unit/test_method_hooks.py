"""The method hook contract: methods ask their context (that they import nothing from the orchestrator is a contract
of ``lint-imports``: tests/unit/test_layers.py); per-row columns travel with the encoded data; the trainer serves
margins and records what the hooks return."""
import numpy as np
import pytest

import methods
from harness import config
from harness.data.encode import EncodedPairs, PairCollator, encode_pairs
from harness.errors import TrainingError
from harness.method import MethodContext, RewardMethod


def test_columns_follow_subsets_and_reach_the_batch():
    data = EncodedPairs([([1, 2], 1), ([1, 3], 1), ([1, 4], 1)], [([1, 5], 1), ([1, 6], 1), ([1, 7], 1)])
    with_w = data.with_column("w", np.array([0.5, -1.0, 2.0]))
    assert data.columns == {} and with_w.columns == {"w": [0.5, -1.0, 2.0]}
    assert with_w.subset([2, 0]).columns == {"w": [2.0, 0.5]}
    batch = PairCollator(with_w, pad_id=0)([2, 0])
    assert batch.columns["w"].tolist() == [2.0, 0.5] and batch.to("cpu").columns["w"].tolist() == [2.0, 0.5]
    with pytest.raises(ValueError, match="column 'w' has 2 values for 3 rows"):
        data.with_column("w", [1.0, 2.0])


class _Recording(RewardMethod):
    """A method whose hooks use the context, subset the rows, add a column and report statistics."""

    name = "recording"

    def loss(self, out, batch=None):
        return methods.get("bt")().loss(out, batch)

    def prepare_dataset(self, data, ctx):
        self.base, self.ctx = ctx.base_margins(), ctx
        keep = list(range(0, len(data), 2))
        return data.subset(keep).with_column("base", self.base[keep]), {"kept": len(keep)}

    def batch_sampler(self, data, ctx):
        return None, {"base_mean": float(np.mean(data.columns["base"]))}


@pytest.fixture
def trainer(tmp_path, tiny_base, entry_point_method):
    from harness.trainer import Trainer

    entry_point_method(_Recording)
    cfg = config.resolve("micro", overrides=["train.max_steps=1", "train.eval_every=0", "data.world.n_train=40"],
                         method="recording")
    return Trainer(cfg, tmp_path / "run", show_progress=False)


@pytest.mark.slow
def test_trainer_serves_base_margins_and_records_hook_statistics(trainer):
    from harness.data import training_pairs
    from harness.models import RewardModel
    from harness.scoring import response_logprobs

    data = trainer.prepare_data()
    train, stats = data[0], data[2]
    ctx = trainer.method.ctx
    assert isinstance(ctx, MethodContext) and ctx.seed == trainer.cfg.seed and ctx.num_processes == 1
    # δ_base of a causal backbone: the summed response log-prob gap of the starting LM on the training pairs
    encoded = encode_pairs(training_pairs(trainer.cfg.data, trainer.data_seed)[0], trainer.encoder)
    assert not encoded.identical()
    lm = RewardModel.build(trainer.cfg.model, need_lm_head=True, seed=trainer.cfg.seed)
    logp = response_logprobs(lm, encoded.chosen + encoded.rejected, trainer.pad_id, 8, show_progress=False)
    expected = (logp[: len(encoded)] - logp[len(encoded):]).numpy()
    assert trainer.method.base == pytest.approx(expected, abs=1e-4)
    assert len(train) == stats["train_pairs"] == (len(encoded) + 1) // 2 and stats["recording"] == {"kept": len(train)}
    assert train.columns["base"] == pytest.approx(expected[::2].tolist(), abs=1e-4)

    outcome = trainer.fit(data)
    assert outcome["recording"] == {"kept": len(train),
                                    "base_mean": pytest.approx(float(np.mean(expected[::2])), abs=1e-4)}


def test_a_hook_returning_the_old_shape_is_a_clear_error(trainer, monkeypatch):
    monkeypatch.setattr(_Recording, "prepare_dataset", lambda self, data, ctx: data)
    with pytest.raises(TrainingError, match="prepare_dataset must return \\(EncodedPairs, dict of statistics\\)"):
        trainer.prepare_data()
    monkeypatch.setattr(_Recording, "prepare_dataset", lambda self, data, ctx: (data, {}))
    monkeypatch.setattr(_Recording, "batch_sampler", lambda self, data, ctx: None)
    with pytest.raises(TrainingError, match="batch_sampler must return \\(a sampler or None, dict"):
        trainer.fit(trainer.prepare_data())
