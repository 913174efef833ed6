"""GRM: a reward model whose hidden states are regularised by keeping the causal-LM head's text-generation ability
(Yang et al. 2024, "Regularizing Hidden States Enables Learning Generalizable Reward Model for LLMs").

L = (1−α)·L_BT + α·L_reg (the paper's combined objective), with logπ(y|x) the summed response-token log-probs under
the backbone's LM head (prompt masked) and one of the paper's text-generation regularisers:

- ``sft`` (default):  L_reg = −log σ(β·logπ(y_w|x))
- ``dpo_noref``:      L_reg = −log σ(β·(logπ(y_w|x) − logπ(y_l|x)))
- ``dpo``:            L_reg = −log σ(β·[(logπ(y_w|x) − logπ_ref(y_w|x)) − (logπ(y_l|x) − logπ_ref(y_l|x))]),
  π_ref = the frozen initial backbone (the trainer supplies it: with LoRA, the adapter disabled).

The paper's value head ``mlp`` (Dropout(0.1)→Linear(H,1024)→ReLU→Linear(1024,1), dropout first as in the official
GRM head) is this method's default
``model.head`` (``config_defaults``); ``--set model.head=linear`` overrides it.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

import methods
from harness.domains import setting
from harness.errors import ConfigError
from harness.method import RewardMethod
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import bt_loss, with_metrics


@methods.register
class GRM(RewardMethod):
    name = "grm"
    paper = "Yang et al. 2024 (GRM: regularizing hidden states); APLOT Tab. 1 baselines"
    summary = "BT plus α·(text-generation loss of the LM head): sft, dpo_noref or dpo regulariser."
    requires = frozenset({"lm_logprobs"})
    config_defaults = {"model": {"head": "mlp"}}
    version = "2"  # 2: the mlp head's dropout comes first, as in the official GRM head

    @dataclasses.dataclass
    class Config:
        alpha: float = setting(0.01, ge=0, le=1)  # weight of the regulariser: L = (1−α)·L_BT + α·L_reg
        beta: float = setting(0.1, gt=0)  # temperature of the log-prob terms inside σ
        regularizer: Literal["sft", "dpo_noref", "dpo"] = "sft"

    def __init__(self, **overrides):
        super().__init__(**overrides)
        if self.config.regularizer == "dpo":
            self.requires = type(self).requires | {"ref_logprobs"}

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        cfg, x = self.config, out.extra
        needed = ["logp_chosen", "logp_rejected"] + (["ref_logp_chosen", "ref_logp_rejected"]
                                                     if cfg.regularizer == "dpo" else [])
        missing = [k for k in needed if k not in x]
        if missing:
            raise ConfigError(f"grm needs the summed response log-probs {missing} in RewardOutput.extra")
        if cfg.regularizer == "sft":
            logit = x["logp_chosen"]
        elif cfg.regularizer == "dpo_noref":
            logit = x["logp_chosen"] - x["logp_rejected"]
        else:
            logit = (x["logp_chosen"] - x["ref_logp_chosen"]) - (x["logp_rejected"] - x["ref_logp_rejected"])
        bt = bt_loss(out.chosen - out.rejected).mean()
        reg = bt_loss(cfg.beta * logit).mean()
        return with_metrics((1 - cfg.alpha) * bt + cfg.alpha * reg, out, bt_loss=bt, reg_loss=reg,
                            logp_chosen=x["logp_chosen"].mean())
