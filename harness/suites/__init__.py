"""The suite plugin contract: each module of this package registers a ``Suite`` that turns a reward model into
metric rows (an out-of-tree package advertises its suites in the ``rmbench.suites`` entry-point group).

A suite is a ``Suite`` subclass in one file, registered by name, with

- ``version``, recorded with every metric row: bump it whenever the suite's definition changes;
- a nested dataclass ``Options`` holding every option with its default (``--set SUITE.OPTION=VALUE``), built and
  type-checked by :func:`harness.config.from_dict` (unknown options get a did-you-mean) into ``self.options``; a
  suite that checks more (ranges, choices) does so in its ``__init__`` after ``super().__init__(**options)``;
- ``requires`` ⊆ :data:`REQUIREMENTS`, what the evaluated run must be (e.g. trained on the world), checked by the
  orchestrator (:func:`check_requirements`) before anything runs;
- ``run(ctx)``: everything it needs is on the :class:`EvalContext` (model, method, encoder, config, and callables to
  train and evaluate other runs). A suite never imports the orchestrator (``harness.api``, ``harness.training``,
  ``harness.evaluation``).

Metric keys that carry a parameter (``id@noise=0.2``, ``gold_score@n=16``) are built with
:mod:`harness.metric_keys`, which the leaderboards parse them back with.
"""
from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from harness.coerce import from_dict, parse_overrides
from harness.data import pair_source
from harness.errors import ConfigError, RmbenchError
from harness.metric_keys import RENAMED_SUITES
from harness.registry import Registry, import_submodules
from harness.results import MetricRow
from harness.scoring import ScoreCache

if TYPE_CHECKING:
    from harness.config import RunConfig
    from harness.data.encode import Encoder
    from harness.method import RewardMethod
    from harness.models import EnsembleRewardModel, RewardModel
    from harness.runs import RunResult

_registry: Registry[type[Suite]] = Registry("suite", entry_point_group="rmbench.suites")


def trained_on_world(config: RunConfig) -> bool:
    """The run was trained on the world: its gold reward, prompts and splits are the run's own distribution."""
    return config.data.train == "world"


def _world(config: RunConfig, data: tuple[str, ...]) -> str | None:
    return None if trained_on_world(config) else (f"a run trained on the world (data.train: world), not "
                                                  f"{config.data.train!r}: its gold reward exists only there")


def _held_out_pairs(config: RunConfig, data: tuple[str, ...]) -> str | None:
    if len(data) > 1:
        return f"one pairs file, got --data {len(data)} times"
    if data:
        pair_source(data[0], "--data")  # an unknown format or a missing file fails here, before a model is loaded
        return None
    return None if trained_on_world(config) else (
        f"held-out pairs from the training distribution: the run trains on {config.data.train!r}, not the world, so "
        f"give them with `rmbench eval --run RUN_DIR --suite SUITE --data PAIRS_FILE` (train with other suites, "
        f"--set suites=[] for none)")


#: what a suite may require of the evaluated run (``Suite.requires``): name → what the run's config and the ``--data``
#: values given lack (None when they meet the requirement)
REQUIREMENTS: dict[str, Callable[[RunConfig, tuple[str, ...]], str | None]] = {
    "world": _world, "held_out_pairs": _held_out_pairs}


def _orchestrator_only(name: str) -> Callable:
    def unavailable(*args, **kwargs):
        raise RmbenchError(f"EvalContext.{name} is given by the evaluation orchestrator (harness.lab.Lab."
                           f"evaluate): run this suite through it")

    return unavailable


@dataclass
class EvalContext:
    """Everything a suite needs: the model, the method (for ``score``), the encoder and the run config, and the
    orchestrator's callables to train a variant of the run (``train_variant(cfg)``: trains a run of ``cfg`` beside
    the evaluated one, or reuses it when finished, and returns its result) and to evaluate a run beside it
    (``evaluate_run(run_id, suite_names)``: runs those suites on it, records and returns its result).

    ``score_cache`` holds the raw outputs of every sequence the model scored in this evaluation
    (:class:`harness.scoring.ScoreCache`): the scoring helpers of :mod:`harness.scoring` read it, so a text that
    two suites score (``id`` then ``splits``: the 10,000 ``id`` pairs) is scored once. One context, one
    evaluation, one model."""

    model: RewardModel | EnsembleRewardModel
    method: RewardMethod  # its ``score`` turns the model's head output into the reward
    encoder: Encoder
    config: RunConfig
    batch_size: int = 64
    show_progress: bool = True
    data: tuple[str, ...] = ()  # each --data value as given (a FORMAT:SOURCE list, or a pairs file for id)
    run_dir: Path | None = None  # the evaluated run's directory (suites that write artefacts: rl/, …)
    train_variant: Callable[[RunConfig], RunResult] = field(
        default_factory=lambda: _orchestrator_only("train_variant"))
    evaluate_run: Callable[[str, list[str]], RunResult] = field(
        default_factory=lambda: _orchestrator_only("evaluate_run"))
    score_cache: ScoreCache | None = field(default_factory=ScoreCache)  # None: every call scores afresh

    @property
    def on_world(self) -> bool:
        """The evaluated run was trained on the world (see :func:`trained_on_world`)."""
        return trained_on_world(self.config)


@dataclass
class SuiteResult:
    metrics: list[MetricRow] = field(default_factory=list)
    predictions: dict[str, list[dict]] = field(default_factory=dict)  # "<dataset>-<split>" → per-example rows


class Suite:
    name: ClassVar[str]
    version: ClassVar[str] = "1"
    summary: ClassVar[str] = ""  # one line: what the suite measures
    requires: ClassVar[frozenset[str]] = frozenset()  # ⊆ REQUIREMENTS

    @dataclass
    class Options:
        pass

    def __init__(self, **options):
        if options and not dataclasses.fields(self.Options):
            raise ConfigError(f"suite {self.name!r} takes no options, got {', '.join(sorted(options))}")
        self.options = from_dict(self.Options, options, self.name)

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


def current_name(name: str) -> str:
    """``name``, or the current name of a renamed suite (:data:`harness.metric_keys.RENAMED_SUITES`), with a
    ``FutureWarning``: the old name is kept for one release."""
    new = RENAMED_SUITES.get(name)
    if new is None:
        return name
    warnings.warn(f"suite {name!r} is now called {new!r} (its results are recorded under {new!r}); the name {name!r} "
                  f"goes in the next release", FutureWarning, stacklevel=2)
    return new


def get(name: str) -> type[Suite]:
    """The suite registered as ``name`` (or as the current name of a renamed suite)."""
    return _registry.get(current_name(name))


def names() -> list[str]:
    return _registry.names()


def split_overrides(overrides: list[str]) -> tuple[dict[str, dict], dict]:
    """``--set`` pairs → ({suite: {option: value}}, nested run-config overrides): a key under a suite's name (or
    a renamed suite's former name) is an option of that suite."""
    parsed = parse_overrides(overrides)
    options: dict[str, dict] = {}
    for key in [k for k in parsed if k in names() or k in RENAMED_SUITES]:
        if not isinstance(parsed[key], dict):
            raise ConfigError(f"--set {key}=…: use {key}.OPTION=VALUE")
        name = current_name(key)
        options[name] = {**options.get(name, {}), **parsed.pop(key)}
    return options, parsed


def check_requirements(cfg: RunConfig, suite_names: list[str], data: tuple[str, ...] = ()) -> None:
    """Fail when a suite's ``requires`` (:data:`REQUIREMENTS`) is not met by the run ``cfg`` and the ``--data``
    values given."""
    for name in suite_names:
        for requirement in sorted(get(name).requires):
            if missing := REQUIREMENTS[requirement](cfg, data):
                raise ConfigError(f"the {name} suite needs {missing}")


import_submodules(__name__, __path__)
