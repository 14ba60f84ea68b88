"""Comparison tables from the runs frame: mean ± std over seeds per arm, in the paper's layouts.

Layouts (METHOD.md §9): `vbench` = Table 1's six VBench dimensions in percent; `ablation` = the
ablation's four (Sub. Cons / Back. Cons / Aest / Img); every other metric of a track goes to an extra
table. Only FINISHED runs are averaged. The best of our rows per column is marked; published rows
sit below ours, labelled "(published)", and are never marked or averaged. Writers: Markdown, LaTeX
(booktabs), HTML; `summarize` gives the raw numbers for CSV.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import pandas as pd

from benchmarks.metrics.specs import SPECS, MetricSpec
from reports import published
from reports.runs import FINISHED, split_metric, track_sort_key

LAYOUTS = ("auto", "vbench", "ablation")


def metric_info(name: str) -> MetricSpec:
    """Display facts of a metric (label, scale, decimals, direction: its row in the metric table,
    benchmarks/metrics/specs.py); unknown metrics are shown raw, 4 decimals, without a best mark."""
    return SPECS.get(name) or MetricSpec(name, "", name, 1.0, None, 4)


@dataclass
class Cell:
    mean: float  # display units
    std: float  # display units; NaN for one seed or a published value
    n: int | None  # seeds averaged; None for a published value
    best: bool = False


@dataclass
class Row:
    label: str
    source: str  # "ours" | "published"
    n: int | None  # finished runs of the arm
    cells: dict[str, Cell]
    role: str = "arm"


@dataclass
class Table:
    title: str
    track: str
    layout: str  # "vbench" | "ablation" | "other"
    columns: list[MetricSpec]
    rows: list[Row]
    footnotes: list[str] = field(default_factory=list)

    @property
    def ours(self) -> list[Row]:
        return [r for r in self.rows if r.source == "ours"]

    @property
    def published(self) -> list[Row]:
        return [r for r in self.rows if r.source == "published"]


# -- aggregation ---------------------------------------------------------------------------------


def finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == FINISHED]


def not_finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] != FINISHED]


def arm_order(runs: pd.DataFrame, declared: list[str] | None = None) -> list[str]:
    """Baseline arms first, then the declared order (when given), then the rest alphabetically."""
    arms = list(dict.fromkeys(runs["arm"]))
    baseline = set(runs.loc[runs["role"] == "baseline", "arm"])
    rank = {a: i for i, a in enumerate(declared or [])}
    return sorted(arms, key=lambda a: (a not in baseline, rank.get(a, len(rank)), a))


def summarize(runs: pd.DataFrame, declared: list[str] | None = None) -> pd.DataFrame:
    """Raw numbers per (track, arm, metric) over FINISHED runs, on the logged scale.

    Columns: track, suite, length, arm, role, metric, mean, std (sample std, NaN for n = 1), n,
    backend (the `metric_backend.<metric>` tags of the runs averaged; '; '-joined when they differ).
    """
    done = finished(runs)
    rows = []
    order = arm_order(runs, declared)
    cols = [c for c in runs.columns if split_metric(c)]
    rank = {m: i for i, m in enumerate(SPECS)}
    cols.sort(key=lambda c: (track_sort_key(split_metric(c)[0]), rank.get(split_metric(c)[3], len(rank)), c))
    for col in cols:
        track, suite, length, metric = split_metric(col)
        for arm in order:
            sub = done[done["arm"] == arm]
            values = sub[col].dropna() if col in sub else pd.Series(dtype=float)
            if values.empty:
                continue
            backends = sorted({b.get(metric, "unknown") for b in sub.loc[values.index, "backends"]})
            rows.append(
                {
                    "track": track,
                    "suite": suite,
                    "length": length,
                    "arm": arm,
                    "role": "baseline" if (sub["role"] == "baseline").any() else "arm",
                    "metric": metric,
                    "mean": float(values.mean()),
                    "std": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
                    "n": int(len(values)),
                    "backend": "; ".join(backends),
                }
            )
    cols = ["track", "suite", "length", "arm", "role", "metric", "mean", "std", "n", "backend"]
    return pd.DataFrame(rows, columns=cols)


def is_ablation(experiment: str | None, arms: list[str]) -> bool:
    """Ablation experiments: named ablation* or with arms that remove an error type (no_e*)."""
    return bool(experiment and experiment.startswith("ablation")) or any(a.startswith("no_e") for a in arms)


def _metric_order(metrics: list[str]) -> list[str]:
    known = [m for m in SPECS if m in metrics]
    return known + sorted(m for m in metrics if m not in SPECS)


def _mark_best(rows: list[Row], columns: list[MetricSpec]) -> None:
    for info in columns:
        if info.higher_is_better is None:
            continue
        # compare what the reader sees, so two means that print the same are both marked
        shown = {id(r): round(r.cells[info.name].mean, info.decimals) for r in rows if info.name in r.cells}
        if len(shown) < 2:
            continue
        best = max(shown.values()) if info.higher_is_better else min(shown.values())
        for r in rows:
            if shown.get(id(r)) == best:
                r.cells[info.name].best = True


def _backend_note(summary: pd.DataFrame, columns: list[MetricSpec]) -> str:
    """Which backend produced each column; per arm where the arms differ."""
    groups: dict[str, list[str]] = {}
    for info in columns:
        sub = summary[summary["metric"] == info.name]
        per_arm = dict(zip(sub["arm"], sub["backend"]))
        kinds = set(per_arm.values())
        if len(kinds) == 1:
            key = next(iter(kinds))
        else:
            key = ", ".join(
                f"{b} ({', '.join(a for a, x in per_arm.items() if x == b)})" for b in sorted(kinds)
            )
        groups.setdefault(key, []).append(info.label)
    parts = [f"{', '.join(labels)}: {backend}" for backend, labels in groups.items()]
    note = "Backend: " + "; ".join(parts) + "."
    if any(";" in b for b in summary["backend"]):
        note += " Warning: some arms average seeds scored with different backends; rescore them with one."
    return note


def _published_rows(table: published.PublishedTable, columns: list[MetricSpec]) -> list[Row]:
    names = {c.name for c in columns}
    rows = []
    for prow in table.rows:
        cells = {m: Cell(v, float("nan"), None) for m, v in prow.values.items() if m in names}
        if cells:
            rows.append(Row(f"{prow.label} (published)", "published", None, cells))
    return rows


def _published_note(table: published.PublishedTable) -> str:
    return (
        f"(published): {published.SOURCE}, {table.where}, as printed there; not produced by this harness, "
        "not averaged or ranked with our rows; the paper's lengths and backends may differ from this run's."
    )


def _table(
    title: str,
    track: str,
    layout: str,
    metrics: list[str],
    summary: pd.DataFrame,
    n_runs: dict[str, int],
    order: list[str],
    pub: published.PublishedTable | None,
) -> Table:
    columns = [metric_info(m) for m in metrics]
    sub = summary[(summary["track"] == track) & (summary["metric"].isin(metrics))]
    rows: list[Row] = []
    for arm in (a for a in order if a in set(sub["arm"])):
        arm_rows = sub[sub["arm"] == arm]
        cells = {}
        for rec in arm_rows.itertuples():
            info = metric_info(rec.metric)
            cells[rec.metric] = Cell(rec.mean * info.scale, rec.std * info.scale, int(rec.n))
        rows.append(Row(arm, "ours", n_runs.get(arm, 0), cells, arm_rows["role"].iloc[0]))
    _mark_best(rows, columns)
    notes = [_backend_note(sub, columns)]
    if any(c.scale == 100.0 for c in columns):
        notes.append("VBench dimensions in percent (logged on 0-1, x100).")
    notes.append("Cells: mean ± sample std over seeds; n = finished runs averaged; best of our rows in bold.")
    if pub is not None:
        pub_rows = _published_rows(pub, columns)
        if pub_rows:
            rows += pub_rows
            notes.append(_published_note(pub))
    return Table(title, track, layout, columns, rows, notes)


def build_tables(
    runs: pd.DataFrame,
    experiment: str | None = None,
    layout: str = "auto",
    declared: list[str] | None = None,
    with_published: bool = True,
) -> list[Table]:
    """The comparison tables of one experiment: per track a main table (vbench or ablation layout)
    and, when the track has other metrics, an extra table."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if layout == "auto":
        layout = "ablation" if is_ablation(experiment, list(runs["arm"].unique())) else "vbench"
    summary = summarize(runs, declared)
    order = arm_order(runs, declared)
    n_runs = finished(runs).groupby("arm").size().to_dict()
    main_metrics = list(published.ABLATION_FOUR if layout == "ablation" else published.VBENCH_SIX)
    tables = []
    for track in sorted(summary["track"].unique(), key=track_sort_key):
        suite = split_metric(f"{track}/x")[1]
        present = set(summary.loc[summary["track"] == track, "metric"])
        main = [m for m in main_metrics if m in present]
        if main:
            if layout == "ablation":
                pub, title = published.ABLATION, f"{track}: error-injection ablation (%)"
            else:
                pub, title = published.vbench_rows(suite), f"{track}: VBench dimensions (%)"
            tables.append(
                _table(title, track, layout, main, summary, n_runs, order, pub if with_published else None)
            )
        other = _metric_order(sorted(present - set(main)))
        if other:
            pub = published.conditional_rows(suite) if with_published else None
            tables.append(
                _table(f"{track}: other metrics", track, "other", other, summary, n_runs, order, pub)
            )
    return tables


# -- writers -------------------------------------------------------------------------------------

DASH = "–"


def format_cell(cell: Cell | None, info: MetricSpec, row_n: int | None, pm: str = "±") -> str:
    """'87.03 ± 0.12', '87.03' for one seed, '87.03 ± 0.12 (n=2)' when fewer seeds than the row's n."""
    if cell is None or not math.isfinite(cell.mean):
        return DASH
    text = f"{cell.mean:.{info.decimals}f}"
    if cell.n is not None and cell.n > 1 and math.isfinite(cell.std):
        text += f" {pm} {cell.std:.{info.decimals}f}"
    if cell.n is not None and row_n is not None and cell.n != row_n:
        text += f" (n={cell.n})"
    return text


def _arrow(info: MetricSpec, up: str, down: str) -> str:
    return {True: f" {up}", False: f" {down}", None: ""}[info.higher_is_better]


def _n_text(row: Row) -> str:
    return str(row.n) if row.n is not None else DASH


def to_markdown(table: Table) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    header = ["Arm", "n"] + [esc(c.label) + _arrow(c, "↑", "↓") for c in table.columns]
    lines = [
        f"**{esc(table.title)}**",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":--"] + ["--:"] * (len(header) - 1)) + "|",
    ]
    for row in table.rows:
        cells = []
        for c in table.columns:
            cell = row.cells.get(c.name)
            text = esc(format_cell(cell, c, row.n))
            cells.append(f"**{text}**" if cell is not None and cell.best else text)
        lines.append("| " + " | ".join([esc(row.label), _n_text(row), *cells]) + " |")
    lines.append("")
    lines += [f"{esc(note)}  " for note in table.footnotes]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "–": "--",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(table: Table) -> str:
    ncols = 2 + len(table.columns)
    header = ["Arm", "$n$"] + [
        latex_escape(c.label) + _arrow(c, r"$\uparrow$", r"$\downarrow$") for c in table.columns
    ]
    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        rf"\caption{{{latex_escape(table.title)}}}",
        r"\resizebox{\linewidth}{!}{%",
        rf"\begin{{tabular}}{{l{'r' * (ncols - 1)}}}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    for i, row in enumerate(table.rows):
        if row.source == "published" and (i == 0 or table.rows[i - 1].source != "published"):
            lines.append(r"\midrule")
        cells = []
        for c in table.columns:
            cell = row.cells.get(c.name)
            text = latex_escape(format_cell(cell, c, row.n))
            cells.append(rf"\textbf{{{text}}}" if cell is not None and cell.best else text)
        label = latex_escape(row.label)
        if row.source == "published":
            label = rf"\emph{{{label}}}"
        lines.append(" & ".join([label, latex_escape(_n_text(row)), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\par\smallskip"]
    lines += [rf"{{\footnotesize {latex_escape(note)}\par}}" for note in table.footnotes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def to_html(table: Table) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c.label + _arrow(c, '↑', '↓'))}</th>" for c in table.columns)
    parts = [
        '<table class="results">',
        f"<caption>{e(table.title)}</caption>",
        f"<thead><tr><th>Arm</th><th>n</th>{head}</tr></thead>",
    ]
    for source in ("ours", "published"):
        rows = [r for r in table.rows if r.source == source]
        if not rows:
            continue
        parts.append(f'<tbody class="{source}">')
        for row in rows:
            tds = []
            for c in table.columns:
                cell = row.cells.get(c.name)
                text = e(format_cell(cell, c, row.n))
                tds.append(
                    f"<td><b>{text}</b></td>" if cell is not None and cell.best else f"<td>{text}</td>"
                )
            parts.append(f"<tr><th>{e(row.label)}</th><td>{e(_n_text(row))}</td>{''.join(tds)}</tr>")
        parts.append("</tbody>")
    parts.append("</table>")
    parts += [f'<p class="note">{e(note)}</p>' for note in table.footnotes]
    return "\n".join(parts) + "\n"
