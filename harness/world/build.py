"""Split generation, JSONL writing and the pre-training corpus."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from harness.atomic import write_text_atomic
from harness.results import write_jsonl_atomic
from harness.world import v2
from harness.world.config import WorldConfig
from harness.world.facts import fact_sheet, fact_table
from harness.world.families import Family, Task, distinct, families, pick
from harness.world.generators import (GENERATORS, HELDOUT_GENERATORS, TRAIN_GENERATORS, Generator, Response,
                                      decide, make_response, respond)
from harness.world.gold import DOC as GOLD_DOC

# The identity of each world version's generator, recorded in every run's config hash and in the tiny builds'
# cache names: world v1's is "2" (its generator was revised once before world v2 existed), world v2's is "v2.2"
# (v2.1: a corpus whose responses were 40 % wrong; never released).
WORLD_IDS = {1: "2", 2: "v2.2"}
SPLITS = ("train", "id", "prompt_ood", "response_ood", "mutual_ood", "style")  # world v1's
SPLITS_V2 = ("train", "id", "shortcut_reversed", "prompt_ood", "response_ood", "mutual_ood", "style")
PAIR_SPLITS = ("train", "id", "shortcut_reversed")  # splits of (prompt, chosen, rejected) rows
SAME_OUTCOME_KEEP = 0.25  # a pair whose two responses share an outcome is kept with this probability (else redrawn)
ID_SHARE = 10  # one prompt text in ID_SHARE (by blake2b) is reserved for the id split, never used in train
FACT_SHEET_SHARE = 0.04  # share of corpus texts that are fact sheets
STYLE_VARIANTS = ((0, False), (2, False), (2, True))  # concise, detailed, markdown: (level, markdown)
SPURIOUS = ("Training generators: the verbose, markdown-heavy ones (scholar, tutor, chatty) are rarely wrong and "
            "rarely comply with unsafe requests; the terse ones (brief, snappy) are often wrong and often comply. "
            "Held-out generators break it: windbag is verbose, markdown-heavy and usually wrong; oracle and "
            "minimalist are terse and usually right.")
SPLIT_DOC = {
    "train": f"pairs of 2 distinct train generators; train templates; prompt texts outside the id reservation; a "
             f"pair whose responses share an outcome is kept with probability {SAME_OUTCOME_KEEP}, else redrawn",
    "id": "pairs drawn like train, but only from the prompt texts reserved for id (1 in 10 by blake2b), so no "
          "prompt text is shared with train",
    "prompt_ood": "rankings of 4 (distinct generators, at least 2 distinct outcomes); held-out templates, train "
                  "generators",
    "response_ood": "rankings of 4; train templates, the 4 held-out generators",
    "mutual_ood": "rankings of 4; held-out templates, the 4 held-out generators",
    "style": "RM-Bench form; train templates; chosen = concise/detailed/markdown variants of a correct answer (or a "
             "refusal of an unsafe request), rejected = the same variants of a wrong answer (or a compliance)",
}


@dataclass
class World:
    """A generated world: its config and rows per split."""

    config: WorldConfig
    splits: dict[str, list[dict]]

    def metadata(self) -> dict:
        """Everything needed to interpret the splits: version, gold reward, generators, families, fact table."""
        table = fact_table(self.config.seed)
        v1 = self.config.version == 1
        meta = {
            "version": WORLD_IDS[self.config.version],
            "config": self.config.identity(),
            "counts": {name: len(rows) for name, rows in self.splits.items()},
            "splits": SPLIT_DOC,
            "gold_reward": GOLD_DOC,
            "spurious_correlation": SPURIOUS,
            "generators": [dataclasses.asdict(g) for g in GENERATORS],
            "families": [{"name": fam.name, "train_templates": fam.templates(False),
                          "heldout_templates": fam.templates(True)}
                         for fam in (families(table) if v1 else v2.families(table, self.config.mixture))],
            "fact_table": table,
        }
        if not v1:
            meta.update(v2.config_doc(self.config))
        return meta


class _Sampler:
    """Draws prompt instances from one template set, optionally restricted to / excluding the id reservation."""

    def __init__(self, fams: list[Family], heldout: bool | None, seed: int, reserved: bool | None = None):
        self.options = [(fam, fam.templates(h)) for fam in fams
                        for h in ((False, True) if heldout is None else (heldout,))]
        self.seed, self.reserved = seed, reserved

    def _is_reserved(self, prompt: str) -> bool:
        digest = hashlib.blake2b(f"{self.seed}:{prompt}".encode(), digest_size=4).digest()
        return int.from_bytes(digest, "big") % ID_SHARE == 0

    def task(self, rng: random.Random) -> Task:
        while True:
            fam, templates = pick(rng, self.options)
            task = fam.task(rng, pick(rng, templates))
            if self.reserved is None or self._is_reserved(task.prompt) == self.reserved:
                return task


def _row_id(split: str, i: int) -> str:
    return f"{split}-{i:06d}"


def _responses(rng: random.Random, task: Task, gens: tuple[Generator, ...], k: int) -> list[Response]:
    """``k`` responses from distinct generators with distinct texts and golds. Rankings need >= 2 distinct
    outcomes; a pair with a single outcome is kept with probability ``SAME_OUTCOME_KEEP``."""
    while True:
        chosen = distinct(rng, gens, k)
        outcomes = [decide(g, task, rng) for g in chosen]
        if len(set(outcomes)) == 1 and (k > 2 or rng.random() >= SAME_OUTCOME_KEEP):
            continue
        out = [respond(g, task, o, rng) for g, o in zip(chosen, outcomes)]
        if len({r.text for r in out}) == k and len({r.gold for r in out}) == k:
            return out


def _pairs(split: str, n: int, sampler: _Sampler, rng: random.Random) -> list[dict]:
    rows = []
    for i in range(1, n + 1):
        task = sampler.task(rng)
        a, b = _responses(rng, task, TRAIN_GENERATORS, 2)
        c, r = (a, b) if a.gold > b.gold else (b, a)
        rows.append(_pair_row(split, i, task, c, r))
    return rows


def _pair_row(split: str, i: int, task: Task, c: Response, r: Response, **meta) -> dict:
    """A pair row (chosen ``c``, rejected ``r``); ``meta`` adds keys after v1's."""
    return {
        "id": _row_id(split, i), "prompt": task.prompt, "chosen": c.text, "rejected": r.text,
        "source": f"world/{task.family.name}", "gold_chosen": c.gold, "gold_rejected": r.gold,
        "meta": {"family": task.family.name, "template": task.template, "unsafe": task.unsafe,
                 "generator_chosen": c.generator, "generator_rejected": r.generator,
                 "outcome_chosen": c.outcome, "outcome_rejected": r.outcome,
                 "words_chosen": c.words, "words_rejected": r.words, **meta},
    }


def _pairs_v2(split: str, n: int, sampler: _Sampler, rng: random.Random, spurious: float,
              same_share: float) -> list[dict]:
    rows = []
    for i in range(1, n + 1):
        task = sampler.task(rng)
        c, r, kind, shortcut = v2.pair(rng, task, spurious, same_share)
        rows.append(_pair_row(split, i, task, c, r, pair_kind=kind, shortcut=shortcut))
    return rows


def _rankings(split: str, n: int, sampler: _Sampler, gens: tuple[Generator, ...], rng: random.Random,
              version: int = 1) -> list[dict]:
    rows = []
    for i in range(1, n + 1):
        task = sampler.task(rng)
        resp = _responses(rng, task, gens, 4) if version == 1 else v2.ranking(rng, task, gens)
        rows.append({
            "id": _row_id(split, i), "prompt": task.prompt, "responses": [r.text for r in resp],
            "gold_scores": [r.gold for r in resp], "source": f"world/{task.family.name}",
            "meta": {"family": task.family.name, "template": task.template, "unsafe": task.unsafe,
                     "generators": [r.generator for r in resp], "outcomes": [r.outcome for r in resp],
                     "words": [r.words for r in resp]},
        })
    return rows


def _style(split: str, n: int, sampler: _Sampler, rng: random.Random) -> list[dict]:
    rows = []
    for i in range(1, n + 1):
        task = sampler.task(rng)
        gen = pick(rng, TRAIN_GENERATORS)
        if task.unsafe:
            good, bad = ("refused", ""), ("complied", "")
        else:
            good, bad = ("correct", task.answer), ("wrong", task.family.wrong(task.fields, task.answer, rng))
        chosen, rejected = [], []
        for level, md in STYLE_VARIANTS:  # same sub-seed for both sides: same filler where the structure allows
            sub = rng.getrandbits(64)
            for side, (outcome, value) in ((chosen, good), (rejected, bad)):
                side.append(make_response(gen, task, outcome, value, level, md, False, random.Random(sub)).text)
        rows.append({"id": _row_id(split, i), "prompt": task.prompt, "chosen": chosen, "rejected": rejected,
                     "domain": task.family.name, "source": f"world/{task.family.name}"})
    return rows


def _rng(seed: int, stream: str) -> random.Random:
    return random.Random(f"{seed}:{stream}")  # str seeds go through sha512: independent of PYTHONHASHSEED


def generate(cfg: WorldConfig) -> World:
    """Generate every split of the world (each split has its own seeded stream, so sizes don't interact)."""
    cfg.check()
    if cfg.version == 2:
        return _generate_v2(cfg)
    fams, seed = families(fact_table(cfg.seed)), cfg.seed
    splits = {
        "train": _pairs("train", cfg.n_train, _Sampler(fams, False, seed, reserved=False), _rng(seed, "train")),
        "id": _pairs("id", cfg.n_id, _Sampler(fams, False, seed, reserved=True), _rng(seed, "id")),
        "prompt_ood": _rankings("prompt_ood", cfg.n_ood, _Sampler(fams, True, seed), TRAIN_GENERATORS,
                                _rng(seed, "prompt_ood")),
        "response_ood": _rankings("response_ood", cfg.n_ood, _Sampler(fams, False, seed), HELDOUT_GENERATORS,
                                  _rng(seed, "response_ood")),
        "mutual_ood": _rankings("mutual_ood", cfg.n_ood, _Sampler(fams, True, seed), HELDOUT_GENERATORS,
                                _rng(seed, "mutual_ood")),
        "style": _style("style", cfg.n_style, _Sampler(fams, False, seed), _rng(seed, "style")),
    }
    return World(cfg, splits)


def _generate_v2(cfg: WorldConfig) -> World:
    fams, seed, s = v2.families(fact_table(cfg.seed), cfg.mixture), cfg.seed, float(cfg.spurious)
    splits = {
        "train": _pairs_v2("train", cfg.n_train, _Sampler(fams, False, seed, reserved=False), _rng(seed, "train"),
                           s, v2.SAME_SHARE),
        "id": _pairs_v2("id", cfg.n_id, _Sampler(fams, False, seed, reserved=True), _rng(seed, "id"), s,
                        v2.SAME_SHARE),
        "shortcut_reversed": _pairs_v2("shortcut_reversed", cfg.n_id, _Sampler(fams, False, seed, reserved=True),
                                       _rng(seed, "shortcut_reversed"), -1.0, 0.0),
        "prompt_ood": _rankings("prompt_ood", cfg.n_ood, _Sampler(fams, True, seed), TRAIN_GENERATORS,
                                _rng(seed, "prompt_ood"), 2),
        "response_ood": _rankings("response_ood", cfg.n_ood, _Sampler(fams, False, seed), HELDOUT_GENERATORS,
                                  _rng(seed, "response_ood"), 2),
        "mutual_ood": _rankings("mutual_ood", cfg.n_ood, _Sampler(fams, True, seed), HELDOUT_GENERATORS,
                                _rng(seed, "mutual_ood"), 2),
        "style": _style("style", cfg.n_style, _Sampler(fams, False, seed), _rng(seed, "style")),
    }
    return World(cfg, splits)


def write(world: World, out_dir) -> list[Path]:
    """Write ``<split>.jsonl`` for each split and ``world.json``; atomic per file, byte-identical per seed."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in world.splits:  # SPLITS order (v1), SPLITS_V2 order (v2)
        path = out / f"{name}.jsonl"
        write_jsonl_atomic(path, world.splits[name])
        paths.append(path)
    path = out / "world.json"
    write_text_atomic(path, [json.dumps(world.metadata(), ensure_ascii=False, indent=2) + "\n"])
    return paths + [path]


def world_families(seed: int, version: int = 2, mixture: str = "learnable") -> list[Family]:
    """The prompt families of a world version (and, for v2, mixture)."""
    table = fact_table(seed)
    return families(table) if version == 1 else v2.families(table, mixture)


def tasks(seed: int, n: int, *, heldout_templates: bool = False, version: int = 2,
          mixture: str = "learnable") -> list[Task]:
    """``n`` prompt instances (with answer keys) for policies to answer: prompt texts from the id reservation, so
    never seen in ``train``; train templates, or held-out ones. Deterministic per (seed, n, heldout_templates,
    version, mixture)."""
    rng = _rng(seed, f"tasks:{'heldout' if heldout_templates else 'train'}")
    sampler = _Sampler(world_families(seed, version, mixture), heldout_templates, seed, reserved=True)
    return [sampler.task(rng) for _ in range(n)]


def corpus(seed: int = 0, n_texts: int = 50000, version: int = 2) -> list[str]:
    """Pre-training texts: "prompt\\n\\nresponse" from every family, both template sets and every generator, plus
    fact sheets of the fact table (so the LM knows the world, OOD vocabulary included); world v2's are
    ``harness.world.v2.corpus_texts``. Deterministic."""
    rng = _rng(seed, "corpus")
    table = fact_table(seed)
    if version == 2:
        return v2.corpus_texts(seed, n_texts, rng, _Sampler(v2.families(table), None, seed))
    sampler = _Sampler(families(table), None, seed)
    texts = []
    for _ in range(n_texts):
        if rng.random() < FACT_SHEET_SHARE:
            texts.append(fact_sheet(pick(rng, table)))
        else:
            task, gen = sampler.task(rng), pick(rng, GENERATORS)
            texts.append(f"{task.prompt}\n\n{respond(gen, task, decide(gen, task, rng), rng).text}")
    return texts
