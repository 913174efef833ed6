"""Results database: record/upsert, aggregation over seeds, filters, rebuild, concurrency, rendering."""

from __future__ import annotations

import copy
import csv
import io
import json
import multiprocessing
import statistics

import pytest
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from leaderboards import engine_for, leaderboard, rebuild, record, render
from leaderboards.schema import Metric, Run
from leaderboards.store import ResultError, database_url


def make_result(method="bt", seed=0, value=0.8, config_hash=None, run_id=None, preset="tiny", backbone="tiny",
                config=None):
    """A valid result.json dict with one ID-accuracy row and one OOD-accuracy row."""
    config_hash = config_hash or f"{method}-{preset}-hash".ljust(16, "0")[:16]
    return {
        "schema_version": 1, "run_id": run_id or f"{method}-{preset}-s{seed}", "method": method,
        "method_config": {"margin": 0.0}, "preset": preset, "config_hash": config_hash,
        "config": config or {"lr": 1e-3},
        "backbone": backbone, "data": "world:v1:seed0", "seed": seed,
        "versions": {"rmbench": "0.1.0", "torch": "2.13.0"}, "git_sha": None,
        "started_at": "2026-11-21T12:00:00+00:00", "finished_at": "2026-11-21T12:05:00+00:00",
        "wall_times": {"train_s": 12.3},
        "metrics": [
            {"suite": "id", "suite_version": "1", "dataset": "world", "split": "id", "metric": "accuracy",
             "value": value, "stderr": 0.012, "n": 1000, "higher_is_better": True},
            {"suite": "ood", "suite_version": "1", "dataset": "world", "split": "ood", "metric": "accuracy",
             "value": value - 0.1, "stderr": None, "n": 500, "higher_is_better": True},
        ],
    }


def counts(engine):
    with engine.connect() as conn:
        return tuple(conn.scalar(select(func.count()).select_from(t)) for t in (Run, Metric))


@pytest.fixture
def engine(tmp_path):
    return engine_for(f"sqlite:///{tmp_path / 'db' / 'rm.db'}")


def test_engine_uses_wal_and_creates_parent_dir(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'a' / 'b' / 'rm.db'}")
    assert (tmp_path / "a" / "b" / "rm.db").exists()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def test_database_url_precedence(monkeypatch):
    monkeypatch.delenv("RMBENCH_DB", raising=False)
    assert database_url(None) == "sqlite:///rmbench.db"
    monkeypatch.setenv("RMBENCH_DB", "sqlite:///env.db")
    assert database_url(None) == "sqlite:///env.db"
    assert database_url("sqlite:///arg.db") == "sqlite:///arg.db"


def test_record_is_idempotent_and_updates_values(engine):
    assert record(make_result(value=0.8), engine) == 2
    assert counts(engine) == (1, 2)
    assert record(make_result(value=0.9), engine) == 2
    assert counts(engine) == (1, 2)
    row = leaderboard(engine, suite="id")[0]
    assert row["mean"] == pytest.approx(0.9) and row["n_seeds"] == 1 and row["std"] is None


def test_rows_a_result_no_longer_holds_are_deleted(engine):
    result = make_result()
    record(result, engine)
    result["metrics"] = result["metrics"][:1]  # e.g. a suite re-run that covers fewer rows
    assert record(result, engine) == 1
    assert counts(engine) == (1, 1)


def test_merge_metrics_replaces_every_row_of_a_rerun_suite_split():
    from harness.results import merge_metrics

    def row(suite, split, metric, value):
        return {"suite": suite, "suite_version": "1", "dataset": "world", "split": split, "metric": metric,
                "value": value}

    old = [row("bon", "bon", "gold_score@n=16", 0.1), row("bon", "bon", "gold_score@n=1", 0.0),
           row("bon", "bon_heldout", "gold_score@n=1", 0.2), row("id", "id", "accuracy", 0.7)]
    merged = merge_metrics(old, [row("bon", "bon", "gold_score@n=1", 0.5)])
    assert sorted((m["split"], m["metric"], m["value"]) for m in merged) == [
        ("bon", "gold_score@n=1", 0.5), ("bon_heldout", "gold_score@n=1", 0.2), ("id", "accuracy", 0.7)]


def test_seeds_aggregate_to_mean_and_sample_std(engine):
    values = [0.70, 0.76, 0.85]
    for seed, value in enumerate(values):
        record(make_result(seed=seed, value=value), engine)
    (row,) = leaderboard(engine, suite="id")
    assert row["n_seeds"] == 3
    assert row["mean"] == pytest.approx(sum(values) / 3)
    mean = sum(values) / 3
    assert row["std"] == pytest.approx((sum((v - mean) ** 2 for v in values) / 2) ** 0.5)
    assert (row["method"], row["preset"], row["backbone"], row["higher_is_better"]) == ("bt", "tiny", "tiny", True)


def test_filters_and_best_first_order(engine):
    record(make_result("bt", value=0.8), engine)
    record(make_result("hinge", value=0.9), engine)
    record(make_result("bt", value=0.6, preset="small", backbone="gpt2"), engine)
    assert [r["method"] for r in leaderboard(engine, suite="id")] == ["hinge", "bt", "bt"]
    assert [r["suite"] for r in leaderboard(engine)] == ["id"] * 3 + ["ood"] * 3
    assert {r["split"] for r in leaderboard(engine, split="ood")} == {"ood"}
    assert [r["preset"] for r in leaderboard(engine, backbone="gpt2")] == ["small", "small"]
    assert len(leaderboard(engine, preset="tiny", dataset="world", metric="accuracy")) == 4
    assert leaderboard(engine, metric="ece") == []


def test_lower_is_better_sorts_ascending(engine):
    for method, value in (("bt", 0.3), ("hinge", 0.1)):
        result = make_result(method)
        result["metrics"] = [dict(result["metrics"][0], metric="ece", value=value, higher_is_better=False)]
        record(result, engine)
    assert [r["method"] for r in leaderboard(engine, metric="ece")] == ["hinge", "bt"]


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda r: r.pop("config_hash"), "config_hash"),
    (lambda r: r.update(seed="0"), "seed"),
    (lambda r: r.update(git_sha=3), "git_sha"),
    (lambda r: r.update(started_at="yesterday"), "started_at"),
    (lambda r: r.update(schema_version=2), "schema_version"),
    (lambda r: r.update(metrics={}), "metrics"),
    (lambda r: r["metrics"][1].pop("n"), "metrics[1].n"),
    (lambda r: r["metrics"][0].update(value=float("nan")), "metrics[0].value"),
    (lambda r: r["metrics"][0].update(higher_is_better=1), "metrics[0].higher_is_better"),
    (lambda r: r["metrics"].append(copy.deepcopy(r["metrics"][0])), "metrics[2]"),
])
def test_bad_result_names_the_field(engine, mutate, field):
    result = make_result()
    mutate(result)
    with pytest.raises(ResultError) as info:
        record(result, engine)
    assert info.value.field == field and repr(field) in str(info.value)
    assert counts(engine) == (0, 0)


def test_rebuild_matches_direct_records_and_skips_bad_files(tmp_path, engine, caplog):
    results = [make_result(method, seed=seed, value=0.5 + 0.1 * seed + (method == "hinge") * 0.05)
               for method in ("bt", "hinge") for seed in range(2)]
    for result in results:
        record(result, engine)
        (tmp_path / "runs" / result["run_id"]).mkdir(parents=True)
        (tmp_path / "runs" / result["run_id"] / "result.json").write_text(json.dumps(result))
    (tmp_path / "runs" / "broken").mkdir()
    (tmp_path / "runs" / "broken" / "result.json").write_text("{not json")
    rebuilt = engine_for(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    assert rebuild(tmp_path / "runs", rebuilt) == 4
    assert "broken" in caplog.text
    assert leaderboard(rebuilt) == leaderboard(engine)
    assert counts(rebuilt) == counts(engine) == (4, 8)
    assert table_contents(rebuilt) == table_contents(engine)


def table_contents(engine):
    """Every run and metric row, without the surrogate id and the time of recording."""
    with engine.connect() as conn:
        runs = [{k: v for k, v in r.items() if k != "recorded_at"}
                for r in conn.execute(Run.__table__.select().order_by(Run.run_id)).mappings()]
        metrics = [{k: v for k, v in r.items() if k != "id"}
                   for r in conn.execute(Metric.__table__.select().order_by(Metric.run_id, Metric.suite)).mappings()]
    return runs, metrics


def _write_many(url: str, worker: int, n: int) -> None:
    engine = engine_for(url)
    for i in range(n):
        record(make_result(f"m{worker}", seed=i, value=i / n), engine)
    engine.dispose()


def test_concurrent_writers(tmp_path):
    url = f"sqlite:///{tmp_path / 'concurrent.db'}"
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    procs = [ctx.Process(target=_write_many, args=(url, w, 50)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * 8  # a "database is locked" error would exit 1
    engine = engine_for(url)
    assert counts(engine) == (400, 800)
    assert {r["n_seeds"] for r in leaderboard(engine)} == {50}


@pytest.fixture
def two_rows(engine):
    for seed, value in enumerate((0.8, 0.9)):
        record(make_result(seed=seed, value=value), engine)
    rows = leaderboard(engine)
    assert len(rows) == 2
    return rows


def test_render_formats(two_rows):
    mean_std = f"0.8500 ± {statistics.stdev([0.8, 0.9]):.4f}"
    md = render(two_rows, "md")
    assert md.startswith("| method | preset | suite | data | metric | mean ± std | seeds |")
    assert mean_std in md and len(md.splitlines()) == 4

    parsed = json.loads(render(two_rows, "json"))
    assert [(r["suite"], r["mean"], r["n_seeds"]) for r in parsed] == [("id", 0.85, 2), ("ood", 0.75, 2)]

    records = list(csv.DictReader(io.StringIO(render(two_rows, "csv"))))
    assert [r["mean"] for r in records] == ["0.85", "0.75"] and records[0]["std"] == "0.0707"

    table = render(two_rows, "table")
    assert isinstance(table, Table) and table.row_count == 2
    console = Console(file=io.StringIO(), width=200)
    console.print(table)
    assert mean_std in console.file.getvalue()


def test_render_empty_and_unknown_format():
    assert "No results" in render([], "md")
    assert "No results" in str(render([], "table"))
    assert json.loads(render([], "json")) == []
    assert render([], "csv").startswith("method,")
    with pytest.raises(KeyError, match="html"):
        render([], "html")


def layout_result(method, seed, rows, method_config=None, config=None):
    """A result whose metric rows are ``(suite, dataset, split, metric, value)`` tuples."""
    result = make_result(method, seed=seed, config=config,
                         config_hash=f"{method}-{json.dumps(method_config)}-{json.dumps(config)}"[:64],
                         run_id=f"{method}-{json.dumps(method_config)}-{json.dumps(config)}-s{seed}")
    result["method_config"] = method_config or {"margin": 0.0}
    result["metrics"] = [{"suite": suite, "suite_version": "1", "dataset": dataset, "split": split, "metric": metric,
                          "value": value, "stderr": 0.01, "n": 100, "higher_is_better": True}
                         for suite, dataset, split, metric, value in rows]
    return result


@pytest.fixture
def paper_engine(engine):
    """bt and aplot (2 seeds) with id, OOD, RewardBench, noise and splits rows; aplot also with another gamma."""
    for seed in range(2):
        for method, base in (("bt", 0.70), ("aplot", 0.75)):
            rows = [("id", "world", "id", "accuracy", base + 0.01 * seed),
                    ("ood", "hhh", "all", "accuracy", base - 0.1), ("ood", "hhh", "harmless", "accuracy", 0.0),
                    ("ood", "rewardbench:rb.jsonl", "Chat", "score", base + 0.1),
                    ("ood", "rewardbench:rb.jsonl", "overall", "score", base),
                    ("ood", "rewardbench:rb.jsonl", "all", "accuracy", 0.0),
                    ("noise", "world", "id@noise=0.2", "accuracy", base - 0.2),
                    ("noise", "world", "id@noise=0", "accuracy", base),
                    ("noise", "world", "prompt_ood@noise=0.2", "kendall_tau_b", 0.0),
                    ("splits", "world", "response_ood", "kendall_tau_b", base - 0.5)]
            record(layout_result(method, seed, rows, {"gamma": 0.5}), engine)
    record(layout_result("aplot", 0, [("id", "world", "id", "accuracy", 0.9)], {"gamma": 0.1}), engine)
    record(layout_result("bt", 0, [("splits", "world", "response_ood", "kendall_tau_b", 0.1)], {"gamma": 0.5},
                         config={"lr": 1e-3, "data": {"label_noise": 0.2}}), engine)
    return engine


def test_main_layout_columns_and_cells(paper_engine):
    from leaderboards import table

    t = table(paper_engine, "main")
    assert [c.title for c in t.columns] == ["ID acc", "hhh", "RB Chat", "RB Chat-Hard", "RB Safety",
                                            "RB Reasoning", "RB Score"]
    assert [r.label for r in t.rows] == ["aplot (gamma=0.1)", "aplot (gamma=0.5)", "bt"]
    aplot = t.rows[1]
    assert aplot.cells[0].mean == pytest.approx(0.755) and aplot.cells[0].n_seeds == 2
    assert aplot.cells[1].mean == pytest.approx(0.65)  # the dataset's "all" row, not its subsets
    assert aplot.cells[2].mean == pytest.approx(0.85) and aplot.cells[3] is None
    assert aplot.cells[6].mean == pytest.approx(0.75)


def test_main_layout_adds_rewardbench2_and_rmb_columns_when_recorded(engine):
    from leaderboards import table

    for method, base in (("bt", 0.5), ("aplot", 0.6)):
        rows = [("ood", "rewardbench-filtered", "overall", "score", base),
                ("ood", "rewardbench-filtered", "all", "accuracy", 0.0),
                ("ood", "rewardbench2-rb2", "Ties", "score", base - 0.1),
                ("ood", "rewardbench2-rb2", "Ties", "ref_accuracy", 0.0),
                ("ood", "rewardbench2-rb2", "overall", "score", base - 0.2),
                ("ood", "rmb-RMB_dataset", "pairwise", "accuracy", base + 0.1),
                ("ood", "rmb-RMB_dataset", "bon", "accuracy", base + 0.2),
                ("ood", "rmb-RMB_dataset", "Pairwise_set/Harmlessness/S1", "accuracy", 0.0),
                ("ood", "judgebench-x", "all", "accuracy", base), ("ood", "judgebench-x", "coding", "accuracy", 0.0)]
        record(layout_result(method, 0, rows, {"gamma": 0.5}), engine)
    t = table(engine, "main")
    assert [c.title for c in t.columns] == [
        "ID acc", "judgebench-x", "rmb-RMB_dataset pairwise", "rmb-RMB_dataset BoN", "RB Chat", "RB Chat-Hard",
        "RB Safety", "RB Reasoning", "RB Score", "RB2 Factuality", "RB2 Precise IF", "RB2 Math", "RB2 Safety",
        "RB2 Focus", "RB2 Ties", "RB2 Score"]
    bt = {c.title: cell and cell.mean for c, cell in zip(t.columns, t.rows[1].cells)}
    assert bt["RB Score"] == 0.5 and bt["RB2 Ties"] == pytest.approx(0.4) and bt["RB2 Score"] == pytest.approx(0.3)
    assert bt["rmb-RMB_dataset BoN"] == pytest.approx(0.7) and bt["judgebench-x"] == 0.5
    # "OOD acc" leaves RewardBench out also when it is named after its file (rewardbench-<stem>)
    from leaderboards.tables import OOD_ACCURACY

    def fact(dataset):
        return {"metric": "accuracy", "suite": "ood", "split": "all", "dataset": dataset}

    assert not OOD_ACCURACY.matches(fact("rewardbench-filtered")) and OOD_ACCURACY.matches(fact("judgebench-x"))


def test_noise_and_splits_layouts(paper_engine):
    from leaderboards import table

    noise = table(paper_engine, "noise")
    assert [c.title for c in noise.columns] == ["noise 0%", "noise 20%"]
    assert [round(c.mean, 4) for c in noise.rows[-1].cells] == [0.7, 0.5]
    splits = table(paper_engine, "splits")
    assert [r.label for r in splits.rows] == ["aplot", "bt (data.label_noise=0.2)", "bt (data.label_noise=None)"]
    assert splits.rows[0].cells[0] is None and splits.rows[0].cells[2].mean == pytest.approx(0.25)
    assert splits.rows[1].cells[2].mean == pytest.approx(0.1) and splits.rows[1].cells[2].n_seeds == 1


def test_layouts_render_with_best_in_bold(paper_engine):
    from leaderboards import table

    t = table(paper_engine, "main")
    md = render(t, "md")
    assert md.splitlines()[0] == ("| method | ID acc | hhh | RB Chat | RB Chat-Hard | RB Safety | RB Reasoning | "
                                  "RB Score |")
    assert "| aplot (gamma=0.1) | **0.9000 (n=1)** | — |" in md
    records = json.loads(render(t, "json"))
    assert records[2]["row"] == "bt" and records[2]["ID acc seeds"] == 2 and records[2]["RB Safety"] is None
    assert list(csv.DictReader(io.StringIO(render(t, "csv"))))[2]["ID acc"] == "0.705"
    assert render(t, "table").row_count == 3


def test_bon_and_rl_layouts(engine):
    from leaderboards import table

    rows = [("bon", "world", "bon", "gold_score@n=1", -0.9), ("bon", "world", "bon", "gold_score@n=4", -0.7),
            ("bon", "world", "bon_heldout", "gold_score@n=1", -0.8), ("bon", "world", "bon", "proxy_score@n=4", 3.0),
            ("ppo", "world", "ppo", "gold_reward@after", -0.5), ("ppo", "world", "ppo", "gold_reward_change", 0.4),
            ("ppo", "world", "ppo", "proxy_reward_change", 1.0), ("ppo", "world", "ppo", "kl", 2.0),
            ("ppo", "rmbench_world_qa", "ppo", "exact_match_change", 0.05),
            ("ppo", "world", "grpo", "gold_reward@after", -0.6)]
    record(layout_result("bt", 0, rows), engine)
    bon = table(engine, "bon")
    assert [c.title for c in bon.columns] == ["gold@n=1", "gold@n=4", "bon_heldout gold@n=1"]
    assert [c.mean for c in bon.rows[0].cells] == pytest.approx([-0.9, -0.7, -0.8])
    rl = table(engine, "rl")
    assert [c.title for c in rl.columns] == ["grpo gold", "grpo Δgold", "grpo Δproxy", "grpo KL", "ppo gold",
                                             "ppo Δgold", "ppo Δproxy", "ppo KL", "ppo Δexact_match rmbench_world_qa"]
    assert [c and c.mean for c in rl.rows[0].cells] == pytest.approx([-0.6, None, None, None, -0.5, 0.4, 1.0, 2.0,
                                                                      0.05])


def test_shortcut_layout(engine):
    from leaderboards import table

    rows = [("id", "world", "id", "accuracy", 0.8), ("id", "world", "id", "accuracy@kind=differ", 0.85),
            ("id", "world", "id", "accuracy@shortcut=conflict", 0.6), ("id", "world", "shortcut_reversed",
                                                                       "accuracy", 0.55),
            ("id", "world", "id", "accuracy_style_only", 0.7),
            ("id", "world", "id", "accuracy_longer_wins@shortcut=conflict", 0.0),
            ("id", "world", "id", "accuracy@differ_family=copy", 0.99),
            ("id", "world", "id", "accuracy@differ_family=compare", 0.9)]
    record(layout_result("bt", 0, rows), engine)
    t = table(engine, "shortcut")
    titles = [c.title for c in t.columns]
    assert titles[:6] == ["ID acc", "differ", "same", "aligned", "conflict", "reversed"]
    assert titles[6:12] == ["longer_wins", "longer_wins conflict", "shorter_wins", "shorter_wins conflict",
                            "style_only", "style_only conflict"]
    assert titles[12:] == ["compare differ", "copy differ"]
    means = dict(zip(titles, [c and c.mean for c in t.rows[0].cells]))
    assert means["conflict"] == 0.6 and means["reversed"] == 0.55 and means["style_only"] == 0.7
    assert means["longer_wins conflict"] == 0.0 and means["copy differ"] == 0.99 and means["same"] is None


def test_unknown_layout_lists_the_views(engine):
    from leaderboards import view

    with pytest.raises(KeyError, match="flat, main, noise, splits, bon, rl, shortcut, overopt, claims"):
        view(engine, "paper")
    assert render(view(engine, "splits"), "md") == "No results.\n"
