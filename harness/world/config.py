"""The world's configuration (plain fields only: it is embedded in YAML run configs)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WorldConfig:
    """Sizes and seed of the generated preference world."""

    seed: int = 0
    n_train: int = 20000  # pairs
    n_id: int = 1000  # pairs
    n_ood: int = 300  # prompts per ranking split (prompt_ood, response_ood, mutual_ood), 4 responses each
    n_style: int = 300  # prompts
