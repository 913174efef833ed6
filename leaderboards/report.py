"""A self-contained HTML report: the paper tables, the claims, the flat leaderboard, the recorded runs and plots
(convergence, best-of-N, RL curves, label noise, splits) embedded as base64 PNG drawn by matplotlib's Agg canvas.

Every text from the database or the run directories goes through Jinja2 autoescaping; plot labels are escaped
for matplotlib's mathtext.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import Engine

from harness.layout import (  # <run>/rl/<algo>/metrics.jsonl: the rl suite's curves
    METRICS_FILE,
    RL_DIR,
)
from harness.metric_keys import bon_n, noise_rate, parse_bon_metric, parse_rl_step
from harness.metrics import kl_bon
from leaderboards.claims import FAILS, HOLDS, INCONCLUSIVE, LEVEL, NO_DATA, ClaimsTable, claims_table
from leaderboards.queries import facts, leaderboard
from leaderboards.render import Grid, flat_grid
from leaderboards.tables import (
    BON_SUITE,
    LAYOUTS,
    RL_SUITE,
    PaperTable,
    experiments,
    labels,
    table,
)

log = logging.getLogger(__name__)

RL_CURVES = {"reward": "proxy reward (RM)", "gold": "gold reward", "kl": "KL to the initial policy"}
_VERDICT_CLASSES = {FAILS: "fails", HOLDS: "holds", INCONCLUSIVE: "inconclusive", NO_DATA: "nodata"}

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1200px;color:#1d2430;
padding:0 1rem}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #d8dde6;padding-bottom:.3rem}
.meta,.note,.empty{color:#5b6575}.empty{font-style:italic}
nav a{margin-right:1rem}
table{border-collapse:collapse;margin:.6rem 0;font-variant-numeric:tabular-nums;max-width:100%}
th,td{padding:.3rem .6rem;border-bottom:1px solid #e6e9ef;text-align:left;vertical-align:top;
overflow-wrap:anywhere;min-width:4.5rem}th:first-child,td:first-child{min-width:9rem}
.legend{font-size:12px}.legend td{padding:.1rem .6rem}
th{background:#f3f5f9}td.r,th.r{text-align:right}td.r{overflow-wrap:normal}
.wide{overflow-x:auto;max-width:100%}
td.holds{color:#17663a;font-weight:600}td.fails{color:#a4262c;font-weight:600}
td.inconclusive{color:#8a5a00}td.nodata{color:#7b8494}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #e6e9ef}
details summary{cursor:pointer;font-weight:600}
</style></head>
<body>
<h1>{{ title }}</h1>
<p class="meta">Generated {{ generated }} · database {{ database }} · runs {{ runs_dir }} · filters: {{ filters }}</p>
<nav>{% for section in sections %}<a href="#{{ section.id }}">{{ section.title }}</a>{% endfor %}</nav>
{% for section in sections %}
<section id="{{ section.id }}"><h2>{{ section.title }}</h2>
{% if section.grid %}{% set grid = section.grid %}
{% if grid.rows %}
<div class="wide"><table><thead><tr>
{% for head, align in zip(grid.header, grid.align) %}<th class="{{ align }}">{{ head }}</th>
{% endfor %}</tr></thead><tbody>
{% for row in grid.rows %}<tr>{% for cell, align in zip(row, grid.align) %}<td class="{{ align }} {{ verdict_class(cell) }}">
{%- if cell.startswith("**") and cell.endswith("**") %}<strong>{{ cell[2:-2] }}</strong>{% else %}{{ cell }}{% endif -%}
</td>{% endfor %}</tr>
{% endfor %}</tbody></table></div>
{% for note in grid.notes %}<p class="note">{{ note }}</p>{% endfor %}
{% else %}<p class="empty">No results.</p>{% endif %}
{% elif section.png %}<figure><img alt="{{ section.title }}" src="data:image/png;base64,{{ section.png }}">
<figcaption class="note">{{ section.caption }}</figcaption></figure>
{% if section.legend %}<table class="legend"><thead><tr><th>in the legend</th><th>model</th></tr></thead><tbody>
{% for short, full in section.legend %}<tr><td title="{{ full }}">{{ short }}</td><td>{{ full }}</td></tr>
{% endfor %}</tbody></table>{% endif %}
{% else %}<p class="empty">{{ section.caption }}</p>{% endif %}
</section>
{% endfor %}
<section id="runs"><h2>Runs</h2><details><summary>{{ runs|length }} recorded runs</summary>
<table><thead><tr><th>run</th><th>method</th><th>method config</th><th>preset</th><th>backbone</th><th>data</th>
<th class="r">seed</th><th>recorded</th></tr></thead><tbody>
{% for run in runs %}<tr><td>{{ run.run_id }}</td><td>{{ run.method }}</td><td>{{ run.method_config }}</td>
<td>{{ run.preset }}</td><td>{{ run.backbone }}</td><td>{{ run.data }}</td><td class="r">{{ run.seed }}</td>
<td>{{ run.recorded_at }}</td></tr>
{% endfor %}</tbody></table></details></section>
</body></html>
"""


def build_report(engine: Engine, runs_dir: str | Path = "runs", title: str = "rmbench report",
                 **filters: str | None) -> str:
    """The report as one HTML string, over the results matching ``filters`` (preset, backbone, data, …)."""
    tables = {name: table(engine, name, **filters) for name in LAYOUTS}
    rows = facts(engine, **filters)
    sections = [_section(name, t.title, grid=t.grid()) for name, t in tables.items()]
    claims = claims_table(engine, runs_dir=Path(runs_dir), **filters)
    sections.append(_section("claims", "Paper claims", grid=claims.grid()))
    png, caption = _forest_plot(claims)
    sections.append(_section("claims-plot", "Claims: differences with their confidence intervals", png=png,
                             caption=caption))
    plots = (("convergence", "Convergence: validation accuracy vs step", lambda: _convergence(rows, Path(runs_dir))),
             ("bon-plot", "Best-of-N: gold score vs KL", lambda: _bon_plot(tables["bon"])),
             ("overopt-plot", "Over-optimisation: gold (solid) and proxy (dashed) gain vs sqrt(KL)",
              lambda: _overopt_plot(rows)),
             ("rl-plot", "RL against the RM: proxy reward, gold reward and KL per step",
              lambda: _rl_plot(rows, Path(runs_dir))),
             ("noise-plot", "Accuracy vs label-noise rate", lambda: _noise_plot(tables["noise"])),
             ("splits-plot", "Generalisation splits per method", lambda: _splits_plot(tables["splits"])))
    for section_id, plot_title, draw in plots:
        with _legend_key() as key:
            png, caption = draw()
        sections.append(_section(section_id, plot_title, png=png, caption=caption, legend=sorted(key.items())))
    sections.append(_section("leaderboard", "All metrics (mean ± std over seeds)",
                             grid=flat_grid(leaderboard(engine, **filters))))
    runs = {r["run_id"]: {**r, "method_config": json.dumps(r["method_config"], sort_keys=True)} for r in rows}
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_TEMPLATE).render(
        title=title, generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        database=engine.url.render_as_string(hide_password=True), runs_dir=str(runs_dir),
        filters=", ".join(f"{k}={v}" for k, v in filters.items() if v is not None) or "none", sections=sections,
        runs=sorted(runs.values(), key=lambda r: r["run_id"]), zip=zip, verdict_class=_verdict_class)


def _section(section_id: str, title: str, grid: Grid | None = None, png: str | None = None,
             caption: str = "", legend: list[tuple[str, str]] = ()) -> dict[str, Any]:
    """A report section: a table (``grid``), a plot (``png`` with ``caption``, and ``legend``: its shortened legend
    labels with what each stands for) or, with neither, the ``caption``."""
    return {"id": section_id, "title": title, "grid": grid, "png": png, "caption": caption, "legend": list(legend)}


def _verdict_class(cell: str) -> str:
    return next((cls for verdict, cls in _VERDICT_CLASSES.items() if cell.split(" (")[0] == verdict), "")


# --- plots: each returns (base64 PNG or None, caption or the reason there is no plot) ---------------------------


def _mathtext_safe(text: str) -> str:
    return text.replace("$", r"\$")


_PATH = re.compile(r"[^\s=(),]*/[^\s=(),]*[^\s=(),/]")  # a path or Hub id inside a label: it has a "/"
_shortened: list[dict[str, str]] = []  # the legend keys being collected (see _legend_key): last part → path


@contextlib.contextmanager
def _legend_key():
    """Collect {last part: path} of the paths :func:`_legend_label` cuts while drawing one plot."""
    _shortened.append({})
    try:
        yield _shortened[-1]
    finally:
        _shortened.pop()


def _legend_label(text: str) -> str:
    """A legend label with every path in it cut to its last part (an external model by its directory name); each
    cut path goes into the current legend key (last part → path), shown as a table under the plot."""

    def cut(match: re.Match) -> str:
        name = match.group().rsplit("/", 1)[-1]
        if _shortened:
            _shortened[-1][name] = match.group()
        return name

    return _mathtext_safe(_PATH.sub(cut, text))


def _outside_legend(axes) -> None:
    """One legend for the figure, below the axes (never over the curves, never cut off): each label once."""
    handles = {label: h for ax in axes for h, label in zip(*ax.get_legend_handles_labels())}
    if handles:
        per_row = max(1, min(3, len(handles), 110 // (max(map(len, handles)) + 6)))  # as many as fit the width
        axes[0].figure.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=per_row,
                              fontsize="small")


def _no_results(ax, text: str) -> None:
    """A panel with nothing to draw says so instead of showing empty axes."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#5b6575")


def _png(draw: Callable[[Any], None], ncols: int = 1, height: float = 4.2) -> str:
    """Draw on a fresh Agg figure with ``ncols`` axes (``height`` inches tall) and return it as base64 PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(7.0, 3.2 * ncols), height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig.subplots(1, ncols, squeeze=False)[0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _read_records(path: Path) -> list[dict]:
    """The records of a ``metrics.jsonl``; a missing file gives nothing, an unreadable one is logged."""
    if not path.exists():
        return []
    try:
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        log.warning("skipping %s: %s", path, exc)
        return []
    return [r for r in lines if isinstance(r, dict) and isinstance(r.get("step"), int)]


def _read_curve(path: Path, key: str = "val_accuracy") -> dict[int, float]:
    """step → ``key`` from a ``metrics.jsonl``."""
    return {r["step"]: r[key] for r in _read_records(path) if isinstance(r.get(key), (int, float))}


def _convergence(rows: list[dict[str, Any]], runs_dir: Path) -> tuple[str | None, str]:
    curves: dict[str, list[dict[int, float]]] = defaultdict(list)
    for exp in experiments(rows):
        for run_id in sorted(exp.run_ids):
            if (curve := _read_curve(runs_dir / run_id / METRICS_FILE)):
                curves[exp.method].append(curve)
    if not curves:
        return None, f"No training curves ({METRICS_FILE} with val_accuracy) under {runs_dir}."

    def draw(axes):
        ax = axes[0]
        for method, runs in sorted(curves.items()):
            steps = sorted({s for run in runs for s in run})
            means = [statistics.fmean(run[s] for run in runs if s in run) for s in steps]
            (line,) = ax.plot(steps, means, marker="o", ms=3, label=_legend_label(f"{method} ({len(runs)} runs)"))
            for run in runs:
                ax.plot(sorted(run), [run[s] for s in sorted(run)], color=line.get_color(), alpha=0.25, lw=0.8)
        ax.set(xlabel="optimiser step", ylabel="validation accuracy")
        ax.grid(alpha=0.3)
        _outside_legend(axes)

    return _png(draw), "Bold lines: mean over runs of a method; faint lines: single runs."


def _rl_plot(rows: list[dict[str, Any]], runs_dir: Path) -> tuple[str | None, str]:
    """Proxy reward, gold reward and KL per RL step, one line per run and algorithm (``<run>/rl/<algo>/``)."""
    lines = []
    for exp in experiments(rows):
        for run_id in sorted(exp.run_ids):
            for path in sorted((runs_dir / run_id / RL_DIR).glob(f"*/{METRICS_FILE}")):
                curves = {key: _read_curve(path, key) for key in RL_CURVES}
                if curves["reward"]:
                    lines.append((f"{exp.method} {path.parent.name} ({run_id[-6:]})", curves))
    if not lines:
        return None, f"No RL curves ({RL_DIR}/<algo>/{METRICS_FILE}; suite 'rl') under {runs_dir}."

    def draw(axes):
        for ax, (key, ylabel) in zip(axes, RL_CURVES.items()):
            for label, curves in lines:
                ax.plot(sorted(curves[key]), [curves[key][s] for s in sorted(curves[key])], marker="o", ms=2,
                        label=_legend_label(label))
            ax.set(xlabel="RL step", ylabel=ylabel)
            ax.grid(alpha=0.3)
        _outside_legend(axes)

    return _png(draw, ncols=len(RL_CURVES)), ("Proxy reward is what RL optimises; gold reward is the world's r*: "
                                              "a proxy rise without a gold rise is over-optimisation.")


_BON_CURVES = {"gold_score": "gold", "proxy_score": "proxy"}  # best-of-n quantity → curve


def _overopt_curves(exp, suite: str) -> dict[str, list[tuple[float, float, float]]]:
    """split → [(d, gold gain, proxy gain)] of one experiment (means over seeds): best-of-N from the per-n rows
    (d = sqrt(KL_BoN)), RL from the per-step rows (d = sqrt(KL)); gains over n = 1 / step 1."""
    per: dict[tuple[str, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rows in exp.seeds.values():
        for r in rows:
            if r["suite"] != suite:
                continue
            if suite == BON_SUITE:
                quantity, n = parse_bon_metric(r["metric"]) or (None, 0)
                if quantity in _BON_CURVES:
                    per[r["split"], n][_BON_CURVES[quantity]].append(r["value"])
            elif parsed := parse_rl_step(r["metric"]):
                per[r["split"], parsed[1]][parsed[0]].append(r["value"])
    out: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for (split, k), values in sorted(per.items()):
        if not {"gold", "proxy"} <= set(values):
            continue
        d = math.sqrt(kl_bon(k)) if suite == BON_SUITE else statistics.fmean(values.get("sqrt_kl", [math.nan]))
        out[split].append((d, statistics.fmean(values["gold"]), statistics.fmean(values["proxy"])))
    return {split: [(d, g - pts[0][1], p - pts[0][2]) for d, g, p in pts] for split, pts in out.items()
            if len(pts) >= 2}


def _overopt_plot(rows: list[dict[str, Any]]) -> tuple[str | None, str]:
    """Gao et al. (2023) Fig. 1 style: per method, gold gain solid and proxy gain dashed against d = sqrt(KL), one
    panel for best-of-N, one for RL."""
    exps = experiments(rows)
    names = labels(exps)
    suite_of = {"best-of-N": BON_SUITE, "RL": RL_SUITE}
    panels = [(title, [(names[e.config_hash], split, pts) for e in exps
                       for split, pts in _overopt_curves(e, suite).items()])
              for title, suite in suite_of.items()]
    if not any(lines for _, lines in panels):
        return None, "No best-of-N or RL curves (suites 'bon' / 'rl')."

    def draw(axes):
        colours: dict[str, str] = {}
        for ax, (title, lines) in zip(axes, panels):
            if not lines:
                _no_results(ax, f"{title}: no results (suite '{suite_of[title]}')")
                continue
            for label, split, pts in lines:
                colour = colours.setdefault(label, f"C{len(colours)}")
                ds = [d for d, _, _ in pts]
                ax.plot(ds, [g for _, g, _ in pts], "-", marker="o", ms=3, color=colour,
                        label=_legend_label(f"{label} {split} gold"))
                ax.plot(ds, [p for _, _, p in pts], "--", marker="x", ms=3, color=colour,
                        label=_legend_label(f"{label} {split} proxy"))
            ax.set(title=title, xlabel="d = sqrt(KL)", ylabel="gain over the initial policy")
            ax.grid(alpha=0.3)
        _outside_legend(axes)

    return _png(draw, ncols=2), ("Gold (solid) and proxy (dashed) score minus their value at n = 1 / RL step 1, "
                                 "means over seeds; the proxy is in the RM's own units. Gao et al. (2023) fit "
                                 "d(α − βd) to best-of-N and d(α − β ln d) to RL: see the overopt table.")


def _series(t: PaperTable, x_of: Callable[[Any], float]) -> list[tuple[str, list[float], list[float], list[float]]]:
    """Per row of ``t`` (and per split, when the columns span several): label, x (from each column), mean and std
    of the cells that have a value."""
    splits = sorted({col.split or "" for col in t.columns})
    out = []
    for row in t.rows:
        for split in splits:
            points = [(x_of(col), cell.mean, cell.std or 0.0) for col, cell in zip(t.columns, row.cells)
                      if cell and (col.split or "") == split]
            if points:
                label = f"{row.label} ({split})" if len(splits) > 1 else row.label
                out.append((_legend_label(label), *map(list, zip(*points))))
    return out


def _line_plot(t: PaperTable, x_of: Callable[[Any], float], xlabel: str, ylabel: str) -> str:
    def draw(axes):
        ax = axes[0]
        for label, xs, ys, errs in _series(t, x_of):
            ax.errorbar(xs, ys, yerr=errs, marker="o", ms=4, capsize=3, label=label)
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.grid(alpha=0.3)
        _outside_legend(axes)

    return _png(draw)


def _bon_plot(t: PaperTable) -> tuple[str | None, str]:
    if not t.rows:
        return None, "No best-of-N results (suite 'bon', metric 'gold_score@n=K')."
    return (_line_plot(t, lambda col: kl_bon(bon_n(col.metric)), "KL(best-of-n ‖ base) = log n − (n−1)/n",
                       "expected gold score"), "Error bars: std over seeds.")


def _noise_plot(t: PaperTable) -> tuple[str | None, str]:
    if not t.rows:
        return None, "No label-noise results (suite 'noise', split 'noise_<rate>')."
    return (_line_plot(t, lambda col: noise_rate(col.split), "training label-noise rate", "accuracy"),
            "Error bars: std over seeds.")


def _splits_plot(t: PaperTable) -> tuple[str | None, str]:
    if not t.rows:
        return None, "No generalisation-splits results (suite 'splits')."

    def draw(axes):
        width = 0.8 / len(t.rows)
        for i, (ax, column) in enumerate(zip(axes, t.columns)):
            for j, row in enumerate(t.rows):
                cell = row.cells[i]
                if cell:
                    ax.bar(j * width, cell.mean, width, yerr=cell.std or 0.0, capsize=3, color=f"C{j}",
                           label=_legend_label(row.label))
            ax.set_title(column.title)
            ax.set_xticks([])
            ax.grid(axis="y", alpha=0.3)
        _outside_legend(axes)

    return _png(draw, ncols=len(t.columns)), "Bars: mean over seeds per method; error bars: std."


_VERDICT_COLOURS = {HOLDS: "#17663a", FAILS: "#a4262c", INCONCLUSIVE: "#8a5a00"}


def _forest_plot(claims: ClaimsTable) -> tuple[str | None, str]:
    """One row per judged claim: its difference (gain sign as recorded: method − baseline) and confidence interval,
    in points for [0, 1] measures; zero marked, coloured by verdict."""
    rows = [j for j in claims.judgements if j.ci is not None]
    if not rows:
        return None, "No claim has a confidence interval yet (each needs results on both sides)."

    def draw(axes):
        ax = axes[0]
        for y, j in enumerate(reversed(rows)):
            scale = 100.0 if j.in_points else 1.0
            low, high = (scale * x for x in j.ci)
            colour = _VERDICT_COLOURS.get(j.verdict, "#7b8494")
            ax.plot([low, high], [y, y], color=colour, lw=2)
            ax.plot([scale * j.diff], [y], "o", color=colour, ms=5)
        ax.axvline(0.0, color="#1d2430", lw=1, ls="--")
        ax.set_yticks(range(len(rows)), [_mathtext_safe(f"{j.claim.text} [{j.measure}]") for j in reversed(rows)],
                      fontsize="x-small")
        ax.set(xlabel="method − baseline (points for accuracies and scores, else the measure's unit)")
        ax.grid(axis="x", alpha=0.3)

    return _png(draw, height=max(2.5, 0.32 * len(rows) + 1.2)), (
        f"Dots: the mean difference; bars: its {1 - LEVEL:.0%} confidence interval (green holds, red does not "
        f"hold, amber inconclusive); the dashed line is zero. A lower-is-better measure supports its claim below zero.")
