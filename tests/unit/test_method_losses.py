"""Every BT-family method and BSR against hand-computed loss values, and the global-batch (all-gather) options."""
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import methods
from harness.types import PreferenceBatch, RewardOutput
from methods._common import all_gather_rows
from methods.aplot import pair_cost

W = [1.0, 0.5, -1.0, 2.0]  # r_w
L = [0.0, 0.5, 1.0, -0.5]  # r_l  → Δ = 1, 0, −2, 2.5
D = [w - l for w, l in zip(W, L)]


def nls(x: float) -> float:
    """−log σ(x)."""
    return math.log1p(math.exp(-x))


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


def out() -> RewardOutput:
    return RewardOutput(torch.tensor(W, dtype=torch.float64), torch.tensor(L, dtype=torch.float64))


def batch(margin=None) -> PreferenceBatch:
    n = len(W)
    return PreferenceBatch(input_ids=torch.zeros(2 * n, 3, dtype=torch.long), attention_mask=torch.ones(2 * n, 3),
                           response_mask=torch.ones(2 * n, 3), index=torch.arange(n), margin=margin)


def loss(name: str, b: PreferenceBatch | None = None, **cfg) -> float:
    return methods.get(name)(**cfg).loss(out(), b).loss.item()


def test_bt_margin_constant():
    assert loss("bt_margin") == pytest.approx(mean(nls(d - 1.0) for d in D), abs=1e-10)
    assert loss("bt_margin", batch()) == pytest.approx(mean(nls(d - 1.0) for d in D), abs=1e-10)  # no column
    assert loss("bt_margin", margin=0.0) == pytest.approx(loss("bt"), abs=1e-10)


def test_bt_margin_per_row_column_overrides_the_constant():
    m = [0.5, 0.0, 1.0, 2.0]
    expected = mean(nls(d - mi) for d, mi in zip(D, m))
    assert loss("bt_margin", batch(torch.tensor(m))) == pytest.approx(expected, abs=1e-6)
    assert loss("bt_margin", batch(torch.tensor(m)), margin=5.0) == pytest.approx(expected, abs=1e-6)


def test_bt_label_smooth():
    assert loss("bt_label_smooth") == pytest.approx(mean(0.9 * nls(d) + 0.1 * nls(-d) for d in D), abs=1e-10)
    assert loss("bt_label_smooth", epsilon=0.0) == pytest.approx(loss("bt"), abs=1e-10)


def test_bt_posreg():
    expected = mean(nls(d) for d in D) + 0.1 * nls(mean(W))  # mean r_w = 0.625
    assert loss("bt_posreg") == pytest.approx(expected, abs=1e-10)


def test_bt_hinge():
    assert loss("bt_hinge") == pytest.approx((0 + 1 + 3 + 0) / 4)  # max(0, 1 − Δ)
    assert loss("bt_hinge", margin=0.0) == pytest.approx(2 / 4)


def test_bt_norm():
    expected = mean(nls((w - l) / math.sqrt(w * w + l * l + 1e-8)) for w, l in zip(W, L))
    assert loss("bt_norm") == pytest.approx(expected, abs=1e-10)
    zero = RewardOutput(torch.zeros(2, requires_grad=True), torch.zeros(2))
    result = methods.get("bt_norm")().loss(zero).loss
    result.backward()
    assert result.item() == pytest.approx(math.log(2)) and torch.isfinite(zero.chosen.grad).all()


def test_bt_dr():
    expected = mean(nls(w - l) + nls(w) + nls(-l) for w, l in zip(W, L))
    assert loss("bt_dr") == pytest.approx(expected, abs=1e-10)


def test_bsr_paper_and_repo_scaling():
    bt = mean(nls(d) for d in D)
    centre = (sum(W) + sum(L)) / (2 * len(W))  # 3.5 / 8
    assert loss("bsr") == pytest.approx(bt + 1e-3 * centre**2, abs=1e-12)
    assert loss("bsr", repo_scaling=True) == pytest.approx(bt + 1e-3 * len(W) * centre**2, abs=1e-12)
    assert loss("bsr", lam=1e-2) == pytest.approx(bt + 1e-2 * centre**2, abs=1e-12)
    assert methods.get("bsr")().loss(out()).metrics["reward_centre"].item() == pytest.approx(centre)


def test_bsr_penalty_gradient():
    # d/dr of λ·c² with c = mean of the 2B rewards is 2λc / 2B for every reward
    o = RewardOutput(torch.tensor(W, dtype=torch.float64, requires_grad=True),
                     torch.tensor(L, dtype=torch.float64, requires_grad=True))
    lam = 0.5
    methods.get("bsr")(lam=lam).loss(o).loss.backward()
    centre = (sum(W) + sum(L)) / 8
    bt_grad = [-(1 - 1 / (1 + math.exp(-d))) / 4 for d in D]  # d/dr_w of mean −log σ(Δ)
    for got, g in zip(o.chosen.grad.tolist(), bt_grad):
        assert got == pytest.approx(g + 2 * lam * centre / 8, abs=1e-12)


@pytest.mark.parametrize("name", ["bsr", "aplot", "pointmargin"])
def test_global_batch_without_distributed_equals_local(name):
    torch.manual_seed(0)
    o = RewardOutput(torch.randn(5), torch.randn(5), torch.randn(5, 8), torch.randn(5, 8))
    local, glob = methods.get(name)().loss(o), methods.get(name)(global_batch=True).loss(o)
    assert glob.loss.item() == local.loss.item()
    t = torch.randn(3, 2)
    assert all_gather_rows(t) == (t, 0)


WORKER = textwrap.dedent("""
    import json, sys, torch, torch.distributed as dist
    import methods
    from harness.types import RewardOutput
    from methods._common import all_gather_rows
    rank, rdv, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    dist.init_process_group("gloo", init_method="file://" + rdv, rank=rank, world_size=2)
    torch.manual_seed(0)
    w, l, hw, hl = torch.randn(7, dtype=torch.float64), torch.randn(7, dtype=torch.float64), torch.randn(7, 4), torch.randn(7, 4)
    rows = slice(0, 3) if rank == 0 else slice(3, 7)  # uneven local batches: 3 and 4 pairs
    res = {}
    for name, cfg in [("bsr", {}), ("aplot", {}), ("pointmargin", {}), ("aplot", {"detach_margin": False})]:
        cw, cl = w[rows].clone().requires_grad_(), l[rows].clone().requires_grad_()
        o = RewardOutput(cw, cl, hw[rows], hl[rows])
        r = methods.get(name)(global_batch=True, **cfg).loss(o)
        r.loss.backward()
        res[name + str(cfg)] = {"loss": r.loss.item(), "grad": cw.grad.tolist(), "grad_l": cl.grad.tolist(),
                                "mu_mean": r.metrics.get("mu_mean", torch.tensor(0.0)).item()}
    g, offset = all_gather_rows(torch.arange(3 if rank == 0 else 4))
    res["gather"] = [g.tolist(), offset]
    json.dump(res, open(path, "w"))
    dist.destroy_process_group()
""")


@pytest.mark.slow  # starts two gloo processes (~10 s)
def test_global_batch_across_two_gloo_ranks(tmp_path):
    """Rank r's loss with global_batch equals the single-process loss of its rows with the batch statistics (BSR
    centre, APLOT plan) taken over both ranks' rows; the gradient reaches the local rewards."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(script), str(r), str(tmp_path / "rdv"),
                               str(tmp_path / f"{r}.json")], env=env, stderr=subprocess.PIPE) for r in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    res = [json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2)]
    assert res[0]["gather"] == [[0, 1, 2, 0, 1, 2, 3], 0] and res[1]["gather"] == [[0, 1, 2, 0, 1, 2, 3], 3]

    torch.manual_seed(0)
    w, l, hw, hl = torch.randn(7, dtype=torch.float64), torch.randn(7, dtype=torch.float64), torch.randn(7, 4), \
        torch.randn(7, 4)
    for rank, rows in enumerate([slice(0, 3), slice(3, 7)]):
        n = rows.stop - rows.start
        # BSR: local BT mean + λ·(global centre)²; both ranks' penalties reach a local reward: 2 × 2λc/(2·7)
        d = (w[rows] - l[rows]).tolist()
        centre = (w.sum() + l.sum()).item() / 14
        got = res[rank]["bsr{}"]
        assert got["loss"] == pytest.approx(mean(nls(x) for x in d) + 1e-3 * centre**2, abs=1e-9)
        for g, x in zip(got["grad"], d):
            assert g == pytest.approx(-(1 - 1 / (1 + math.exp(-x))) / n + 2 * 2e-3 * centre / 14, abs=1e-9)
        # APLOT / PointMargin: the margins of the local rows are the rows of the full-batch margins
        for name in ("aplot", "pointmargin"):
            cost = pair_cost(w.float(), l.float(), hw, hl, gamma=0.5)
            mu_rows, _ = methods.get(name)().margins(cost, rows)
            mu_rows = mu_rows.clamp_min(0.0).double()
            expected = mean(nls(x - u) for x, u in zip(d, mu_rows.tolist()))
            assert res[rank][name + "{}"]["loss"] == pytest.approx(expected, abs=1e-5)
            assert res[rank][name + "{}"]["mu_mean"] == pytest.approx(mu_rows.mean().item(), abs=1e-5)
    # APLOT with the margin in the graph: rank 1's margins depend on rank 0's rejected rewards through C_ij
    # (Eq. 6), and each rank's gradient is that of the sum of both ranks' losses
    wf, lf = w.clone().requires_grad_(), l.clone().requires_grad_()
    aplot = methods.get("aplot")(detach_margin=False)
    total = 0
    for rows in (slice(0, 3), slice(3, 7)):
        mu, _ = aplot.margins(pair_cost(wf, lf, hw.double(), hl.double(), gamma=0.5), rows)
        total = total + torch.nn.functional.softplus(-(wf[rows] - lf[rows] - mu.clamp_min(0.0))).mean()
    total.backward()
    key = "aplot{'detach_margin': False}"
    for field, full in (("grad", wf.grad), ("grad_l", lf.grad)):
        assert res[0][key][field] + res[1][key][field] == pytest.approx(full.tolist(), abs=1e-6)
