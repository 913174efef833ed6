"""The method registry and plugin contract, the bt loss against hand-computed values, and the example method of
docs/write-your-own-method.md (imported from docs/examples/my_method.py, registered, checked and trained)."""
import dataclasses
import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

import methods
from harness import config
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
    check_contract(methods.get(name), name)


@pytest.mark.parametrize("name", methods.names())
def test_a_bumped_method_version_is_a_new_experiment(name, monkeypatch):
    """A method's ``version`` is part of the run identity: bumping it (a changed loss) never reuses old results."""
    cfg = config.resolve("micro", method=name)
    before = config.config_hash(cfg)
    monkeypatch.setattr(methods.get(name), "version", methods.get(name).version + ".1")
    assert config.config_hash(cfg) != before


def check_contract(cls, name):
    """What every registered method must satisfy (docs/write-your-own-method.md)."""
    assert issubclass(cls, RewardMethod) and cls.name == name and cls.summary and cls.paper
    assert cls.requires <= REQUIREMENTS
    assert isinstance(cls.version, str)  # written into result.json; what it does: test_a_bumped_method_version_…
    assert dataclasses.is_dataclass(cls.Config)
    method = cls()
    assert method.config_dict() == cls.default_config() and method.requires <= REQUIREMENTS

    torch.manual_seed(0)
    chosen = torch.randn(4, requires_grad=True)
    rejected = torch.randn(4, requires_grad=True)
    hidden_w, hidden_l = torch.randn(4, 8, requires_grad=True), torch.randn(4, 8, requires_grad=True)
    # summed response log-probs (policy and reference) and response lengths, for methods that require them; the
    # others ignore them
    logps = {k: (-10 * torch.rand(4)).requires_grad_()
             for k in ("logp_chosen", "logp_rejected", "ref_logp_chosen", "ref_logp_rejected")}
    logps.update(len_chosen=torch.tensor([5.0, 8.0, 3.0, 12.0]), len_rejected=torch.tensor([7.0, 4.0, 9.0, 6.0]))
    out = RewardOutput(chosen, rejected, hidden_w, hidden_l, logps)
    loss = method.loss(out).loss
    assert loss.dim() == 0 and math.isfinite(loss.item())
    loss.backward()
    trained = logps["logp_chosen"] if cls.implicit else chosen  # an implicit-reward method trains the policy
    assert trained.grad is not None and trained.grad.abs().sum() > 0

    # with Δ > 0 everywhere, exchanging chosen and rejected raises the loss (for an implicit-reward method: the
    # policy prefers the chosen response more than the reference does)
    good_logps = {k: v[:3].detach() for k, v in logps.items()}
    if cls.implicit:
        good_logps.update(logp_chosen=torch.tensor([-2.0, -3.0, -1.0]),
                          logp_rejected=torch.tensor([-30.0, -40.0, -35.0]),
                          ref_logp_chosen=torch.tensor([-10.0, -9.0, -8.0]),
                          ref_logp_rejected=torch.tensor([-11.0, -12.0, -10.0]))
    good = RewardOutput(torch.tensor([2.0, 1.5, 3.0]), torch.tensor([0.0, -1.0, 0.5]), hidden_w[:3].detach(),
                        hidden_l[:3].detach(), good_logps)
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


EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "my_method.py"


@pytest.fixture
def focal_bt(monkeypatch):
    """Import the documented example as a user would (it registers itself), in a copy of the registry."""
    monkeypatch.setattr(methods._registry, "_items", dict(methods._registry._items))
    spec = importlib.util.spec_from_file_location("my_method", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "my_method", module)  # dataclasses look the class's module up there
    spec.loader.exec_module(module)
    return module.FocalBT


def test_example_method_keeps_the_contract(focal_bt):
    assert methods.get("focal_bt") is focal_bt
    check_contract(focal_bt, "focal_bt")
    with pytest.raises(ConfigError, match="gamma must be >= 0"):
        focal_bt(gamma=-1.0)


def test_example_method_loss_matches_hand_computed_values(focal_bt):
    # Δ = (1, 0, −2): (1 − σ(Δ))² · −log σ(Δ) = 0.022658, 0.173287, 1.650078
    out = RewardOutput(chosen=torch.tensor([1.0, 0.5, -1.0]), rejected=torch.tensor([0.0, 0.5, 1.0]))
    assert focal_bt().loss(out).loss.item() == pytest.approx((0.022658 + 0.173287 + 1.650078) / 3, abs=1e-5)
    # γ = 0 is plain BT
    assert focal_bt(gamma=0.0).loss(out).loss.item() == pytest.approx(methods.get("bt")().loss(out).loss.item())


def test_example_method_trains_on_the_micro_preset(focal_bt, tmp_path, tiny_base):
    from harness import api, config

    cfg = config.resolve("micro", overrides=["train.max_steps=3", "train.eval_every=0", "method_config.gamma=1.0"],
                         method="focal_bt")
    result = api.train(cfg, runs_dir=tmp_path / "runs", db=f"sqlite:///{tmp_path / 'rm.db'}", show_progress=False)
    assert result["method"] == "focal_bt" and result["method_config"] == {"gamma": 1.0}
    assert result["train"]["steps"] == 3
    accuracy = next(m for m in result["metrics"] if m["metric"] == "accuracy")
    assert accuracy["n"] == 200 and math.isfinite(accuracy["value"])
