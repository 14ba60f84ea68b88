"""Two verdicts per metric and track (docs/guides/scoring.md, "Can the metric judge?" says why two),
from the trivial references (scoring/references.py: frozen, loop, pingpong and, where built, pan)
beside the arms. No torch.

1. **Is the metric valid on this suite?** (`validity`) Reality against the trivial videos, in the
   metric's direction, with their 95% intervals. Reality is the truth (the true continuation) on a
   metric that scores a video alone; on a metric anchored to the truth (scoring/specs.py `anchored`),
   where the truth is its best value by construction, it is another true future (`truth_alt`): what a
   perfect sampler makes.
   - *valid*: reality beats every trivial reference, its interval clear of each one's;
   - *rewards the mean* (anchored metrics): a trivial video beats another true future, intervals clear:
     a perfect sampler loses to a video that does not commit, so the metric cannot judge a sampler;
   - *validity unknown here* (anchored metrics): no other true future was scored (real benchmarks, a
     bundle without `truth_alt`); the toy world's verdicts are the prior;
   - *invalid on this suite*: the best degenerate reference beats the truth, intervals clear, by more
     than the spread of the arms' means (the size that separates arms): the metric prefers something
     other than reality;
   - *one-sided*: neither, and the truth and the best degenerate reference both sit at the good end,
     each better than the best arm by more than the spread of the arms' means: it judges drift, not
     stillness, and carries an answer only beside guards;
   - *undecided*: none of these (the intervals do not separate the truth from the trivial videos);
   - *validity unknown here*: the track has no truth (talk, dance without a continuation, real
     benchmarks) and the metric is not anchored to one; the toy world's committed verdicts on that
     metric are the prior evidence (`priors_text`).
   Thresholds: intervals are "clear" when the better one's lower bound (in the metric's direction)
   lies above the other's upper bound; a bound that is not there (one video, a set-level metric) is
   the mean. The spread is the largest arm mean minus the smallest (0 with one arm).
2. **Does any arm beat standing still?** (`standing_still`) On a valid metric (or one whose validity is
   unknown here): the arms whose mean beats the best degenerate reference's, intervals clear. None:
   *no arm beats standing still*, a verdict on the models, not on the metric. On any other metric the
   question is not asked.
3. **Better than reality** (`better_than_reality`): an arm that beats the truth, intervals clear, on a
   metric not anchored to it is flagged: an artefact or a held picture, not quality.

`truth_vae` (the true continuation through the arm's VAE, clip by clip) is a ceiling, never a
degenerate reference: where a bundle holds it, each arm's margin under it is shown (`ceiling_margin`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reports import margins as M
from reports import tables as T
from scoring import specs
from scoring.references import TRIVIAL, TRUTH, TRUTH_ALT, TRUTH_VAE

VALID = "valid"
INVALID = "invalid on this suite"
ONE_SIDED = "one-sided"
REWARDS_MEAN = "rewards the mean"  # an anchored metric on which a trivial video beats another true future
SEVERE = (INVALID, REWARDS_MEAN, ONE_SIDED)  # the verdicts that bar a primary, most severe first
UNDECIDED = "undecided"
UNKNOWN = "validity unknown here"
NO_ARM = "no arm beats standing still"
NOT_ASKED = "not asked"  # competence on a metric that is not valid here

# The toy world's verdicts, generated from the committed toy bundles by `harness pages` (`toy_verdicts`)
# and read where no truth exists (the prior) and by `harness plan` (the refusals).
VERDICTS_FILE = Path("results") / "toy_verdicts.csv"
VERDICT_COLUMNS = ["world", "track", "metric", "validity", "bundle"]
REPOSITORY = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Score:
    """A mean with its 95% interval (logged scale); NaN bounds where there is none."""

    mean: float
    low: float = math.nan
    high: float = math.nan


def bounds(s: Score) -> tuple[float, float]:
    """(low, high) of `s`'s interval; a missing bound is the mean."""
    return (s.mean if math.isnan(s.low) else s.low, s.mean if math.isnan(s.high) else s.high)


def clear_better(metric: str, a: Score, b: Score) -> bool:
    """`a` beats `b` on `metric` with their intervals clear of each other (module doc)."""
    return specs.clear_better(metric, bounds(a), bounds(b))


def spread(arms: dict[str, Score]) -> float:
    """The largest arm mean minus the smallest (0 with fewer than two arms), logged scale."""
    means = [s.mean for s in arms.values() if not math.isnan(s.mean)]
    return max(means) - min(means) if len(means) > 1 else 0.0


def best_of(metric: str, refs: dict[str, Score]) -> str | None:
    """The reference that scores best on `metric`; None when none scored."""
    return specs.best_of(metric, {k: s.mean for k, s in refs.items()})


@dataclass(frozen=True)
class Validity:
    """Verdict 1 on one metric and track: the verdict, the degenerate reference it turns on, the
    truth's lead over it in the metric's direction (negative: the reference wins; NaN: no truth
    scored) and the arms' spread (both logged scale)."""

    verdict: str
    against: str | None
    gap: float
    spread: float


def validity(
    metric: str,
    truth: Score | None,
    degenerate: dict[str, Score],
    arms: dict[str, Score],
    anchored: bool,
    alternative: Score | None = None,
) -> Validity | None:
    """Verdict 1 on `metric` (module doc); None where no trivial reference was scored. `truth`: None
    where the truth was not scored on the metric (the track has none, or the metric is anchored to it).
    `alternative`: another true future's score (`truth_alt`), the reality an anchored metric is judged
    by; None where none was scored. ValueError for a metric without a direction (scoring/specs.py)."""
    best = best_of(metric, degenerate)
    if best is None:
        return None
    width = spread(arms)
    if anchored:
        return _anchored_validity(metric, alternative, degenerate, best, width)
    if truth is None or math.isnan(truth.mean):
        return Validity(UNKNOWN, best, math.nan, width)
    t, b = specs.oriented(metric, truth.mean), specs.oriented(metric, degenerate[best].mean)
    gap = t - b
    if all(clear_better(metric, truth, s) for s in degenerate.values() if not math.isnan(s.mean)):
        return Validity(VALID, best, gap, width)
    if -gap > width and clear_better(metric, degenerate[best], truth):
        return Validity(INVALID, best, gap, width)
    top = max(
        (specs.oriented(metric, s.mean) for s in arms.values() if not math.isnan(s.mean)), default=math.nan
    )
    if not math.isnan(top) and min(t, b) - top > width:
        return Validity(ONE_SIDED, best, gap, width)
    return Validity(UNDECIDED, best, gap, width)


def _anchored_validity(
    metric: str, alternative: Score | None, trivial: dict[str, Score], best: str, width: float
) -> Validity:
    """Verdict 1 on a metric anchored to the truth: another true future against every trivial video."""
    if alternative is None or math.isnan(alternative.mean):
        return Validity(UNKNOWN, best, math.nan, width)
    gap = specs.oriented(metric, alternative.mean) - specs.oriented(metric, trivial[best].mean)
    if all(clear_better(metric, alternative, s) for s in trivial.values() if not math.isnan(s.mean)):
        return Validity(VALID, best, gap, width)
    if any(clear_better(metric, s, alternative) for s in trivial.values() if not math.isnan(s.mean)):
        return Validity(REWARDS_MEAN, best, gap, width)
    return Validity(UNDECIDED, best, gap, width)


def judge(metric: str, means: pd.DataFrame, track: str, arms: dict[str, Score]) -> Validity | None:
    """Verdict 1 on `metric` and `track` as every page states it: `validity` of the truth and the
    degenerate references in `means` (`margins.reference_means`: a bundle's references' means and
    t-intervals) against the `arms`' scores. A track with a truth that is not scored on a metric not
    anchored to it is undecided, not unknown. None where no reference or no arm was scored, or the
    metric has no direction."""
    if not arms or not specs.has_direction(metric):
        return None
    here = means[(means["track"] == track) & (means["metric"] == metric)]
    truth = _scores(here[here["arm"] == TRUTH], "arm").get(TRUTH)
    alternative = _scores(here[here["arm"] == TRUTH_ALT], "arm").get(TRUTH_ALT)
    anchored = T.metric_info(metric).anchored
    trivial = _scores(here[here["arm"].isin(TRIVIAL)], "arm")
    found = validity(metric, truth, trivial, arms, anchored, alternative)
    if (
        found is not None
        and found.verdict == UNKNOWN
        and not anchored
        and (means[means["track"] == track]["arm"] == TRUTH).any()
    ):
        return Validity(UNDECIDED, found.against, found.gap, found.spread)  # a truth, not on this metric
    return found


def standing_still(metric: str, degenerate: dict[str, Score], arms: dict[str, Score]) -> list[str]:
    """Verdict 2: the arms that beat the best degenerate reference on `metric`, intervals clear (module doc)."""
    best = best_of(metric, degenerate)
    if best is None:
        return []
    return [a for a, s in arms.items() if clear_better(metric, s, degenerate[best])]


def better_than_reality(
    metric: str, truth: Score | None, arms: dict[str, Score], anchored: bool
) -> list[str]:
    """The arms that beat the truth on `metric`, intervals clear, where it is not anchored to the truth
    (module doc)."""
    if anchored or truth is None or math.isnan(truth.mean):
        return []
    return [a for a, s in arms.items() if clear_better(metric, s, truth)]


def asks_competence(verdict: str) -> bool:
    """Whether verdict 2 is asked under verdict 1: on a valid metric, or one whose validity is unknown here."""
    return verdict in (VALID, UNKNOWN)


# -- per track and metric, from a report's frames ---------------------------------------------------


@dataclass(frozen=True)
class Verdicts:
    """Both verdicts, the warning and the ceiling of one (track, metric)."""

    track: str
    metric: str
    validity: Validity
    beaters: list[str]  # the arms that beat standing still (asked: `asks_competence`)
    unreal: list[str]  # the arms better than reality
    best: tuple[str, float]  # the best degenerate reference and its mean
    truth: float  # the truth's mean (NaN: not scored)
    arms: dict[str, float] = field(default_factory=dict)  # each arm's mean
    under_ceiling: dict[str, float] = field(default_factory=dict)  # arm -> its margin under truth_vae

    @property
    def competence(self) -> str:
        """Verdict 2 in words."""
        if not asks_competence(self.validity.verdict):
            return NOT_ASKED
        return ("beaten by " + ", ".join(self.beaters)) if self.beaters else NO_ARM


def _scores(part: pd.DataFrame, key: str) -> dict[str, Score]:
    return {
        r[key]: Score(float(r["mean"]), float(r.get("low", math.nan)), float(r.get("high", math.nan)))
        for r in part.to_dict("records")
        if pd.notna(r["mean"])
    }


def verdicts(summary: pd.DataFrame, means: pd.DataFrame, order: list[str]) -> list[Verdicts]:
    """Per (track, metric) of the arms' `summary` (`tables.summarize`'s, the arms' rows against the
    reference arm) with degenerate references in `means` (`margins.reference_means`: mean, low, high
    per track, reference and metric): both verdicts. Metrics without a direction are left out."""
    arms = summary[summary["contrast"] != T.DECLARED] if "contrast" in summary else summary
    out = []
    for (track, metric), part in arms.groupby(["track", "metric"], sort=False):
        scored = _scores(part.drop_duplicates("arm"), "arm")
        scored = {a: scored[a] for a in order if a in scored}
        found = judge(metric, means, track, scored)
        if found is None:
            continue
        here = means[(means["track"] == track) & (means["metric"] == metric)]
        degenerate = _scores(here[here["arm"].isin(TRIVIAL)], "arm")
        truth = _scores(here[here["arm"] == TRUTH], "arm").get(TRUTH)
        ceiling = _scores(here[here["arm"] == TRUTH_VAE], "arm").get(TRUTH_VAE)
        out.append(
            Verdicts(
                track, metric, found,
                standing_still(metric, degenerate, scored) if asks_competence(found.verdict) else [],
                better_than_reality(metric, truth, scored, T.metric_info(metric).anchored),
                (found.against, degenerate[found.against].mean),
                math.nan if truth is None else truth.mean,
                {a: s.mean for a, s in scored.items()},
                {a: M.margin(metric, s.mean, ceiling.mean) for a, s in scored.items()} if ceiling else {},
            )
        )  # fmt: skip
    return out


def show(metric: str, value: float, signed: bool = False) -> str:
    info = T.metric_info(metric)
    return T.number_text(T.scaled(value, info.scale), ("+" if signed else "") + f".{info.decimals}f")


def sentence(v: Verdicts, prior: str = "") -> str:
    """Both verdicts of one (track, metric) in words, with the figures they rest on; `prior`: the toy
    world's verdicts on the metric, where the track has no truth."""
    label, val = T.metric_info(v.metric).label, v.validity
    anchored = T.metric_info(v.metric).anchored
    arms = sorted(v.arms.values())
    spread_text = f"{show(v.metric, arms[0])} to {show(v.metric, arms[-1])}" if arms else "none"
    best = f"{v.best[0]} ({show(v.metric, v.best[1])})"
    truth = f"the truth ({show(v.metric, v.truth)})"
    why = {
        VALID: f"{truth} beats every degenerate reference"
        if not anchored
        else f"another true future beats every trivial video, {best} included",
        REWARDS_MEAN: f"{best} beats another true future: a perfect sampler loses to a trivial video",
        INVALID: f"{best} beats {truth} by more than the arms are apart (arms {spread_text}): it prefers "
        "something other than reality",
        ONE_SIDED: f"{truth} and {best} both sit at the good end, far from the arms ({spread_text}): it judges "
        "drift, not stillness, and needs guards",
        UNDECIDED: "the intervals do not separate "
        + ("another true future" if anchored else truth if not math.isnan(v.truth) else "the truth")
        + f" from {best}",
        UNKNOWN: (
            "no other true future was scored here, and a metric anchored to the truth is valid only where "
            "one beats every trivial video"
            if anchored
            else "this track has no truth"
        )
        + (
            f"; prior evidence from the toy world: {prior}"
            if prior
            else "; the toy world has no verdict on it"
        ),
    }[val.verdict]
    text = f"{v.track}, {label}: {val.verdict} ({why})."
    if asks_competence(val.verdict):
        text += (
            f" Arms beating standing still ({best}): {', '.join(v.beaters)}."
            if v.beaters
            else f" {NO_ARM.capitalize()}: the best degenerate reference is {best}, the arms {spread_text}"
            + (
                f"; the arms' means are {'above' if specs.direction(v.metric) else 'below'} {v.best[0]}'s, but "
                "their intervals overlap it: not separated from standing still."
                if any(specs.better(v.metric, m, v.best[1]) for m in v.arms.values())
                else f", all on the wrong side of {v.best[0]}'s."
            )
        )
    else:
        text += (
            f" Whether an arm beats standing still is not asked on {label} here: a metric that cannot tell "
            "reality from a trivial video cannot tell an arm from one either."
        )
    if v.unreal:
        text += (
            f" Better than reality: {', '.join(v.unreal)} beat the truth on a metric not anchored to it "
            "(an artefact or a held picture, not quality)."
        )
    if v.under_ceiling:
        gaps = ", ".join(f"{a} {show(v.metric, g, True)}" for a, g in v.under_ceiling.items())
        text += f" Margin under the truth_vae ceiling: {gaps}."
    return text


def verdict_frame(found: list[Verdicts], order: list[str]) -> pd.DataFrame:
    """One row per (track, metric): both verdicts, the best degenerate reference, each arm's margin over
    it (display units) and, with a truth_vae row, each arm's margin under that ceiling."""
    rows = []
    for v in found:
        info = T.metric_info(v.metric)
        fmt = f"+.{info.decimals}f"
        row = {
            "track": v.track,
            "metric": info.label,
            "valid?": v.validity.verdict,
            "any arm beats standing still?": v.competence,
            "better than reality": ", ".join(v.unreal) or T.DASH,
            "best degenerate": f"{v.best[0]} {show(v.metric, v.best[1])}",
        }
        for a in (a for a in order if a in v.arms):
            row[f"{a} margin"] = T.number_text(
                T.scaled(M.margin(v.metric, v.arms[a], v.best[1]), info.scale), fmt
            )
        for a, g in v.under_ceiling.items():
            row[f"{a} under {TRUTH_VAE}"] = T.number_text(T.scaled(g, info.scale), fmt)
        rows.append(row)
    return pd.DataFrame(rows)


# -- the toy world's committed verdicts ---------------------------------------------------------------


def toy_verdicts(bundles: dict[str, tuple[pd.DataFrame, dict]]) -> pd.DataFrame:
    """The committed table (VERDICT_COLUMNS): verdict 1 on every track with a truth of every toy-world
    bundle. `bundles`: name -> (its report's summary, its manifest), with the reference means in
    `summary.attrs["reference_means"]`."""
    rows = []
    for name, (summary, manifest) in sorted(bundles.items()):
        if (manifest.get("declaration") or {}).get("metrics_backend") != "toy":
            continue
        world = (manifest.get("versions") or {}).get("toy_world")
        means = summary.attrs["reference_means"]
        for v in verdicts(summary, means, list(manifest.get("arm_order") or [])):
            if (means[means["track"] == v.track]["arm"] == TRUTH).any():
                rows.append([world, v.track, v.metric, v.validity.verdict, name])
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def read_verdicts(root: Path | None = None) -> pd.DataFrame:
    """The committed toy-world verdicts under `root` (default: this repository; empty when there are none)."""
    path = Path(REPOSITORY if root is None else root) / VERDICTS_FILE
    if not path.is_file():
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    return pd.read_csv(path, dtype={"world": "Int64"})


def verdicts_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False, lineterminator="\n")


def priors_text(table: pd.DataFrame, metric: str) -> str:
    """The toy world's verdicts on `metric`, e.g. 'one-sided on consistent_100s (ablation_eimg,
    mechanisms); invalid on this suite on creative_100s (ablation_eimg)', world by world; '' when none."""
    mine = table[(table["metric"] == metric) & (table["validity"] != UNKNOWN)]  # unknown is no evidence
    parts = []
    for (world, track, verdict), part in mine.groupby(["world", "track", "validity"], sort=True):
        parts.append(f"world {world}: {verdict} on {track} ({', '.join(sorted(part['bundle']))})")
    return "; ".join(parts)


def known_verdict(table: pd.DataFrame, world: int, track: str, metric: str) -> str | None:
    """What the toy world `world` says of `metric` on `track`: the most severe committed verdict
    (invalid, rewards the mean, one-sided, then the first), or None where no bundle of that world measured it."""
    mine = table[(table["world"] == world) & (table["track"] == track) & (table["metric"] == metric)]
    found = set(mine["validity"])
    for severe in SEVERE:
        if severe in found:
            return severe
    return next(iter(sorted(found)), None)


# -- `harness score`: one folder of videos beside its degenerate references ---------------------------


def score_rows(
    aggregate: dict[str, float | None], by_kind: dict[str, dict[str, float | None]], priors: pd.DataFrame
) -> tuple[list[str], list[list[str]], list[str]]:
    """What `harness score` prints of one folder of videos beside its degenerate references: (the
    header, one row per metric: its name, the videos' score, each reference's, the videos' margin over
    the best of them and both verdicts; one line per metric whose validity is unknown here, with the
    toy world's verdicts on it as the prior). The folder has no truth reference and no other true
    future, so every metric's validity is unknown here.
    Means only (no intervals): 'beats standing still' is the videos' mean beating the best reference's."""
    kinds = list(by_kind)
    head = ["metric", "videos", *kinds, "margin", "valid?", "beats standing still?"]
    rows, unknown = [], []
    for metric, value in aggregate.items():
        info = T.metric_info(metric)
        refs = {k: by_kind[k].get(metric) for k in kinds}
        degenerate = {k: Score(float(v)) for k, v in refs.items() if v is not None and not math.isnan(v)}
        cells = [metric, _num(value), *(_num(refs[k]) for k in kinds)]
        if value is None or math.isnan(value) or not degenerate or not specs.has_direction(metric):
            rows.append([*cells, "", "", ""])
            continue
        found = validity(metric, None, degenerate, {"videos": Score(float(value))}, info.anchored)
        gap = M.margin(metric, value, degenerate[found.against].mean)
        beats = standing_still(metric, degenerate, {"videos": Score(float(value))})
        verdict2 = (
            ("yes" if beats else f"no ({found.against} wins)") if asks_competence(found.verdict) else ""
        )
        rows.append([*cells, f"{gap:+.4f}", found.verdict, verdict2])
        if found.verdict == UNKNOWN:
            unknown.append(f"{metric}: {priors_text(priors, metric) or 'no toy-world verdict'}")
    return head, rows, unknown


def _num(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"
