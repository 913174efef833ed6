"""RMO (Ru et al. 2026): the dual denoising filter, margin-diverse batches and margin amplification."""
import numpy as np
import pytest
import torch

import methods
from harness.data.encode import split_global_batch
from harness.types import RewardOutput
from methods.rmo import MarginDiversifiedBatches, dual_filter, keep_probability


def test_eq6_drops_exactly_the_counterintuitive_rows():
    # Eq. 6: δ_base < 0 and δ_proxy < δ_base → rows 0 and 5; the target (10 % of 6 rows) is already exceeded, so
    # Eq. 8 samples nothing
    base = np.array([-1.0, -1.0, 2.0, -0.5, 0.3, -3.0])
    proxy = np.array([-2.0, 0.0, -5.0, -0.4, -1.0, -3.5])
    kept, stats = dual_filter(base, proxy, ratio=0.1, gamma=1.0, seed=0)
    assert kept.tolist() == [1, 2, 3, 4]
    assert stats["removed_counterintuitive"] == 2 and stats["removed_sampled"] == 0
    assert stats["filter_ratio"] == pytest.approx(2 / 6)


def test_tau_bisection_hits_the_target_ratio_in_expectation():
    rng = np.random.default_rng(0)
    proxy = rng.normal(0.0, 2.0, 20_000)
    base = np.ones(20_000)
    base[:200], proxy[:200] = -1.0, -3.0  # 1 % of the rows are Eq. 6 noise; Eq. 8 must remove 5 % more
    kept, stats = dual_filter(base, proxy, ratio=0.06, gamma=1.0, seed=0)
    assert stats["removed_counterintuitive"] == 200
    assert stats["filter_expected_ratio"] == pytest.approx(0.06, abs=1e-6)
    assert stats["filter_ratio"] == pytest.approx(0.06, abs=0.005)  # realised: a binomial draw around the target
    p = keep_probability(np.abs(proxy[200:]), stats["filter_tau"], 1.0)
    assert 200 + (1 - p).sum() == pytest.approx(0.06 * 20_000, rel=1e-6)
    removed = np.setdiff1d(np.arange(200, 20_000), kept)
    assert np.abs(proxy[removed]).mean() > np.abs(proxy[kept]).mean()  # Eq. 8 removes LARGE |margins|


def test_filter_sampling_is_seeded():
    rng = np.random.default_rng(1)
    base, proxy = rng.normal(size=2000), rng.normal(size=2000)
    first, _ = dual_filter(base, proxy, 0.3, 1.0, seed=3)
    again, _ = dual_filter(base, proxy, 0.3, 1.0, seed=3)
    other, _ = dual_filter(base, proxy, 0.3, 1.0, seed=4)
    assert first.tolist() == again.tolist() and first.tolist() != other.tolist()


def test_optimised_variance_beats_stratified_beats_random():
    margins = np.random.default_rng(0).standard_t(3, 1000)
    report = MarginDiversifiedBatches(margins, 32, seed=0).variance_report()
    assert report["optimised"] >= report["stratified"] >= report["random"]
    assert 0 < report["swaps_tried"] < 20 * 1000  # stopped early on the relative-improvement criterion


@pytest.mark.parametrize("n_rows", [103, 128])
def test_every_row_once_per_epoch_also_when_split_over_ranks_and_accumulation(n_rows):
    sampler = MarginDiversifiedBatches(np.random.default_rng(0).normal(size=n_rows), 16, seed=0)
    for epoch in range(2):
        batches = sampler.batches(epoch)
        assert len(batches) == -(-n_rows // 16) and all(len(b) <= 16 for b in batches)
        assert sorted(i for b in batches for i in b) == list(range(n_rows))  # no row dropped, the tail kept
        for batch in batches:
            micro = [m for rank in range(2) for m in split_global_batch(batch, rank, world_size=2, grad_accum=2)]
            assert len(micro) == 4 and sorted(i for m in micro for i in m) == sorted(batch)


def test_batches_repartition_per_epoch_and_are_reproducible():
    margins = np.random.default_rng(0).normal(size=200)
    sampler = MarginDiversifiedBatches(margins, 16, seed=0)
    epoch0, epoch1 = sampler.batches(0), sampler.batches(1)
    as_sets = lambda batches: {frozenset(b) for b in batches}  # noqa: E731
    assert as_sets(epoch0) != as_sets(epoch1)
    assert MarginDiversifiedBatches(margins, 16, seed=0).batches(1) == epoch1


def test_amplification_loss_matches_hand_computed_values():
    # Δ = (1, 0, −2), δ̃ = 0.5, α = 1, λ = 2: BT mean 1.044446; σ(δ̃ − Δ) = 0.377541, 0.622459, 0.924142
    out = RewardOutput(chosen=torch.tensor([1.0, 0.5, -1.0]), rejected=torch.tensor([0.0, 0.5, 1.0]))
    method = methods.get("rmo")()
    method.target_margin = 0.5
    result = method.loss(out)
    assert result.metrics["amplification"].item() == pytest.approx(0.641381, abs=1e-5)
    assert result.loss.item() == pytest.approx(1.044446 + 2 * 0.641381, abs=1e-5)
    plain = methods.get("rmo")(amplify=False)
    assert plain.loss(out).loss.item() == pytest.approx(1.044446, abs=1e-5)
    wide = methods.get("rmo")(alpha=125.0, lambda_reg=1.0)  # the paper's α for log-prob margins: σ ≈ ½
    wide.target_margin = 0.5
    assert wide.loss(out).loss.item() == pytest.approx(1.044446 + 0.5, abs=1e-2)


def test_components_switch_off():
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b"}]
    off = methods.get("rmo")(filter=False, diversify=False, amplify=False)
    assert off.prepare_dataset(rows, ctx=None) is rows  # no proxy needed: plain BT
    assert methods.get("rmo")(diversify=False).batch_sampler(object(), ctx=None) is None
