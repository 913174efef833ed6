"""The method registry and plugin contract, and the bt loss against hand-computed values."""
import dataclasses
import math

import pytest
import torch

import methods
from harness.errors import ConfigError, UnknownNameError
from harness.method import REQUIREMENTS, RewardMethod
from harness.types import RewardOutput


def test_bt_loss_matches_hand_computed_values():
    # Δ = (1, 0, −2): −log σ(Δ) = log(1 + e^−Δ) = 0.313262, 0.693147, 2.126928
    out = RewardOutput(chosen=torch.tensor([1.0, 0.5, -1.0]), rejected=torch.tensor([0.0, 0.5, 1.0]))
    result = methods.get("bt")().loss(out)
    assert result.loss.item() == pytest.approx((0.313262 + 0.693147 + 2.126928) / 3, abs=1e-5)
    assert result.metrics["accuracy"].item() == pytest.approx(1 / 3)  # the tie (Δ = 0) counts as wrong


def test_unknown_method_lists_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean: bt"):
        methods.get("btt")


def test_unknown_config_key_is_rejected():
    with pytest.raises(ConfigError, match="unknown bt config key 'gamma'"):
        methods.get("bt")(gamma=0.5)


@pytest.mark.parametrize("name", methods.names())
def test_contract(name):
    cls = methods.get(name)
    assert issubclass(cls, RewardMethod) and cls.name == name and cls.summary and cls.paper
    assert cls.requires <= REQUIREMENTS
    assert isinstance(cls.version, str) and cls.version  # part of the run identity, bumped when the loss changes
    assert dataclasses.is_dataclass(cls.Config)
    method = cls()
    assert method.config_dict() == cls.default_config() and method.requires <= REQUIREMENTS

    torch.manual_seed(0)
    chosen = torch.randn(4, requires_grad=True)
    rejected = torch.randn(4, requires_grad=True)
    hidden_w, hidden_l = torch.randn(4, 8, requires_grad=True), torch.randn(4, 8, requires_grad=True)
    # summed response log-probs (policy and reference), for methods that require them; the others ignore them
    logps = {k: -10 * torch.rand(4) for k in ("logp_chosen", "logp_rejected", "ref_logp_chosen", "ref_logp_rejected")}
    out = RewardOutput(chosen, rejected, hidden_w, hidden_l, logps)
    loss = method.loss(out).loss
    assert loss.dim() == 0 and math.isfinite(loss.item())
    loss.backward()
    assert chosen.grad is not None and chosen.grad.abs().sum() > 0

    # with Δ > 0 everywhere, exchanging chosen and rejected raises the loss
    good = RewardOutput(torch.tensor([2.0, 1.5, 3.0]), torch.tensor([0.0, -1.0, 0.5]), hidden_w[:3].detach(),
                        hidden_l[:3].detach(), {k: v[:3] for k, v in logps.items()})
    flip = {"chosen": "rejected", "rejected": "chosen"}
    swapped = RewardOutput(good.rejected, good.chosen, good.rejected_hidden, good.chosen_hidden,
                           {k.rpartition("_")[0] + "_" + flip[k.rpartition("_")[2]]: v for k, v in good.extra.items()})
    assert method.loss(swapped).loss > method.loss(good).loss


def test_out_of_tree_method_through_entry_point(entry_point_method):
    class MyBT(methods.get("bt")):
        name = "my_bt"

    entry_point_method(MyBT)
    assert "my_bt" in methods.names()
    assert methods.get("my_bt")().loss(RewardOutput(torch.ones(2), torch.zeros(2))).loss.item() == pytest.approx(
        math.log1p(math.exp(-1)), abs=1e-6)
