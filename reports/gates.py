"""Toy world 3's gates: can the testbed tell a good model from a picture held still? (Why these
gates: docs/guides/toyworld.md, "The gates".)

Read from a results bundle's tidy scores (its references and its base arm), per benchmark track of
GATE_LENGTH (the consistent and creative suites; a bundle's shorter tracks are not gated):

- G1, resolution: the true continuation taken through the VAE clip by clip (`truth_vae`) beats the
  first frame held still (`frozen`) by at least G1_MARGIN_DB of PSNR over the whole video.
- G2, a valid primary: a metric that the bundle's results page calls valid on the track
  (reports/verdicts.py `judge`, from the same reference means and t-intervals: reality beats every
  trivial video with 95% intervals clear of theirs; reality is the truth, or on a metric anchored to the
  truth another true future, `truth_alt`). The
  track's primary is the bundle's declared primary if it is valid, else the first valid metric in the
  order asked.
- G3, a sampler better than a trivial video: over the first FIRST_SECONDS the base arm's energy score
  (its draws against the truth, scoring/energy.py) beats every trivial reference, pan included, with
  95% intervals clear of each one's.
- G3p, follows the prompt: over the first FIRST_SECONDS the base arm beats every trivial reference
  (pan too, where the bundle holds it) on the track's primary and on PSNR (the fidelity metric anchored
  to the truth), in the means.
- G4, drift that is the model's: the base arm's energy score rises from its first FIRST_SECONDS to its
  last LAST_SECONDS by more than that of another true future (`truth_alt`: the world's own growing
  uncertainty), per video, with a 95% interval (crossed design) clear of zero.
- G4p, drift on the primary: on the track's primary the base arm's last LAST_SECONDS are worse than its
  first, per video, with a 95% interval (crossed design) clear of zero.
- G5 (from a positive-control bundle, `toy_erft_control`): the planted arm is worse than the base arm
  on the control's declared primary with a 95% interval clear of zero, at the bundle's n (world 2's
  control declared colour shift, world 3's the energy score, with a plant sized to move it by more
  than the design's minimum detectable difference).
- G6 (from the recorded `make demo`, docs/records/demo.txt): the demo ran to its end (exit 0) within
  G6_LIMIT_MINUTES on a fresh clone, at the commit that made the demo's bundle.

A gate that this bundle cannot measure (a reference it lacks) is `None`, never passed. Pure functions
of the tables: no torch, no store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports import margins as M
from reports import verdicts as V
from reports.frames import VIDEO_LEVEL, WINDOW_LEVEL
from reports.stats import crossed_difference, crossed_mean
from scoring.references import BUILT, FROZEN, PAN, REFERENCE_ROWS, TRIVIAL, TRUTH_ALT, TRUTH_VAE
from scoring.specs import best_of, better, clear_better, has_direction, oriented

CEILING, BASE = TRUTH_VAE, "base"
FIDELITY = "psnr"  # the truth-anchored fidelity metric of G1 and G3p
SAMPLER = "energy_score"  # the score of a sampler's draws, of G3 and G4
G1_MARGIN_DB = 6.0
FIRST_SECONDS = LAST_SECONDS = 10.0
CONTROL_METRIC, PLANTED = "colour_shift", "planted"  # the control's metric where it declares none
G6_LIMIT_MINUTES = 15.0
GATE_LENGTH = "100s"  # the benchmark length G1-G4 are measured at
DEMO_BUNDLE = "ablation_eimg_demo"  # what `make demo` runs (Makefile): ablation_eimg at demo size (50 s)


@dataclass(frozen=True)
class Gate:
    gate: str  # G1 .. G6
    track: str
    passed: bool | None  # None: not measurable from this bundle
    figure: str  # what was measured, in words and numbers
    best: str | None = None  # G3: the trivial video with the best score over the first seconds


def track_seconds(track: str) -> float:
    """The video length a track name states (`consistent_100s` -> 100)."""
    found = re.search(r"_(\d+(?:\.\d+)?)s$", track)
    if not found:
        raise ValueError(f"track {track!r} does not end in its length (e.g. consistent_100s)")
    return float(found.group(1))


def matrix(scores: pd.DataFrame, arm: str, track: str, metric: str, windows=None) -> np.ndarray:
    """[samples, seeds]: the video-level `metric` of `arm` on `track`, or with `windows` (window
    indices) each video's mean over those windows. Empty (0 rows) where the bundle has none."""
    level = VIDEO_LEVEL if windows is None else WINDOW_LEVEL
    rows = scores[
        (scores.arm == arm) & (scores.track == track) & (scores.metric == metric) & (scores.level == level)
    ]
    if windows is not None:
        rows = rows[rows.window.isin(list(windows))]
    if rows.empty:
        return np.empty((0, 0))
    return rows.pivot_table(index="sample", columns="seed", values="value", aggfunc="mean").to_numpy(float)


def window_spans(scores: pd.DataFrame, track: str) -> tuple[list[int], list[int]]:
    """The window indices of a track's first FIRST_SECONDS and last LAST_SECONDS (windows of equal
    length over the track's stated length)."""
    windows = sorted(
        int(w) for w in scores[(scores.track == track) & (scores.level == WINDOW_LEVEL)].window.unique()
    )
    if not windows:
        raise ValueError(f"{track}: no window-level scores")
    per = track_seconds(track) / len(windows)
    first = max(1, round(FIRST_SECONDS / per))
    last = max(1, round(LAST_SECONDS / per))
    return windows[:first], windows[-last:]


def _mean(m: np.ndarray) -> float | None:
    return float(np.nanmean(m)) if m.size else None


def g1(scores: pd.DataFrame, track: str) -> Gate:
    ceiling, still = (
        _mean(matrix(scores, CEILING, track, FIDELITY)),
        _mean(matrix(scores, FROZEN, track, FIDELITY)),
    )
    if ceiling is None or still is None:
        missing = " and ".join(n for n, v in ((CEILING, ceiling), (FROZEN, still)) if v is None)
        return Gate("G1", track, None, f"no {FIDELITY} of {missing} in this bundle")
    gap = ceiling - still
    return Gate(
        "G1", track, gap >= G1_MARGIN_DB,
        f"{CEILING} {ceiling:.2f} dB, frozen {still:.2f} dB: {gap:+.2f} dB (at least +{G1_MARGIN_DB:g})",
    )  # fmt: skip


def reference_means(scores: pd.DataFrame) -> pd.DataFrame:
    """The references' means and 95% t-intervals per track and metric (`margins.reference_means`, what
    the results pages judge validity from) from a bundle's tidy scores."""
    return M.reference_means(scores[scores.arm.isin(REFERENCE_ROWS)])


def arm_scores(scores: pd.DataFrame, track: str, metric: str) -> dict[str, V.Score]:
    """Each arm's (not a reference's) mean video-level `metric` on `track`."""
    rows = scores[
        (scores.track == track) & (scores.metric == metric) & (scores.level == VIDEO_LEVEL)
        & ~scores.arm.isin(REFERENCE_ROWS) & scores.value.notna()
    ]  # fmt: skip
    return {arm: V.Score(float(part.mean())) for arm, part in rows.groupby("arm")["value"]}


def bundle_means(bundle) -> pd.DataFrame:
    """A bundle folder's reference means as its results page computes them (`reports.build.render_report`:
    `margins.reference_means` of the reference rows of `read_bundle`'s samples, set-level values included)."""
    from reports.bundle import read_bundle

    runs, samples, _ = read_bundle(bundle)
    return M.reference_means(M.split(runs, samples)[2])


def valid_metrics(
    scores: pd.DataFrame, track: str, metrics: list[str], means: pd.DataFrame | None = None
) -> list[str]:
    """The metrics (in the order given) valid on `track` by the results pages' rule (`verdicts.judge`).
    `means`: the bundle's reference means (`margins.reference_means` of its reference rows, set-level
    values included); default: those of `scores`."""
    means = reference_means(scores) if means is None else means
    out = []
    for metric in metrics:
        found = V.judge(metric, means, track, arm_scores(scores, track, metric))
        if found is not None and found.verdict == V.VALID:
            out.append(metric)
    return out


def g2(
    scores: pd.DataFrame,
    track: str,
    metrics: list[str],
    declared: str | None,
    means: pd.DataFrame | None = None,
) -> tuple[Gate, str | None]:
    """The gate and the track's primary (None when no metric is valid); `means` as `valid_metrics` takes."""
    if not all(matrix(scores, kind, track, FIDELITY).size or _has(scores, kind, track) for kind in BUILT):
        return Gate("G2", track, None, "the bundle lacks a degenerate reference"), None
    valid = valid_metrics(scores, track, metrics, means)
    if not valid:
        return Gate(
            "G2", track, False,
            "no valid metric: none on which reality beats every trivial video, intervals clear (the truth, "
            "or another true future on a metric anchored to the truth)",
        ), None  # fmt: skip
    primary = declared if declared in valid else valid[0]
    return Gate("G2", track, True, f"primary {primary} (valid: {', '.join(valid)})"), primary


def _has(scores: pd.DataFrame, arm: str, track: str) -> bool:
    return bool(((scores.arm == arm) & (scores.track == track)).any())


def _spans(scores: pd.DataFrame, track: str, arm: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """`arm`'s [samples, seeds] means of `metric` over the first and the last windows of `track`."""
    first, last = window_spans(scores, track)
    return matrix(scores, arm, track, metric, first), matrix(scores, arm, track, metric, last)


def g3_sampler(scores: pd.DataFrame, track: str, arm: str = BASE) -> Gate:
    first, _ = window_spans(scores, track)
    mine = matrix(scores, arm, track, SAMPLER, first)
    refs = {k: matrix(scores, k, track, SAMPLER, first) for k in TRIVIAL}
    missing = [k for k, m in {arm: mine, **refs}.items() if not m.size]
    if missing:
        return Gate("G3", track, None, f"no window-level {SAMPLER} of {', '.join(missing)} (declare draws: 2 "
                    f"or more, metrics energy and the references {PAN} and {TRUTH_ALT})")  # fmt: skip
    est = crossed_mean(mine)
    ests = {k: crossed_mean(m) for k, m in refs.items()}
    best = best_of(SAMPLER, {k: e.mean for k, e in ests.items()})
    passed = all(clear_better(SAMPLER, (est.low, est.high), (e.low, e.high)) for e in ests.values())
    return Gate(
        "G3", track, passed,
        f"first {FIRST_SECONDS:g} s, {SAMPLER}: {arm} {est.mean:.4f} [{est.low:.4f}, {est.high:.4f}], best "
        f"trivial {best} {ests[best].mean:.4f} [{ests[best].low:.4f}, {ests[best].high:.4f}] (n = "
        f"{est.n_samples}x{est.n_seeds})", best,
    )  # fmt: skip


def g4_sampler(scores: pd.DataFrame, track: str, arm: str = BASE) -> Gate:
    a, b = _spans(scores, track, arm, SAMPLER)
    alt_first, alt_last = _spans(scores, track, TRUTH_ALT, SAMPLER)
    if not (a.size and b.size and alt_first.size and alt_last.size):
        return Gate("G4", track, None, f"no window-level {SAMPLER} of {arm} and {TRUTH_ALT}")
    world = oriented(SAMPLER, alt_first - alt_last).mean(axis=1, keepdims=True)  # [samples, 1]: its rise
    beyond = oriented(SAMPLER, a - b) - world  # > 0: the arm's end is worse by more than the world's
    est = crossed_mean(beyond)
    return Gate(
        "G4", track, bool(est.low > 0),
        f"{SAMPLER} rises from the first {FIRST_SECONDS:g} s to the last {LAST_SECONDS:g} s by "
        f"{est.mean:+.4f} [{est.low:+.4f}, {est.high:+.4f}] more than {TRUTH_ALT}'s (n = "
        f"{est.n_samples}x{est.n_seeds})",
    )  # fmt: skip


def g3(scores: pd.DataFrame, track: str, primary: str | None, arm: str = BASE) -> Gate:
    if primary is None:
        return Gate("G3p", track, None, "no valid primary (G2)")
    first, _ = window_spans(scores, track)
    parts, passed = [], True
    for metric in dict.fromkeys((primary, FIDELITY)):
        mine = _mean(matrix(scores, arm, track, metric, first))
        refs = {k: _mean(matrix(scores, k, track, metric, first)) for k in TRIVIAL}
        refs = {k: v for k, v in refs.items() if v is not None or k in BUILT}  # pan where it was built
        if mine is None or any(v is None for v in refs.values()):
            return Gate("G3p", track, None, f"no window-level {metric} of {arm} or a reference")
        best = best_of(metric, refs)
        passed &= better(metric, mine, refs[best])
        parts.append(f"{metric}: {arm} {mine:.3f}, best reference {best} {refs[best]:.3f}")
    return Gate("G3p", track, passed, f"first {FIRST_SECONDS:g} s: " + "; ".join(parts))


def g4(scores: pd.DataFrame, track: str, primary: str | None, arm: str = BASE) -> Gate:
    if primary is None:
        return Gate("G4p", track, None, "no valid primary (G2)")
    a, b = _spans(scores, track, arm, primary)
    if not a.size or not b.size:
        return Gate("G4p", track, None, f"no window-level {primary} of {arm}")
    worse = oriented(primary, a - b)  # > 0: the end is worse
    est = crossed_mean(worse)
    passed = bool(est.low > 0)
    return Gate(
        "G4p", track, passed,
        f"{primary}, last {LAST_SECONDS:g} s worse than first by {est.mean:+.3f} "
        f"[{est.low:+.3f}, {est.high:+.3f}] (n = {est.n_samples}x{est.n_seeds})",
    )  # fmt: skip


def g5(control: pd.DataFrame, metric: str | None = None) -> list[Gate]:
    """Per track of a positive-control bundle: planted worse than base on `metric` (the control's
    declared primary; CONTROL_METRIC where it declares none), interval clear of zero."""
    metric = metric or CONTROL_METRIC
    out = []
    for track in sorted(control[control.arm == PLANTED].track.unique()):
        a, b = matrix(control, BASE, track, metric), matrix(control, PLANTED, track, metric)
        if not has_direction(metric):
            out.append(Gate("G5", track, None, f"{metric} has no direction: no arm is worse on it"))
            continue
        if not a.size or not b.size:
            out.append(Gate("G5", track, None, f"no {metric} of {BASE} or {PLANTED}"))
            continue
        d = crossed_difference(oriented(metric, b), oriented(metric, a))  # > 0: planted worse
        out.append(Gate(
            "G5", track, bool(d.low > 0),
            f"{PLANTED} worse than {BASE} on {metric} by {d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}] "
            f"(n = {d.n_samples}x{d.n_seeds})",
        ))  # fmt: skip
    return out


RECORD_HEADER = re.compile(r"^# commit (\w+)(?P<dirty> \(with uncommitted changes\))?, (?P<when>[^,]+), .*"
                           r"exit (?P<exit>-?\d+), wall (?P<min>\d+) min (?P<sec>\d+) s$", re.M)  # fmt: skip

MACHINE_SPEED = re.compile(r"float32 matmul (\d+) GFLOP/s")


def g6(record: str | None, bundle_commit: str | None) -> Gate:
    """G6 from the text of a `benchmarks.record` record of `make demo` (None: not recorded): met when it
    exited 0 within G6_LIMIT_MINUTES at a clean checkout of the commit that made the demo's bundle
    (`bundle_commit`, its manifest's harness_commit); a record of another commit measures another demo."""
    found = RECORD_HEADER.search(record or "")
    if found is None:
        return Gate("G6", "make demo", None, "no recorded `make demo` (docs/records/demo.txt)")
    commit, minutes = found.group(1), int(found.group("min")) + int(found.group("sec")) / 60
    figure = (
        f"wall {found.group('min')} min {found.group('sec')} s, exit {found.group('exit')}, commit {commit}"
    )
    speed = MACHINE_SPEED.search(found.group(0))  # machines of one type differ by 2x: say which ran it
    figure += f", on a machine of {speed.group(1)} GFLOP/s (float32 matmul)" if speed else ""
    if found.group("dirty") or not bundle_commit or not bundle_commit.startswith(commit):
        why = (
            "with uncommitted changes"
            if found.group("dirty")
            else f"the bundle is of {str(bundle_commit)[:7]}"
        )
        return Gate("G6", "make demo", None, f"{figure}: not this bundle's demo ({why})")
    passed = found.group("exit") == "0" and minutes <= G6_LIMIT_MINUTES
    return Gate("G6", "make demo", passed, f"{figure} (at most {G6_LIMIT_MINUTES:g} min)")


def gates(
    scores: pd.DataFrame,
    declared: str | None = None,
    control: pd.DataFrame | None = None,
    control_primary: str | None = None,
    means: pd.DataFrame | None = None,
) -> list[Gate]:
    """G1-G4 per benchmark track of a bundle's scores (consistent and creative, GATE_LENGTH long), G5
    from `control` (on `control_primary`, its declared primary). `means`: the bundle's reference means
    (`bundle_means`; default: those of `scores`, without set-level values)."""
    out = []
    tracks = sorted(
        t for t in scores.track.unique() if t in (f"consistent_{GATE_LENGTH}", f"creative_{GATE_LENGTH}")
    )
    metrics = sorted(scores[scores.arm == BASE].metric.unique())
    for track in tracks:
        out.append(g1(scores, track))
        gate, primary = g2(scores, track, metrics, declared, means)
        out += [gate, g3_sampler(scores, track), g3(scores, track, primary)]
        out += [g4_sampler(scores, track), g4(scores, track, primary)]
    if control is not None:
        out += g5(control, control_primary)
    return out


def bundle_gates(bundle, control=None) -> list[Gate]:
    """G1-G4 of the results bundle folder `bundle` (its declared primary preferred where valid, its
    reference means as its results page computes them) and, given a positive-control bundle folder
    `control`, G5 on the control's declared primary. Raises `reports.bundle.BundleError` for a folder
    that is not a readable bundle."""
    from reports.bundle import read_manifest, read_tables

    declared = read_manifest(bundle).get("primary")
    scores = read_tables(bundle).scores
    means = bundle_means(bundle)
    if control is None:
        return gates(scores, declared, means=means)
    return gates(scores, declared, read_tables(control).scores, read_manifest(control).get("primary"), means)


def not_met(rows: list[Gate]) -> list[Gate]:
    """The measured gates that failed (a gate not measured is neither met nor failed)."""
    return [g for g in rows if g.passed is False]


def markdown(rows: list[Gate]) -> str:
    """The gates as a markdown table."""
    mark = {True: "met", False: "**not met**", None: "not measured"}
    lines = ["| gate | track | verdict | figure |", "|---|---|---|---|"]
    lines += [f"| {g.gate} | {g.track} | {mark[g.passed]} | {g.figure} |" for g in rows]
    return "\n".join(lines)


GATES_PAGE = "world3_gates.md"
CONTROL_BUNDLE = "toy_erft_control"


def gate_sections(bundles: list, demo_record: str | None = None) -> dict[tuple[str, int | None], list[Gate]]:
    """The gates of every bundle (results/<name> folders) that holds degenerate references on a
    benchmark track, by (bundle's name, its toy world): G1-G4 from the bundle, G5 from the control
    bundle in the control's section, G6 from `demo_record` (the text of docs/records/demo.txt) beside
    the current demo bundle."""
    from reports.bundle import read_manifest, read_tables

    manifests = {b: read_manifest(b) for b in bundles}  # by folder: a record shares its experiment's name
    world = {b: m.get("versions", {}).get("toy_world") for b, m in manifests.items()}
    control = next((b for b in bundles if b.name == CONTROL_BUNDLE), None)  # the current one comes first
    sections: dict = {}  # (bundle's name, toy world) -> its gates, one section each
    for bundle in bundles:
        units = manifests[bundle]["units"]
        refs = {u["arm"] for u in units if u.get("role") == "reference"}
        rows = []
        if set(BUILT) <= refs and any(u["arm"] == BASE for u in units):
            rows = gates(
                read_tables(bundle).scores, manifests[bundle].get("primary"), means=bundle_means(bundle)
            )
        if bundle.name == DEMO_BUNDLE and bundle.parent.name == "results":  # the demo's current bundle
            rows.append(g6(demo_record, manifests[bundle].get("harness_commit")))
        if bundle == control:  # the positive control's G5 in the same section as its G1-G4
            rows += g5(read_tables(control).scores, manifests[control].get("primary"))
        if rows:
            sections.setdefault((bundle.name, world[bundle]), []).extend(rows)
    return sections


GATE_ORDER = ("G1", "G2", "G3", "G3p", "G4", "G4p", "G5", "G6")


def summary(sections: dict[tuple[str, int | None], list[Gate]], world: int) -> list[str]:
    """One line per gate of toy world `world`: met where every bundle and track that measures it meets
    it, not met where one fails (that one's figure), not measured where none measures it."""
    rows = [(name, g) for (name, w), gates in sections.items() if w == world for g in gates]
    lines = []
    for gate in GATE_ORDER:
        measured = [(name, g) for name, g in rows if g.gate == gate and g.passed is not None]
        if not measured:
            lines.append(f"- **{gate} not measured** in toy world {world}.")
            continue
        failed = [(name, g) for name, g in measured if g.passed is False]
        name, shown = (failed or measured)[0]
        verdict = "not met" if failed else "met"
        where = f"{name}, {shown.track}" if shown.track else name
        lines.append(f"- **{gate} {verdict}** ({where}; {len(measured)} measured): {shown.figure}.")
    return lines


def standing(sections: dict[tuple[str, int | None], list[Gate]], world: int) -> str | None:
    """Where the base of toy world `world` stands, for the first screen of its results pages: the
    trivial videos its G3 does not beat, or None where every measured G3 is met (or none is measured)."""
    failed = [g for (_, w), gates in sections.items() if w == world for g in gates if g.gate == "G3" and g.passed is False]  # fmt: skip
    if not failed:
        return None
    beaten = ", ".join(sorted({g.best for g in failed if g.best}))
    tracks = ", ".join(sorted({g.track for g in failed}))
    return (
        f"which does not beat the trivial video {beaten} on `{SAMPLER}` over its first "
        f"{FIRST_SECONDS:g} s ({tracks}; gate G3 not met, [the gates]({GATES_PAGE})), so the answers "
        "here test the harness, not SVI"
    )


def gates_page(sections: dict[tuple[str, int | None], list[Gate]], current_world: int) -> str:
    """docs/results/world3_gates.md from `gate_sections`: one line per gate of the current world, what
    each gate asks, then one section per bundle and toy world with all its gates (the control's G5
    beside its G1-G4), the latest world first; earlier worlds' bundles are the record."""
    lines = [
        "<!-- Generated by `harness pages` from results/ (reports/gates.py; do not edit). -->",
        "",
        f"# Toy world {current_world}'s gates",
        "",
        *summary(sections, current_world),
        "",
        "Can the testbed tell a good model from a picture held still? Its gates, read from",
        "each committed bundle's degenerate references and base arm (`reports/gates.py`; the same table:",
        f"`harness gates results/EXP --control results/{CONTROL_BUNDLE} --markdown`), on the consistent",
        f"and creative tracks at {track_seconds(f'consistent_{GATE_LENGTH}'):g} s. G1: `{CEILING}` at least {G1_MARGIN_DB:g} dB of",
        "PSNR above the first frame held still. G2: a metric valid on the track by the rule of the",
        "results pages (`reports/verdicts.py`: reality beats every trivial video with 95% intervals",
        "clear, reality being another true future on a metric anchored to the truth; the track's primary: the declared one",
        f"if valid). G3: the base's {SAMPLER} (its draws against the truth) beats every trivial video, pan",
        f"included, over the first {FIRST_SECONDS:g} s, 95% intervals clear. G3p (follows the prompt): on the primary and",
        f"on PSNR the base beats every trivial video over the first {FIRST_SECONDS:g} s. G4: the base's {SAMPLER} rises",
        f"from its first {FIRST_SECONDS:g} s to its last {LAST_SECONDS:g} s by more than that of another true future ({TRUTH_ALT}, the",
        "world's own growing uncertainty), 95% interval clear of zero. G4p: on the primary, the base's",
        f"last {LAST_SECONDS:g} s worse than its first (95% interval clear of zero). G5: the positive control's planted",
        "drift detected on its declared primary. G6:",
        f"`make demo` (`{DEMO_BUNDLE}`: ablation_eimg at demo size, 4 samples of 50 s a track)",
        f"recorded on a fresh clone of the commit that made its bundle, within {G6_LIMIT_MINUTES:g} min",
        "(docs/records/demo.txt). Not measured: the bundle or the record lacks what the gate reads. Toy",
        "world 2's bundles are the record before world 3.",
        "",
        "What G3p asks of a base in world 3, measured without a model, is in the toy world's record",
        "([What a model blind to the heading could score](../guides/toyworld_record.md#what-a-model-blind-to-the-heading-could-score)):",
        "with the committed VAE, even a perfect generative model beats the held frame on the distance from",
        "the truth only if it reads where the camera goes in the prompt.",
    ]
    by_world = sorted(sections.items(), key=lambda kv: -(kv[0][1] or 0))  # the latest world first, stably
    for (name, found), rows in by_world:
        lines += ["", section_heading(name, found), "", markdown(rows)]
    return "\n".join(lines) + "\n"


def section_heading(bundle: str, world) -> str:
    """The gates page's heading of one bundle of one toy world: every gate of that bundle and world sits
    under it, once."""
    return f"## {bundle} (toy world {world})"
