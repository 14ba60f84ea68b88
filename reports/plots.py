"""Stability plots (metric vs generated seconds, one line per arm with its 95% band; a panel per arm
beside the reference arm when there are many arms) and the sweep's objective plots.

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

from reports.runs import track_sort_key
from reports.stats import crossed_band, curve_band
from reports.tables import arm_order, metric_info


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120, format="png")
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def drift_filename(track: str, metric: str) -> str:
    return f"drift_{_safe(track)}_{_safe(metric)}.png"


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
) -> Figure:
    """One track's figure for one metric: each arm's mean curve with its 95% band, baselines dashed.

    `sub`: the drift rows of one track and metric (`plot_drift`'s columns, `sample` filled); `order`:
    the arms in display order. Up to PANELS_ABOVE arms share one axes. With more, every other arm has
    a panel of its own beside the reference arm (`reference`, else the first arm of `order`: the
    baseline when there is one), all panels on the same scales. An arm keeps its colour in every panel.
    `collapse`: arm -> the first window where one of its videos collapsed (reports/margins.py), drawn
    as a dotted vertical line in the arm's colour.
    """
    track = sub["suite"].iloc[0]
    use_seconds = bool(sub["seconds"].notna().all())
    info = metric_info(metric)
    arms = [a for a in order if a in set(sub["arm"])]
    curves = {arm: _band(sub[sub["arm"] == arm], use_seconds, info.scale) for arm in arms}  # (band, n)
    dashed = set(sub.loc[sub["role"] == "baseline", "arm"])
    color = {arm: f"C{i % 10}" for i, arm in enumerate(arms)}

    def draw(ax, arm: str) -> None:
        band, n = curves[arm]
        _curve(ax, band, f"{arm} (n={n})", color[arm], arm in dashed)
        if collapse and arm in collapse:
            at = sub[(sub["arm"] == arm) & (sub["clip"] == collapse[arm])]
            x = float(at["seconds"].iloc[0]) if use_seconds and len(at) else float(collapse[arm])
            ax.axvline(x, color=color[arm], linestyle=":", linewidth=1.2, label=f"{arm}: collapse from here")

    xlabel = "generated video (s)" if use_seconds else "clip index"
    ylabel = info.label + (" (%)" if info.scale == 100.0 else "")
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
) -> dict[str, Path]:
    """One PNG per (track, metric): each arm's mean curve vs seconds with its shaded 95% band
    (`drift_figure`; with more than PANELS_ABOVE arms, a panel per arm beside `reference`).

    `drift`: one row per (run, track, metric, clip) value, FINISHED runs only, columns as
    `runs.load_drift`'s (suite = the track) plus `sample`: each sample's own curve (from the
    per-sample tables), or missing / empty where the value is a run's mean over its videos. The band
    is the crossed-design interval over samples and seeds (`_band`); the t-interval over runs where
    there are no per-sample curves. `collapse`: (track, arm) -> the first collapsed window, marked. The x axis is seconds of generated video when every run of the plot has
    `seconds_per_clip`, else the clip index. Returns {file name: path}.
    """
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    if drift.empty:
        return written
    drift = drift.copy()
    sample = drift["sample"] if "sample" in drift else pd.Series(None, index=drift.index, dtype=object)
    drift["sample"] = sample.where(sample.notna(), RUN_CURVE + drift["run_id"].astype(str)).astype(str)
    order = arm_order(drift, declared)
    for track, metric in sorted(
        drift[["suite", "metric"]].drop_duplicates().itertuples(index=False),
        key=lambda tm: (track_sort_key(tm[0]), tm[1]),
    ):
        sub = drift[(drift["suite"] == track) & (drift["metric"] == metric)]
        name = drift_filename(track, metric)
        marks = {a: w for (t, a), w in (collapse or {}).items() if t == track}
        written[name] = _save(drift_figure(sub, order, metric, reference, marks), out_dir / name)
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
