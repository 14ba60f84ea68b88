"""Stability plots (metric vs generated seconds, one line per arm) and the sweep's objective plots.

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


def plot_drift(
    drift: pd.DataFrame, out_dir: str | Path, declared: list[str] | None = None
) -> dict[str, Path]:
    """One PNG per (track, metric): mean over seeds per arm vs seconds, shaded ± std where n > 1.

    `drift` is `runs.load_drift`'s frame (FINISHED runs only). The x axis is seconds of generated
    video when every run of the plot has `seconds_per_clip`, else the clip index. Returns
    {file name: path}.
    """
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    if drift.empty:
        return written
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
            g = sub[sub["arm"] == arm].groupby("clip")
            stats = pd.DataFrame(
                {
                    "x": g["seconds"].mean() if use_seconds else g["clip"].first(),
                    "mean": g["value"].mean() * info.scale,
                    "std": g["value"].std(ddof=1) * info.scale,
                    "n": g["value"].count(),
                }
            ).sort_values("x")
            seeds = int(sub.loc[sub["arm"] == arm, "run_id"].nunique())
            baseline = (sub.loc[sub["arm"] == arm, "role"] == "baseline").any()
            (line,) = ax.plot(
                stats["x"],
                stats["mean"],
                marker="o",
                ms=3,
                ls="--" if baseline else "-",
                label=f"{arm} (n={seeds})",
            )
            band = stats[stats["n"] > 1]
            if not band.empty:
                ax.fill_between(
                    band["x"],
                    band["mean"] - band["std"],
                    band["mean"] + band["std"],
                    color=line.get_color(),
                    alpha=0.2,
                )
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
