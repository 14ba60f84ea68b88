"""Build the report files of an experiment or a sweep from its MLflow runs.

    build_report("ablation_eimg", out_dir)      -> report.md, report.tex, report.html, results.csv, drift_*.png
                                                   (every number with its 95% interval; differences
                                                   against the reference arm with a paired bootstrap)
    build_sweep_report("injection_probs", out)  -> report.md, report.tex, report.html, trials.csv,
                                                   objective_vs_params.png
The harness logs the returned files to MLflow; this module only reads MLflow and writes files.
Names from data (experiment, arms, tracks, samples, metrics, backends, presets) are text in every file:
escaped for Markdown, LaTeX and HTML, and neutralised in CSV text columns so that a spreadsheet does
not run them as formulas (`reports/escape.py`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from reports import margins as M
from reports import stats as S
from reports import tables as T
from reports import verdicts as V
from reports.colours import arm_colours
from reports.escape import html_text, markdown_of, markdown_text, plain, words
from reports.frames import (
    FINISHED,
    PROBE_PREFIX,
    REFERENCE_ROLE,
    STAGES,
    WINDOW_LEVEL,
    split_score_key,
    sweep_params,
)
from reports.plots import drift_filename, metric_rank, plot_drift, plot_forest, plot_sweep
from reports.registration import number_of

# Backends whose numbers are results; anything else (random-init, toy) only exercises the pipeline.
RESULT_BACKENDS = {"vbench-weights", "vbench"}
# Formulas without a network (PSNR/SSIM, the direct drift measures): results under any backend.
WEIGHT_FREE_BACKENDS = {"reference", "direct"}


def backend_notes(backends: set[str]) -> list[str]:
    """Warnings for numbers that are not VBench results: random networks (pipeline checks only) and
    toy-world networks (results within the toy world, comparable between arms scored the same way)."""
    others = set(backends) - RESULT_BACKENDS - WEIGHT_FREE_BACKENDS
    toy = sorted(b for b in others if b.startswith("toy"))
    pipeline = sorted(others - set(toy))
    notes = []
    if pipeline:
        notes.append(
            f"some numbers come from backend(s) {', '.join(pipeline)}, which exercise the pipeline (random "
            "networks): they are not results and not comparable with the published rows."
        )
    if toy:
        notes.append(
            f"some numbers come from toy-world backend(s) {', '.join(toy)}: they compare arms scored the "
            "same way in the toy world and are not comparable with the published rows."
        )
    if notes:
        notes[-1] += " Each table's footnote names the backend of every column."
    return [plain(note) for note in notes]  # backend names in words of ours without markup


DIRECTIONS = ("maximize", "minimize")
METRIC_NAMES = "<suite>_<length>/<metric>"  # how final scores are named; a pattern, shown literally

_HTML_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 1em 0 0.3em; font-size: 0.9em; }
caption { font-weight: bold; text-align: left; padding-bottom: 0.3em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child { text-align: left; }
thead th { border-bottom: 2px solid #444; }
tbody.published { font-style: italic; color: #555; border-top: 2px solid #444; }
p.note { font-size: 0.8em; color: #555; margin: 0.1em 0; }
p.warn { background: #fff3cd; padding: 0.5em; }
img { max-width: 100%; }
""".strip()


# -- simple frames (run lists, trials) in the three formats --------------------------------------


# A frame's headers and cells are names and numbers already formatted as text: every one is escaped.


def _frame_markdown(df: pd.DataFrame, bold: set[tuple[int, str]] = frozenset()) -> str:
    def cell(i: int, c: str) -> str:
        text = markdown_text(df.at[i, c])
        return f"**{text}**" if (i, c) in bold else text

    head = [markdown_text(c) for c in df.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(df.columns)) + "|"]
    lines += ["| " + " | ".join(cell(i, c) for c in df.columns) + " |" for i in df.index]
    return "\n".join(lines) + "\n"


def _frame_latex(df: pd.DataFrame, bold: set[tuple[int, str]] = frozenset()) -> str:
    def cell(i: int, c: str) -> str:
        text = T.latex_name(str(df.at[i, c]))
        return rf"\textbf{{{text}}}" if (i, c) in bold else text

    lines = [
        r"\begin{center}\footnotesize",
        rf"\begin{{tabular}}{{{'l' * len(df.columns)}}}",
        r"\toprule",
        " & ".join(T.latex_name(str(c)) for c in df.columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(cell(i, c) for c in df.columns) + r" \\" for i in df.index]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{center}"]
    return "\n".join(lines) + "\n"


def _frame_html(df: pd.DataFrame, bold: set[tuple[int, str]] = frozenset()) -> str:
    def cell(i: int, c: str) -> str:
        text = html_text(df.at[i, c])
        return f"<td><b>{text}</b></td>" if (i, c) in bold else f"<td>{text}</td>"

    head = "".join(f"<th>{html_text(c)}</th>" for c in df.columns)
    body = "\n".join("<tr>" + "".join(cell(i, c) for c in df.columns) + "</tr>" for i in df.index)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n"


# The most columns a frame's table has (`split_columns`): five short columns fit the documentation's text
# column (about 690 px at 1400 px; tests/test_site_layout.py checks it).
FRAME_COLUMNS = 5


def split_columns(df: pd.DataFrame, keys: int, most: int = FRAME_COLUMNS) -> list[pd.DataFrame]:
    """`df` as frames of its first `keys` columns and, in order, near-equal runs of the others, each
    frame at most `most` columns wide; [df] when it is that narrow already."""
    if len(df.columns) <= most:
        return [df]
    head, rest = list(df.columns[:keys]), list(df.columns[keys:])
    per = max(most - keys, 1)
    n = -(-len(rest) // per)
    size = -(-len(rest) // n)
    return [df[head + rest[i * size : (i + 1) * size]] for i in range(n)]


# -- documents -----------------------------------------------------------------------------------


class _Doc:
    """The same sections written as Markdown, LaTeX and HTML side by side. The title and image captions
    are plain text (names in them); section names are ours; a paragraph is ours, its names in `Words`."""

    def __init__(self, title: str):
        self.title = title
        self.md: list[str] = [f"# {markdown_text(title)}\n"]
        self.tex: list[str] = []
        self.html: list[str] = [f"<h1>{html_text(title)}</h1>"]

    def section(self, name: str) -> None:
        self.md.append(f"## {name}\n")
        self.tex.append(rf"\section*{{{T.latex_escape(name)}}}")
        self.html.append(f"<h2>{html_text(name)}</h2>")

    def subsection(self, name: str) -> None:
        self.md.append(f"### {name}\n")
        self.tex.append(rf"\subsection*{{{T.latex_escape(name)}}}")
        self.html.append(f"<h3>{html_text(name)}</h3>")

    def fold(self, summary: str, is_open: bool = False) -> None:
        """Start a collapsible block (closed unless `is_open`) whose line is `summary` (our words):
        HTML's <details> in Markdown (rendered by MkDocs' md_in_html and by GitHub) and HTML; in
        LaTeX, a paragraph heading (paper does not fold). `end_fold` ends it."""
        attr = " open" if is_open else ""
        self.md.append(f'<details markdown="1"{attr}>\n<summary>{markdown_text(summary)}</summary>\n')
        self.tex.append(rf"\paragraph{{{T.latex_escape(summary)}}}")
        self.html.append(f"<details{attr}><summary>{html_text(summary)}</summary>")

    def end_fold(self) -> None:
        self.md.append("</details>\n")
        self.html.append("</details>")

    def para(self, text: str, warn: bool = False) -> None:
        self.md.append(("> **Note:** " if warn else "") + markdown_of(text) + "\n")
        self.tex.append((r"\textbf{Note:} " if warn else "") + T.latex_escape(text) + "\n")
        attr = ' class="warn"' if warn else ""
        self.html.append(f"<p{attr}>{html_text(text)}</p>")

    def table(self, table: T.Table) -> None:
        self.md.append(T.to_markdown(table))
        self.tex.append(T.to_latex(table))
        self.html.append(T.to_html(table))

    def frame(self, df: pd.DataFrame, bold: set[tuple[int, str]] = frozenset(), keys: int = 0) -> None:
        """A frame as a table; with `keys`, as tables of its first `keys` columns (what names a row)
        and at most FRAME_COLUMNS columns each (`split_columns`), so that each fits the page."""
        for part in split_columns(df, keys) if keys else [df]:
            self.md.append(_frame_markdown(part, bold))
            self.tex.append(_frame_latex(part, bold))
            self.html.append(_frame_html(part, bold))

    def image(self, path: Path, caption: str) -> None:
        self.md.append(f"![{markdown_text(caption)}]({path.name})\n")
        self.tex.append(
            "\\begin{figure}[ht]\\centering\n"
            f"\\includegraphics[width=0.8\\linewidth]{{{path.name}}}\n"
            f"\\caption{{{T.latex_escape(caption)}}}\n\\end{{figure}}\n"
        )
        # inlined so the HTML file is self-contained
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        self.html.append(
            f'<figure><img alt="{html_text(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html_text(caption)}</figcaption></figure>"
        )

    def write(self, out_dir: Path) -> dict[str, Path]:
        files = {"report.md": "\n".join(self.md), "report.tex": self._latex(), "report.html": self._html()}
        written = {}
        for name, text in files.items():
            (out_dir / name).write_text(text, encoding="utf-8")
            written[name] = out_dir / name
        return written

    def _latex(self) -> str:
        preamble = [
            r"\documentclass{article}",
            r"\usepackage[T1]{fontenc}",
            r"\usepackage[utf8]{inputenc}",
            r"\usepackage[margin=2cm]{geometry}",
            r"\usepackage{booktabs}",
            r"\usepackage{graphicx}",
            rf"\title{{{T.latex_name(self.title)}}}",
            r"\date{}",
            r"\begin{document}",
            r"\maketitle",
        ]
        return "\n".join(preamble + self.tex + [r"\end{document}"]) + "\n"

    def _html(self) -> str:
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html_text(self.title)}</title>\n<style>\n{_HTML_STYLE}\n</style>\n</head>\n<body>\n"
            + "\n".join(self.html)
            + "\n</body>\n</html>\n"
        )


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _values(series: pd.Series) -> str:
    vals = sorted({str(v) for v in series.dropna()})
    return ", ".join(vals) or "(not tagged)"


def _run_list(runs: pd.DataFrame, declared: list[str] | None) -> pd.DataFrame:
    rank = {a: i for i, a in enumerate(T.arm_order(runs, declared))}
    runs = runs.sort_values(["arm", "seed"], key=lambda c: c.map(rank) if c.name == "arm" else c)
    out = runs[["arm", "seed", "run_id", "role", "status", "git_commit", "preset", "variant"]].copy()
    out["git_commit"] = out["git_commit"].map(lambda c: c[:10] if isinstance(c, str) else "")
    seed = out["seed"].map(lambda s: "" if pd.isna(s) else f" seed {int(s)}")
    out = out.drop(columns=["arm", "seed"]).assign(**{"unit": out["arm"].astype(str) + seed})  # "full seed 0"
    return out[["unit", *out.columns[:-1]]].fillna("").astype(str).reset_index(drop=True)


def skipped_videos(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (arm, seed, track) whose run left undecodable videos out of its scores."""
    rows = []
    for run in runs.to_dict("records"):
        for track, names in sorted((run.get("skipped_videos") or {}).items()):
            seed = "" if pd.isna(run["seed"]) else str(int(run["seed"]))
            rows.append({"arm": run["arm"], "seed": seed, "track": track, "videos left out": ", ".join(names),
                         "n lost": str(len(names))})  # fmt: skip
    return pd.DataFrame(rows, columns=["arm", "seed", "track", "videos left out", "n lost"])


def time_frame(runs: pd.DataFrame, declared: list[str] | None) -> pd.DataFrame:
    """Minutes per stage (keys.STAGES order), one row per arm: the mean over its units that measured
    them; empty when none did."""
    if "stage_seconds" not in runs.columns:
        return pd.DataFrame()
    per_arm = {}
    for arm in T.arm_order(runs, declared):
        measured = [d for d in runs.loc[runs["arm"] == arm, "stage_seconds"] if isinstance(d, dict) and d]
        if measured:
            per_arm[arm] = measured
    stages = [s for s in STAGES if any(s in d for m in per_arm.values() for d in m)]
    rows = []
    for arm, measured in per_arm.items():
        mean = {s: float(np.mean([d.get(s, 0.0) for d in measured])) / 60 for s in stages}
        rows.append({"arm": arm, "units": str(len(measured)), **{s: f"{v:.2f}" for s, v in mean.items()},
                     "total": f"{sum(mean.values()):.2f}"})  # fmt: skip
    return pd.DataFrame(rows, columns=["arm", "units", *stages, "total"]) if rows else pd.DataFrame()


def power_frame(summary: pd.DataFrame, detect: dict[str, float]) -> pd.DataFrame:
    """One row per tested difference: its variance components (sd, display units), n, MDD and, for
    metrics in `detect` (metric -> difference in display units), the designs that would detect it."""
    tested = summary[summary["p"].notna()]
    rows = []
    for rec in tested.to_dict("records"):
        info = T.metric_info(rec["metric"])
        k = info.scale
        comp = S.Components(rec["var_sample"], rec["var_seed"], rec["var_residual"])

        def sd(v: float, k: float = k, digits: int = info.decimals + 1) -> str:
            return T.number_text(T.scaled(np.sqrt(max(v, 0.0)), k), f".{digits}f")  # NaN: –

        row = {
            "track": rec["track"],
            "metric": info.label,
            "comparison": f"{rec['arm']} - {rec['reference']}",
            "n": T.n_text(rec["delta_n_samples"], rec["n_seeds"]),
            "MDD (80%)": T.number_text(T.scaled(rec["mdd"], k), f".{info.decimals + 1}f"),
            "sd sample": sd(rec["var_sample"]),
            "sd seed": sd(rec["var_seed"]),
            "sd residual": sd(rec["var_residual"]),
        }
        if detect:
            want = detect.get(rec["metric"])
            if want is None:
                row["to detect"] = ""
            else:
                designs = S.plan(comp, want / k)
                row["to detect"] = (
                    f"{want:g}: " + ", ".join(f"{d.n_samples}×{d.n_seeds}" for d in designs[:4])
                    if designs
                    else f"{want:g}: not within 2000 samples × 8 seeds"
                )
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    first = ["track", "metric", "comparison", "n", "MDD (80%)", "to detect"]  # what it could detect, then why
    out = pd.DataFrame(rows).astype(str)
    return out[[c for c in first if c in out] + [c for c in out if c not in first]]


def drift_frame_of(samples: pd.DataFrame) -> pd.DataFrame:
    """The drift plots' curves from the per-sample tables alone: every sample's window values."""
    windows = samples[(samples["level"] == WINDOW_LEVEL) & samples["value"].notna()]
    return windows.rename(columns={"track": "suite", "window": "clip"})


def render_report(
    experiment: str,
    out_dir: str | Path,
    runs: pd.DataFrame,
    samples: pd.DataFrame,
    drift: pd.DataFrame,
    *,
    source: str,
    layout: str = "auto",
    arm_order: list[str] | None = None,
    with_published: bool = True,
    reference: str | None = None,
    primary: str | None = None,
    comparisons: list[tuple[str, str]] | None = None,
    detect: dict[str, float] | None = None,
    built: str | None = None,
    missing: list[str] | None = None,
    registration: dict | None = None,
    guards: list[str] | None = None,
    priors: pd.DataFrame | None = None,
    not_registered: str | None = None,
) -> dict[str, Path]:
    """The report's files from its inputs, wherever they were read (MLflow: `build_report`; a results
    bundle: `reports.bundle.build_report_from`): `runs` as `load_runs` gives them, `samples` as
    `load_samples`, `drift` as `drift_frame`; `source` names where they came from in the first line;
    `built` the build time shown (default: now; a bundle's report leaves it out, so it is reproducible).

    Files: report.md, report.tex (standalone, booktabs), report.html (self-contained, plots inlined),
    results.csv (`tables.summarize`: per track, arm and metric over FINISHED runs the mean with its 95%
    crossed-design interval and n, the seed sd, the difference against the reference arm with its
    interval, variance components, MDD, p and Holm-adjusted p) and one drift_<track>_<metric>.png per
    drift curve (each arm's mean with its 95% band; with many arms, a panel per arm beside the
    reference arm). `layout` picks the main table ('vbench', 'ablation', or 'auto': ablation for
    experiments named ablation* or with no_e* arms); `arm_order` is the declared arm order (baseline
    arms always come first; default alphabetical); `reference` the arm differences are taken, and drift
    panels drawn, against (default: the baseline arm); `primary` the experiment's primary metric (its
    own Holm family); `comparisons` the experiment's declared (arm, other arm) differences, tested and
    tabled beside the reference ones; `detect` metric -> a difference in display units the power section says the n for;
    `missing` the declared units not finished yet (a results bundle of an experiment still running);
    `guards` the experiment's declared guards (shown beside the primary); `priors` the toy world's
    committed verdicts (reports/verdicts.py; default: the repository's), the prior evidence on a track
    without a truth.
    `registration` the registration in force (reports/registration.py), whose hypotheses are tested as a
    pre-registered family; `not_registered` why a bundle's registration is not honoured (said, unlabelled).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, samples, refs = M.split(runs, samples)  # the degenerate references: beside the arms, never in them
    if "role" in drift:
        drift = drift[drift["role"] != REFERENCE_ROLE]
    ref_means = M.reference_means(refs)
    done, failed = T.finished(runs), T.not_finished(runs)
    hypotheses = (registration or {}).get("hypotheses") or None
    summary = T.summarize(
        runs, samples, arm_order, experiment=experiment, layout=layout, reference=reference, primary=primary,
        comparisons=comparisons, hypotheses=hypotheses,
    )  # fmt: skip
    blind = bool(registration) and bool(missing)  # fixed n: no difference is read before the last unit
    if blind:
        summary = T.blinded(summary)
    tables = T.build_tables(
        runs,
        experiment,
        layout,
        arm_order,
        with_published,
        samples=samples,
        reference=reference,
        summary=summary,
        primary=primary,
        comparisons=comparisons,
        degenerate=(lambda track, columns: M.reference_rows(ref_means, track, columns))
        if len(ref_means)
        else None,
    )

    found = V.verdicts(summary, ref_means, T.arm_order(runs, arm_order)) if len(ref_means) else []
    priors = V.read_verdicts() if priors is None else priors
    said = primary_words(found, primary, guards or [], priors, bool(registration))

    written: dict[str, Path] = {}
    T.csv_cells(summary).to_csv(out_dir / "results.csv", index=False)
    written["results.csv"] = out_dir / "results.csv"
    collapse = M.collapse_marks(M.collapse_frame(samples, refs))
    colours = arm_colours(arm_order or T.arm_order(runs))  # as MLflow's views colour the arms
    plots = plot_drift(
        drift, out_dir, arm_order, T.reference_arm(runs, arm_order, reference), collapse, colours
    )

    doc = _Doc(f"{experiment}: report")
    doc.para(
        words(
            "{}; {} child runs ({} finished, {} not finished); preset: {}; variant: {}; git commit: {}"
            + ("." if built == "" else "; built {}."),
            source, len(runs), len(done), len(failed), _values(runs["preset"]), _values(runs["variant"]),
            _values(runs["git_commit"].map(lambda c: c[:10] if isinstance(c, str) else None)),
            *([] if built == "" else [built or _now()]),
        )
    )  # fmt: skip
    if missing:
        doc.para(
            words(
                "Incomplete: {} declared unit(s) are not in these results yet ({}). The tables are of the "
                "units present, not the experiment's result.",
                len(missing), ", ".join(missing),
            ),
            warn=True,
        )  # fmt: skip
    backends = {b for d in done["backends"] for b in d.values()}
    for note in backend_notes(backends):
        doc.para(note, warn=True)
    legacy = samples.attrs.get("without_samples") or []
    if legacy:
        doc.para(
            f"{len(legacy)} finished run(s) logged no per-sample scores (written before the harness logged "
            "them): their numbers have no interval and no test, and their drift bands are over runs. "
            "Re-run the experiment (finished stages are skipped) to log them.",
            warn=True,
        )
    if registration:
        _registration_section(doc, registration, summary, missing or [], runs, blind)
        concern = any(v.metric == primary and v.validity.verdict != V.VALID for v in found)
        for text in said[:1]:  # the registered primary's validity, beside its registered answer
            doc.para(text, warn=concern)
    elif not_registered:
        doc.para(
            words("Not pre-registered: {}. Every difference in this report is exploratory.", not_registered),
            warn=True,
        )
    _answer_section(doc, plots, drift, summary, primary, out_dir, colours, ref_means, written, blind, said)
    _stability_section(doc, plots, drift, primary)
    written.update(plots)
    doc.section("Results")
    if not tables:
        doc.para(words("No finished run has final scores (metrics named {}).", METRIC_NAMES), warn=True)
    for table in tables:  # the arms' levels of the primary metric open; the rest (its differences are
        # drawn in the answer's forest plot) folded under their titles
        holds = primary is None or primary in {c.name for c in table.columns}
        doc.fold(table.title, is_open=holds and table.kind == "arms")
        doc.table(table)
        doc.end_fold()
    power = power_frame(summary, detect or {})
    if not power.empty:
        doc.section("Power")
        doc.fold(f"Variance components and minimum detectable differences ({len(power)} differences)")
        doc.para(
            "What each comparison could detect. Variance components of the difference (arm - reference), as "
            "standard deviations in display units: sample (the arm-by-sample part), seed (training runs and "
            "noise streams; '–' with one seed: not estimable) and residual (per video). MDD: the true "
            f"difference a two-sided test at 5% finds with {S.POWER:.0%} power at this n "
            "((t_.975 + t_.80) × SE, Satterthwaite df)."
            + (
                " To detect: the fewest samples per number of seeds whose MDD reaches the difference asked for "
                "(`--detect METRIC=VALUE`), from these components."
                if detect
                else " `harness report EXP --detect METRIC=VALUE` adds the n that would detect a given difference."
            )
        )
        doc.frame(power, keys=3)
        doc.end_fold()
    _degenerate_section(doc, found, ref_means, refs, samples, T.arm_order(runs, arm_order), priors)
    skipped = skipped_videos(done)
    if not skipped.empty:
        doc.section("Videos left out")
        doc.para(
            "These videos could not be decoded and were left out of their track's scores (the experiment "
            "allows it: skip_bad_videos): each lowers that arm's n on the track by one.",
            warn=True,
        )
        doc.frame(skipped)
    times = time_frame(done, arm_order)
    if not times.empty:
        doc.section("Where the time went")
        doc.fold(f"Wall minutes per stage ({len(times)} arms)")
        doc.para(
            "Wall minutes per stage of each arm's units (mean over its finished seeds; `time/<stage>` on each "
            "run): provision writes the inputs a unit needs (toy training clips, benchmark), review media the "
            "keyframe strips, per-clip images and previews, log the MLflow calls."
        )
        doc.frame(times, keys=2)
        doc.end_fold()
    doc.section("Failed or unfinished runs")
    if failed.empty:
        doc.para("None: every run finished.")
    else:
        doc.para("These runs are listed only; they are excluded from every mean, table and plot.")
        doc.frame(_run_list(failed, arm_order), keys=1)
    doc.section("Runs")
    doc.fold(f"Every run ({len(runs)}): its unit (arm and seed), run id, role, status and commit")
    doc.frame(_run_list(runs, arm_order), keys=1)
    doc.end_fold()
    written.update(doc.write(out_dir))
    return written


# -- sweeps --------------------------------------------------------------------------------------


# What each metric group measures: the stability plots' headings, in the metric table's group order.
GROUP_TITLES = {
    "vbench": "VBench dimensions: subject and background consistency, quality, motion",
    "i2v": "Faithfulness to the input image (VBench-I2V)",
    "psnr_ssim": "Fidelity to the true continuation (PSNR, SSIM)",
    "sync": "Audio-visual sync",
    "fvd": "Distribution distance (FVD)",
    "drift": "Drift: colour, sharpness, distance from the truth",
    "drift_protocols": "Drift protocols of the long-video papers (Δdrift, VDE)",
    "coherence": "Long-horizon coherence",
    "guards": "Guards a trivial video cannot win: non-repetition, distance to the truth's clips",
}


def _plot_caption(track: str, metric: str) -> str:
    return (
        f"{track}: {T.metric_info(metric).label} over the video (mean over samples and seeds; band: 95% "
        "interval for the crossed design, as in the tables; n = samples×seeds)"
    )


def primary_words(
    found: list[V.Verdicts], primary: str | None, guards: list[str], priors: pd.DataFrame, registered: bool
) -> list:
    """The primary's two verdicts per track in words (one paragraph), then its guards' (one more, or what
    their absence means): what the answer's first screen states beside its picture. [] without a
    primary or references."""
    mine = [v for v in found if v.metric == primary]
    if primary is None or not mine:
        return []
    label = T.metric_info(primary).label
    text = f"Can {label} judge here, and does any arm beat standing still? " + " ".join(
        V.sentence(v, V.priors_text(priors, primary)) for v in mine
    )
    if any(v.validity.verdict in (V.INVALID, V.REWARDS_MEAN) for v in mine):
        text += (
            f" Its answer still compares the arms with each other on {label}; it does not say which arm is "
            "nearer to reality"
            + (", and the registered experiment keeps it as its primary (a registration is not rewritten)."
               if registered else ".")
        )  # fmt: skip
    out = [plain(text)]
    tracks = {v.track for v in mine}
    guarded = [v for v in found if v.metric in guards and v.track in tracks]
    if guarded:
        out.append(plain("Guards (declared beside the primary): " + " ".join(
            V.sentence(v) + f" Arms: {', '.join(f'{a} {V.show(v.metric, m)}' for a, m in v.arms.items())}."
            for v in guarded
        )))  # fmt: skip
    elif any(v.validity.verdict == V.ONE_SIDED for v in mine):
        out.append(
            words(
                "No guards are declared: {} is one-sided here, so its answer cannot tell a model from a still "
                "image (declare `guards:`, metrics every trivial video fails and the truth passes).",
                label,
            )
        )
    return out


def _answer_section(
    doc, plots, drift, summary, primary, out_dir, colours, ref_means, written, blind, said
) -> None:
    """The answer first, as pictures: the forest plot of the primary metric's differences (each arm minus
    the reference arm and the declared comparisons, 95% intervals, Holm marks, MDD bands, where the
    degenerate references land) and the primary metric's drift plots, with the primary's two verdicts
    and its guards' in words beside them (`said`: `primary_words`)."""
    if primary is None:
        return
    curves = {drift_filename(t, m): (t, m) for t, m in drift[["suite", "metric"]].itertuples(index=False)}
    mine = [name for name in plots if curves[name][1] == primary]
    landed = (
        ref_means[ref_means["arm"] != M.RESCORE] if len(ref_means) else ref_means
    )  # the noise-floor pass: no reference
    forests = [] if blind else plot_forest(summary, primary, out_dir, colours, landed)
    if not forests and not mine:
        return
    label = T.metric_info(primary).label
    doc.section(f"Answer: {label}")
    for text in said:
        doc.para(text)
    key = (
        "95% interval for the crossed design; filled and *: significant after Holm; dashed: one seed, never "
        "tested; grey band: the minimum detectable difference at 80% power; diamonds: the degenerate "
        "references, no model, one far off the scale at the edge with its value"
    )
    what = (
        ["each declared comparison", "each arm minus the reference arm"]
        if len(forests) > 1
        else ["each arm minus the reference arm"]
    )
    for forest, drawn in zip(forests, what):
        written[forest.name] = forest
        doc.image(forest, f"{label}: {drawn}, per track ({key})")
    for name in mine:
        doc.image(plots[name], _plot_caption(*curves[name]))


def _stability_section(doc, plots, drift, primary) -> None:
    """The other metrics' drift plots, grouped by what they measure (the metric table's groups), each
    group a folded block."""
    doc.section("Stability")
    if not plots:
        doc.para(words("No drift curves were logged (per-window scores or metrics drift/{}).", METRIC_NAMES))
        return
    curves = {drift_filename(t, m): (t, m) for t, m in drift[["suite", "metric"]].itertuples(index=False)}
    groups: dict[str, list[str]] = {}
    for name in plots:  # plot order: the metric table's, each metric's tracks together
        track, metric = curves[name]
        if metric != primary:
            groups.setdefault(T.metric_info(metric).group or "other", []).append(name)
    doc.para(
        "Each metric over the video, per track: each arm's mean with its 95% band"
        + (", the primary metric's under the answer above" if primary else "")
        + "; grouped by what the metrics measure."
    )
    for group, names in sorted(groups.items(), key=lambda g: metric_rank(curves[g[1][0]][1])):
        metrics = list(dict.fromkeys(T.metric_info(curves[n][1]).label for n in names))
        doc.fold(f"{GROUP_TITLES.get(group, group)}: {', '.join(metrics)} ({len(names)} plots)")
        for name in names:
            doc.image(plots[name], _plot_caption(*curves[name]))
        doc.end_fold()


def _registration_section(
    doc, registration: dict, summary: pd.DataFrame, missing: list[str], runs, blind: bool = False
) -> None:
    """The pre-registered answer first: the registration (when, in which commit), each hypothesis with
    its estimate, interval, n and one-sided p (Holm over the registered family), and the deviations."""
    doc.section("Pre-registered hypotheses")
    superseded = registration.get("superseded") or []
    number, date = number_of(registration), str(registration.get("registered_at", "?"))[:10]
    commit = str(registration.get("harness_commit", "?"))[:10]
    tail = (
        " (results/EXPERIMENT/preregistration.yaml). They are tested as a Holm family of their own, one-sided "
        "where they state a direction; every other difference in this report is exploratory."
    )
    if superseded:
        first = superseded[0]
        said = words(
            "Registration {} of {} (harness commit {}): these hypotheses, their metric, design and analysis "
            "supersede registration {} of {}, the one fixed before the first unit ran (each change is a "
            "deviation below)" + tail,
            number, date, commit, first["number"], str(first["registered_at"])[:10],
        )  # fmt: skip
    else:
        said = words(
            "Registration {} of {} (harness commit {}): these hypotheses, their metric, design and analysis were "
            "fixed before the first unit ran" + tail,
            number, date, commit,
        )  # fmt: skip
    doc.para(said)
    rows = []
    named = (
        summary[summary["registration"] == T.REGISTERED] if "registration" in summary else summary.iloc[:0]
    )
    for rec in named.to_dict("records"):
        info = T.metric_info(rec["metric"])
        k, fmt = info.scale, f"+.{info.decimals + 1}f"
        rows.append(
            {
                "hypothesis": f"{rec['arm']} - {rec['reference']} {dict(less='< 0', greater='> 0').get(rec['direction'], '≠ 0')}",
                "track": rec["track"],
                "metric": info.label,
                "estimate [95% CI]": f"{T.number_text(T.scaled(rec['delta'], k), fmt)} "
                f"[{T.number_text(T.scaled(rec['delta_low'], k), fmt)}, {T.number_text(T.scaled(rec['delta_high'], k), fmt)}]",
                "n": T.n_text(rec["delta_n_samples"], rec["n_seeds"]),
                "p": T.number_text(rec["p"], ".4f"),
                "Holm p": T.number_text(rec["p_holm"], ".4f"),
                "answer": "supported" if rec["significant"] else "not supported",
            }
        )
    if blind:
        doc.para(
            "Withheld: the registration's stopping rule is a fixed n, so no difference between arms (registered "
            "or exploratory) is shown until every registered unit is in; the tables show each arm's levels only.",
            warn=True,
        )
    elif rows:
        doc.frame(pd.DataFrame(rows))
        checked = planner_checked(registration.get("power") or [], named)
        if not checked.empty:
            doc.para(
                "The planner, checked: the variance components the registration planned with (standard "
                "deviations, from the bundle it names) against those this run observed, and the minimum "
                "detectable difference (95%, 80% power) and the power at the smallest effect of interest, "
                "each at the registered design, under either set of components."
            )
            doc.frame(checked)
    else:
        doc.para("No pre-registered difference could be tested (its arms have no finished units).", warn=True)
    deviations = []
    dates = [*(e.get("registered_at") for e in superseded[1:]), registration.get("registered_at")]
    for entry, until in zip(superseded, dates):
        deviations.append(
            f"registration {entry['number']} of {str(entry['registered_at'])[:10]} superseded by registration "
            f"{entry['number'] + 1} on {str(until)[:10]}: {entry['reason']}"
        )
    if missing:
        deviations.append(f"units missing: {', '.join(missing)}")
    for rec in runs.to_dict("records"):
        for track, names in (rec.get("skipped_videos") or {}).items():
            deviations.append(
                f"{rec['arm']} seed {rec['seed']}: videos left out on {track}: {', '.join(names)}"
            )
    planned = registration.get("versions") or {}
    now = registration.get("versions_now") or planned
    for key in sorted(set(planned) | set(now)):
        if planned.get(key) != now.get(key):
            deviations.append(f"{key} version changed: {planned.get(key)} -> {now.get(key)}")
    doc.para(
        words("Deviations from the registration: {}.", "; ".join(deviations)) if deviations
        else "Deviations from the registration: none (every registered unit is in, no video was left out, the "
        "scoring code's version is the registered one).",
        warn=bool(deviations),
    )  # fmt: skip


def planner_checked(power: list[dict], registered: pd.DataFrame) -> pd.DataFrame:
    """One row per registered hypothesis the registration sized: its planned variance components (SDs in
    display units), MDD and power at the registered design, beside the same computed from the components
    this run observed (`registered`: the summary's registered rows, with var_sample / var_seed /
    var_residual in raw units)."""
    rows = []
    for rec in registered.to_dict("records"):
        comparison = f"{rec['arm']} - {rec['reference']}"
        names = (
            T.hypothesis_name(comparison, rec["metric"]),
            T.hypothesis_name(comparison, rec["metric"], rec["track"]),
        )
        name = names[0]
        plan = next((p for p in power if p.get("hypothesis") in names), None)
        if plan is None:
            continue
        info = T.metric_info(rec["metric"])
        k, fmt = info.scale, f".{info.decimals + 1}f"
        n_samples, n_seeds = (int(x) for x in str(plan["declared_design"]).split("x"))
        seen = S.Components(rec["var_sample"], rec["var_seed"], rec["var_residual"])
        sd_seen = {
            key: float(np.sqrt(max(v, 0.0)) * k)
            for key, v in (("sample", seen.sample), ("seed", seen.seed), ("residual", seen.residual))
        }
        sd_plan = plan.get("components_sd") or {}
        effect = float(plan["smallest_effect"]) / k
        sided = 1 if rec.get("direction") in ("less", "greater") else 2
        row = {"hypothesis": name, "track": rec["track"], "design": plan["declared_design"]}
        for key in ("sample", "seed", "residual"):
            row[f"SD {key}: planned / observed"] = (
                f"{T.number_text(sd_plan.get(key), fmt)} / {T.number_text(sd_seen[key], fmt)}"
            )
        row["MDD: planned / observed"] = (
            f"{T.number_text(plan.get('declared_mdd'), fmt)} / "
            f"{T.number_text(S.mdd(seen, n_samples, n_seeds) * k, fmt)}"
        )
        row["power at the smallest effect: planned / observed"] = (
            f"{T.number_text(plan.get('declared_power'), '.2f')} / "
            f"{T.number_text(S.power(seen, n_samples, n_seeds, effect, sided=sided), '.2f')}"
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _degenerate_section(doc, found, means, refs, samples, order, priors) -> None:
    """Where the degenerate references land: both verdicts per metric and track with each arm's margin
    over the best of them (reports/verdicts.py), and the videos whose motion collapsed (reports/margins.py)."""
    doc.section("Degenerate references")
    if means.empty:
        doc.para(
            "No degenerate reference was scored for these results (the experiment turns them off with "
            "`references: none`, or its results predate them: `harness run EXP --from results/EXP` adds them "
            "to a bundle), so nothing here says where standing still would land."
        )
        return
    doc.para(
        "Videos made with no model, scored like the arms (scoring/references.py): frozen holds the input image, "
        "loop repeats the baseline's first clip, pingpong plays it forward and back, truth is the true "
        "continuation (truth_vae, where present, the truth through the arm's VAE: the ceiling). Two verdicts per "
        "metric and track (reports/verdicts.py; the rule: docs/guides/scoring.md): is the metric valid on this "
        "suite (the truth against the trivial videos: valid, invalid on this suite, one-sided, undecided, or "
        "validity unknown here where the track has no truth), and, on a valid metric, does any arm beat "
        "standing still (its interval clear of the best of frozen, loop and pingpong). Margin: the arm's mean "
        "minus that best, in the metric's direction and display units (positive: better than standing still)."
    )
    frame = V.verdict_frame(found, order)
    if not frame.empty:
        doc.fold(
            f"Both verdicts and each arm's margin over the best degenerate reference ({len(frame)} metrics and tracks)"
        )
        doc.frame(frame, keys=2)
        doc.end_fold()
    for verdict in V.SEVERE:
        hit = [f"{v.track}: {T.metric_info(v.metric).label}" for v in found if v.validity.verdict == verdict]
        if hit:
            doc.para(words(f"{verdict.capitalize()}: {{}}.", "; ".join(hit)), warn=True)
    unknown = [v for v in found if v.validity.verdict == V.UNKNOWN]
    if unknown:
        doc.para(
            words(
                "Validity unknown here (the track has no truth, or, on a metric anchored to the truth, no other "
                "true future beside it); the toy world's verdicts, the prior evidence: {}.",
                "; ".join(
                    f"{v.track}: {T.metric_info(v.metric).label}: {V.priors_text(priors, v.metric) or 'none'}"
                    for v in unknown
                ),
            )
        )
    models = [f"{v.track}: {T.metric_info(v.metric).label}" for v in found if v.competence == V.NO_ARM]
    if models:
        doc.para(
            words(
                "No arm beats standing still (a verdict on the models, where the metric can judge): {}.",
                "; ".join(models),
            )
        )
    unreal = [
        f"{v.track}: {T.metric_info(v.metric).label} ({', '.join(v.unreal)})" for v in found if v.unreal
    ]
    if unreal:
        doc.para(
            words("Better than reality (an artefact or a held picture, not quality): {}.", "; ".join(unreal)),
            warn=True,
        )
    floor = M.noise_floor(refs)
    if not floor.empty:
        doc.para(
            "Evaluator noise floor: one video (the first sample's loop reference) scored a second time in a pass "
            "of its own; the largest difference between the two scorings of any per-video or per-window value, "
            "in display units. It is what the evaluator alone moves a score by between runs (0: deterministic, "
            "as scoring on the CPU is); a difference between arms smaller than it is not the videos'."
        )
        doc.fold(f"Evaluator noise floor ({len(floor)} rows)")
        doc.frame(floor, keys=2)
        doc.end_fold()
    collapse = M.collapse_frame(samples, refs)
    if collapse.empty:
        doc.para("Motion collapse: not measured (it needs dynamic degree's per-window motion).")
        return
    doc.para(
        "Motion collapse: a video whose per-window motion (dynamic degree's flow magnitude) falls to a tenth "
        "of its sample's reference motion (the truth's, else the looped first clip's) and stays there for at "
        "least two windows to its end; first collapsed window: the earliest over the arm's collapsed videos."
    )
    doc.fold(f"Motion collapse per arm ({len(collapse)} rows)")
    doc.frame(collapse, keys=2)
    doc.end_fold()
    hit = M.collapsed_arms(collapse)
    if hit:
        doc.para(
            words(
                "Collapsed videos in {}: a consistency or drift gain of these arms may be standing still, not "
                "holding the subject; read it beside dynamic degree.",
                ", ".join(hit),
            ),
            warn=True,
        )


def _fmt(value: object, spec: str, scale: float = 1.0) -> str:
    """A trial's number (x scale) as the tables show it; anything else (None, a missing tag) is the dash."""
    return T.number_text(T.scaled(value, scale), spec) if isinstance(value, float) else T.DASH


def _trial_view(trials: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    metrics = [c for c in trials.columns if split_score_key(c)]
    pruned = trials["pruned"].fillna(False).astype(bool)
    cols: dict[str, pd.Series] = {
        "trial": trials["trial"].map(lambda t: "" if pd.isna(t) else str(int(t))),
        "status": trials["status"].where(~pruned, "PRUNED"),
    }
    if trials["pruned_step"].notna().any():
        cols["pruned at step"] = trials["pruned_step"].map(lambda t: "" if pd.isna(t) else str(int(t)))
    for p in params:
        cols[p] = trials[p].map(lambda v: _fmt(v, ".3f"))  # the dotted key as the sweep declares it
    cols["objective"] = trials["objective"].map(lambda v: _fmt(v, ".4f"))
    for c in sorted(c for c in trials.columns if c.startswith(PROBE_PREFIX)):
        cols[f"last {c}"] = trials[c].map(lambda v: _fmt(v, ".4f"))
    for m in metrics:
        track, _, _, name = split_score_key(m)
        info = T.metric_info(name)
        label = f"{track} {info.label}" + (" (%)" if info.scale == 100.0 else "")
        cols[label] = trials[m].map(lambda v, i=info: _fmt(v, f".{i.decimals}f", i.scale))
    return pd.DataFrame(cols).reset_index(drop=True)


def render_sweep_report(
    sweep: str,
    out_dir: str | Path,
    trials: pd.DataFrame,
    *,
    direction: str | None = None,
) -> dict[str, Path]:
    """Write a sweep's trial table and objective-vs-probability plot into out_dir; {file name: path}.

    `trials` as harness/tracking/store_reader.py `load_trials` gives them. Finished trials
    are sorted by objective, best first; pruned trials (tag pruned=true) and failed or unfinished ones
    are listed in their own sections; `direction` (maximize/minimize) defaults to the parent run's
    `direction` tag, else maximize. Files: report.md, report.tex, report.html, trials.csv (raw values,
    every trial) and objective_vs_params.png (when a finished trial has an objective).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    direction = direction or trials.attrs.get("direction") or "maximize"
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    params = sweep_params(trials)
    ok = trials[trials["status"] == FINISHED].sort_values(
        ["objective", "trial"], ascending=[direction == "minimize", True], na_position="last"
    )
    is_pruned = trials["pruned"].fillna(False).astype(bool)
    pruned = trials[(trials["status"] != FINISHED) & is_pruned].sort_values("trial")
    bad = trials[(trials["status"] != FINISHED) & ~is_pruned].sort_values("trial")

    written: dict[str, Path] = {}
    csv = pd.concat([ok, pruned, bad]).copy()
    csv["backends"] = csv["backends"].map(lambda d: json.dumps(d, sort_keys=True))
    T.csv_cells(csv).to_csv(out_dir / "trials.csv", index=False)
    written["trials.csv"] = out_dir / "trials.csv"

    doc = _Doc(f"{sweep}: sweep report")
    doc.para(
        words(
            "Parent run {}; {} trials ({} finished, {} pruned, {} failed or unfinished); objective {}d; "
            "params: {}; built {}.",
            trials.attrs.get("parent_run_id"), len(trials), len(ok), len(pruned), len(bad), direction,
            ", ".join(params) or "(none)", _now(),
        )
    )  # fmt: skip
    doc.section("Trials (finished, best first)")
    if ok.empty:
        doc.para("No trial finished.", warn=True)
    else:
        view = _trial_view(ok, params)
        bold = {(0, "objective")} if ok["objective"].notna().iloc[0] else set()
        doc.frame(view, bold)
    plot = plot_sweep(trials, out_dir / "objective_vs_params.png", params, direction)
    if plot is not None:
        doc.section("Objective vs injection probabilities")
        doc.image(plot, "Objective vs each probability (finished trials; star = best)")
        written[plot.name] = plot
    if not pruned.empty:
        doc.section("Pruned trials")
        doc.para(
            "Stopped during training by the sweep's pruner on the drift of probe rollouts (probe/<metric>, "
            "the last value before pruning); not sorted by objective, not plotted."
        )
        view = _trial_view(pruned, params)
        doc.frame(pd.concat([view, pruned["run_id"].reset_index(drop=True)], axis=1))
    doc.section("Failed or unfinished trials")
    if bad.empty:
        doc.para("None: every trial finished.")
    else:
        doc.para("Listed only; not sorted by objective, not plotted.")
        view = _trial_view(bad, params)
        doc.frame(pd.concat([view, bad["run_id"].reset_index(drop=True)], axis=1))
    written.update(doc.write(out_dir))
    return written
