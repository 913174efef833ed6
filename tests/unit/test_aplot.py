"""APLOT and PointMargin (Li et al. 2025, Eq. 5-9): cost matrix, Sinkhorn plan, margin scaling, gradients, and
robustness on extreme inputs."""
import math
import warnings

import numpy as np
import pytest
import torch

import methods
import methods.aplot
from harness.errors import ConfigError
from harness.types import RewardOutput
from methods.aplot import pair_cost, transport_plan


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def nls(x: float) -> float:
    return math.log1p(math.exp(-x))


def sinkhorn_numpy(cost: np.ndarray, beta: float, iters: int = 20000) -> np.ndarray:
    """Brute-force Sinkhorn with uniform marginals, float64."""
    n, m = cost.shape
    k = np.exp(-cost / beta)
    u, v = np.ones(n), np.ones(m)
    for _ in range(iters):
        u = (1 / n) / (k @ v)
        v = (1 / m) / (k.T @ u)
    return u[:, None] * k * v[None, :]


def random_output(b=6, h=8, seed=0, dtype=torch.float32, grad=False):
    g = torch.Generator().manual_seed(seed)
    t = [torch.randn(b, generator=g, dtype=dtype), torch.randn(b, generator=g, dtype=dtype),
         torch.randn(b, h, generator=g, dtype=dtype), torch.randn(b, h, generator=g, dtype=dtype)]
    return RewardOutput(*[x.requires_grad_(grad) for x in t])


# the 2×2 example: r_w = (1, 0), r_l = (0, 1), h_w = (e1, e2), h_l = (e1, (e1 + e2)/√2 direction)
R_W, R_L = [1.0, 0.0], [0.0, 1.0]
H_W, H_L = [[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]
S = [[1.0, 1 / math.sqrt(2)], [0.0, 1 / math.sqrt(2)]]  # cos(h_w,i, h_l,j)
C = [[0.5 * S[i][j] + 0.5 * (1 - sigmoid(R_W[i] - R_L[j])) for j in range(2)] for i in range(2)]  # Eq. 6, γ = 0.5


def example_output() -> RewardOutput:
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    return RewardOutput(t(R_W), t(R_L), t(H_W), t(H_L))


def test_cost_matrix_by_hand():
    o = example_output()
    cost = pair_cost(o.chosen, o.rejected, o.chosen_hidden, o.rejected_hidden, gamma=0.5)
    assert cost.numpy() == pytest.approx(np.array(C), abs=1e-12)


def test_plan_by_hand_and_brute_force_sinkhorn():
    # 2×2 entropic OT in closed form: T = [[p, ½−p], [½−p, p]], (p / (½−p))² = exp(−(C11 + C22 − C12 − C21)/β)
    beta = 0.1
    e = math.exp(-(C[0][0] + C[1][1] - C[0][1] - C[1][0]) / (2 * beta))
    p = e / (2 * (1 + e))
    plan, iters = transport_plan(torch.tensor(C, dtype=torch.float64), beta)
    assert plan.numpy() == pytest.approx(np.array([[p, 0.5 - p], [0.5 - p, p]]), abs=1e-7)
    assert plan.numpy() == pytest.approx(sinkhorn_numpy(np.array(C), beta), abs=1e-7)
    assert iters >= 1

    # the loss: μ_i = 2·Σ_j T_ij C_ij (conditional), L = mean −log σ(Δ_i − μ_i) (Eq. 7-8)
    mu = [2 * sum(plan[i, j].item() * C[i][j] for j in range(2)) for i in range(2)]
    delta = [R_W[i] - R_L[i] for i in range(2)]
    result = methods.get("aplot")().loss(example_output())
    assert result.loss.item() == pytest.approx(sum(nls(d - m) for d, m in zip(delta, mu)) / 2, abs=1e-7)
    assert result.metrics["mu_mean"].item() == pytest.approx(sum(mu) / 2, abs=1e-7)
    # PointMargin: μ_i = mean_j C_ij (conditional)
    mu_pm = [sum(C[i]) / 2 for i in range(2)]
    result = methods.get("pointmargin")().loss(example_output())
    assert result.loss.item() == pytest.approx(sum(nls(d - m) for d, m in zip(delta, mu_pm)) / 2, abs=1e-12)


@pytest.mark.parametrize("b", [1, 2, 7, 64, 256])
def test_plan_marginals_fp32(b):
    o = random_output(b, 16, seed=b)
    plan, _ = transport_plan(pair_cost(o.chosen, o.rejected, o.chosen_hidden, o.rejected_hidden, 0.5), 0.1)
    assert plan.dtype == torch.float32 and torch.isfinite(plan).all()
    assert (plan.sum(1) - 1 / b).abs().max().item() < 1e-6
    assert (plan.sum(0) - 1 / b).abs().max().item() < 1e-6


def test_gamma_limits():
    o, other = random_output(5, seed=1), random_output(5, seed=2)
    # γ = 1: the cost is the cosine only, the rewards do not enter
    c1 = pair_cost(o.chosen, o.rejected, o.chosen_hidden, o.rejected_hidden, 1.0)
    assert torch.equal(c1, pair_cost(other.chosen, other.rejected, o.chosen_hidden, o.rejected_hidden, 1.0))
    cos = torch.nn.functional.cosine_similarity(o.chosen_hidden[:, None], o.rejected_hidden[None], dim=-1)
    assert torch.allclose(c1, cos, atol=1e-6)
    # γ = 0: the cost is 1 − σ(Δf) only, the hidden states do not enter
    c0 = pair_cost(o.chosen, o.rejected, o.chosen_hidden, o.rejected_hidden, 0.0)
    assert torch.equal(c0, pair_cost(o.chosen, o.rejected, other.chosen_hidden, other.rejected_hidden, 0.0))
    assert torch.allclose(c0, 1 - torch.sigmoid(o.chosen[:, None] - o.rejected[None]), atol=1e-6)
    for name in ("aplot", "pointmargin"):
        swapped_rewards = RewardOutput(other.chosen, other.rejected, o.chosen_hidden, o.rejected_hidden)
        mu = lambda out: methods.get(name)(gamma=1.0).loss(out).metrics["mu_mean"].item()  # noqa: E731
        assert mu(o) == pytest.approx(mu(swapped_rewards), abs=1e-6)


def test_batch_of_one():
    o = random_output(1, seed=3)
    plan, _ = transport_plan(pair_cost(o.chosen, o.rejected, o.chosen_hidden, o.rejected_hidden, 0.5), 0.1)
    assert plan.tolist() == [[1.0]]
    c = pair_cost(o.chosen, o.rejected, o.chosen_hidden, o.rejected_hidden, 0.5).item()
    for name in ("aplot", "pointmargin"):
        for norm in ("conditional", "literal"):
            result = methods.get(name)(margin_norm=norm, clamp_min=None).loss(o)
            assert result.metrics["mu_mean"].item() == pytest.approx(c, abs=1e-6)
            assert result.loss.item() == pytest.approx(nls((o.chosen - o.rejected).item() - c), abs=1e-5)


def test_conditional_versus_literal_scaling():
    b = 9
    o = random_output(b, seed=4, dtype=torch.float64)
    cost = pair_cost(o.chosen, o.rejected, o.chosen_hidden, o.rejected_hidden, 0.5)
    rows = slice(0, b)
    margins = lambda name, norm: methods.get(name)(margin_norm=norm).margins(cost, rows)[0]  # noqa: E731
    assert torch.allclose(margins("aplot", "conditional"), b * margins("aplot", "literal"), atol=1e-12)
    assert torch.allclose(margins("pointmargin", "conditional"), margins("pointmargin", "literal") / b, atol=1e-12)
    assert torch.allclose(margins("pointmargin", "literal"), cost.sum(1), atol=1e-12)  # Eq. 9
    plan, _ = transport_plan(cost, 0.1)
    assert torch.allclose(margins("aplot", "literal"), (plan * cost).sum(1), atol=1e-12)  # Eq. 7
    with pytest.raises(ConfigError, match="margin_norm"):
        methods.get("aplot")(margin_norm="global")


@pytest.mark.parametrize("name", ["aplot", "pointmargin"])
def test_detach_margin(name):
    # positive cosines so that μ > 0 is not clamped
    o = random_output(6, seed=5, grad=True)
    o = RewardOutput(o.chosen, o.rejected, o.chosen_hidden.detach().abs().requires_grad_(),
                     o.rejected_hidden.detach().abs().requires_grad_())
    methods.get(name)().loss(o).loss.backward()
    assert o.chosen_hidden.grad is None and o.rejected_hidden.grad is None
    reward_grad_detached = o.chosen.grad.clone()
    o.chosen.grad = None
    methods.get(name)(detach_margin=False).loss(o).loss.backward()
    assert o.chosen_hidden.grad.abs().sum() > 0 and o.rejected_hidden.grad.abs().sum() > 0
    assert not torch.allclose(o.chosen.grad, reward_grad_detached)  # μ depends on r_w through C


def test_clamp_min():
    # h_l = −h_w: cosine −1 on the diagonal; with γ = 1 and orthogonal rows, μ can be negative
    h = torch.eye(3)
    o = RewardOutput(torch.tensor([1.0, 2.0, 3.0]), torch.zeros(3), h, -h)
    for name in ("aplot", "pointmargin"):
        raw = methods.get(name)(gamma=1.0, clamp_min=None).loss(o).metrics
        assert raw["mu_min"].item() < 0
        assert methods.get(name)(gamma=1.0).loss(o).metrics["mu_min"].item() == 0.0
        assert methods.get(name)(gamma=1.0, clamp_min=0.3).loss(o).metrics["mu_min"].item() == pytest.approx(0.3)
    # PointMargin conditional: μ_i = mean_j cos = (−1 + 0 + 0)/3
    raw = methods.get("pointmargin")(gamma=1.0, clamp_min=None).loss(o).metrics
    assert raw["mu_max"].item() == pytest.approx(-1 / 3)


@pytest.mark.parametrize("name", ["aplot", "pointmargin"])
@pytest.mark.parametrize("case", ["huge_rewards", "identical_hidden", "zero_hidden"])
@pytest.mark.parametrize("detach", [True, False])
def test_never_nan_on_extreme_inputs(name, case, detach):
    b, h = 8, 16
    g = torch.Generator().manual_seed(6)
    chosen, rejected = torch.randn(b, generator=g), torch.randn(b, generator=g)
    hw, hl = torch.randn(b, h, generator=g), torch.randn(b, h, generator=g)
    if case == "huge_rewards":
        chosen, rejected = 1e4 * torch.sign(chosen), -1e4 * torch.sign(rejected)
    elif case == "identical_hidden":
        hw = hl = torch.ones(b, h)
    else:
        hw, hl = torch.zeros(b, h), torch.zeros(b, h)
    leaves = [t.clone().requires_grad_() for t in (chosen, rejected, hw, hl)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # these inputs must not even need the fallbacks
        result = methods.get(name)(detach_margin=detach).loss(RewardOutput(*leaves))
    result.loss.backward()
    assert math.isfinite(result.loss.item())
    assert all(math.isfinite(v.item()) for v in result.metrics.values())
    assert all(t.grad is None or torch.isfinite(t.grad).all() for t in leaves)


def test_fallbacks_warn_once_and_never_return_nan(monkeypatch):
    monkeypatch.setattr(methods.aplot, "_warned", set())
    o = random_output(32, seed=7)
    cost = pair_cost(o.chosen, o.rejected, o.chosen_hidden, o.rejected_hidden, 0.5)
    with pytest.warns(RuntimeWarning) as record:
        plan, iters = transport_plan(cost, 0.01, num_iter_max=1)  # too few iterations for either solver
        transport_plan(cost, 0.01, num_iter_max=1)
    messages = [str(w.message) for w in record]  # each once, although the solvers failed twice
    assert len(messages) == 2 and "retrying in the log domain" in messages[0] and "approximate plan" in messages[1]
    assert torch.isfinite(plan).all() and iters == 2
    with pytest.warns(RuntimeWarning, match="uniform plan"):
        plan, _ = transport_plan(torch.full((3, 3), float("nan")), 0.1)
    assert torch.allclose(plan, torch.full((3, 3), 1 / 9))


def test_metrics_and_requirements():
    result = methods.get("aplot")().loss(random_output(5))
    assert {"mu_mean", "mu_std", "mu_min", "mu_max", "sinkhorn_iters", "accuracy", "margin_mean"} <= set(
        result.metrics)
    assert result.metrics["sinkhorn_iters"].item() >= 1
    assert methods.get("aplot").requires == methods.get("pointmargin").requires == frozenset({"hidden"})
    assert set(methods.get("aplot").default_config()) == {"gamma", "margin_norm", "detach_margin", "clamp_min",
                                                          "global_batch", "beta", "num_iter_max", "stop_threshold"}
    with pytest.raises(ConfigError, match="hidden states"):
        methods.get("aplot")().loss(RewardOutput(torch.zeros(2), torch.zeros(2)))
