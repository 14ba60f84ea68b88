"""The report's pictures: the forest plot of the answer (each difference on the primary metric with its
95% interval, Holm mark and MDD band; `forest_figure`), the stability plots (metric vs generated
seconds, one line per arm with its 95% band; a panel per arm beside the reference arm when there are
many arms) and the sweep's objective plots. An arm is drawn in its colour (`reports/colours.py`,
the colour of its runs in MLflow's views) in every plot.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so building a report never
touches the caller's interactive backend or global figure state. Every text with a name from data in
it (arms, tracks, metric labels, params) is drawn literally, with parse_math off: matplotlib reads
what stands between two dollar signs as mathtext, drawing `$x$` as math and stopping the whole
report with an error on an unknown command such as `$\\foo$`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reports.colours import arm_colours
from reports.frames import track_sort_key
from reports.stats import crossed_band, curve_band
from reports.tables import SPECS, arm_order, metric_info


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120, format="png")
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def drift_filename(track: str, metric: str) -> str:
    return f"drift_{_safe(track)}_{_safe(metric)}.png"


def metric_rank(metric: str) -> tuple[int, str]:
    """Sort key: the metric table's order (scoring/specs.py: grouped by what the metrics measure),
    unknown metrics last by name."""
    names = list(SPECS)
    return (names.index(metric), "") if metric in SPECS else (len(names), metric)


RUN_CURVE = "run:"  # the `sample` of a run's mean curve (a run logged without per-sample scores)


def _band(curves: pd.DataFrame, use_seconds: bool, scale: float) -> tuple[pd.DataFrame, str]:
    """One arm's curves -> per clip x, mean, low, high (display units), and its n for the legend.

    Per-sample curves: per clip, the mean over samples and seeds with the crossed-design interval of
    the tables (`stats.crossed_band`: one trained model per seed, shared by every sample). Runs
    without per-sample scores: each run is one curve and the band is the t-interval over runs.
    """
    per_sample = curves.groupby(["sample", "clip"])["value"].mean().unstack("clip").sort_index(axis=1)
    clips = per_sample.columns
    if curves["sample"].str.startswith(RUN_CURVE).all():
        mean, low, high = curve_band(per_sample.to_numpy())  # each [n_clips]
    else:
        grid = curves.pivot_table(index=["sample", "seed"], columns="clip", values="value", aggfunc="mean")
        grid = grid.reindex(columns=clips)
        samples = grid.index.get_level_values(0).unique()
        seeds = grid.index.get_level_values(1).unique()
        full = grid.reindex(pd.MultiIndex.from_product([samples, seeds]))
        cube = full.to_numpy().reshape(len(samples), len(seeds), len(clips))  # [samples, seeds, clips]
        mean, low, high = crossed_band(cube)
    seconds = curves.groupby("clip")["seconds"].mean().reindex(clips).to_numpy()
    x = seconds if use_seconds else clips.to_numpy()
    frame = pd.DataFrame({"x": x, "mean": mean * scale, "low": low * scale, "high": high * scale})
    seeds = curves["seed"].nunique()
    if curves["sample"].str.startswith(RUN_CURVE).all():
        return frame, f"{seeds} run{'s' if seeds != 1 else ''}"
    return frame, f"{per_sample.shape[0]}×{seeds}"


# More arms than this: one panel per arm beside the reference arm (small multiples); nine
# overlapping bands in one axes hide each other.
PANELS_ABOVE = 4


def _legend(ax, fontsize: str) -> None:
    """The axes' legend, its labels (arm names) drawn literally."""
    for text in ax.legend(fontsize=fontsize).get_texts():
        text.set_parse_math(False)


def _curve(ax, band: pd.DataFrame, label: str, color: str, dashed: bool) -> None:
    """An arm's mean curve with its shaded 95% band (where the band exists)."""
    ax.plot(band["x"], band["mean"], marker="o", ms=3, ls="--" if dashed else "-", color=color, label=label)
    shown = band[band["low"].notna() & band["high"].notna()]
    if not shown.empty:
        ax.fill_between(shown["x"], shown["low"], shown["high"], color=color, alpha=0.2)


def drift_figure(
    sub: pd.DataFrame,
    order: list[str],
    metric: str,
    reference: str | None = None,
    collapse: dict[str, int] | None = None,
    colours: dict[str, str] | None = None,
) -> Figure:
    """One track's figure for one metric: each arm's mean curve with its 95% band, baselines dashed.

    `sub`: the drift rows of one track and metric (`plot_drift`'s columns, `sample` filled); `order`:
    the arms in display order. Up to PANELS_ABOVE arms share one axes. With more, every other arm has
    a panel of its own beside the reference arm (`reference`, else the first arm of `order`: the
    baseline when there is one), all panels on the same scales. An arm keeps its colour in every panel.
    `collapse`: arm -> the first window where one of its videos collapsed (reports/margins.py), drawn
    as a dotted vertical line in the arm's colour. `colours`: arm -> colour (default: `arm_colours`
    of the plotted arms).
    """
    track = sub["suite"].iloc[0]
    use_seconds = bool(sub["seconds"].notna().all())
    info = metric_info(metric)
    arms = [a for a in order if a in set(sub["arm"])]
    curves = {arm: _band(sub[sub["arm"] == arm], use_seconds, info.curve_scale) for arm in arms}  # (band, n)
    dashed = set(sub.loc[sub["role"] == "baseline", "arm"])
    color = colours or arm_colours(arms)

    def draw(ax, arm: str) -> None:
        band, n = curves[arm]
        _curve(ax, band, f"{arm} (n={n})", color[arm], arm in dashed)
        if collapse and arm in collapse:
            at = sub[(sub["arm"] == arm) & (sub["clip"] == collapse[arm])]
            x = float(at["seconds"].iloc[0]) if use_seconds and len(at) else float(collapse[arm])
            ax.axvline(x, color=color[arm], linestyle=":", linewidth=1.2, label=f"{arm}: collapse from here")

    xlabel = "generated video (s)" if use_seconds else "clip index"
    ylabel = info.curve_label
    if len(arms) <= PANELS_ABOVE:
        fig = Figure(figsize=(6.4, 4.0))
        ax = fig.add_subplot()
        for arm in arms:
            draw(ax, arm)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel, parse_math=False)
        ax.set_title(f"{track}: {info.label} over the video", parse_math=False)
        ax.grid(alpha=0.3)
        _legend(ax, "small")
        fig.tight_layout()
        return fig
    ref = reference if reference in curves else arms[0]
    others = [a for a in arms if a != ref]
    cols = min(3, len(others))
    rows = math.ceil(len(others) / cols)
    fig = Figure(figsize=(3.8 * cols, 2.9 * rows + 0.5))
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).flat
    for ax, arm in zip(axes, others):
        draw(ax, ref)
        draw(ax, arm)
        ax.set_title(arm, fontsize="medium", parse_math=False)
        ax.grid(alpha=0.3)
        _legend(ax, "x-small")
    for ax in axes[len(others) :]:
        ax.set_visible(False)
    fig.supxlabel(xlabel)
    fig.supylabel(ylabel, parse_math=False)
    fig.suptitle(f"{track}: {info.label} over the video, each arm beside {ref}", parse_math=False)
    fig.tight_layout()
    return fig


def plot_drift(
    drift: pd.DataFrame,
    out_dir: str | Path,
    declared: list[str] | None = None,
    reference: str | None = None,
    collapse: dict[tuple[str, str], int] | None = None,
    colours: dict[str, str] | None = None,
) -> dict[str, Path]:
    """One PNG per (track, metric): each arm's mean curve vs seconds with its shaded 95% band
    (`drift_figure`; with more than PANELS_ABOVE arms, a panel per arm beside `reference`).

    `drift`: one row per (run, track, metric, clip) value, FINISHED runs only, columns as
    `runs.load_drift`'s (suite = the track) plus `sample`: each sample's own curve (from the
    per-sample tables), or missing / empty where the value is a run's mean over its videos. The band
    is the crossed-design interval over samples and seeds (`_band`); the t-interval over runs where
    there are no per-sample curves. `collapse`: (track, arm) -> the first collapsed window, marked. The x axis is seconds of generated video when every run of the plot has
    `seconds_per_clip`, else the clip index. `colours`: arm -> colour (default: `arm_colours` of the
    arms drawn). Returns {file name: path}, grouped by what the metrics measure (`metric_rank`: the
    metric table's order), each metric's tracks together.
    """
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    if drift.empty:
        return written
    drift = drift.copy()
    sample = drift["sample"] if "sample" in drift else pd.Series(None, index=drift.index, dtype=object)
    drift["sample"] = sample.where(sample.notna(), RUN_CURVE + drift["run_id"].astype(str)).astype(str)
    order = arm_order(drift, declared)
    colours = colours or arm_colours(order)
    for track, metric in sorted(
        drift[["suite", "metric"]].drop_duplicates().itertuples(index=False),
        key=lambda tm: (metric_rank(tm[1]), track_sort_key(tm[0])),
    ):
        sub = drift[(drift["suite"] == track) & (drift["metric"] == metric)]
        name = drift_filename(track, metric)
        marks = {a: w for (t, a), w in (collapse or {}).items() if t == track}
        written[name] = _save(drift_figure(sub, order, metric, reference, marks, colours), out_dir / name)
    return written


def plot_sweep(
    trials: pd.DataFrame, out_path: str | Path, params: list[str], direction: str = "maximize"
) -> Path | None:
    """Objective vs each probability param (one scatter panel per param), best trial starred.

    Only FINISHED trials with an objective are drawn; returns None when there are none.
    """
    done = trials[(trials["status"] == "FINISHED") & trials["objective"].notna()]
    params = [p for p in params if p in done.columns]
    if done.empty or not params:
        return None
    best = done["objective"].idxmax() if direction == "maximize" else done["objective"].idxmin()
    cols = min(len(params), 4)
    rows = math.ceil(len(params) / cols)
    fig = Figure(figsize=(3.2 * cols, 3.0 * rows))
    for i, param in enumerate(params):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.scatter(done[param], done["objective"], s=24, alpha=0.8)
        ax.scatter([done.loc[best, param]], [done.loc[best, "objective"]], marker="*", s=160, c="tab:red")
        ax.set_xlabel(param, parse_math=False)
        ax.set_xlim(-0.05, 1.05)  # probabilities
        if i % cols == 0:
            ax.set_ylabel(f"objective ({direction})")
        ax.grid(alpha=0.3)
    fig.suptitle(f"objective vs injection probabilities ({len(done)} finished trials; star = best)")
    fig.tight_layout()
    return _save(fig, Path(out_path))


# -- the answer: a forest plot of the differences on the primary metric ---------------------------

FOREST_COLUMNS = ["track", "label", "arm", "delta", "low", "high", "mdd", "significant", "kind"]


def forest_rows(summary: pd.DataFrame, metric: str, ref_means: pd.DataFrame | None = None) -> pd.DataFrame:
    """The forest plot's rows for `metric`, in display units (its `scale`): per track, each arm minus
    the reference arm, then the declared comparisons (kind 'reference' / 'declared': delta, its 95%
    crossed-design interval low-high, the MDD at 80% power, Holm's mark), then each degenerate
    reference's mean minus the reference arm's (kind 'degenerate': a point, no interval).
    `summary`: `tables.summarize`'s frame; `ref_means`: `margins.reference_means`'."""
    info = metric_info(metric)
    k = info.scale
    sub = summary[(summary["metric"] == metric) & summary["delta"].notna()]
    rows = []
    for rec in sub.to_dict("records"):
        rows.append({
            "track": rec["track"], "label": f"{rec['arm']} - {rec['reference']}", "arm": rec["arm"],
            "delta": rec["delta"] * k, "low": rec["delta_low"] * k, "high": rec["delta_high"] * k,
            "mdd": rec["mdd"] * k, "significant": str(rec["significant"]) == "True",
            "kind": "declared" if rec.get("contrast") == "declared" else "reference",
        })  # fmt: skip
    if ref_means is not None and len(ref_means) and rows:
        own = summary[(summary["metric"] == metric) & (summary.get("contrast", "reference") == "reference")]
        for track in dict.fromkeys(r["track"] for r in rows):
            ref = next(
                r["label"].rsplit(" - ", 1)[1]
                for r in rows
                if r["track"] == track and r["kind"] == "reference"
            )
            base = own[(own["track"] == track) & (own["arm"] == ref)]["mean"]
            refs = ref_means[(ref_means["track"] == track) & (ref_means["metric"] == metric)]
            for rec in refs.to_dict("records") if len(base) else []:
                x = (rec["mean"] - float(base.iloc[0])) * k
                rows.append({"track": track, "label": f"{rec['arm']} (no model) - {ref}", "arm": rec["arm"],
                             "delta": x, "low": math.nan, "high": math.nan, "mdd": math.nan,
                             "significant": False, "kind": "degenerate"})  # fmt: skip
    return pd.DataFrame(rows, columns=FOREST_COLUMNS)


def forest_figure(rows: pd.DataFrame, metric: str, colours: dict[str, str]) -> Figure:
    """One panel per track: a row per difference (`forest_rows`), its point and 95% interval in the
    first arm's colour (filled and starred: significant after Holm), its MDD as a grey band around
    zero, the degenerate references as grey diamonds; the x axis in the metric's display units."""
    info = metric_info(metric)
    tracks = list(dict.fromkeys(rows["track"]))
    labels = list(dict.fromkeys(rows["label"]))
    fig = Figure(figsize=(6.4, 0.9 + 0.32 * len(labels) * 1.0 + 0.25 * len(tracks)))
    axes = fig.subplots(1, len(tracks), sharey=True, squeeze=False)[0]
    where = {label: len(labels) - 1 - i for i, label in enumerate(labels)}  # top to bottom
    for ax, track in zip(axes, tracks):
        mine = rows[rows["track"] == track]
        for rec in mine.to_dict("records"):
            y = where[rec["label"]]
            if rec["kind"] == "degenerate":
                ax.plot([rec["delta"]], [y], marker="D", ms=5, color="0.45", ls="none")
                continue
            if not math.isnan(rec["mdd"]):
                ax.fill_betweenx([y - 0.4, y + 0.4], -rec["mdd"], rec["mdd"], color="0.85", lw=0)
            color = colours.get(rec["arm"], "0.2")
            ax.plot([rec["low"], rec["high"]], [y, y], color=color, lw=2)
            ax.plot([rec["delta"]], [y], marker="o", ms=6, color=color,
                    mfc=color if rec["significant"] else "white", ls="none")  # fmt: skip
            if rec["significant"]:
                ax.annotate(
                    "*", (rec["high"], y), xytext=(3, -4), textcoords="offset points", fontsize="large"
                )
        ax.axvline(0.0, color="0.3", lw=0.8)
        ax.set_title(track, fontsize="medium", parse_math=False)
        ax.set_xlabel(f"Δ {info.label}" + (" (pp)" if info.scale == 100.0 else ""), parse_math=False)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(labels)), labels[::-1])
    for text in axes[0].get_yticklabels():
        text.set_parse_math(False)
    better = {True: "right: the first arm is better", False: "left: the first arm is better", None: ""}
    fig.suptitle(
        f"{info.label}: differences (95% interval; filled, *: Holm; grey band: MDD; ◆: no model)"
        + (f"\n{better[info.higher_is_better]}" if info.higher_is_better is not None else ""),
        fontsize="medium", parse_math=False,
    )  # fmt: skip
    fig.tight_layout()
    return fig


FOREST_FILE = "forest_{metric}.png"


def plot_forest(
    summary: pd.DataFrame, metric: str, out_dir: str | Path, colours: dict[str, str], ref_means=None
) -> Path | None:
    """forest_<metric>.png in out_dir (`forest_figure`); None when no difference of `metric` exists."""
    rows = forest_rows(summary, metric, ref_means)
    if not (rows["kind"] != "degenerate").any():
        return None
    return _save(
        forest_figure(rows, metric, colours), Path(out_dir) / FOREST_FILE.format(metric=_safe(metric))
    )
