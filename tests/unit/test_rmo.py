"""RMO (Ru et al. 2026): the dual denoising filter, margin-diverse batches and margin amplification."""
import dataclasses
import math

import numpy as np
import pytest
import torch

import methods
from harness import config
from harness.data.encode import EncodedPairs, split_global_batch
from harness.errors import ConfigError, TrainingError
from harness.method import MethodContext, ProxyMargins
from harness.types import RewardOutput
from methods.rmo import MarginDiversifiedBatches, dual_filter, keep_probability, scale_margins


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
    rows = pairs(1)
    off = methods.get("rmo")(filter=False, diversify=False, amplify=False)
    assert off.prepare_dataset(rows, ctx=None) == (rows, {})  # no proxy needed: plain BT
    assert off.prepare_dataset(rows, ctx=None)[0] is rows
    assert methods.get("rmo")(diversify=False).batch_sampler(object(), ctx=None) == (None, {})


def pairs(n: int) -> EncodedPairs:
    return EncodedPairs([([1, 2 + i], 1) for i in range(n)], [([1, 100 + i], 1) for i in range(n)])


def context(base, proxy, seed: int = 0) -> MethodContext:
    """A context serving fixed margins, as the trainer serves the proxy's and the starting model's."""
    return MethodContext(config=config.resolve("micro", method="rmo"), seed=seed, data_seed=seed, process_index=0,
                         num_processes=1, is_main_process=True, show_progress=False,
                         _proxy=lambda method, cfg: ProxyMargins(f"{method}-proxy", np.asarray(proxy, float)),
                         _base=lambda: np.asarray(base, float))


# δ_base as a causal backbone's summed log-prob gap (±100), δ_proxy as an RM Δ (±3): population stds 100 and √5
BASE, PROXY = [-100.0, 100.0, -100.0, 100.0], [-3.0, 1.0, -1.0, 3.0]


def test_margins_are_divided_by_their_std_without_centring():
    assert scale_margins(np.array(PROXY), "standardized", "δ") == pytest.approx(np.array(PROXY) / math.sqrt(5))
    assert scale_margins(np.array([1.0, 3.0]), "standardized", "δ").tolist() == [1.0, 3.0]  # std 1; not centred
    assert scale_margins(np.array(BASE), "raw", "δ").tolist() == BASE
    with pytest.raises(TrainingError, match="std of δ_base.*margin_scale=raw"):
        scale_margins(np.full(3, -2.0), "standardized", "δ_base")
    with pytest.raises(ConfigError, match="margin_scale: expected one of standardized, raw"):
        methods.get("rmo")(margin_scale="zscore")


def test_standardized_margins_let_eq6_fire_across_scales():
    # standardized: δ_base = (−1, 1, −1, 1), δ_proxy = (−3, 1, −1, 3)/√5 = (−1.342, 0.447, −0.447, 1.342):
    # Eq. 6 drops row 0 (−1.342 < −1) and keeps row 2 (−0.447 > −1); filter_ratio 0 asks Eq. 8 for nothing more
    data = pairs(4)
    method = methods.get("rmo")(filter_ratio=0.0)
    kept, stats = method.prepare_dataset(data, context(BASE, PROXY))
    assert kept.chosen == data.chosen[1:] and kept.columns["delta_proxy"] == [1.0, -1.0, 3.0]
    assert stats["proxy_run_id"] == "bt-proxy" and stats["margin_scale"] == "standardized"
    assert stats["delta_base_std"] == pytest.approx(100.0) and stats["delta_proxy_std"] == pytest.approx(math.sqrt(5))
    assert stats["removed_counterintuitive"] == 1 and stats["filter_ratio"] == pytest.approx(0.25)
    assert stats["target_margin"] == method.target_margin == pytest.approx(1.0)  # median of the kept (1, −1, 3)

    # raw: −3 < −100 and −1 < −100 are false, so the literal comparison removes nothing
    raw = methods.get("rmo")(filter_ratio=0.0, margin_scale="raw")
    kept, stats = raw.prepare_dataset(data, context(BASE, PROXY))
    assert len(kept) == 4 and stats["removed_counterintuitive"] == 0 and stats["margin_scale"] == "raw"
    assert stats["delta_base_std"] == pytest.approx(100.0) and raw.target_margin == pytest.approx(0.0)


def test_batches_follow_the_delta_proxy_column_of_the_prepared_rows():
    method = methods.get("rmo")(filter_ratio=0.0)
    ctx = context(BASE, PROXY)
    kept, _ = method.prepare_dataset(pairs(4), ctx)
    sampler, stats = method.batch_sampler(kept, ctx)
    assert sampler.margins.tolist() == [1.0, -1.0, 3.0] and sampler.n_batches == 1  # micro: batch size 16
    assert set(stats["batch_variance"]) >= {"random", "stratified", "optimised"}
    with pytest.raises(TrainingError, match="delta_proxy column"):
        method.batch_sampler(pairs(4), ctx)


def test_without_the_filter_no_base_margins_are_computed():
    def no_base():
        raise AssertionError("δ_base asked for")

    ctx = dataclasses.replace(context(BASE, PROXY), _base=no_base)
    kept, stats = methods.get("rmo")(filter=False).prepare_dataset(pairs(4), ctx)
    assert len(kept) == 4 and "delta_base_std" not in stats and "filter_ratio" not in stats
    assert stats["target_margin"] == pytest.approx(0.0) and stats["delta_proxy_std"] == pytest.approx(math.sqrt(5))
