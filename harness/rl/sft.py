"""The SFT policy: the tiny world base model fine-tuned on demonstrations of the training generators.

The base LM states the right answer about 2 % of the time, so best-of-N and RL against any reward model barely move
the gold reward. Supervised fine-tuning (the "SFT-base" of ``docs/architecture.md``; Ouyang et al. 2022, step 1) on
world demonstrations gives a policy whose samples vary in quality as the training generators do: some correct, some
wrong, some over-refusing, some complying with unsafe requests, in varied styles.

Demonstrations: prompts drawn like the world's ``train`` split (train templates, prompt texts outside the id
reservation, so never one of the ``harness.world.tasks`` prompts the downstream suites evaluate on), each answered
by a generator drawn from ``SFTRecipe.generators`` (a mix of the training generators) with that generator's own
outcome policy (``harness.world.generators.decide`` / ``respond``). The loss is the causal-LM cross-entropy on the
response tokens only (the prompt is the chat-formatted user turn with the generation prompt, exactly what
``harness.rl.policy.prompt_ids`` gives at sampling time, so training and sampling see the same ids), the response
ending with the end-of-turn token the policy stops at.

``ensure_sft_policy(base, recipe)`` builds it deterministically (CPU, fixed seeds) on first use and caches it like
the base model (``harness.basemodel.cached_build``: file-locked, atomic) in a directory named by the recipe hash and
the base model's directory, so a changed recipe or base never reuses a stale build; that directory name is the
policy's version, recorded by the downstream suites in every metric row (:func:`policy_version`).
"""
from __future__ import annotations

import dataclasses
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

from harness.basemodel import MARKER, LMRecipe, cache_root, cached_build, ensure_tiny_base, tiny_recipe, train_lm
from harness.data.encode import length_grouped
from harness.rl.prompts import prompt_ids
from harness.world.build import _rng, _Sampler, world_families
from harness.world.generators import TRAIN_GENERATORS, decide, respond

FORMAT = "tiny-sft-v1"
SUFFIX = "-sft"  # backbone spec of the SFT policy of a tiny base: "tiny-sft", "tiny-micro-sft"
END_OF_TURN = "<|end|>"  # the tiny base's chat turn end (harness.basemodel.CHAT_TEMPLATE): generation stops there


@dataclass(frozen=True)
class SFTRecipe(LMRecipe):
    """Everything that determines an SFT policy (with the base model).

    ``generators``: (training generator name, weight) — the demonstration mix. The terse generators (brief,
    snappy, assistant) are weighted up: short demonstrations put most of the loss on the answer itself (what the
    small base has to learn) and their error and compliance rates keep the policy's samples varied."""

    world_seed: int = 0
    n_demos: int = 12000
    generators: tuple[tuple[str, float], ...] = (("scholar", 0.5), ("tutor", 0.5), ("assistant", 1.5),
                                                 ("chatty", 0.5), ("cautious", 1.0), ("brief", 2.0),
                                                 ("snappy", 2.0))
    steps: int = 400
    max_length: int = 96
    group_by_length: bool = True  # batches of similar lengths (harness.data.encode.length_grouped): less padding
    LEGACY = {"group_by_length": False}  # builds cached before length grouping keep their names

    def dirname(self, base_dir: str) -> str:
        return self.cache_name(FORMAT, base=base_dir)


SFT = SFTRecipe()
MICRO_SFT = SFTRecipe(n_demos=200, steps=6, batch_size=4, max_length=64, warmup_steps=1)  # seconds: for tests
SFT_RECIPES = {"tiny": SFT, "tiny-micro": MICRO_SFT}  # on the default world (v2)


def sft_recipe(base: str, world_version: int = 2) -> SFTRecipe:
    """The SFT recipe of tiny base ``base`` on world ``world_version`` (its demonstrations and its base model).
    World v1 keeps the build its recorded runs used (no length grouping: the same policy, the same cache name)."""
    if base not in SFT_RECIPES:
        raise ValueError(f"no SFT recipe for base {base!r}; choose one of {', '.join(SFT_RECIPES)}")
    legacy = SFTRecipe.LEGACY if world_version == 1 else {}
    return dataclasses.replace(SFT_RECIPES[base], world_version=world_version, **legacy)


def is_sft_spec(backbone: str) -> bool:
    """Whether ``backbone`` names the SFT policy of a tiny base (``tiny-sft``, ``tiny-micro-sft``)."""
    return backbone.endswith(SUFFIX) and backbone[: -len(SUFFIX)] in SFT_RECIPES


def default_policy(backbone: str) -> str:
    """The policy spec the downstream suites use when none is given: the SFT policy of a tiny base, else the
    backbone itself (any causal LM; see the README for fine-tuning SmolLM2 the same way)."""
    return backbone + SUFFIX if backbone in SFT_RECIPES else backbone


def ensure_sft_policy(base: str = "tiny", *, world_seed: int | None = None, world_version: int = 2,
                      cache_dir: Path | None = None, recipe: SFTRecipe | None = None) -> Path:
    """The directory of the SFT policy of tiny base ``base`` (``tiny`` or ``tiny-micro``), building it (and the
    base) on first use. ``world_seed`` overrides the recipe's (the fact table, hence the demonstrations, depend
    on it); ``world_version`` picks the world of the demonstrations and of the base (ignored with ``recipe``)."""
    if recipe is None:
        recipe = sft_recipe(base, world_version)
    if world_seed is not None:
        recipe = dataclasses.replace(recipe, world_seed=world_seed)
    base_dir = ensure_tiny_base(cache_dir, recipe=tiny_recipe(base, recipe.world_version))
    target = Path(cache_dir or cache_root()) / recipe.dirname(base_dir.name)
    return cached_build(target, lambda tmp: _build(base_dir, recipe, tmp))


def policy_version(source: str | Path) -> str:
    """The version of a policy directory: its cache name for a built SFT policy, else the directory name / spec."""
    path = Path(source)
    marker = path / MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("format") == FORMAT:
        return path.name
    return path.name or str(source)


def demonstrations(recipe: SFTRecipe) -> list[tuple[str, str]]:
    """``(prompt, response)`` demonstrations of ``recipe`` (module docstring); deterministic."""
    by_name = {g.name: g for g in TRAIN_GENERATORS}
    unknown = sorted(name for name, _ in recipe.generators if name not in by_name)
    if unknown:
        raise ValueError(f"SFTRecipe.generators: {unknown} are not training generators ({', '.join(by_name)})")
    gens = [by_name[name] for name, _ in recipe.generators]
    weights = [w for _, w in recipe.generators]
    rng = _rng(recipe.world_seed, "sft")
    sampler = _Sampler(world_families(recipe.world_seed, recipe.world_version), False, recipe.world_seed,
                       reserved=False)
    out = []
    for _ in range(recipe.n_demos):
        task = sampler.task(rng)
        gen = rng.choices(gens, weights)[0]
        out.append((task.prompt, respond(gen, task, decide(gen, task, rng), rng).text))
    return out


def _examples(tokenizer, demos: list[tuple[str, str]], max_length: int) -> list[tuple[list[int], int]]:
    """``(ids, n_prompt)`` per demonstration: the prompt as ``prompt_ids`` gives it, then the response and the
    end-of-turn token, truncated to ``max_length`` tokens."""
    heads = prompt_ids(tokenizer, [p for p, _ in demos])
    tails = tokenizer([r + END_OF_TURN for _, r in demos], add_special_tokens=False)["input_ids"]
    return [((h + t)[:max_length], len(h)) for h, t in zip(heads, tails) if len(h) < max_length]


def _build(base_dir: Path, recipe: SFTRecipe, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    examples = _examples(tokenizer, demonstrations(recipe), recipe.max_length)
    with torch.random.fork_rng():
        torch.manual_seed(recipe.seed)
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
        model.train()
        batches = _batches(examples, recipe)

        def batch(rows: list[int]) -> dict:
            ids, labels, mask = _collate([examples[i] for i in rows], tokenizer.pad_token_id)
            return {"input_ids": ids, "attention_mask": mask, "labels": labels}

        losses = train_lm(model, (batch(rows) for rows in batches), recipe, weight_decay=0.0,
                          description="fine-tuning the SFT policy")
    model.eval()
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    info = {"format": FORMAT, "base": base_dir.name, "recipe": dataclasses.asdict(recipe),
            "loss_start": losses[0], "loss_end": sum(losses[-10:]) / len(losses[-10:]),
            "build_seconds": round(time.perf_counter() - start, 1)}
    (out / MARKER).write_text(json.dumps(info, indent=2))


def _batches(examples: list[tuple[list[int], int]], recipe: SFTRecipe) -> list[list[int]]:
    """``recipe.steps`` batches of ``recipe.batch_size`` example indices drawn with replacement (seeded); with
    ``group_by_length`` the draws are grouped into batches of similar lengths, in a shuffled order
    (``harness.data.encode.length_grouped``), which makes a step several times cheaper (docs/performance.md)."""
    rng = random.Random(recipe.seed)
    order = rng.choices(range(len(examples)), k=recipe.steps * recipe.batch_size)
    if recipe.group_by_length:
        return length_grouped(order, [len(ids) for ids, _ in examples], recipe.batch_size, rng)
    return [order[s: s + recipe.batch_size] for s in range(0, len(order), recipe.batch_size)]


def _collate(batch: list[tuple[list[int], int]], pad_id: int):
    """Right-padded ``(input_ids, labels, attention_mask)``; labels are -100 on the prompt and the padding
    (positions start at 0 for every row, as at sampling time with left padding and position ids from the mask)."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, (seq, n_prompt) in enumerate(batch):
        ids[i, : len(seq)] = torch.tensor(seq)
        labels[i, n_prompt: len(seq)] = torch.tensor(seq[n_prompt:])
        mask[i, : len(seq)] = 1
    return ids, labels, mask


