"""Canonical rows: what a converter returns (:class:`Loaded`), how a format is declared (:class:`Format`), the
numbered source rows it reads (:data:`Record`) and the field checks every converter uses. A failed check is a
``DataError`` naming the file, the row and the field."""
from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Callable, Iterable

from harness.errors import DataError

Record = tuple[str, int, dict]  # (file or Hub label, row number, the row)


@dataclass
class Loaded:
    """Canonical rows plus counts of rows the official scorer leaves out (e.g. ``ties_excluded``)."""

    rows: list[dict]
    excluded: dict[str, int] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class Format:
    name: str
    convert: Callable[[Iterable[Record], dict], Loaded]
    kind: str  # how the ood suite scores it: "pairs" | "rewardbench" | "rmbench"
    hub_id: str | None = None
    hub_configs: tuple[str | None, ...] = (None,)
    hub_split: str = "train"
    options: tuple[str, ...] = ()  # format-specific option keys


def field(row: dict, key: str, file: str, n: int) -> Any:
    """``row[key]``, which must be present and not null."""
    if key not in row or row[key] is None:
        raise DataError("missing field", file=file, row=n, field=key)
    return row[key]


def text(row: dict, key: str, file: str, n: int) -> str:
    value = field(row, key, file, n)
    if not isinstance(value, str):
        raise DataError(f"expected a string, got {type(value).__name__}", file=file, row=n, field=key)
    if not value.strip():
        raise DataError("empty text", file=file, row=n, field=key)
    return value


def text_list(row: dict, key: str, file: str, n: int, size: int | None = None) -> list[str]:
    """A list of non-empty response strings (``size`` of them when given)."""
    value = field(row, key, file, n)
    if not isinstance(value, list) or not value or (size and len(value) != size) or not all(
            isinstance(v, str) for v in value):
        raise DataError(f"expected a list of {size or 'one or more'} strings, got {value!r:.60}", file=file, row=n,
                        field=key)
    if not all(v.strip() for v in value):
        raise DataError("empty response", file=file, row=n, field=key)
    return value


def messages(value, file: str, n: int, key: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise DataError(f"expected a non-empty list of {{role, content}} messages, got {value!r:.60}",
                        file=file, row=n, field=key)
    out = []
    for m in value:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise DataError(f"expected {{role, content}} messages, got {m!r:.60}", file=file, row=n, field=key)
        out.append({"role": m["role"], "content": m["content"]})
    return out


def conversation_pair(chosen: list[dict], rejected: list[dict], file: str, n: int,
                      fields: tuple[str, str] = ("chosen", "rejected")) -> dict:
    """Two conversations that end in the compared assistant turns → a canonical pair."""
    sides = []
    for messages, key in zip((chosen, rejected), fields):
        last = messages[-1]
        if last["role"] != "assistant" or len(messages) < 2:
            raise DataError("a conversation must end with an assistant turn after a prompt", file=file, row=n,
                            field=key)
        if not last["content"].strip():
            raise DataError("empty response", file=file, row=n, field=key)
        sides.append((messages[:-1], last["content"]))
    (prompt, good), (prompt_rejected, bad) = sides
    row = {"prompt": prompt, "chosen": good, "rejected": bad}
    if prompt_rejected != prompt:
        row["prompt_rejected"] = prompt_rejected
    return row


TRANSCRIPT_TURN = re.compile(r"\n\n(Human|Assistant):(?: |(?=\n)|$)")  # an empty turn may lack the space


def parse_transcript(text: str, file: str, n: int, key: str) -> list[dict]:
    """``"\\n\\nHuman: … \\n\\nAssistant: …"`` → chat messages (user / assistant); a turn that ends the text with
    nothing after its colon is an empty message."""
    parts = TRANSCRIPT_TURN.split(text)
    if len(parts) < 3 or parts[0].strip():
        raise DataError('expected a "\\n\\nHuman: … \\n\\nAssistant: …" transcript', file=file, row=n, field=key)
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[who], "content": said.strip()} for who, said in zip(parts[1::2], parts[2::2])]
