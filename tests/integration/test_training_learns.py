"""Training learns: comparisons of one run with another (DDP vs one process, resume vs uninterrupted) pass even when
training is broken in both, so this one checks the outcome against chance and against the untrained model."""
import pytest

import methods
from harness import api, config
from harness.data import world_splits
from harness.data.encode import Encoder, encode_pairs
from harness.models import RewardModel
from harness.scoring import score_pairs

pytestmark = pytest.mark.slow

# bt, micro preset, 40 steps (640 of its 800 world pairs), in-domain accuracy on the 200 world id pairs, seeds 0/1/2:
# trained 0.725 / 0.725 / 0.655, untrained (seeded head) 0.520 / 0.380 / 0.515. Thresholds sit below the worst seed.
MIN_ACCURACY, MIN_GAIN = 0.62, 0.10


def test_bt_on_a_small_world_reaches_an_in_domain_accuracy_well_above_chance(tmp_path, tiny_base):
    cfg = config.resolve("micro", overrides=["train.max_steps=40", "train.eval_every=0"], method="bt", seed=0)
    result = api.train(cfg, runs_dir=tmp_path / "runs", db="sqlite://", show_progress=False)
    accuracy = next(m for m in result["metrics"] if m["metric"] == "accuracy" and m["split"] == "id")
    assert accuracy["n"] == 200 and accuracy["value"] >= MIN_ACCURACY

    untrained = RewardModel.build(cfg.model, seed=cfg.seed)
    pairs = encode_pairs(world_splits(cfg.data.world)["id"], Encoder(untrained.tokenizer, cfg.model.max_length))
    chosen, rejected = score_pairs(untrained, methods.get("bt")(), pairs, untrained.tokenizer.pad_token_id, 32,
                                   show_progress=False)
    assert accuracy["value"] - (chosen > rejected).float().mean().item() >= MIN_GAIN
