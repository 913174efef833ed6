"""A policy's prompts in tokens: a user turn with the generation prompt (the tokenizer's chat template, else the world
corpus's plain layout) and the tokens generation stops at. The SFT build (:mod:`harness.rl.sft`) trains on exactly
these ids and the samplers (:mod:`harness.rl.policy`) generate from them."""
from __future__ import annotations

END_OF_TURN_TOKENS = ("<|end|>", "<|im_end|>", "<|eot_id|>", "<end_of_turn>")  # chat turn ends besides EOS


def plain_prompt(prompt: str) -> str:
    """A prompt as the policy sees it when its tokenizer has no chat template (the world corpus's layout)."""
    return f"{prompt}\n\n"


def prompt_ids(tokenizer, prompts: list[str]) -> list[list[int]]:
    """Token ids of each prompt as a user turn followed by the generation prompt (plain text without a template)."""
    if getattr(tokenizer, "chat_template", None):
        texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                               add_generation_prompt=True) for p in prompts]
        return tokenizer(texts, add_special_tokens=False)["input_ids"]
    return tokenizer([plain_prompt(p) for p in prompts])["input_ids"]


def stop_token_ids(tokenizer) -> list[int]:
    """EOS and the end-of-turn tokens the tokenizer knows: generation stops at the first of them."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    vocab = tokenizer.get_vocab()
    return ids + [vocab[t] for t in END_OF_TURN_TOKENS if t in vocab and vocab[t] not in ids]
