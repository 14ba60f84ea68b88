"""An experiment's degenerate references: videos made with no model (scoring/references.py), scored like
the arms and logged as child runs of role `reference`, so that every report shows where standing still
would land on each metric.

For each track, the references are built from the *source unit*: the first seed of the baseline arm
(else of the first arm). `frozen` holds each sample's image, `loop` repeats the source's first clip,
`pingpong` plays it forward and back, `truth` is the sample's true continuation where the track has
one, `truth_vae` (asked for by name) that truth through the source arm's VAE clip by clip as its
generator chains clips: the fidelity ceiling of every model with that VAE; `pan` and `truth_alt` (asked
for by name) `reference_draws` videos a sample each: the input image panned (at the world's cameras in
the toy world), and other true futures where the benchmark's world can draw them (toy-world samples;
absent elsewhere), scored against the truth as any video is. The first clip comes from the source's videos when the workspace holds them (a run), or else is
generated alone, one clip per sample, from an untrained source (a results bundle on a fresh clone):
it is the long video's first window bit for bit (svi.generation.sampling `assembled_windows`, tested
against the generator), so no arm is trained or generated again. Videos and scores are cached under
`cache/references/<key>/`, the key digesting the source unit's plan hash and the kind: the source's
configuration and the scoring code decide them, nothing else. A reference run's plan hash is that key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import tracking
from harness.base import workspace
from harness.base.console import say
from harness.base.hashing import digest
from harness.declare.plan import ADDED_SETTINGS, ArmPlan, Plan, plan_inputs, unit_hash
from harness.run import provision
from harness.run.suite_generation import generate_suite
from harness.tracking import keys
from scoring import references as R


@dataclass
class ReferenceResult:
    arm: str  # the reference's kind
    seed: int  # the source unit's seed
    run_id: str
    status: str
    scores: dict


def source_unit(plan: Plan) -> ArmPlan | None:
    """The unit the references are built from: the baseline arm's first seed, else the first arm's."""
    units = [u for u in plan.units if u.role == "baseline"] or list(plan.units)
    return units[0] if units else None


def reference_key(plan: Plan, source: ArmPlan, kind: str) -> str:
    """What decides a reference's videos and scores: its kind and its source unit's plan (whose inputs
    hold the configuration, the suites, the metrics and the scoring code's version), for a drawn one (pan,
    truth_alt) its `reference_draws`, less the settings
    added since at the value that keeps the old behaviour (harness/declare/plan.py ADDED_SETTINGS), so that
    adding a setting does not make every bundle's references stale."""
    inputs = plan_inputs(plan, source)
    kept = {k: v for k, v in inputs.items() if not (k in ADDED_SETTINGS and v == ADDED_SETTINGS[k])}
    if kind in R.DRAWN:  # and how many videos a sample it draws (the other kinds' keys hold)
        return digest("reference", kind, plan.exp.reference_draws, unit_hash(kept))[:16]
    return digest("reference", kind, unit_hash(kept))[:16]


def wanted(plan: Plan) -> tuple[ArmPlan | None, list[str]]:
    """(source unit, kinds) the experiment asks for; (None, []) with references off or no suites."""
    kinds = plan.exp.reference_kinds
    source = source_unit(plan)
    if not kinds or not plan.exp.suites or source is None:
        return None, []
    return source, kinds + ([R.RESCORE] if R.LOOP in kinds else [])  # the evaluator's floor, on loop


def run_references(
    c,
    exp_id: str,
    parent: str,
    plan: Plan,
    *,
    score_stage: Callable,
    generator_of: Callable,
    clips_per_sample: dict[str, dict[str, int]] | None = None,
    force: bool = False,
) -> list[ReferenceResult]:
    """Build, score and log the experiment's references under `parent`. `score_stage`: the pipeline's
    `stage_score`; `generator_of(cfg, lora)`: its `arm_generator` (for first clips generated alone).
    `clips_per_sample`: track -> sample -> clips of the source's long video, for a source whose videos
    the workspace no longer holds (read from a results bundle)."""
    source, kinds = wanted(plan)
    if source is None:
        return []
    exp, cfg = plan.exp, source.cfg
    bench = provision.benchmark_root(exp, cfg)
    per_kind: dict[str, dict[str, dict]] = {k: {} for k in kinds}
    keys_of = {k: reference_key(plan, source, k) for k in kinds}
    for spec in exp.suites:
        track = spec.name
        videos = source.folder / "videos" / track
        firsts = _first_clips(
            plan, source, spec, bench, videos, generator_of, (clips_per_sample or {}).get(track)
        )
        for kind in kinds:
            say(f"reference {kind}: {track}")
            root = workspace.path("cache", "references", keys_of[kind], track)
            if kind == R.RESCORE:  # the first loop video again, scored in a pass of its own
                loop = workspace.path("cache", "references", keys_of[R.LOOP], track, "videos", R.LOOP)
                made = _copy_first(loop, root / "videos" / kind)
            else:
                vae = vae_roundtrip(generator_of(cfg, None)(), cfg) if kind in R.CEILINGS else None
                made = _build(kind, firsts, videos, root / "videos", bench, spec, vae, exp.reference_draws)
            if not made:
                continue
            truth, images, audio = provision.references(
                bench, spec.suite, spec.length, root / "videos" / kind
            )
            if kind == R.TRUTH:  # the truth against itself would score a perfect match: not a measurement
                truth = None
            report, _, _ = score_stage(
                exp, root / "videos" / kind, keys_of[kind], root / "scores", force, truth, images, audio
            )
            per_kind[kind][track] = report
    return [_log(c, exp_id, parent, plan, source, kind, keys_of[kind], per_kind[kind]) for kind in kinds]


def clips_from_bundle(bundle: Path, source: ArmPlan) -> dict[str, dict[str, int]] | None:
    """track -> sample -> clips of the source unit's long videos, as its per-window scores in the
    results bundle count them (a window per clip); None without a bundle or those scores."""
    from reports.bundle import read_tables

    if not (Path(bundle) / "manifest.json").is_file():
        return None
    scores = read_tables(bundle).scores
    mine = scores[
        (scores["arm"] == source.arm) & (scores["seed"] == source.seed) & (scores["level"] == "window")
    ]
    if mine.empty:
        return None
    counts = mine.groupby(["track", "sample"])["window"].max() + 1
    out: dict[str, dict[str, int]] = {}
    for (track, sample), n in counts.items():
        out.setdefault(track, {})[sample] = int(n)
    return out


def missing_from(plan: Plan, manifest: dict) -> list[str]:
    """The references the experiment asks for that a bundle's manifest lacks, or holds under another key."""
    source, kinds = wanted(plan)
    if source is None:
        return []
    hashes = manifest.get("plan_hashes") or {}
    return [k for k in kinds if hashes.get(f"{k}/seed{source.seed}") != reference_key(plan, source, k)]


@dataclass(frozen=True)
class _FirstClips:
    """Where each sample's first clip is: a folder of the source's long videos (`long`), or of videos of
    its first clip alone with the long videos' windows (`alone`, `windows`)."""

    long: Path | None = None
    alone: Path | None = None
    windows: dict[str, list[tuple[int, int]]] | None = None


def _first_clips(
    plan, source, spec, bench, videos: Path, generator_of, clips: dict[str, int] | None
) -> _FirstClips:
    from svi.config import ConfigError

    marker = workspace.read_marker(videos) if videos.is_dir() else None
    if marker and marker.get("status") == "done" and any(videos.glob("*.mp4")):
        return _FirstClips(long=videos)
    if not clips:
        raise ConfigError(
            f"the references of {plan.exp.name} need {source.arm} seed {source.seed}'s videos of "
            f"{spec.name}, which this workspace does not hold: run that unit, or "
            "give the results bundle (harness run --from) that records how long its videos are"
        )
    if source.train or source.cfg.generate.strategy != "chain":
        raise ConfigError(
            f"{source.arm}'s first clips cannot be generated alone (it is fine-tuned, or not a chained "
            "strategy): run that unit so that its videos are in the workspace"
        )
    from harness.run.suite_generation import suite_samples
    from svi.generation.sampling import assembled_windows

    samples, manifest = suite_samples(bench, spec.suite, spec.length, limit=spec.limit)
    samples = [s for s in samples if s.name in clips]
    gen = generator_of(source.cfg, None)
    out = workspace.path("cache", "references", "first_clips", digest(unit_hash(plan_inputs(plan, source))),
                         spec.name)  # fmt: skip
    with workspace.stage_lock(out):
        generate_suite(
            gen(), samples, manifest, out, seconds=spec.seconds, max_clips=1, progress=False,
            model={"preset": source.cfg.model.preset, "lora": None, "first_clip_only": True},
        )  # fmt: skip
    lead = gen().lead
    windows = {s.name: assembled_windows(clips[s.name], source.cfg.generate, lead) for s in samples}
    return _FirstClips(alone=out, windows=windows)


def _copy_first(folder: Path, out: Path) -> list[Path]:
    """The first video of `folder` (with its sidecar) copied into `out`; [] when there is none."""
    import shutil

    first = next(iter(sorted(folder.glob("*.mp4"))), None)
    if first is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    for f in (first, first.with_suffix(".json")):
        if not (out / f.name).is_file():
            shutil.copy(f, out / f.name)
    return [out / first.name]


def vae_roundtrip(generator, cfg) -> R.VaeRoundTrip:
    """The source arm's VAE as `through_vae` takes it: each clip's frames encoded and decoded by the
    generator's backbone (`encode_video`, `decode_latents`), laid out as its chaining lays clips out:
    latent chaining keeps a later clip's frames after its restated lead (aligned on the window's end),
    pixel chaining and keep_all a clip's first frames (aligned on its start)."""
    g = cfg.generate
    align = "end" if g.chaining == "latent" and g.assembly != "keep_all" else "start"
    return R.VaeRoundTrip(R.backbone_roundtrip(generator.bb), g.num_frames, align, batch=g.batch_size)


def _build(
    kind: str,
    firsts: _FirstClips,
    videos: Path,
    out: Path,
    bench: Path,
    spec,
    vae: R.VaeRoundTrip | None = None,
    draws: int = R.REFERENCE_DRAWS,
) -> list[Path]:
    """The `kind` reference of every sample (cached: a video already written is kept, with its draws);
    `vae`: the arm's VAE round trip (truth_vae only); `draws`: videos a sample of a drawn one (pan,
    truth_alt). truth_alt is absent where the benchmark's world cannot draw other futures."""
    folder = firsts.long or firsts.alone
    made = []
    truths = None
    if kind in (R.TRUTH, *R.CEILINGS):  # at the long video's length: read off the frozen references' sidecars
        frozen = _build(R.FROZEN, firsts, videos, out, bench, spec)
        truths, _, _ = (
            provision.references(bench, spec.suite, spec.length, frozen[0].parent) if frozen else ({},)
        )
        if not truths:
            return []  # the track has no ground truth
    for video in sorted(folder.glob("*.mp4")):
        target = out / kind / video.name
        if target.is_file() and target.with_suffix(".json").is_file():
            made.append(target)
            continue
        truth = (truths or {}).get(video.stem)
        if kind in (R.TRUTH, *R.CEILINGS) and truth is None:
            continue
        drawn = drawn_of(kind, bench, spec, video.stem, draws) if kind in R.DRAWN else None
        if kind == R.TRUTH_ALT and drawn is None:
            continue
        given = dict(truth=truth, vae=vae, drawn=drawn)
        if firsts.long is not None:
            R.references_of_video(video, out, [kind], **given)
        else:
            R.references_of_first_clip(video, firsts.windows[video.stem], out, [kind], **given)
        made.append(target)
    return made


def drawn_of(kind: str, bench: Path, spec, sample: str, draws: int) -> R.Drawn | None:
    """How `sample`'s drawn reference `kind` (pan, truth_alt) is made on `spec`'s track of `bench`: a
    toy-world sample (its world.json) pans at its world's cameras and draws other true futures
    (toyworld/futures.py); any other pans at scoring/pan.py's stated range and has no truth_alt (None)."""
    from scoring.suites import suite_folder
    from toyworld.futures import other_futures, world_cameras
    from toyworld.writers import WORLD_FILE

    folder = suite_folder(bench, spec.suite, spec.length) / sample
    toy = (folder / WORLD_FILE).is_file()
    if kind == R.TRUTH_ALT:
        if not toy:
            return None
        return R.Drawn(draws, futures=lambda frames, k, seed: other_futures(folder, frames, k, seed))
    headings, speeds = (world_cameras(folder) if toy else None) or (None, None)
    return R.Drawn(draws, headings, speeds)


def _log(
    c, exp_id, parent, plan, source: ArmPlan, kind: str, key: str, reports: dict[str, dict]
) -> ReferenceResult:
    """One reference as a FINISHED child run: its tracks' scores, drift curves and per-sample tables."""
    tags = {
        "arm": kind, "seed": str(source.seed), "role": keys.REFERENCE_ROLE, keys.TRAINED_TAG: "false",
        "experiment": plan.exp.name, "variant": "none", "preset": source.cfg.model.preset,
        "git_commit": tracking.git_commit() or "unknown", keys.PLAN_HASH_TAG: key,
        keys.REFERENCE_SOURCE_TAG: f"{source.arm}/seed{source.seed}",
        # grouped in the review view by the arms' tag, beside them (harness/tracking/review.py)
        **{k: v for k, v in source.tags.items() if k == keys.GROUP_BY_TAG},
    }  # fmt: skip
    run_id = tracking.start_child(c, exp_id, parent, f"{kind}-seed{source.seed}", tags)
    scores = {}
    try:
        tracking.set_note(
            c, run_id, f"**{kind}**: a degenerate reference (no model), {R.DESCRIPTIONS[kind]}."
        )
        for track, report in reports.items():
            tracking.log_metrics(
                c,
                run_id,
                tracking.suite_metric_rows(track, report["aggregate"], tracking.drift_curves(report)),
            )
            tracking.log_samples(c, run_id, track, source.seed, report)
            scores.update({keys.score_key(track, m): v for m, v in report["aggregate"].items()})
    except BaseException:
        tracking.finish_quietly(c, run_id, "FAILED")
        raise
    tracking.finish(c, run_id, "FINISHED")
    return ReferenceResult(kind, source.seed, run_id, "FINISHED", scores)
