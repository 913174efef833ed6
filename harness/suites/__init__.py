"""Evaluation suites: each module registers a ``Suite`` that turns a reward model into metric rows.

A suite's ``version`` is recorded with every metric row; bump it whenever its definition changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from harness.registry import Registry, import_submodules
from harness.results import MetricRow

_registry: Registry[type["Suite"]] = Registry("suite", entry_point_group="rmbench.suites")


@dataclass
class EvalContext:
    """Everything a suite needs: the model, the method (for ``score``), the encoder and the run config."""

    model: object  # harness.models.RewardModel
    method: object  # harness.method.RewardMethod
    encoder: object  # harness.data.encode.Encoder
    config: object  # harness.config.RunConfig
    batch_size: int = 64
    show_progress: bool = True
    data: tuple[str, ...] = ()  # each --data value as given (a FORMAT:SOURCE list, or a pairs file for id)
    run_dir: Path | None = None  # the evaluated run's directory (suites that write artefacts: rl/, …)


@dataclass
class SuiteResult:
    metrics: list[MetricRow] = field(default_factory=list)
    predictions: dict[str, list[dict]] = field(default_factory=dict)  # "<dataset>-<split>" → per-example rows


class Suite:
    name: ClassVar[str]
    version: ClassVar[str] = "1"
    summary: ClassVar[str] = ""

    def run(self, ctx: EvalContext) -> SuiteResult:
        raise NotImplementedError

    def row(self, dataset: str, split: str, metric: str, estimate, higher_is_better: bool = True) -> MetricRow:
        return MetricRow(self.name, self.version, dataset, split, metric, estimate.value, estimate.stderr,
                         estimate.n, higher_is_better)

    def count(self, dataset: str, split: str, metric: str, value: int, n: int) -> MetricRow:
        """A count (ties, identical pairs, undefined taus): lower is better, no standard error."""
        return MetricRow(self.name, self.version, dataset, split, metric, float(value), None, n, False)


def register(cls: type[Suite]) -> type[Suite]:
    return _registry.register(cls.name)(cls)


def get(name: str) -> type[Suite]:
    return _registry.get(name)


def names() -> list[str]:
    return _registry.names()


import_submodules(__name__, __path__)
