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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from pathlib import Path

import pandas as pd
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from reports.colours import arm_colours
from reports.frames import split_comparison, track_sort_key
from reports.stats import crossed_band, curve_band
from reports.tables import ONE_SEED, SPECS, arm_order, metric_info


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120, format="png")
    return path


# Drawing is most of a report's time. A check of which files a report writes (`harness pages --check`,
# reports/pages.py `stale_pages`) needs each plot's name, not its picture: inside `names_only()` every
# plot is written as an empty file of its name, its figure never built.
_NAMES_ONLY: ContextVar[bool] = ContextVar("plots_names_only", default=False)


@contextmanager
def names_only() -> Iterator[None]:
    token = _NAMES_ONLY.set(True)
    try:
        yield
    finally:
        _NAMES_ONLY.reset(token)


def _draw(figure: Callable[[], Figure], path: Path) -> Path:
    """`_save` the figure `figure()` builds to `path`, or, inside `names_only()`, an empty file there."""
    if not _NAMES_ONLY.get():
        return _save(figure(), path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
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
        figure = partial(drift_figure, sub, order, metric, reference, marks, colours)
        written[name] = _draw(figure, out_dir / name)
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

FOREST_COLUMNS = ["track", "label", "arm", "delta", "low", "high", "mdd", "significant", "kind", "one_seed"]


def forest_rows(summary: pd.DataFrame, metric: str, ref_means: pd.DataFrame | None = None) -> pd.DataFrame:
    """The forest plot's rows for `metric`, in display units (its `scale`): per track, each arm minus
    the reference arm, then the declared comparisons (kind 'reference' / 'declared': delta, its 95%
    crossed-design interval low-high, the MDD at 80% power, Holm's mark, `one_seed`: a fine-tuned arm
    with one seed, whose interval leaves out training variance and which is never tested), then each
    degenerate reference's mean minus the reference arm's (kind 'degenerate': a point, no interval).
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
            "one_seed": rec.get("training_variance") == ONE_SEED,
        })  # fmt: skip
    if ref_means is not None and len(ref_means) and rows:
        own = summary[(summary["metric"] == metric) & (summary.get("contrast", "reference") == "reference")]
        for track in dict.fromkeys(r["track"] for r in rows):
            ref = next(
                split_comparison(r["label"])[1]
                for r in rows
                if r["track"] == track and r["kind"] == "reference"
            )
            base = own[(own["track"] == track) & (own["arm"] == ref)]["mean"]
            refs = ref_means[(ref_means["track"] == track) & (ref_means["metric"] == metric)]
            for rec in refs.to_dict("records") if len(base) else []:
                x = (rec["mean"] - float(base.iloc[0])) * k
                rows.append({"track": track, "label": f"{rec['arm']} (no model) - {ref}", "arm": rec["arm"],
                             "delta": x, "low": math.nan, "high": math.nan, "mdd": math.nan,
                             "significant": False, "kind": "degenerate", "one_seed": False})  # fmt: skip
    return pd.DataFrame(rows, columns=FOREST_COLUMNS)


def answer_rows(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(the answer picture's rows, the second picture's or None) of `forest_rows`' frame: with declared
    comparisons, the answer draws those (what the experiment was built to ask) and the second picture
    each arm minus the reference arm; without, the answer draws each arm minus the reference arm. Both
    draw the degenerate references."""
    refs = rows[rows["kind"] == "degenerate"]
    declared = rows[rows["kind"] == "declared"]
    arms = rows[rows["kind"] == "reference"]
    if declared.empty:
        return rows, None
    return pd.concat([declared, refs]), pd.concat([arms, refs])


# Row heights (inches) and the rest of the forest figure: a dozen rows stay within a 1000 px screen
# below a results page's header (tests/test_site_layout.py).
FOREST_ROW_IN, FOREST_FRAME_IN = 0.27, 1.35
# A degenerate reference further from the arms' differences than this many times their span is drawn at
# the axis's edge, its value written (a truth far off the arms' scale would shrink their intervals to dots).
FAR_SPANS = 2.0
# The width of a row label's character and the least room between two ticks (inches): tick labels such
# as "-0.050" never run into each other however narrow the row labels leave a panel.
LABEL_CHAR_IN, TICK_IN = 0.075, 0.8
# Outline of each interval and point: an arm's pale colour stays visible on the grey MDD band.
_OUTLINE = [patheffects.Stroke(linewidth=3.6, foreground="0.3"), patheffects.Normal()]


def _initials(names: list[str]) -> dict[str, str]:
    """A short mark per degenerate reference: its first letter, upper case; more where two share it."""
    marks = {}
    for name in names:
        n = 1
        while name[:n].upper() in marks.values() and n < len(name):
            n += 1
        marks[name] = name[:n].upper() if n == 1 else name[0].upper() + name[1:n]
    return marks


def _limits(mine: pd.DataFrame) -> tuple[float, float]:
    """A panel's x range: zero, every interval and MDD band, and the degenerate references within
    FAR_SPANS of them; padded by 6%."""
    drawn = mine[mine["kind"] != "degenerate"]
    xs = [0.0, *drawn["low"], *drawn["high"], *drawn["mdd"], *(-drawn["mdd"])]
    xs = [x for x in xs if not math.isnan(x)]
    lo, hi = min(xs), max(xs)
    span = (hi - lo) or 1.0
    near = [
        x
        for x in mine.loc[mine["kind"] == "degenerate", "delta"]
        if lo - FAR_SPANS * span <= x <= hi + FAR_SPANS * span
    ]
    lo, hi = min([lo, *near]), max([hi, *near])
    pad = 0.06 * (hi - lo)
    return lo - pad, hi + pad


def _degenerate_row(
    ax, refs: pd.DataFrame, y: float, limits: tuple[float, float], marks: dict[str, str]
) -> None:
    """The degenerate references of a panel on one row: a grey diamond each, marked with its initials
    above (references that land together share one mark); one beyond the axis at its edge, with its
    value."""
    lo, hi = limits
    near, far = [], []
    for rec in refs.to_dict("records"):
        (near if lo <= rec["delta"] <= hi else far).append(rec)
    groups: list[list[dict]] = []
    for rec in sorted(near, key=lambda r: r["delta"]):
        if groups and rec["delta"] - groups[-1][-1]["delta"] < 0.04 * (hi - lo):
            groups[-1].append(rec)
        else:
            groups.append([rec])
    for group in groups:
        xs = [r["delta"] for r in group]
        ax.plot(xs, [y] * len(xs), marker="D", ms=5, color="0.45", ls="none")
        ax.annotate("·".join(marks[r["arm"]] for r in group), (sum(xs) / len(xs), y), xytext=(0, 5),
                    textcoords="offset points", ha="center", fontsize="x-small", color="0.3")  # fmt: skip
    for rec in far:
        right = rec["delta"] > hi
        edge = hi - 0.01 * (hi - lo) if right else lo + 0.01 * (hi - lo)
        ax.plot([edge], [y], marker=">" if right else "<", ms=6, color="0.45", ls="none")
        ax.annotate(
            f"{marks[rec['arm']]} {rec['delta']:+.3g}",
            (edge, y),
            xytext=(-8 if right else 8, 0),
            textcoords="offset points",
            ha="right" if right else "left",
            va="center",
            fontsize="x-small",
            color="0.3",
        )  # fmt: skip: on its own row, beside its arrow


def forest_figure(
    rows: pd.DataFrame, metric: str, colours: dict[str, str], title: str = "differences"
) -> Figure:
    """One panel per track: a row per difference (`forest_rows`), its point and 95% interval in the
    first arm's colour outlined in grey (filled and starred: significant after Holm; dashed and marked
    '(1 seed)': one seed, never tested), its MDD as a grey band around zero, and the degenerate
    references as grey diamonds on one last row, marked by initials (one far off the arms' scale at
    the axis's edge with its value); the x axis in the metric's display units, a few ticks apart."""
    info = metric_info(metric)
    tracks = list(dict.fromkeys(rows["track"]))
    tested = rows[rows["kind"] != "degenerate"]
    refs = rows[rows["kind"] == "degenerate"]
    one_seed = set(tested.loc[tested["one_seed"], "label"])
    labels = [lab + (" (1 seed)" if lab in one_seed else "") for lab in dict.fromkeys(tested["label"])]
    keys = list(dict.fromkeys(tested["label"]))
    marks = _initials(list(dict.fromkeys(refs["arm"])))
    if len(refs):
        labels.append("no model ◆")
    n = len(labels)
    better = {True: "right: the first arm is better", False: "left: the first arm is better", None: ""}
    notes = [f"{info.label}: {title} (95% interval; filled, *: Holm; grey band: MDD)"]
    notes += [better[info.higher_is_better]] if info.higher_is_better is not None else []
    notes += ["dashed, (1 seed): one seed, never tested"] if one_seed else []
    notes += ["◆ " + ", ".join(f"{m} {name}" for name, m in marks.items())] if len(refs) else []
    fig = Figure(figsize=(6.4, FOREST_FRAME_IN + FOREST_ROW_IN * max(n, 3) + 0.2 * max(0, len(notes) - 3)))
    axes = fig.subplots(1, len(tracks), sharey=True, squeeze=False)[0]
    where = {label: n - 1 - i for i, label in enumerate(keys)}  # top to bottom; the references' row last
    # a tick every TICK_IN at most of the panel's width (the figure's less the row labels'): labels apart
    panel_in = (6.4 - LABEL_CHAR_IN * max(map(len, labels)) - 0.5) / len(tracks)
    ticks = max(2, min(6, int(panel_in / TICK_IN)))
    for ax, track in zip(axes, tracks):
        mine = rows[rows["track"] == track]
        limits = _limits(mine)
        for rec in mine[mine["kind"] != "degenerate"].to_dict("records"):
            y = where[rec["label"]]
            if not math.isnan(rec["mdd"]):
                ax.fill_betweenx([y - 0.4, y + 0.4], -rec["mdd"], rec["mdd"], color="0.87", lw=0)
            color = colours.get(rec["arm"], "0.2")
            if rec["one_seed"]:  # dashed over a thin grey line: seen on the band, dashes unbroken by outlines
                ax.plot([rec["low"], rec["high"]], [y, y], color="0.3", lw=0.8)
            ax.plot([rec["low"], rec["high"]], [y, y], color=color, lw=2,
                    **({"ls": (0, (3, 1.5))} if rec["one_seed"] else {"path_effects": _OUTLINE}))  # fmt: skip
            ax.plot([rec["delta"]], [y], marker="o", ms=6, color=color, mec="0.3",
                    mfc=color if rec["significant"] else "white", ls="none")  # fmt: skip
            if rec["significant"]:
                ax.annotate(
                    "*", (rec["high"], y), xytext=(3, -4), textcoords="offset points", fontsize="large"
                )
        if len(refs):
            _degenerate_row(ax, mine[mine["kind"] == "degenerate"], 0.0, limits, marks)
        ax.set_xlim(*limits)
        ax.set_ylim(-0.7, n - 0.3)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=ticks))
        ax.tick_params(axis="x", labelsize="small")
        ax.axvline(0.0, color="0.3", lw=0.8)
        ax.set_title(track, fontsize="medium", parse_math=False)
        ax.set_xlabel(f"Δ {info.label}" + (" (pp)" if info.scale == 100.0 else ""), parse_math=False)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(n), labels[::-1])
    for text in axes[0].get_yticklabels():
        text.set_parse_math(False)
    fig.suptitle("\n".join(notes[:2] + ["; ".join(notes[2:])] if len(notes) > 2 else notes),
                 fontsize="medium", parse_math=False)  # fmt: skip
    fig.tight_layout()
    return fig


FOREST_FILE = "forest_{metric}.png"
FOREST_ARMS_FILE = "forest_{metric}_arms.png"  # each arm minus the reference arm, beside declared comparisons


def plot_forest(
    summary: pd.DataFrame, metric: str, out_dir: str | Path, colours: dict[str, str], ref_means=None
) -> list[Path]:
    """forest_<metric>.png in out_dir, the answer (`forest_figure` of `answer_rows`' first frame), then
    forest_<metric>_arms.png where the experiment declares comparisons; [] when no difference of
    `metric` exists."""
    rows = forest_rows(summary, metric, ref_means)
    if not (rows["kind"] != "degenerate").any():
        return []
    answer, arms = answer_rows(rows)
    name = _safe(metric)
    title = "the declared comparisons" if arms is not None else "each arm minus the reference arm"
    written = [
        _draw(
            partial(forest_figure, answer, metric, colours, title),
            Path(out_dir) / FOREST_FILE.format(metric=name),
        )
    ]
    if arms is not None:
        figure = partial(forest_figure, arms, metric, colours, "each arm minus the reference arm")
        written.append(_draw(figure, Path(out_dir) / FOREST_ARMS_FILE.format(metric=name)))
    return written
