"""World v2: the shortcut dial, pair kinds and margins, the OOD splits' independence of style, the mixtures, the
BT label-noise mode, the null baselines, the id suite's group rows and the settings' domain checks."""
from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest

from harness import config
from harness.data import bt_label_flips, training_pairs
from harness.errors import ConfigError
from harness.metric_keys import group_metric, null_metric, parse_group_metric
from harness.null_baselines import FEATURES, StyleOnly, baseline_hits, fit_logistic, surface_features
from harness.suites.id import pair_groups, world_diagnostics
from harness.world import PAIR_SPLITS, SPLITS_V2, WorldConfig, generate, tasks, write
from harness.world.generators import HELDOUT_GENERATORS
from harness.world.v2 import SAME_SHARE

SMALL = dict(seed=1, n_train=3000, n_id=400, n_ood=200, n_style=20)


@pytest.fixture(scope="module")
def world():
    return generate(WorldConfig(**SMALL, spurious=0.5))


def _differ(rows):
    return [r for r in rows if r["meta"]["pair_kind"] == "differ"]


@pytest.mark.parametrize("s", [0.0, 0.5, 1.0])
def test_the_dial_sets_how_often_the_better_response_is_the_longer_one(s):
    rows = _differ(generate(WorldConfig(**{**SMALL, "n_train": 4000}, spurious=s)).splits["train"])
    aligned = sum(r["meta"]["shortcut"] == "aligned" for r in rows) / len(rows)
    assert abs(aligned - (1 + s) / 2) < 3 * math.sqrt(0.25 / len(rows)) + 1e-9
    for r in rows:  # "aligned" means exactly: the chosen (better) response has more words
        assert (r["meta"]["words_chosen"] > r["meta"]["words_rejected"]) == (r["meta"]["shortcut"] == "aligned")
        assert r["meta"]["outcome_chosen"] != r["meta"]["outcome_rejected"]


def test_pair_kinds_margins_and_the_reversed_split(world):
    train = world.splits["train"]
    same = [r for r in train if r["meta"]["pair_kind"] == "same"]
    assert abs(len(same) / len(train) - SAME_SHARE) < 0.03
    margins = [r["gold_chosen"] - r["gold_rejected"] for r in same]
    assert all(r["meta"]["outcome_chosen"] == r["meta"]["outcome_rejected"] for r in same)
    assert min(margins) > 0 and max(margins) < 0.5 and np.std(margins) > 0.02  # a spread of small margins
    assert min(r["gold_chosen"] - r["gold_rejected"] for r in _differ(train)) > 0.19
    rev = world.splits["shortcut_reversed"]
    assert len(rev) == SMALL["n_id"] and all(r["meta"]["shortcut"] == "conflict" for r in rev)
    assert {r["prompt"] for r in rev}.isdisjoint({r["prompt"] for r in train})
    assert tuple(world.splits) == SPLITS_V2 and set(PAIR_SPLITS) <= set(SPLITS_V2)


def test_ood_rankings_draw_outcomes_independently_of_the_generator(world):
    rows = world.splits["response_ood"] + world.splits["mutual_ood"]
    correct, safe = Counter(), Counter()
    for row in rows:
        if not row["meta"]["unsafe"]:
            for g, o in zip(row["meta"]["generators"], row["meta"]["outcomes"]):
                safe[g] += 1
                correct[g] += o == "correct"
    rates = [correct[g.name] / safe[g.name] for g in HELDOUT_GENERATORS]
    assert max(rates) - min(rates) < 0.12  # v1: windbag 0.35 vs oracle 0.93


def test_mixtures_and_prompt_draws():
    names = lambda m: {r["meta"]["family"] for r in generate(WorldConfig(**SMALL, mixture=m)).splits["train"]}
    assert names("learnable") == {"copy", "select", "compare", "lookup", "addition", "safety"}
    assert names("hard") == {"arithmetic", "units", "lists", "words", "facts", "safety"}
    assert names("all") == names("learnable") | names("hard")
    assert {t.family.name for t in tasks(0, 300)} == names("learnable")


def test_generation_is_deterministic(tmp_path):
    cfg = WorldConfig(**SMALL)
    a, b = write(generate(cfg), tmp_path / "a"), write(generate(cfg), tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


@pytest.mark.parametrize("override, message", [
    ("data.world.spurious=1.5", "data.world.spurious: must be ≥ 0 and ≤ 1, got 1.5"),
    ("data.world.spurious=-0.1", "data.world.spurious: must be ≥ 0 and ≤ 1, got -0.1"),
    ("data.world.version=3", "data.world.version: expected one of 1, 2, got 3"),
    ("data.world.mixture=easy", "data.world.mixture: expected one of learnable, hard, all, got 'easy'"),
    ("data.label_noise_mode=gaussian", "data.label_noise_mode: expected one of uniform, bt, got 'gaussian'"),
    ("data.label_noise_temperature=0", "data.label_noise_temperature: must be > 0, got 0.0"),
    ("data.label_noise_temperature=-1", "data.label_noise_temperature: must be > 0, got -1.0"),
])
def test_bad_settings_are_one_line_config_errors(override, message):
    with pytest.raises(ConfigError) as raised:
        config.resolve("micro", method="bt", overrides=[override])
    assert str(raised.value) == message
    with pytest.raises(ConfigError):  # the same check on a world config built in code
        generate(WorldConfig(spurious=2.0))


def test_bad_settings_exit_2_before_any_work(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
    from cli_runner import invoke

    result = invoke("train", "bt", "--preset", "micro", "--set", "data.world.spurious=2", "--runs-dir",
                    tmp_path / "runs")
    assert result.exit_code == 2 and "data.world.spurious: must be ≥ 0 and ≤ 1, got 2.0" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_bt_label_flips_follow_sigma_of_the_gold_margin():
    rows = [{"gold_chosen": d, "gold_rejected": 0.0} for d in (0.0, 0.5, 2.0)] * 4000
    for temperature in (0.5, 2.0):
        flipped = set(bt_label_flips(rows, temperature, seed=3))
        draws = random.Random(3)  # the same draws by hand: keep with probability σ(Δ/T)
        expected = {i for i, r in enumerate(rows)
                    if draws.random() >= 1 / (1 + math.exp(-r["gold_chosen"] / temperature))}
        assert flipped == expected
        for k, d in enumerate((0.0, 0.5, 2.0)):
            rate = sum(i % 3 == k for i in flipped) / 4000
            assert abs(rate - 1 / (1 + math.exp(d / temperature))) < 0.03


def test_bt_label_noise_in_training_pairs():
    cfg = config.resolve("micro", method="bt", overrides=["data.label_noise_mode=bt",
                                                          "data.label_noise_temperature=0.3"])
    train, _, flipped = training_pairs(cfg.data, 0)
    assert flipped and all(r.get("label_flipped") for r in train if r["id"] in set(flipped))
    same = [r for r in train if r["meta"]["pair_kind"] == "same"]
    differ = [r for r in train if r["meta"]["pair_kind"] == "differ"]
    flip_rate = lambda rows: sum(bool(r.get("label_flipped")) for r in rows) / len(rows)
    assert flip_rate(same) > 0.3 and flip_rate(differ) < 0.05  # annotators err on close pairs
    assert config.config_hash(cfg) != config.config_hash(config.resolve("micro", method="bt"))


def test_surface_features_by_hand():
    f = surface_features(["**Great question!**\n\n1. a\n2. b\n\nI hope this helps! Maybe.", "No."])
    row = dict(zip(FEATURES, f[0]))
    assert row["log_words"] == pytest.approx(math.log1p(11)) and row["bold"] == 1 and row["numbered_list"] == 1
    assert row["paragraphs"] == 2 and row["hedge"] == 1 and row["filler_scholar"] == 1 and row["filler_brief"] == 0
    assert dict(zip(FEATURES, f[1]))["log_words"] == pytest.approx(math.log(2)) and f[1][2:].sum() == 0


def test_fit_logistic_reaches_the_penalised_optimum():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 3))
    y = (rng.random(2000) < 1 / (1 + np.exp(-(x @ np.array([1.5, -2.0, 0.0]))))).astype(float)
    w = fit_logistic(x, y, l2=1e-3)
    p = 1 / (1 + np.exp(-(x @ w)))
    assert np.abs(x.T @ (p - y) / len(y) + 1e-3 * w).max() < 1e-8  # the gradient vanishes
    assert np.allclose(w, [1.5, -2.0, 0.0], atol=0.25)


def _pair(chosen, rejected, kind="differ", shortcut=None, family="copy", i=0):
    return {"id": f"p{i}", "prompt": "x", "chosen": chosen, "rejected": rejected,
            "meta": {"pair_kind": kind, "shortcut": shortcut, "family": family}}


def test_null_baselines_and_group_rows_by_hand():
    from harness import suites

    rows = [_pair("a b c", "a", shortcut="aligned", i=0), _pair("a", "a b c", shortcut="conflict", i=1),
            _pair("a b", "c d", kind="same", family="compare", i=2),
            _pair("a b c d", "a", shortcut="aligned", family="compare", i=3)]
    hits = baseline_hits(rows, None)
    assert hits["longer_wins"].tolist() == [1, 0, 0.5, 1] and hits["shorter_wins"].tolist() == [0, 1, 0.5, 0]
    groups = {(g, v): mask.tolist() for g, v, mask in pair_groups(rows)}
    assert groups == {("kind", "differ"): [1, 1, 0, 1], ("kind", "same"): [0, 0, 1, 0],
                      ("shortcut", "aligned"): [1, 0, 0, 1], ("shortcut", "conflict"): [0, 1, 0, 0],
                      ("differ_family", "compare"): [0, 0, 0, 1], ("differ_family", "copy"): [1, 1, 0, 0]}
    suite = suites.get("id")()
    predictions = [{"id": "p0", "correct": True}, {"id": "p1", "correct": True}, {"id": "p2", "correct": False}]
    metrics = {m.metric: (m.value, m.n) for m in world_diagnostics(suite, rows, predictions, "world", "id", None)}
    assert metrics[group_metric("accuracy", "kind", "differ")] == (1.0, 2)  # p3 not scored: left out
    assert metrics[group_metric("accuracy", "kind", "same")] == (0.0, 1)
    assert metrics[group_metric("accuracy", "shortcut", "conflict")] == (1.0, 1)
    assert metrics[null_metric("longer_wins")] == (0.5, 3)
    assert metrics[group_metric(null_metric("shorter_wins"), "shortcut", "conflict")] == (1.0, 1)
    assert parse_group_metric("accuracy_style_only@differ_family=copy") == ("accuracy_style_only", "differ_family",
                                                                           "copy")
    assert parse_group_metric("gold_score@n=4") is None and parse_group_metric("accuracy") is None


def test_style_only_learns_the_shortcut_and_only_the_shortcut():
    at = lambda s: generate(WorldConfig(**{**SMALL, "n_train": 2000, "n_id": 600}, spurious=s)).splits
    strong, off = at(1.0), at(0.0)
    style = StyleOnly(strong["train"])
    differ = _differ(strong["id"])
    assert style.hits(differ).mean() > 0.9  # style alone decides every pair when s = 1
    assert style.hits(strong["shortcut_reversed"]).mean() < 0.1
    assert abs(StyleOnly(off["train"]).hits(_differ(off["id"])).mean() - 0.5) < 0.1  # s = 0: no information


def test_world_v2_is_frozen_under_its_identity():
    """World v2's content under ``WORLD_IDS[2]``: the tiny builds are cached by that identity, so a change to the
    generated text must come with a new identity (then update these digests)."""
    import hashlib

    from harness.world import WORLD_IDS, corpus

    splits = generate(WorldConfig(n_train=300, n_id=50, n_ood=20, n_style=10, spurious=0.5)).splits
    assert WORLD_IDS[2] == "v2.2"
    assert hashlib.sha256(repr(splits).encode()).hexdigest() == \
        "0ea8cc1275d3266768cff2a5cef0ce5bbc15be8ac96f34d98cf7c92274eb6cfd"
    assert hashlib.sha256("\x1e".join(corpus(0, 300)).encode()).hexdigest() == \
        "c2d429a8258ab7fbff6e7f7c52fb32b0e6ca0acb097332f6008781f58bdd5569"
