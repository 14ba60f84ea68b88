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
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from reports.colours import arm_colours
from reports.frames import split_comparison, track_sort_key
from reports.stats import crossed_band, curve_band
from reports.tables import ONE_SEED, SPECS, arm_order, metric_info

# A picture is written at DPI and shown in a page's text column, COLUMN_PX wide (the documentation
# site's, tests/test_site_layout.py), scaled down when wider. Every text it holds stays LEAST_TEXT_PX
# tall (its font size) or more at that width: a figure W inches wide shows a font of s points at
# s * COLUMN_PX / (72 W) px (10.8 pt at least in an 11.4-inch figure), so wide figures are kept near
# WIDE_IN and their fonts at `small` (8.3 pt) or more.
DPI, COLUMN_PX, LEAST_TEXT_PX = 120, 688, 9.0
WIDE_IN = 7.6


class PlotTextWarning(UserWarning):
    """A picture's text cut at its edge, too small at the column's width, or over another text or a
    point's marker (`text_problems`)."""


def _agg(fig: Figure) -> FigureCanvasAgg:
    return fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)


def _line_box(x: float, y: float, w: float, h: float, d: float, angle: float) -> tuple[float, ...]:
    """(x0, y0, x1, y1) in display px (y up) of a line of text w x h px, descent d, whose baseline
    starts at (x, y), turned `angle` degrees about it: the box matplotlib lays the text out in."""
    a = math.radians(angle)
    corners = [(dx, dy) for dx in (0.0, w) for dy in (-d, h - d)]
    xs = [x + dx * math.cos(a) - dy * math.sin(a) for dx, dy in corners]
    ys = [y + dx * math.sin(a) + dy * math.cos(a) for dx, dy in corners]
    return min(xs), min(ys), max(xs), max(ys)


def _overlap(a: tuple[float, ...], b: tuple[float, ...], slack: float = 0.5) -> bool:
    return a[0] + slack < b[2] and b[0] + slack < a[2] and a[1] + slack < b[3] and b[1] + slack < a[3]


def _marker_boxes(fig: Figure) -> list[tuple[tuple[float, float], tuple[float, ...]]]:
    """(centre, box) in display px of every marker the axes' lines draw within their axes."""
    out = []
    for ax in fig.axes:
        for line in ax.lines:
            if not line.get_visible() or line.get_marker() in (None, "None", "none", "", " "):
                continue
            half = (line.get_markersize() + line.get_markeredgewidth()) / 2 * fig.dpi / 72
            xy = np.column_stack([line.get_xdata(orig=False), line.get_ydata(orig=False)]).astype(float)
            for x, y in line.get_transform().transform(xy):
                if np.isfinite([x, y]).all() and ax.bbox.contains(x, y):
                    out.append(((x, y), (x - half, y - half, x + half, y + half)))
    return out


def text_problems(fig: Figure, save_to: Path | None = None) -> list[str]:
    """What is wrong with the texts of `fig` as drawn: one line per line of text reaching past the
    figure's edge (cut in the picture), drawn smaller than LEAST_TEXT_PX at the column's width
    (COLUMN_PX; `save_to`'s DPI), covering another line of text, or, an annotation (a point's label:
    `ax.annotate`, `ax.text`), covering the marker of another point than its own; [] when none.

    Draws `fig` once, into the PNG `save_to` at DPI when given, and measures each line of text the
    renderer draws (tick labels, titles, legends, annotations alike; a text drawn with path effects
    or TeX is not seen), so what it measures is what the picture holds."""
    canvas = _agg(fig)
    if save_to is not None:
        fig.set_dpi(DPI)
    renderer = canvas.get_renderer()  # the renderer the draw below reuses (the same size and dpi)
    drawn: list[tuple[str, tuple[float, ...], float, Text | None]] = []

    def record(gc, x, y, s, prop, angle, ismath=False, mtext=None):
        w, h, d = renderer.get_text_width_height_descent(s, prop, ismath)
        box = _line_box(x, renderer.height - y, w, h, d, angle)  # draw_text's y counts from the top
        drawn.append((s, box, prop.get_size_in_points(), mtext))
        return RendererAgg.draw_text(renderer, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    renderer.draw_text = record
    try:
        if save_to is None:
            canvas.draw()
        else:
            fig.savefig(save_to, dpi=DPI, format="png")
    finally:
        del renderer.draw_text
    width, height = renderer.width, renderer.height
    px_per_pt = min(DPI, COLUMN_PX / fig.get_figwidth()) / 72  # at the column's width
    problems = []
    for s, (x0, y0, x1, y1), size, _ in drawn:
        cut = {"left": -x0, "right": x1 - width, "bottom": -y0, "top": y1 - height}
        problems += [f"{s!r} is cut {round(v)} px at the {side} edge" for side, v in cut.items() if v > 1]
        if size * px_per_pt < LEAST_TEXT_PX - 0.05:
            problems.append(
                f"{s!r} is {size * px_per_pt:.1f} px at {COLUMN_PX} px wide (< {LEAST_TEXT_PX:g})"
            )
    markers = _marker_boxes(fig)  # once: every annotation is checked against the same markers
    for i, (s, box, _, t) in enumerate(drawn):
        problems += [f"{s!r} covers {other!r}" for other, b, _, _ in drawn[i + 1 :] if _overlap(box, b)]
        if t is None or t.axes is None or t not in t.axes.texts:
            continue  # a point's label (an annotation) only: a marker may lie under a title or a legend
        own = t.axes.transData.transform(t.xy) if getattr(t, "xycoords", None) == "data" else None
        for centre, mark in markers:
            if (own is None or np.hypot(*(np.asarray(centre) - own)) > 0.5) and _overlap(box, mark):
                problems.append(f"{s!r} covers the marker at ({round(centre[0])}, {round(centre[1])}) px")
    return problems


def _save(fig: Figure, path: Path) -> Path:
    """`fig` as a PNG at DPI; a PlotTextWarning per problem of its texts (`text_problems`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for problem in text_problems(fig, path):
        warnings.warn(f"{path}: {problem}", PlotTextWarning, stacklevel=3)
    return path


def _lines(fig: Figure, parts: list[str], width_in: float, fontsize: str | float, sep: str = "; ") -> str:
    """`parts` packed into lines no wider than `width_in` at `fontsize` (as `fig`'s renderer measures
    them): each part joins the line before it (after `sep`) while the line fits, a part too wide
    alone is broken between words, a word too wide alone between characters."""
    renderer = _agg(fig).get_renderer()
    prop = FontProperties(size=fontsize)

    def fits(s: str) -> bool:
        return renderer.get_text_width_height_descent(s, prop, ismath=False)[0] <= width_in * fig.dpi

    def broken(text: str, by: str) -> list[str]:
        lines = [""]
        for piece in text.split(by) if by else list(text):
            joined = lines[-1] + by + piece if lines[-1] else piece
            if fits(joined) or not lines[-1]:
                lines[-1] = joined
            else:
                lines.append(piece)
        return lines

    packed: list[str] = []
    for part in parts:
        if packed and fits(packed[-1] + sep + part):
            packed[-1] += sep + part
        else:
            packed += [
                w for line in broken(part, " ") for w in (broken(line, "") if not fits(line) else [line])
            ]
    return "\n".join(packed)


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


def _literal(legend) -> None:
    """A legend's labels (arm names) drawn literally."""
    for text in legend.get_texts():
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
        fig = Figure(figsize=(6.4, 4.0), dpi=DPI)
        ax = fig.add_subplot()
        for arm in arms:
            draw(ax, arm)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel, parse_math=False)
        title = _lines(fig, [f"{track}: {info.label} over the video"], 6.4 - 1.2, "large")
        ax.set_title(title, parse_math=False)  # within the axes' width (the figure's less its y labels)
        ax.grid(alpha=0.3)
        _literal(ax.legend(fontsize="small"))
        fig.tight_layout()
        return fig
    ref = reference if reference in curves else arms[0]
    others = [a for a in arms if a != ref]
    cols = min(3, len(others))
    rows = math.ceil(len(others) / cols)
    # WIDE_IN across (legible at the column's width), one legend below the panels for every arm, in as
    # many columns (up to the panels') as its widest label leaves room for
    fig = Figure(figsize=(WIDE_IN, 1.0), layout="constrained", dpi=DPI)
    renderer = _agg(fig).get_renderer()
    small = FontProperties(size="small")
    labels = [f"{arm} (n={curves[arm][1]})" for arm in arms] + [
        f"{arm}: collapse from here" for arm in collapse or {}
    ]
    widest = max(renderer.get_text_width_height_descent(label, small, ismath=False)[0] for label in labels)
    ncol = max(1, min(cols, int(0.95 * fig.bbox.width // (widest + renderer.points_to_pixels(40)))))
    fig.set_size_inches(WIDE_IN, 1.75 * rows + 1.0 + 0.2 * math.ceil(len(arms) / ncol))
    grid = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    for ax, arm in zip(grid.flat, others):
        draw(ax, ref)
        draw(ax, arm)
        ax.set_title(_lines(fig, [arm], WIDE_IN / cols - 0.3, "medium"), fontsize="medium", parse_math=False)
        ax.grid(alpha=0.3)
    for i, ax in enumerate(grid.flat):
        if i >= len(others):
            ax.set_visible(False)
        elif i + cols >= len(others):  # no panel below it: its own x tick labels and x label
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel(xlabel)
    entries: dict[str, object] = {}
    for ax in grid.flat[: len(others)]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    _literal(
        fig.legend(entries.values(), entries.keys(), loc="outside lower center", ncol=ncol, fontsize="small")
    )
    fig.supylabel(ylabel, fontsize="medium", parse_math=False)
    title = f"{track}: {info.label} over the video, each arm beside {ref}"
    fig.suptitle(_lines(fig, [title], WIDE_IN - 0.2, "large"), parse_math=False)
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
    panel = min(3.2, WIDE_IN / cols)  # at most WIDE_IN across: legible at the column's width
    fig = Figure(figsize=(panel * cols, 0.95 * panel * rows + 0.3), dpi=DPI)
    for i, param in enumerate(params):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.scatter(done[param], done["objective"], s=24, alpha=0.8)
        ax.scatter([done.loc[best, param]], [done.loc[best, "objective"]], marker="*", s=160, c="tab:red")
        ax.set_xlabel(param, parse_math=False)
        ax.set_xlim(-0.05, 1.05)  # probabilities
        if i % cols == 0:
            ax.set_ylabel(f"objective ({direction})")
        ax.grid(alpha=0.3)
    title = f"objective vs injection probabilities ({len(done)} finished trials; star = best)"
    fig.suptitle(_lines(fig, [title], panel * cols - 0.2, "large"))
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
FOREST_ROW_IN, FOREST_FRAME_IN, FOREST_IN = 0.27, 1.35, 6.4
# The references' row lies this much further (in rows) below the last difference: its marks above it.
REF_GAP = 0.3
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


def _degenerate_row(ax, refs: pd.DataFrame, y: float, marks: dict[str, str], renderer) -> None:
    """The degenerate references of a panel on one row: a grey diamond each, its initials above it;
    references whose marks would touch share one mark (`P·L`), over their mean. Those beyond the axis
    on one side: an arrow at its edge, their marks and values below the row (above it, where the
    other side's values take the room below). Drawn once the panel is laid out: the marks are placed
    by their width in px (`renderer`'s), none over another or over a diamond."""
    lo, hi = ax.get_xlim()
    font = FontProperties(size="x-small")
    gap = renderer.points_to_pixels(4.0)

    def width(text: str) -> float:
        return renderer.get_text_width_height_descent(text, font, ismath=False)[0]

    def span(x: float, text: str, ha: str) -> tuple[float, float]:
        at, w = ax.transData.transform((x, y))[0], width(text)
        return {"left": (at, at + w), "right": (at - w, at), "center": (at - w / 2, at + w / 2)}[ha]

    def label(group: list[dict]) -> str:
        return "·".join(marks[r["arm"]] for r in group)

    def centre(group: list[dict]) -> float:
        return sum(r["delta"] for r in group) / len(group)

    def align(x: float, text: str) -> str:  # centred over its diamonds, unless that crosses the panel's edge
        left, right = span(x, text, "center")
        return "left" if left < ax.bbox.x0 else "right" if right > ax.bbox.x1 else "center"

    recs = refs.to_dict("records")
    groups = [[r] for r in sorted((r for r in recs if lo <= r["delta"] <= hi), key=lambda r: r["delta"])]
    touching = True
    while touching:  # join the first two neighbours whose marks would touch, until none do
        touching = False
        for i in range(len(groups) - 1):
            first, second = (span(centre(g), label(g), align(centre(g), label(g))) for g in groups[i : i + 2])
            if second[0] < first[1] + gap:
                groups[i : i + 2] = [groups[i] + groups[i + 1]]
                touching = True
                break
    taken: dict[bool, list[tuple[float, float]]] = {True: [], False: []}  # above the row?: spans in px
    for group in groups:
        xs, x, text = [r["delta"] for r in group], centre(group), label(group)
        ax.plot(xs, [y] * len(xs), marker="D", ms=5, color="0.45", ls="none")
        ha = align(x, text)
        taken[True].append(span(x, text, ha))
        ax.annotate(text, (x, y), xytext=(0, 4.5), textcoords="offset points", ha=ha, fontsize="x-small",
                    color="0.3")  # fmt: skip
    for right in (False, True):
        far = sorted(
            (r for r in recs if (r["delta"] > hi if right else r["delta"] < lo)), key=lambda r: r["delta"]
        )
        if not far:
            continue
        edge = hi - 0.01 * (hi - lo) if right else lo + 0.01 * (hi - lo)
        ax.plot([edge], [y], marker=">" if right else "<", ms=6, color="0.45", ls="none")
        values: dict[str, list[str]] = {}  # references at the same (rounded) value share it
        for r in far:
            values.setdefault(f"{r['delta']:+.2g}", []).append(marks[r["arm"]])
        text, ha = ", ".join(f"{'·'.join(m)} {v}" for v, m in values.items()), "right" if right else "left"
        room = span(edge, text, ha)
        clash = {
            side: any(room[0] < b + gap and a < room[1] + gap for a, b in spans)
            for side, spans in taken.items()
        }
        above = clash[False] and not clash[True]  # below, unless the other side's values lie there
        taken[above].append(room)
        ax.annotate(text, (edge, y), xytext=(0, 4.5 if above else -4.5), textcoords="offset points", ha=ha,
                    va="baseline" if above else "top", fontsize="x-small", color="0.3")  # fmt: skip


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
    notes = ["95% interval", "filled, *: Holm", "grey band: MDD"]
    notes += [better[info.higher_is_better]] if info.higher_is_better is not None else []
    notes += ["dashed, (1 seed): one seed, never tested"] if one_seed else []
    notes += ["◆ " + ", ".join(f"{m} {name}" for name, m in marks.items())] if len(refs) else []
    fig = Figure(figsize=(FOREST_IN, 1.0), dpi=DPI)
    # the title on its line, the key below it in a smaller font, packed into as few lines as fit
    head = _lines(fig, [f"{info.label}: {title}"], FOREST_IN - 0.2, "medium")
    key = _lines(fig, notes, FOREST_IN - 0.2, "small")
    extra = max(0, head.count("\n") + key.count("\n") - 1)  # lines past three
    fig.set_size_inches(FOREST_IN, FOREST_FRAME_IN + FOREST_ROW_IN * max(n, 3) + 0.2 * extra)
    axes = fig.subplots(1, len(tracks), sharey=True, squeeze=False)[0]
    # top to bottom; the references' row last, REF_GAP further down: room for its marks above it
    lift = REF_GAP if len(refs) else 0.0
    where = {label: n - 1 - i + lift for i, label in enumerate(keys)}
    # a tick every TICK_IN at most of the panel's width (the figure's less the row labels'): labels apart
    panel_in = (FOREST_IN - LABEL_CHAR_IN * max(map(len, labels)) - 0.5) / len(tracks)
    ticks = max(2, min(6, int(panel_in / TICK_IN)))
    limits = {track: _limits(rows[rows["track"] == track]) for track in tracks}
    # a reference off a panel's scale has its value written below the references' row: room for it
    far = any(
        not lo <= x <= hi
        for track, (lo, hi) in limits.items()
        for x in refs.loc[refs["track"] == track, "delta"]
    )
    for ax, track in zip(axes, tracks):
        mine = rows[rows["track"] == track]
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
                # right of the interval's end, clear of its point's marker however short the interval
                ax.annotate(
                    "*", (rec["high"], y), xytext=(4, -4), textcoords="offset points", fontsize="large"
                )
        ax.set_xlim(*limits[track])
        ax.set_ylim(-1.0 if far else -0.7, n - 0.3 + lift)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=ticks))
        ax.tick_params(axis="x", labelsize="small")
        ax.axvline(0.0, color="0.3", lw=0.8)
        ax.set_title(_lines(fig, [track], panel_in, "medium"), fontsize="medium", parse_math=False)
        ax.set_xlabel(f"Δ {info.label}" + (" (pp)" if info.scale == 100.0 else ""), parse_math=False)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks([0.0, *sorted(where.values())] if len(refs) else sorted(where.values()), labels[::-1])
    for text in axes[0].get_yticklabels():
        text.set_parse_math(False)
    renderer = _agg(fig).get_renderer()
    heading = fig.suptitle(head, fontsize="medium", parse_math=False)
    heading.set_in_layout(False)  # the panels go below the key (the rect), not below the title again
    below = heading.get_window_extent(renderer).y0 / fig.bbox.height
    key = fig.text(0.5, below, key, ha="center", va="top", fontsize="small", parse_math=False)
    fig.tight_layout(rect=(0, 0, 1, key.get_window_extent(renderer).y0 / fig.bbox.height))
    for ax, track in zip(axes, tracks):
        mine = rows[(rows["track"] == track) & (rows["kind"] == "degenerate")]
        if len(mine):
            _degenerate_row(ax, mine, 0.0, marks, renderer)
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
