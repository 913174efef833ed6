"""Label-noise robustness: for each flip rate, train the run's method with the run's config and
``data.label_noise = rate`` (seeded flips of the training pairs, ``harness.data.flip_labels``), then evaluate it on
the ``splits`` suite (in-domain accuracy and prompt/response/mutual-OOD Kendall tau-b).

Each noisy run is an ordinary run of its own (``runs/<run_id>/``, recorded in the database); this suite copies its
metric rows under split ``<split>@noise=<rate>`` (e.g. ``id@noise=0.2``), adds ``train@noise=<rate>`` rows
(``flip_rate``, ``label_flipped``) and writes ``predictions/noise/runs.jsonl`` (rate, run id, flipped row ids).
Options: ``--set noise.rates=0,0.1,0.2,0.4`` (default 0.2); other ``--set`` keys (e.g. ``train.max_steps=5``)
change the config of the noisy runs. The runs are trained and evaluated by the context's ``train_variant`` and
``evaluate_run``, beside the evaluated run and recorded in the same database.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from harness import suites
from harness.errors import ConfigError
from harness.metric_keys import noise_split
from harness.metrics import Estimate
from harness.results import MetricRow

EVAL_SUITE = "splits"


@suites.register
class LabelNoise(suites.Suite):
    name = "noise"
    summary = "Train with a fraction of flipped labels (default 0.2) and evaluate in-domain + OOD (splits suite)."

    @dataclass
    class Options:
        rates: list[float] = field(default_factory=lambda: [0.2])  # flip rates in [0, 1]: "0,0.2", [0, 0.2] or 0.2

    def __init__(self, **options):
        super().__init__(**options)
        self.rates = sorted(set(self.options.rates))
        if not self.rates or not all(0.0 <= r <= 1.0 for r in self.rates):
            raise ConfigError(f"noise.rates: expected rates in [0, 1], got {options.get('rates')!r}")

    def run(self, ctx) -> suites.SuiteResult:
        result = suites.SuiteResult(predictions={"runs": []})
        for rate in self.rates:
            cfg = dataclasses.replace(ctx.config, data=dataclasses.replace(ctx.config.data, label_noise=rate),
                                      suites=[])
            run_id = ctx.train_variant(cfg).run_id
            child = ctx.evaluate_run(run_id, [EVAL_SUITE])
            result.metrics += [MetricRow(self.name, self.version, m["dataset"], noise_split(m["split"], rate),
                                         m["metric"], float("nan") if m["value"] is None else m["value"], m["stderr"],
                                         m["n"], m["higher_is_better"])
                               for m in child.metrics if m["suite"] == EVAL_SUITE]
            train = child.train
            n_train = train.get("train_pairs", 0)
            result.metrics += [
                self.row(child.data, noise_split("train", rate), "flip_rate", Estimate(rate, None, n_train), False),
                self.count(child.data, noise_split("train", rate), "label_flipped", train.get("label_flipped", 0),
                           n_train)]
            result.predictions["runs"].append({"rate": rate, "run_id": run_id,
                                               "flipped_rows": train.get("flipped_rows", [])})
        return result
