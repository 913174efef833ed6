"""Representation and calibration diagnostics: last-token hidden-state norms, effective rank (Hong et al. 2025,
Eq. 32) on training vs evaluation inputs, reward separation and expected calibration error of σ(Δ).

Each split uses the same number of sequences (2 × ``pairs`` = min(``pairs``, train size, id size) pairs), since the
effective rank grows with the number of rows: train = the first training pairs the run saw (label noise included),
id = the in-distribution pairs (``--data`` when given), and the world's OOD rankings (norms and rank only).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness import suites
from harness.data import training_pairs, world_splits
from harness.data.encode import encode_pairs
from harness.domains import setting
from harness.metrics import Estimate, effective_rank, mean_estimate, pair_calibration_error
from harness.scoring import score_sequences
from harness.suites.id import in_distribution_rows
from harness.suites.splits import OOD_SPLITS

DATASET = "diagnostics"


@suites.register
class Diagnostics(suites.Suite):
    name = "diagnostics"
    version = "2"  # 2: a --data file is named by its safe file stem, not its path
    summary = "Hidden-state norm and effective rank (train vs eval), reward separation, ECE of σ(Δ) (10 bins)."
    requires = frozenset({"held_out_pairs"})  # in_distribution_rows: --data, or the world's id split

    @dataclass
    class Options:
        pairs: int = setting(256, ge=1)  # pairs per split (train, id); twice as many sequences
        bins: int = setting(10, ge=1)  # calibration bins of the ECE

    def __init__(self, **options):
        super().__init__(**options)
        self.pairs, self.bins = self.options.pairs, self.options.bins

    def _hidden(self, ctx, seqs: list, split: str):
        raw, hidden = score_sequences(ctx.model, seqs, ctx.model.tokenizer.pad_token_id, ctx.batch_size,
                                      f"diagnostics: {split}", ctx.show_progress, with_hidden=True)
        return ctx.method.score(raw).numpy(), hidden.numpy()

    def _representation(self, dataset: str, split: str, hidden: np.ndarray) -> list:
        norms = np.linalg.norm(hidden, axis=1)
        n = len(hidden)
        return [self.row(dataset, split, "hidden_norm_mean", mean_estimate(norms), higher_is_better=False),
                self.row(dataset, split, "hidden_norm_std", Estimate(float(norms.std()), None, n), False),
                self.row(dataset, split, "effective_rank", Estimate(effective_rank(hidden), None, n))]

    def _pairs(self, ctx, rows: list[dict], dataset: str, split: str) -> list:
        data = encode_pairs(rows, ctx.encoder)
        scores, hidden = self._hidden(ctx, data.chosen + data.rejected, split)
        n, kept = len(rows), np.ones(len(rows), dtype=bool)
        kept[data.identical()] = False  # identical after truncation: not scored
        delta = scores[:n][kept] - scores[n:][kept]
        return self._representation(dataset, split, hidden) + [
            self.count(dataset, split, "identical_after_truncation", n - int(kept.sum()), n),
            self.row(dataset, split, "reward_margin_mean", mean_estimate(delta)),
            self.row(dataset, split, "reward_margin_std", Estimate(float(delta.std()), None, len(delta)), False),
            self.row(dataset, split, f"ece_{self.bins}bins", Estimate(pair_calibration_error(delta, self.bins), None,
                                                                     len(delta)), False)]

    def run(self, ctx) -> suites.SuiteResult:
        train = training_pairs(ctx.config.data, ctx.config.seed)[0]
        evaluation, dataset = in_distribution_rows(ctx)
        n = min(self.pairs, len(train), len(evaluation))
        metrics = self._pairs(ctx, train[:n], dataset, "train") + self._pairs(ctx, evaluation[:n], dataset, "id")
        if ctx.on_world:
            for split in OOD_SPLITS:
                ranking = world_splits(ctx.config.data.world)[split]
                flat = [(r["prompt"], y) for r in ranking for y in r["responses"]][: 2 * n]
                hidden = self._hidden(ctx, ctx.encoder.encode([p for p, _ in flat], [y for _, y in flat]), split)[1]
                metrics += self._representation("world", split, hidden)
        return suites.SuiteResult(metrics=metrics)
