"""Where the degenerate references land (scoring/references.py: frozen, loop, pingpong, truth), each
arm's margin over the best of them, and the videos whose motion collapsed. No torch.

A reference's runs have role `reference` (harness/run/reference_units.py): `split` keeps them out of every
mean, difference and Holm family of the arms, and these tables put them beside the arms instead.

- margin: an arm's mean minus the best degenerate reference's (frozen, loop or pingpong; the truth and
  the truth_vae ceiling are shown, never counted as degenerate), in the metric's direction, in display
  units: positive when the arm beats every trivial video. What the references say of the metric and of
  the arms (two verdicts) is reports/verdicts.py.
- collapse (scoring/references.py `collapse_start`): a video whose windowed motion (dynamic degree's
  per-window flow magnitude) falls to a tenth of its sample's reference motion (the truth's, else the
  looped first clip's) and stays there for at least two windows to the end; a video with no motion at
  all, whatever its references (static from the start).
"""

from __future__ import annotations

import pandas as pd

from reports import stats as S
from reports import tables as T
from reports.frames import REFERENCE_ROLE, VIDEO_LEVEL, WINDOW_LEVEL
from scoring import specs
from scoring.references import BUILT, LOOP, MOTION, REFERENCE_ROWS, RESCORE, TRUTH, collapse_start


def split(runs: pd.DataFrame, samples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(the arms' runs, the arms' samples, the references' samples): references never enter an arm's
    numbers."""
    ref_runs = runs["role"] == REFERENCE_ROLE
    ref_samples = samples["role"] == REFERENCE_ROLE
    arms_samples = samples[~ref_samples].copy()
    arms_samples.attrs.update(samples.attrs)
    return runs[~ref_runs].copy(), arms_samples, samples[ref_samples].copy()


def reference_means(refs: pd.DataFrame) -> pd.DataFrame:
    """track, arm (the reference), metric, mean (logged scale), low, high (its 95% t-interval over the
    videos), n (videos): each reference's mean over its videos; a set-level metric (no per-video value)
    its set value, without an interval."""
    videos = refs[(refs["level"] == VIDEO_LEVEL) & refs["value"].notna()]
    out = videos.groupby(["track", "arm", "metric"])["value"].agg(["mean", "count"]).reset_index()
    bounds = [S.mean_ci(part.to_numpy()) for _, part in videos.groupby(["track", "arm", "metric"])["value"]]
    out["low"], out["high"] = [b.low for b in bounds], [b.high for b in bounds]
    sets = refs[(refs["level"] == "run") & refs["value"].notna()]
    sets = sets[
        ~sets.set_index(["track", "arm", "metric"]).index.isin(
            out.set_index(["track", "arm", "metric"]).index
        )
    ]
    sets = sets.groupby(["track", "arm", "metric"])["value"].agg(["mean", "count"]).reset_index()
    return pd.concat([out, sets], ignore_index=True).rename(columns={"count": "n"})


def reference_rows(means: pd.DataFrame, track: str, columns, order=REFERENCE_ROWS) -> list[T.Row]:
    """The references of `track` as table rows (source 'degenerate'), in `order`."""
    rows = []
    sub = means[means["track"] == track]
    for kind in (k for k in order if k in set(sub["arm"])):
        mine = sub[sub["arm"] == kind].set_index("metric")
        cells = {
            c.name: T.Cell(T.scaled(mine.at[c.name, "mean"], c.scale))
            for c in columns
            if c.name in mine.index
        }
        if cells:
            n = int(mine["n"].max())
            rows.append(T.Row(f"{kind} (no model)", "degenerate", f"{n} videos", cells, REFERENCE_ROLE))
    return rows


def best_degenerate(means: pd.DataFrame, track: str, metric: str) -> tuple[str, float] | None:
    """(kind, mean) of the degenerate reference (not the truth) that scores best on `metric`; None where
    none scored or the metric has no direction."""
    sub = means[(means["track"] == track) & (means["metric"] == metric) & means["arm"].isin(BUILT)]
    if not specs.has_direction(metric):
        return None
    found = dict(zip(sub["arm"], sub["mean"].astype(float)))
    best = specs.best_of(metric, found)
    return None if best is None else (best, found[best])


def margin(metric: str, arm_mean: float, best: float) -> float:
    """`arm_mean` - `best` in the metric's direction (positive: the arm is better), logged scale."""
    return specs.oriented(metric, arm_mean - best)


def collapse_frame(arms: pd.DataFrame, refs: pd.DataFrame) -> pd.DataFrame:
    """track, arm, collapsed (videos of n), first collapsed window (the earliest over those videos):
    each arm's videos whose windowed motion collapsed against their sample's reference motion."""
    motion = arms[(arms["level"] == WINDOW_LEVEL) & (arms["metric"] == MOTION) & arms["value"].notna()]
    ref = refs[(refs["level"] == WINDOW_LEVEL) & (refs["metric"] == MOTION) & refs["value"].notna()]
    if motion.empty:
        return pd.DataFrame()
    ref_motion = {}
    for (track, kind, sample), part in ref.groupby(["track", "arm", "sample"]):
        if kind in (TRUTH, LOOP):
            ref_motion.setdefault((track, sample), {})[kind] = float(part["value"].mean())
    rows = []
    for (track, arm), part in motion.groupby(["track", "arm"], sort=False):
        n, collapsed, starts = 0, 0, []
        for (sample, _seed), video in part.groupby(["sample", "seed"]):
            found = ref_motion.get((track, sample), {})
            level = found.get(TRUTH, found.get(LOOP))  # None: only a video with no motion collapses
            n += 1
            start = collapse_start(list(video.sort_values("window")["value"]), level)
            if start is not None:
                collapsed += 1
                starts.append(start)
        if n:
            rows.append(
                {"track": track, "arm": arm, "collapsed videos": f"{collapsed} of {n}",
                 "first collapsed window": min(starts) if starts else T.DASH}
            )  # fmt: skip
    return pd.DataFrame(rows)


def collapsed_arms(frame: pd.DataFrame) -> list[str]:
    """'arm (track)' of every arm with a collapsed video."""
    if frame.empty:
        return []
    hit = frame[~frame["collapsed videos"].str.startswith("0 of")]
    return [f"{a} ({t})" for a, t in zip(hit["arm"], hit["track"])]


def noise_floor(refs: pd.DataFrame) -> pd.DataFrame:
    """track, metric, values compared, max |difference| (display units): the first loop video scored
    twice in separate passes (scoring/references.py RESCORE), per-video and per-window values alike.
    What the evaluator itself moves between two runs on the same video: 0 where scoring is
    deterministic (the CPU), and the part of any difference that is not the videos' where it is not."""
    cols = ["track", "sample", "level", "window", "metric"]
    again = refs[(refs["arm"] == RESCORE) & refs["level"].isin([VIDEO_LEVEL, WINDOW_LEVEL])]
    first = refs[(refs["arm"] == LOOP) & refs["level"].isin([VIDEO_LEVEL, WINDOW_LEVEL])]
    if again.empty or first.empty:
        return pd.DataFrame()
    key = lambda df: df.assign(window=df["window"].fillna(-1))[[*cols, "value"]]  # noqa: E731
    both = key(again).merge(key(first), on=cols, suffixes=("_again", "_first")).dropna(subset=["value_again"])
    rows = []
    for (track, metric), part in both.groupby(["track", "metric"], sort=False):
        info = T.metric_info(metric)
        gap = (part["value_again"] - part["value_first"]).abs().max()
        rows.append(
            {"track": track, "metric": info.label, "values compared": len(part),
             "max |difference|": T.number_text(T.scaled(gap, info.scale), f".{max(info.decimals, 4)}g")}
        )  # fmt: skip
    return pd.DataFrame(rows)


def collapse_marks(frame: pd.DataFrame) -> dict[tuple[str, str], int]:
    """(track, arm) -> the first collapsed window, for the drift plots."""
    if frame.empty:
        return {}
    hit = frame[frame["first collapsed window"] != T.DASH]
    return {(t, a): int(w) for t, a, w in zip(hit["track"], hit["arm"], hit["first collapsed window"])}
