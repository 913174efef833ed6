"""Label-noise robustness: for each flip rate, train the run's method with the run's config and
``data.label_noise = rate`` (seeded flips of the training pairs, ``harness.data.flip_labels``), then evaluate it on
the ``splits`` suite (in-domain accuracy and prompt/response/mutual-OOD Kendall tau-b).

Each noisy run is an ordinary run of its own (``runs/<run_id>/``, recorded in the database); this suite copies its
metric rows under split ``<split>@noise=<rate>`` (e.g. ``id@noise=0.2``), adds ``train@noise=<rate>`` rows
(``flip_rate``, ``label_flipped``) and writes ``predictions/noise/runs.jsonl`` (rate, run id, flipped row ids).
Options: ``--set noise.rates=0,0.1,0.2,0.4`` (default 0.2); other ``--set`` keys (e.g. ``train.max_steps=5``)
change the config of the noisy runs.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from harness import suites
from harness.errors import ConfigError
from harness.metrics import Estimate
from harness.results import MetricRow

EVAL_SUITE = "splits"


def parse_rates(rates) -> list[float]:
    """``"0,0.1,0.2"`` / ``[0, 0.1]`` / ``0.2`` → sorted distinct rates in [0, 1]."""
    items = rates if isinstance(rates, (list, tuple)) else str(rates).split(",")
    try:
        values = sorted({float(r) for r in items if str(r).strip()})
    except ValueError:
        raise ConfigError(f"noise.rates: expected comma-separated numbers, got {rates!r}") from None
    if not values or not all(0.0 <= r <= 1.0 for r in values):
        raise ConfigError(f"noise.rates: expected rates in [0, 1], got {rates!r}")
    return values


def noise_split(split: str, rate: float) -> str:
    return f"{split}@noise={rate:g}"


@suites.register
class LabelNoise(suites.Suite):
    name = "noise"
    summary = "Train with a fraction of flipped labels (default 0.2) and evaluate in-domain + OOD (splits suite)."

    def __init__(self, rates="0.2", runs_dir: str | Path = "runs", db: str | None = None):
        self.rates, self.runs_dir, self.db = parse_rates(rates), Path(runs_dir), db

    def run(self, ctx) -> suites.SuiteResult:
        from harness import api

        result = suites.SuiteResult(predictions={"runs": []})
        for rate in self.rates:
            cfg = dataclasses.replace(ctx.config, data=dataclasses.replace(ctx.config.data, label_noise=rate),
                                      suites=[])
            run_id = api.train(cfg, runs_dir=self.runs_dir, db=self.db, show_progress=ctx.show_progress)["run_id"]
            child = api.evaluate(self.runs_dir / run_id, [EVAL_SUITE], db=self.db, batch_size=ctx.batch_size,
                                 show_progress=ctx.show_progress)
            result.metrics += [MetricRow(self.name, self.version, m["dataset"], noise_split(m["split"], rate),
                                         m["metric"], float("nan") if m["value"] is None else m["value"], m["stderr"],
                                         m["n"], m["higher_is_better"])
                               for m in child["metrics"] if m["suite"] == EVAL_SUITE]
            train = child["train"]
            n_train = train.get("train_pairs", 0)
            result.metrics += [
                self.row(child["data"], noise_split("train", rate), "flip_rate", Estimate(rate, None, n_train), False),
                self.count(child["data"], noise_split("train", rate), "label_flipped", train.get("label_flipped", 0),
                           n_train)]
            result.predictions["runs"].append({"rate": rate, "run_id": run_id,
                                               "flipped_rows": train.get("flipped_rows", [])})
        return result
