"""World v2: families a small model can learn, outcomes drawn independently of style, and the shortcut on a dial.

World v1 lets each generator's policy decide its response's outcome, so style and correctness are entangled at a
fixed strength and its families (2-digit arithmetic, unit conversion, a 288-fact table) are beyond the tiny
backbone. World v2 keeps v1's gold reward, generators and split layout, and changes three things:

* **Families** (``harness.world.config.MIXTURES``): the default ``learnable`` mixture is copy, select, compare,
  lookup, addition and safety — each answer is decidable from the prompt's tokens or from a fact set small enough to memorise; ``hard``
  is v1's families (arithmetic, units, lists, words, facts, safety), ``all`` both.
* **Outcomes, then style**: a pair first draws its two outcomes (``PAIR_KINDS``; outcomes differ, or with
  probability ``SAME_SHARE`` they are the same and the two responses differ in style only, so gold margins spread
  from the jitter's hundredths to the outcome gaps), then its styles. On a pair whose outcomes differ, one response
  comes from a verbose, markdown-heavy generator (``STYLED``) and the other from a terse one (``PLAIN``); the better
  response is the styled one — and the longer one, redrawn until so — with probability (1 + s) / 2, s =
  ``WorldConfig.spurious`` (the shortcut dial: s = 0, style carries no information; s = 1, it always agrees with
  the gold order). Same-outcome pairs take two distinct training generators.
* **Splits**: ``train`` / ``id`` follow the dial; ``shortcut_reversed`` (pairs, id prompts) has every pair's
  outcomes differ with the better response the shorter, plainer one; the ranking splits draw each response's
  outcome from ``RANKING_OUTCOMES`` whatever its generator (style independent of correctness), with held-out
  templates (``prompt_ood``), held-out generators (``response_ood``) or both (``mutual_ood``).

Pair rows carry ``meta.pair_kind`` ("differ" / "same") and, for "differ", ``meta.shortcut``: "aligned" when the
chosen response has more words than the rejected one, else "conflict" (the id suite's diagnostics read them).
"""
from __future__ import annotations

import random

from harness.world.config import WorldConfig
from harness.world.facts import fact_table
from harness.world.families import (Addition, Arithmetic, Compare, Copy, Family, FactLookup, ListOps, Lookup, Safety,
                                    Select, Task, UnitConversion, WordPuzzles, distinct, pick)
from harness.world.generators import GENERATORS, HELDOUT_GENERATORS, TRAIN_GENERATORS, Generator, Response, respond

SAME_SHARE = 0.2  # share of train / id pairs whose two responses share an outcome (style-only pairs)
# (outcome of the better response, outcome of the worse one): weights of a pair whose outcomes differ
PAIR_KINDS = {False: ((("correct", "wrong"), 0.6), (("correct", "refused"), 0.2), (("refused", "wrong"), 0.2)),
              True: ((("refused", "complied"), 1.0),)}
SAME_OUTCOMES = {False: (("correct", 0.5), ("wrong", 0.3), ("refused", 0.2)),
                 True: (("refused", 0.6), ("complied", 0.4))}
RANKING_OUTCOMES = {False: (("correct", 0.4), ("wrong", 0.4), ("refused", 0.2)),
                    True: (("refused", 0.5), ("complied", 0.5))}
STYLED = ("scholar", "tutor", "chatty")  # verbose, markdown-heavy training generators
PLAIN = ("brief", "snappy")  # terse training generators
LOOKUP_SHARE = 0.1  # share of corpus texts that state a capital of the lookup table
SPLIT_DOC = {
    "train": "pairs; train templates; prompt texts outside the id reservation; outcomes drawn first (same outcome "
             f"with probability {SAME_SHARE}), then styles: the better response of a pair whose outcomes differ "
             "is the styled, longer one with probability (1 + spurious) / 2",
    "id": "pairs drawn like train from the prompt texts reserved for id (1 in 10 by blake2b)",
    "shortcut_reversed": "pairs from the id reservation whose outcomes always differ; the better response is "
                         "always the shorter, plainer one",
    "prompt_ood": "rankings of 4; held-out templates, train generators; outcomes independent of the generator",
    "response_ood": "rankings of 4; train templates, the 4 held-out generators; outcomes independent of the generator",
    "mutual_ood": "rankings of 4; held-out templates, held-out generators; outcomes independent of the generator",
    "style": "RM-Bench form, as in v1, on the mixture's families",
}
SPURIOUS_DOC = ("The shortcut dial: on train and id pairs whose outcomes differ, the better response is the longer, "
                "styled one (from scholar, tutor, chatty against brief, snappy) with probability (1 + spurious) / 2. "
                "shortcut_reversed has it the other way round on every pair; the ranking splits draw outcomes "
                "independently of the generators.")
_BY_NAME = {g.name: g for g in GENERATORS}


def families(table: list[dict], mixture: str = "learnable") -> list[Family]:
    """The prompt families of a mixture (one of ``harness.world.config.MIXTURES``), in a fixed order (safety once)."""
    learnable = [Copy(), Select(), Compare(), Lookup(table), Addition()]
    hard = [Arithmetic(), UnitConversion(), ListOps(), WordPuzzles(), FactLookup(table)]
    return {"learnable": learnable, "hard": hard, "all": learnable + hard}[mixture] + [Safety()]



def _weighted(rng: random.Random, options):
    u, acc = rng.random(), 0.0
    for value, weight in options:
        acc += weight
        if u < acc:
            return value
    return options[-1][0]


def _styled_pair(rng: random.Random, task: Task, better: str, worse: str, aligned: bool) -> tuple[Response, Response]:
    """(better, worse) responses: one from a ``STYLED`` generator, one from a ``PLAIN`` one; the better response is
    the styled and strictly longer one when ``aligned``, else the plain and strictly shorter one (redrawn until so)."""
    styled, plain = _BY_NAME[pick(rng, STYLED)], _BY_NAME[pick(rng, PLAIN)]
    gen_better, gen_worse = (styled, plain) if aligned else (plain, styled)
    for _ in range(500):
        a, b = respond(gen_better, task, better, rng), respond(gen_worse, task, worse, rng)
        if (a.words > b.words) == aligned and a.words != b.words:
            return a, b
    raise RuntimeError(f"world v2: no {'aligned' if aligned else 'conflicting'} {better}/{worse} pair of "
                       f"{styled.name}/{plain.name} for {task.prompt!r}")


def pair(rng: random.Random, task: Task, spurious: float, same_share: float = SAME_SHARE):
    """(chosen, rejected, pair kind, shortcut) of one pair (module docstring)."""
    while True:
        if rng.random() < same_share:
            outcome = _weighted(rng, SAME_OUTCOMES[task.unsafe])
            i = int(rng.random() * len(TRAIN_GENERATORS))
            j = int(rng.random() * (len(TRAIN_GENERATORS) - 1))
            j += j >= i
            a = respond(TRAIN_GENERATORS[i], task, outcome, rng)
            b = respond(TRAIN_GENERATORS[j], task, outcome, rng)
            kind, shortcut = "same", None
        else:
            better, worse = _weighted(rng, PAIR_KINDS[task.unsafe])
            aligned = rng.random() < (1.0 + spurious) / 2.0
            a, b = _styled_pair(rng, task, better, worse, aligned)
            kind, shortcut = "differ", "aligned" if aligned else "conflict"
        if a.text != b.text and a.gold != b.gold:
            c, r = (a, b) if a.gold > b.gold else (b, a)
            return c, r, kind, shortcut


def ranking(rng: random.Random, task: Task, gens: tuple[Generator, ...], k: int = 4) -> list[Response]:
    """``k`` responses of distinct generators, each outcome drawn from ``RANKING_OUTCOMES`` whatever its generator;
    at least 2 distinct outcomes, distinct texts and golds."""
    while True:
        chosen = distinct(rng, gens, k)
        outcomes = [_weighted(rng, RANKING_OUTCOMES[task.unsafe]) for _ in chosen]
        if len(set(outcomes)) == 1:
            continue
        out = [respond(g, task, o, rng) for g, o in zip(chosen, outcomes)]
        if len({r.text for r in out}) == k and len({r.gold for r in out}) == k:
            return out


def corpus_texts(seed: int, n_texts: int, rng: random.Random, sampler) -> list[str]:
    """World v2's pre-training texts: "prompt\\n\\nresponse" of the learnable families (every template set,
    every generator), each response stating the right answer (or refusing an unsafe request) — a corpus states what
    is so; wrong answers, over-refusals and compliance appear only in the preference pairs — and sentences stating
    the lookup table's capitals (``LOOKUP_SHARE`` of the texts)."""
    lookup = next(f for f in families(fact_table(seed)) if isinstance(f, Lookup))
    texts = []
    for _ in range(n_texts):
        if rng.random() < LOOKUP_SHARE:
            texts.append(lookup.sheet(rng))
        else:
            task, gen = sampler.task(rng), pick(rng, GENERATORS)
            outcome = "refused" if task.unsafe else "correct"
            texts.append(f"{task.prompt}\n\n{respond(gen, task, outcome, rng).text}")
    return texts


def config_doc(cfg: WorldConfig) -> dict:
    """World v2's documentation in ``world.json``."""
    return {"splits": SPLIT_DOC, "spurious_correlation": SPURIOUS_DOC, "spurious": cfg.spurious,
            "mixture": cfg.mixture, "same_outcome_share": SAME_SHARE,
            "pair_kinds": {"safe" if not u else "unsafe": [list(k) + [w] for k, w in v] for u, v in PAIR_KINDS.items()},
            "styled_generators": list(STYLED), "plain_generators": list(PLAIN),
            "heldout_generators": [g.name for g in HELDOUT_GENERATORS]}
