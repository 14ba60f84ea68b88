"""Stability plots (metric vs generated seconds, one line per arm with its 95% band) and the sweep's
objective plots.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so building a report never
touches the caller's interactive backend or global figure state.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reports.runs import track_sort_key
from reports.stats import curve_band
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

    Each sample (prompt / scene) is one curve, its seeds averaged; a run without per-sample scores
    counts as one curve. The band is the t-interval over those curves (`stats.curve_band`).
    """
    per_sample = curves.groupby(["sample", "clip"])["value"].mean().unstack("clip").sort_index(axis=1)
    clips = per_sample.columns
    mean, low, high = curve_band(per_sample.to_numpy())  # each [n_clips]
    seconds = curves.groupby("clip")["seconds"].mean().reindex(clips).to_numpy()
    x = seconds if use_seconds else clips.to_numpy()
    frame = pd.DataFrame({"x": x, "mean": mean * scale, "low": low * scale, "high": high * scale})
    seeds = curves["seed"].nunique()
    if curves["sample"].str.startswith(RUN_CURVE).all():
        return frame, f"{seeds} run{'s' if seeds != 1 else ''}"
    return frame, f"{per_sample.shape[0]}×{seeds}"


def plot_drift(
    drift: pd.DataFrame, out_dir: str | Path, declared: list[str] | None = None
) -> dict[str, Path]:
    """One PNG per (track, metric): each arm's mean curve vs seconds with its shaded 95% band.

    `drift`: one row per (run, track, metric, clip) value, FINISHED runs only, columns as
    `runs.load_drift`'s (suite = the track) plus `sample`: each sample's own curve (from the
    per-sample tables), or missing / empty where the value is a run's mean over its videos. The band
    is the t-interval over samples (seeds averaged within each); over runs where there are no
    per-sample curves. The x axis is seconds of generated video when every run of the plot has
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
        use_seconds = bool(sub["seconds"].notna().all())
        info = metric_info(metric)
        fig = Figure(figsize=(6.4, 4.0))
        ax = fig.add_subplot()
        for arm in (a for a in order if a in set(sub["arm"])):
            curves = sub[sub["arm"] == arm]
            band, n = _band(curves, use_seconds, info.scale)  # clips in order
            baseline = (curves["role"] == "baseline").any()
            (line,) = ax.plot(
                band["x"],
                band["mean"],
                marker="o",
                ms=3,
                ls="--" if baseline else "-",
                label=f"{arm} (n={n})",
            )
            shown = band[band["low"].notna() & band["high"].notna()]
            if not shown.empty:
                ax.fill_between(shown["x"], shown["low"], shown["high"], color=line.get_color(), alpha=0.2)
        ax.set_xlabel("generated video (s)" if use_seconds else "clip index")
        ax.set_ylabel(info.label + (" (%)" if info.scale == 100.0 else ""))
        ax.set_title(f"{track}: {info.label} over the video")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        name = drift_filename(track, metric)
        written[name] = _save(fig, out_dir / name)
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
        ax.set_xlabel(param)
        ax.set_xlim(-0.05, 1.05)  # probabilities
        if i % cols == 0:
            ax.set_ylabel(f"objective ({direction})")
        ax.grid(alpha=0.3)
    fig.suptitle(f"objective vs injection probabilities ({len(done)} finished trials; star = best)")
    fig.tight_layout()
    return _save(fig, Path(out_path))
