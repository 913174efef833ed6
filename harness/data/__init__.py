"""Datasets in the canonical schema (``docs/architecture.md``, "Canonical data"): the embedded world, pairs read
from a file, or a real format by path or Hub id (``FORMAT:SOURCE[:options]``, as ``--data`` takes it)."""
from __future__ import annotations

import dataclasses
import functools
import math
import random
import re
from pathlib import Path

from harness import world
from harness.data import formats
from harness.data.io import read_pairs
from harness.errors import ConfigError, DataError


@functools.lru_cache(maxsize=4)
def _world(key: tuple) -> world.World:
    return world.generate(world.WorldConfig(*key))


def world_splits(cfg: world.WorldConfig) -> dict[str, list[dict]]:
    """The world's splits for ``cfg`` (generated once per process)."""
    return _world(dataclasses.astuple(cfg)).splits


def describe(data_cfg) -> str:
    """A short identifier of the training data, stored with every result."""
    if data_cfg.train == "world":
        w = data_cfg.world
        if w.version == 1:
            return f"world:v{world.WORLD_IDS[1]}:seed{w.seed}:n{w.n_train}"  # as recorded before world v2
        return f"world-v2:seed{w.seed}:n{w.n_train}:spurious{w.spurious:g}:{w.mixture}"
    return str(data_cfg.train)


def flip_labels(rows: list[dict], rate: float, seed: int) -> tuple[list[dict], list[int]]:
    """Swap chosen and rejected in a seeded ``rate`` fraction of rows; returns the new rows and the flipped indices."""
    if not 0.0 <= rate <= 1.0:
        raise DataError(f"label noise must be in [0, 1], got {rate}")
    return swap_labels(rows, sorted(random.Random(seed).sample(range(len(rows)), round(rate * len(rows)))))


def swap_labels(rows: list[dict], flipped: list[int]) -> tuple[list[dict], list[int]]:
    """Swap chosen and rejected (and their gold scores) in the rows at ``flipped``; returns the new rows and
    ``flipped``."""
    out = list(rows)
    for i in flipped:
        row = rows[i]
        out[i] = {**row, "chosen": row["rejected"], "rejected": row["chosen"], "label_flipped": True}
        if "gold_chosen" in row:
            out[i].update(gold_chosen=row["gold_rejected"], gold_rejected=row["gold_chosen"])
    return out, flipped


def bt_label_flips(rows: list[dict], temperature: float, seed: int) -> list[int]:
    """Indices of the rows whose label a Bradley-Terry annotator flips: row i keeps chosen ≻ rejected with
    probability σ(Δ_i / T), Δ_i = gold_chosen − gold_rejected (so close pairs are near coin flips, clear ones
    almost never flipped); one seeded uniform draw per row."""
    if not temperature > 0:
        raise ConfigError(f"data.label_noise_temperature must be > 0, got {temperature!r}")
    rng, flipped = random.Random(seed), []
    for i, row in enumerate(rows):
        if "gold_chosen" not in row:
            raise DataError("label_noise_mode bt needs gold scores (gold_chosen, gold_rejected) on every pair",
                            row=i, field="gold_chosen")
        delta = (row["gold_chosen"] - row["gold_rejected"]) / temperature
        keep = 1.0 / (1.0 + math.exp(-delta)) if delta >= 0 else math.exp(delta) / (1.0 + math.exp(delta))
        if rng.random() >= keep:
            flipped.append(i)
    return flipped


def pair_source(source: str, what: str):
    """What a source of preference pairs (``data.train``, the id suite's ``--data``) names, checked without reading
    it: a local file or directory (a ``Path``), or one ``FORMAT:SOURCE[:options]`` spec as ``--data`` takes it (a
    :class:`~harness.data.formats.DataSpec`). ``what`` names the setting in the one-line error for a source that
    names nothing: an unknown format (``UnknownNameError``, listing the known ones), a missing file (``DataError``),
    a Hub id while ``HF_HUB_OFFLINE`` is set (``DataError``, :func:`~harness.data.formats.check_source`)."""
    path = Path(source).expanduser()
    if path.exists():
        return path
    name, sep, rest = source.partition(":")
    if sep and rest and re.fullmatch(r"[A-Za-z][\w-]*", name):  # FORMAT:SOURCE (an existing path was taken above)
        formats.get(name)  # an unknown format: its name and the known ones
        specs = formats.parse_specs(source)
        if len(specs) != 1:
            raise ConfigError(f"{what}: one FORMAT:SOURCE, got {len(specs)} in {source!r}")
        formats.check_source(specs[0])
        return specs[0]
    raise DataError(f"no such file or directory ({what} takes a pairs file, a directory or a FORMAT:SOURCE spec "
                    f"such as unified_feedback:llm-blender/Unified-Feedback)", file=source)


def read_pair_source(source: str, what: str) -> list[dict]:
    """The canonical pairs of ``source`` (see :func:`pair_source`): a JSONL file (any suffix but the other table
    types': ``{prompt, chosen, rejected[, margin]}`` rows) with :func:`~harness.data.io.read_pairs`; a CSV, JSON or
    Parquet file or a directory as the ``generic`` format (columns prompt, chosen, rejected); a spec by its format."""
    target = pair_source(source, what)
    if isinstance(target, Path) and target.is_file() and formats.data_suffix(target) in (None, ".jsonl"):
        return read_pairs(target)
    spec = formats.DataSpec("generic", str(target)) if isinstance(target, Path) else target
    return formats.load(spec).rows


def training_pairs(data_cfg, seed: int) -> tuple[list[dict], list[dict], list[int]]:
    """(train rows, validation rows, ids of the flipped train rows) for a run.

    ``validation_pairs`` rows are held out of training (seeded) for the convergence curve; label noise is applied
    to the training rows only.
    """
    rows = world_splits(data_cfg.world)["train"] if data_cfg.train == "world" else read_pair_source(data_cfg.train,
                                                                                                       "data.train")
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_val = min(data_cfg.validation_pairs, len(rows) // 10)
    validation = [rows[i] for i in order[:n_val]]
    train = [rows[i] for i in sorted(order[n_val:])]
    if data_cfg.max_train_pairs:
        train = train[: data_cfg.max_train_pairs]
    if data_cfg.label_noise_mode == "bt":
        train, flipped = swap_labels(train, bt_label_flips(train, data_cfg.label_noise_temperature, seed))
    else:
        train, flipped = flip_labels(train, data_cfg.label_noise, seed)
    return train, validation, [train[i].get("id", i) for i in flipped]
