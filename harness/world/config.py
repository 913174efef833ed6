"""The world's configuration (plain fields only: it is embedded in YAML run configs)."""
from __future__ import annotations

from dataclasses import dataclass

from harness.domains import setting


@dataclass
class WorldConfig:
    """Sizes and seed of the generated preference world."""

    seed: int = setting(0, ge=0)
    n_train: int = setting(20000, ge=0)  # pairs
    n_id: int = setting(1000, ge=0)  # pairs
    n_ood: int = setting(300, ge=0)  # prompts per ranking split (prompt_ood, response_ood, mutual_ood), 4 responses
    n_style: int = setting(300, ge=0)  # prompts
