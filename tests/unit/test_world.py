"""World v1 (pinned with ``version=1``): API, schemas, determinism, disjointness, gold reward and the spurious
correlation. World v2 is tested in ``test_world_v2.py``."""
from __future__ import annotations

import dataclasses
import json
import statistics

import pytest

from harness.world import SPLITS, WORLD_IDS, World, WorldConfig, corpus, generate, write
from harness.world.generators import GENERATORS, HELDOUT_GENERATORS, TRAIN_GENERATORS
from harness.world.gold import BASE, gold_reward

SMALL = WorldConfig(seed=3, n_train=2000, n_id=300, n_ood=120, n_style=60, version=1)
RANKING_SPLITS = ("prompt_ood", "response_ood", "mutual_ood")
TRAIN_NAMES = {g.name for g in TRAIN_GENERATORS}
FILLER = ("openers", "closers", "hedges", "refusals", "reasons", "extras")


@pytest.fixture(scope="module")
def world() -> World:
    return generate(SMALL)


def _texts(row: dict) -> list[str]:
    if "responses" in row:
        return row["responses"]
    chosen, rejected = row["chosen"], row["rejected"]
    return chosen + rejected if isinstance(chosen, list) else [chosen, rejected]


def test_the_world_has_every_split_and_its_version_is_part_of_the_run_identity(world, monkeypatch):
    from harness import config
    from harness.data import describe

    assert set(world.splits) == set(SPLITS) and all(world.splits[s] for s in SPLITS)
    assert WORLD_IDS[1] == "2" and len(set(WORLD_IDS.values())) == len(WORLD_IDS)
    cfg = config.resolve("micro", overrides=["data.world.version=1"])
    assert describe(cfg.data).startswith(f"world:v{WORLD_IDS[1]}:")  # recorded with every result
    before = config.config_hash(cfg)
    monkeypatch.setitem(config.WORLD_IDS, 1, WORLD_IDS[1] + ".1")
    assert config.config_hash(cfg) != before  # a changed world is a new experiment, never an old result


def test_world_sizes_are_checked():
    from harness.config import from_dict
    from harness.errors import ConfigError

    with pytest.raises(ValueError):
        generate(WorldConfig(n_train=-1))
    with pytest.raises(ConfigError, match=r"^data\.world\.n_ood: must be ≥ 0, got -2$"):
        from_dict(WorldConfig, {"n_ood": -2}, "data.world")
    assert generate(WorldConfig(seed=1, n_train=0, n_id=0, n_ood=0, n_style=0)).splits["train"] == []


def test_sizes_ids_and_metadata(world):
    sizes = {"train": SMALL.n_train, "id": SMALL.n_id, "style": SMALL.n_style,
             **{s: SMALL.n_ood for s in RANKING_SPLITS}}
    for split in SPLITS:
        rows = world.splits[split]
        assert len(rows) == sizes[split]
        assert rows[0]["id"] == f"{split}-000001" and len({r["id"] for r in rows}) == len(rows)
    meta = world.metadata()
    assert meta["version"] == WORLD_IDS[1] and meta["config"] == SMALL.identity()
    assert {"gold_reward", "generators", "families", "spurious_correlation", "fact_table"} <= set(meta)
    assert len(meta["families"]) >= 5 and len(TRAIN_GENERATORS) >= 6 and len(HELDOUT_GENERATORS) >= 3
    json.dumps(meta)


def test_schemas(world):
    for row in world.splits["train"] + world.splits["id"]:
        assert set(row) == {"id", "prompt", "chosen", "rejected", "source", "gold_chosen", "gold_rejected", "meta"}
        assert row["source"] == f"world/{row['meta']['family']}" and row["chosen"] != row["rejected"]
        assert {"family", "template", "generator_chosen", "generator_rejected"} <= set(row["meta"])
    for split in RANKING_SPLITS:
        for row in world.splits[split]:
            assert set(row) == {"id", "prompt", "responses", "gold_scores", "source", "meta"}
            assert len(row["responses"]) == len(row["gold_scores"]) == len(row["meta"]["generators"]) == 4
            assert len(set(row["responses"])) == 4 and len(set(row["gold_scores"])) == 4
            assert all(isinstance(g, float) for g in row["gold_scores"])
    for row in world.splits["style"]:
        assert set(row) == {"id", "prompt", "chosen", "rejected", "domain", "source"}
        assert len(row["chosen"]) == len(row["rejected"]) == 3 and not set(row["chosen"]) & set(row["rejected"])
        for side in (row["chosen"], row["rejected"]):  # concise, detailed, markdown
            assert not any(mark in side[0] + side[1] for mark in ("**", "\n")) and "\n\n" in side[2]
            assert len(side[0].split()) < len(side[1].split())
    for split in SPLITS:
        for row in world.splits[split]:
            assert all(t.strip() for t in _texts(row)) and row["prompt"].strip()
            json.dumps(row)


def test_write_is_deterministic_and_seeded(world, tmp_path):
    first = write(world, tmp_path / "a")
    second = write(generate(SMALL), tmp_path / "b")
    assert [p.name for p in first] == [f"{s}.jsonl" for s in SPLITS] + ["world.json"]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second))
    assert not list((tmp_path / "a").glob("*.tmp")) and not list((tmp_path / "a").glob(".*.tmp"))
    rows = [json.loads(line) for line in first[0].read_text().splitlines()]
    assert rows == world.splits["train"]
    other = generate(dataclasses.replace(SMALL, seed=4))
    assert other.splits["train"][:50] != world.splits["train"][:50]
    assert other.metadata()["fact_table"] != world.metadata()["fact_table"]


def test_split_sizes_do_not_interact(world):
    bigger = generate(dataclasses.replace(SMALL, n_train=SMALL.n_train + 10))
    assert bigger.splits["train"][: SMALL.n_train] == world.splits["train"]
    assert all(bigger.splits[s] == world.splits[s] for s in SPLITS[1:])


def test_disjointness(world):
    def values(split, key):
        return {v for row in world.splits[split] for v in (row["meta"][key] if isinstance(row["meta"][key], list)
                                                          else [row["meta"][key]])}

    train_templates = values("train", "template") | values("id", "template")
    assert all(".train" in t for t in train_templates)
    for split in ("prompt_ood", "mutual_ood"):
        assert values(split, "template") and not values(split, "template") & train_templates
    assert values("response_ood", "template") <= {t for f in world.metadata()["families"]
                                                  for t, _ in f["train_templates"]}
    train_gens = values("train", "generator_chosen") | values("train", "generator_rejected")
    assert train_gens == TRAIN_NAMES and values("prompt_ood", "generators") <= TRAIN_NAMES
    for split in ("response_ood", "mutual_ood"):
        assert values(split, "generators") == {g.name for g in HELDOUT_GENERATORS}
    assert not {r["prompt"] for r in world.splits["id"]} & {r["prompt"] for r in world.splits["train"]}


def test_heldout_filler_never_seen_in_training():
    train_vocab = {p for g in TRAIN_GENERATORS for k in FILLER for p in getattr(g, k)}
    heldout_vocab = {p for g in HELDOUT_GENERATORS for k in FILLER for p in getattr(g, k)}
    assert not train_vocab & heldout_vocab
    texts = corpus(seed=1, n_texts=3000, version=1)
    assert any(p in t for t in texts for p in heldout_vocab)  # the LM sees the held-out vocabulary
    train_rows = generate(WorldConfig(seed=1, n_train=1500, n_id=0, n_ood=0, n_style=0, version=1)).splits["train"]
    assert not any(p in t for row in train_rows for t in _texts(row) for p in heldout_vocab if len(p) > 12)


def test_gold_ordering(world):
    for row in world.splits["train"] + world.splits["id"]:
        assert row["gold_chosen"] > row["gold_rejected"]
        m = row["meta"]
        assert BASE[m["unsafe"], m["outcome_chosen"]] >= BASE[m["unsafe"], m["outcome_rejected"]]
    for split in RANKING_SPLITS:
        for row in world.splits[split]:
            m, gold = row["meta"], row["gold_scores"]
            base = [BASE[m["unsafe"], o] for o in m["outcomes"]]
            assert len(set(m["outcomes"])) > 1
            assert all(gold[i] > gold[j] for i in range(4) for j in range(4) if base[i] > base[j])


def test_style_never_outweighs_correctness():
    worst_good = min(gold_reward(False, "correct", 500, True, "p", f"r{i}") for i in range(300))
    best_refusal = max(gold_reward(False, "refused", 1, False, "p", f"r{i}") for i in range(300))
    assert worst_good > best_refusal
    assert gold_reward(True, "refused", 3, False, "p", "r") > 0 > gold_reward(True, "complied", 3, False, "p", "s")


def test_safety_refusals_win_on_unsafe_prompts(world):
    unsafe_pairs = [r for r in world.splits["train"] if r["meta"]["unsafe"]
                    and r["meta"]["outcome_chosen"] != r["meta"]["outcome_rejected"]]
    assert unsafe_pairs and all(r["meta"]["outcome_chosen"] == "refused" for r in unsafe_pairs)
    for split in RANKING_SPLITS:
        for row in world.splits[split]:
            if row["meta"]["unsafe"]:
                golds = dict(zip(row["meta"]["outcomes"], row["gold_scores"]))  # any gold of each outcome
                assert golds.get("refused", 9) > golds.get("complied", -9)
    over_refusals = [r for r in world.splits["train"] if not r["meta"]["unsafe"]
                     and "refused" in (r["meta"]["outcome_chosen"], r["meta"]["outcome_rejected"])]
    assert any(r["meta"]["outcome_rejected"] == "refused" for r in over_refusals)


def _length_gold_correlation(world, split):
    words, gold = [], []
    for row in world.splits[split]:
        if "responses" in row:
            words += [len(t.split()) for t in row["responses"]]
            gold += row["gold_scores"]
        else:
            words += [len(row["chosen"].split()), len(row["rejected"].split())]
            gold += [row["gold_chosen"], row["gold_rejected"]]
    return statistics.correlation(words, gold)


def test_spurious_correlation_in_train_broken_out_of_distribution(world):
    train = world.splits["train"]
    longer = sum(len(r["chosen"].split()) > len(r["rejected"].split()) for r in train) / len(train)
    shorter = sum(len(r["chosen"].split()) < len(r["rejected"].split()) for r in train) / len(train)
    assert longer > shorter + 0.15
    train_corr = _length_gold_correlation(world, "train")
    assert train_corr > 0.2
    assert _length_gold_correlation(world, "prompt_ood") > 0.2
    for split in ("response_ood", "mutual_ood"):
        assert _length_gold_correlation(world, split) < min(0.0, train_corr - 0.3)


def test_corpus_is_deterministic_and_covers_the_world():
    texts = corpus(seed=2, n_texts=4000, version=1)
    assert texts == corpus(seed=2, n_texts=4000, version=1) and len(texts) == 4000
    assert texts != corpus(seed=5, n_texts=4000, version=1)
    assert all(isinstance(t, str) and t.strip() for t in texts)
    meta = generate(WorldConfig(seed=2, n_train=0, n_id=0, n_ood=0, n_style=0, version=1)).metadata()
    heldout_heads = {t.split("{")[0] for f in meta["families"] for _, t in f["heldout_templates"]} - {""}
    assert all(any(t.startswith(h) for t in texts) for h in heldout_heads)
    capitals = [row["capital"] for row in meta["fact_table"]]
    assert sum(any(c in t for t in texts) for c in capitals) > len(capitals) // 2
    assert any(t.startswith(f"{row['country']} is a ") for row in meta["fact_table"] for t in texts)  # fact sheets
