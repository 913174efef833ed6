"""PointMargin: APLOT's cost-based margin without the transport plan, μ_i = Σ_j C_ij (Li et al. 2025, Eq. 9).

``margin_norm="conditional"`` (default) uses mean_j C_ij instead, O(1) like APLOT's conditional margin; the other
config keys are APLOT's (methods/aplot.py).
"""
from __future__ import annotations

import dataclasses

from torch import Tensor

import methods
from methods.aplot import CostMargin


@methods.register
class PointMargin(CostMargin):
    name = "pointmargin"
    paper = "Li et al. 2025 (APLOT) Eq. 9 (PointMargin baseline)"
    summary = "BT with per-pair margins μ_i = Σ_j C_ij from the APLOT cost matrix, no transport plan."

    @dataclasses.dataclass
    class Config(CostMargin.Config):
        pass

    def margins(self, cost: Tensor, rows: slice) -> tuple[Tensor, dict[str, Tensor]]:
        c = cost[rows]
        return (c.mean(1) if self.config.margin_norm == "conditional" else c.sum(1)), {}
