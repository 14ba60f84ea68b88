"""`harness run EXPERIMENT`: each ArmPlan through train -> generate -> score, logged to MLflow.

Stages are keyed by a hash of the configuration they depend on, recorded in a `stage.json` beside
their output: a second run skips finished stages, a killed run resumes (training from its last
checkpoint, generation from its last finished clip), `--force STAGE` redoes one. Each stage holds
its folder's lock while it runs, so two invocations on one workspace wait for each other instead of
writing the same files. A failed stage marks the arm's MLflow run FAILED with the error and its log
attached, and the other arms go on.
"""

from __future__ import annotations

import functools
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import tracking
from harness.base import workspace
from harness.base.clock import StageClock
from harness.base.console import say
from harness.base.hashing import config_changes, digest
from harness.base.redact import scrub
from harness.declare.experiment import Experiment, SuiteSpec
from harness.declare.plan import (
    ArmPlan,
    Plan,
    plan_inputs,
    train_hash,
    train_inputs,
    unit_hash,
    untrained_hash,
)
from harness.run import launch, provision
from harness.tracking import keys
from scoring import suites
from svi.config import SVIConfig, save_config


class BadVideoError(RuntimeError):
    """A generated video of a finished generation stage cannot be decoded."""


class StopArm(Exception):
    """Raised by a training watcher to stop an arm on purpose (a pruned sweep trial): the training
    children are stopped (resumable), the arm's run is marked KILLED with `tags`, and it propagates."""

    def __init__(self, message: str, tags: dict[str, str] | None = None):
        super().__init__(message)
        self.tags = tags or {}


@dataclass
class ArmResult:
    arm: str
    seed: int
    run_id: str
    status: str
    scores: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # wall seconds per stage (harness/base/clock.py)


# -- stages --------------------------------------------------------------------------------------


# Settings a training may change and still resume from its checkpoints: the optimiser's learning rate
# is constant (the official recipe has no schedule), so more steps of a run continue it exactly as
# a longer run would have gone on; how often it logs and saves changes no weight.
RESUMABLE_CHANGES = frozenset(
    {"train.steps", "train.checkpoint_every", "train.keep_checkpoints", "train.log_every"}
)


def checkpoint_step(folder: Path) -> int | None:
    """The step of the training's `checkpoints/latest`, or None without one."""
    latest = folder / "checkpoints" / "latest"
    try:
        return int(latest.read_text().strip().removeprefix("step_"))
    except (OSError, ValueError):
        return None


def can_resume(folder: Path, inputs: dict) -> bool:
    """Whether a training folder made under another configuration may resume under `inputs`: only
    RESUMABLE_CHANGES differ and its latest checkpoint is not past the new step count. Says what
    changed and what happens either way."""
    info = workspace.read_marker(folder)
    if info is None or info.get("hash") == digest("train", inputs):
        return False
    old = info.get("inputs")
    if old is None:
        say(f"{folder}: made under another configuration (not recorded): training again from the start")
        return False
    changes = config_changes(old, inputs)
    shown = ", ".join(f"{k} {a} -> {b}" for k, a, b in ((k, *v) for k, v in changes.items()))
    at = checkpoint_step(folder)
    if set(changes) <= RESUMABLE_CHANGES and at is not None and at <= inputs["train"]["steps"]:
        say(f"{folder}: {shown}: resuming from its checkpoint at step {at}")
        return True
    if set(changes) <= RESUMABLE_CHANGES and at is not None:
        why = f"its checkpoint at step {at} is past the new step count"
    else:
        why = "the trained weights depend on that" if at is not None else "it has no checkpoint"
        if not set(changes) <= RESUMABLE_CHANGES:
            why = "the trained weights depend on " + ", ".join(
                k for k in changes if k not in RESUMABLE_CHANGES
            )
    say(f"{folder}: {shown}: training again from the start ({why})")
    return False


def stage_train(
    exp: Experiment,
    cfg: SVIConfig,
    folder: Path,
    force: bool,
    on_poll: Callable[[], None] | None = None,
    allocation: launch.Allocation | None = None,
) -> tuple[Path, str, bool]:
    """-> (LoRA path, stage hash, skipped). `on_poll()` runs every second while training runs.
    `allocation`: the nodes of a multi-node job (this is its first node; the others `join_training`).
    The folder is claimed with the configuration it trains (stage.json, status running), so a changed
    configuration is recognised even when training was cut short: one that only trains longer
    resumes from the checkpoints (`can_resume`), any other starts over."""
    inputs = train_inputs(cfg)
    h = digest("train", inputs)
    lora = folder / "lora.safetensors"
    with workspace.stage_lock(folder):
        keep = not force and can_resume(folder, inputs)
        if workspace.open_stage(folder, h, force, keep=keep) and lora.is_file():
            return lora, h, True
        workspace.claim_stage(folder, h, inputs=inputs)
        cfg = cfg.model_copy(deep=True)
        cfg.train.output_dir = str(folder)
        save_config(cfg, folder / "config.resolved.yaml")
        nproc = exp.nproc or launch.default_nproc()
        cmd = launch.train_command(
            folder / "config.resolved.yaml", nproc=nproc, launcher=exp.launcher, allocation=allocation
        )
        env = launch.child_env(ranks=nproc)
        launch.run_child(cmd, folder / "train.log", "training", env=env, on_poll=on_poll)
        workspace.mark_stage(folder, h, lora=str(lora), inputs=inputs)
    return lora, h, False


def stage_borrowed_loras(plan: Plan, unit: ArmPlan) -> tuple[dict[str, Path], str]:
    """An arm with `lora_from` ({high: ARM, low: ARM}): each named arm's LoRA at this unit's seed, from
    that unit's own training folder, trained there first if it is not yet (under the stage lock, so a
    job running that unit at the same time trains it once). -> ({expert: LoRA path}, the hash that
    stands for this unit's training: the named trainings' hashes)."""
    from harness.declare.plan import arm_plan

    loras, hashes = {}, {}
    for expert, arm in plan.exp.arms[unit.arm].lora_from.items():
        source = arm_plan(plan.exp, plan.source, arm, unit.seed)
        cfg = source.cfg.model_copy(deep=True)
        cfg.data.root = provision.training_data(cfg)
        folder = source.folder / "train"
        say(f"{unit.arm} seed {unit.seed}: the {expert}-noise expert's LoRA from {arm} seed {unit.seed}")
        loras[expert], hashes[expert], _ = stage_train(
            plan.exp, cfg, folder, False, allocation=launch.Allocation.from_job()
        )
    return loras, digest("borrowed", hashes)


def join_training(plan: Plan, unit: ArmPlan, alloc: launch.Allocation) -> None:
    """On node `alloc.node_rank` > 0 of a multi-node job: this node's training processes of `unit`,
    meeting the first node's (which runs `stage_train` and everything after it). Without the stage
    lock, which the first node holds for the whole training."""
    if not unit.train:
        return
    cfg = unit.cfg.model_copy(deep=True)
    cfg.data.root = provision.training_data(cfg)
    folder = unit.folder / "train"
    if workspace.stage_done(folder, train_hash(cfg)):
        return
    folder.mkdir(parents=True, exist_ok=True)
    cfg.train.output_dir = str(folder)
    config = folder / f"config.node{alloc.node_rank}.yaml"
    save_config(cfg, config)
    nproc = plan.exp.nproc or launch.default_nproc()
    cmd = launch.train_command(config, nproc=nproc, launcher=plan.exp.launcher, allocation=alloc)
    log = folder / f"train.node{alloc.node_rank}.log"
    launch.run_child(cmd, log, f"training (node {alloc.node_rank})", env=launch.child_env(ranks=nproc))


def stage_generate(
    cfg: SVIConfig,
    spec: SuiteSpec,
    bench: Path,
    skip_bad: bool,
    lora: Path | dict[str, Path] | None,
    trained: str,
    folder: Path,
    force: bool,
    generator: Callable[[], object],
    on_round: Callable | None = None,
    draws: int = 1,
) -> tuple[dict, str, bool, list]:
    """-> (manifest, stage hash, skipped, samples). `generator()` gives the arm's (shared)
    LongVideoGenerator; samples are the track's `scoring.suites.Sample`s (prompt text included).
    `on_round`: called after each generation round (a sweep's pruning during generation). `draws`:
    videos per sample (`generate_suite`)."""
    from harness.run.suite_generation import generate_suite, suite_samples
    from svi.generation.sampling import config_hash

    samples, manifest = suite_samples(bench, spec.suite, spec.length, limit=spec.limit, skip_bad=skip_bad)
    # what determines the frames, as the generator's own resume check digests it (noise scheme included)
    gen_cfg = {"frames": config_hash(cfg.generate)}
    if cfg.condition.kind != "none":  # the adapter and its weights decide the frames too
        gen_cfg = {**gen_cfg, "condition": cfg.condition.model_dump(mode="json")}
    more = (draws,) if draws > 1 else ()  # one draw: the hash of every generation made before draws
    h = digest("generate", trained, gen_cfg, spec.suite, spec.length, manifest["digest"], *more)
    with workspace.stage_lock(folder):
        if workspace.open_stage(folder, h, force):
            return manifest, h, True, samples
        named = (
            {k: str(v) for k, v in lora.items()} if isinstance(lora, dict) else str(lora) if lora else None
        )
        model_id = {"preset": cfg.model.preset, "lora": named, "train_hash": trained}
        if cfg.condition.kind != "none":
            model_id["condition"] = cfg.condition.model_dump(mode="json")
        generate_suite(
            generator(),
            samples,
            manifest,
            folder,
            seconds=spec.seconds,
            model=model_id,
            on_round=on_round,
            draws=draws,
        )
        workspace.mark_stage(folder, h, suite=spec.suite, length=spec.length)
    return manifest, h, False, samples


def arm_generator(cfg: SVIConfig, lora: Path | dict[str, Path] | None) -> Callable[[], object]:
    """A loader that builds the arm's generator on first use and then reuses it, so the suites of one
    arm load the weights once, and fully skipped arms never load them. `lora`: the unit's own LoRA, or
    a two-expert model's {high: path, low: path} (an arm with lora_from)."""

    @functools.cache
    def get():
        from harness.run.suite_generation import device_for_rank
        from svi.generation.generator import LongVideoGenerator

        # a two-expert model's unit trains one expert: its LoRA goes into that expert, the other is bare
        if isinstance(lora, dict):  # borrowed: each expert's LoRA from its own training unit
            high, low = lora.get("high"), lora.get("low")
        else:
            high, low = (None, lora) if cfg.train.expert == "low" else (lora, None)
        return LongVideoGenerator.from_config(cfg, high, device_for_rank(), low)

    return get


def stage_score(
    exp: Experiment,
    videos: Path,
    gen_hash: str,
    folder: Path,
    force: bool,
    truth: dict[str, Path] | None = None,
    images: dict | None = None,
    audio: dict[str, Path] | None = None,
) -> tuple[dict, str, bool]:
    """-> (scores.json content, stage hash, skipped). `truth` (sample -> true video) enables the metrics
    scored against ground truth (PSNR, SSIM, truth_distance) and FVD (the true videos are its
    reference set); without it they are listed as unavailable. `audio` (sample -> its speech) enables
    Sync-C/D."""
    import json

    from scoring.score import score_suite, write_scores
    from scoring.specs import SCORES_VERSION

    h = digest(
        "score", gen_hash, exp.metrics, exp.metrics_backend, exp.window, sorted(truth or {}), SCORES_VERSION
    )
    with workspace.stage_lock(folder):
        if workspace.open_stage(folder, h, force):
            return json.loads((folder / "scores.json").read_text()), h, True
        paths = sorted(videos.glob("*.mp4"))
        report = score_suite(
            paths,
            exp.metrics,
            backend=exp.metrics_backend,
            window=exp.window,
            reference_videos=truth or None,
            reference_set=[truth[p.stem] for p in paths if p.stem in truth] if truth else None,
            reference_images=images,
            audio=audio or None,
            progress=False,
        )
        bad = report.get("failed") or []
        if bad and not exp.skip_bad_videos:
            names = "; ".join(f"{Path(b['video']).name} ({b['error'][:160]})" for b in bad)
            raise BadVideoError(
                f"{len(bad)} of {len(paths)} videos in {videos} cannot be decoded: {names}. Generate them "
                "again (`harness run ... --arm ARM --seed SEED --force generate`), or set "
                "skip_bad_videos: true in the experiment to score without them (recorded in the report)"
            )
        write_scores(report, folder)
        workspace.mark_stage(folder, h)
    return report, h, False


# -- the experiment --------------------------------------------------------------------------------


def open_parent(c, exp: Experiment, tags: dict[str, str] | None = None) -> tuple[str, str]:
    """-> (experiment id, parent run id): the invocation's parent run, after marking the runs that an
    earlier, vanished invocation left RUNNING (`tracking.reap_stale`)."""
    exp_id = tracking.ensure_experiment(c, exp.name)  # once, here, before any child process exists
    for run_id in tracking.reap_stale(c, exp_id):
        say(f"run {run_id} was left RUNNING by a process that is gone: marked FAILED")
    parent = tracking.start_parent(
        c,
        exp_id,
        f"{exp.name} {time.strftime('%Y-%m-%d %H:%M:%S')}",
        {"experiment": exp.name, **({keys.PRIMARY_TAG: exp.primary} if exp.primary else {}), **(tags or {})},
    )
    tracking.log_params(c, parent, {"arms": ",".join(exp.arms), "seeds": exp.seeds, "metrics": exp.metrics})
    note = experiment_description(exp)
    tracking.set_experiment_note(c, exp_id, note)  # the latest declaration: arms may change between runs
    tracking.set_note(c, parent, note + "\n\n*The report replaces this description when the arms are done.*")
    return exp_id, parent


def _overrides_text(overrides: dict) -> str:
    return ", ".join(f"`{k}={v}`" for k, v in overrides.items()) or "none (the base configuration)"


def experiment_description(exp: Experiment) -> str:
    """The experiment's description in Markdown (the UI's experiment description): what it declares,
    its arms with their overrides, seeds, suites and metrics."""
    lines = [exp.description.strip() or f"Experiment `{exp.name}`.", "", "**Arms**"]
    for name, arm in exp.arms.items():
        kind = "untrained base model" if not arm.train else _overrides_text(arm.overrides)
        if arm.lora_from:
            kind = borrowed_text(arm.lora_from)
        lines.append(f"- `{name}` ({arm.role}): {kind}")
    tracks = ", ".join(
        f"{s.suite} {s.length}" + (f" (first {s.limit})" if s.limit else "") for s in exp.suites
    )
    lines += [
        "",
        f"**Seeds** {', '.join(map(str, exp.seeds))} · **Suites** {tracks or 'none'} · "
        f"**Metrics** {exp.metrics} (backend {exp.metrics_backend})",
    ]
    return "\n".join(lines)


def borrowed_text(lora_from: dict[str, str]) -> str:
    """What an arm with lora_from generates with, in words."""
    return "no training of its own; generates with " + " and ".join(
        f"the {expert}-noise expert's LoRA of `{arm}`" for expert, arm in lora_from.items()
    )


def arm_description(exp: Experiment, unit: ArmPlan) -> str:
    """One arm run's description: arm, role, seed and what it changes from the base configuration."""
    arm = exp.arms.get(unit.arm)
    lines = [f"**{unit.arm}**, seed {unit.seed}, role {unit.role}, experiment `{unit.experiment}`"]
    if "trial" in unit.tags:  # a sweep trial: its sampled values are its params
        lines.append(f"Sweep trial {unit.tags['trial']}; the sampled values are in its params.")
    elif arm is not None:
        lines.append(f"Overrides: {_overrides_text(arm.overrides)}")
    t = unit.cfg.train
    if arm is not None and arm.lora_from:
        lines.append(f"Trained: {borrowed_text(arm.lora_from)}")
    else:
        lines.append(f"Trained: {t.steps} steps" if unit.train else "Trained: no (the untuned base model)")
    return "\n\n".join(lines)


def run_experiment(
    plan: Plan,
    *,
    force: tuple[str, ...] = (),
    units: list[ArmPlan] | None = None,
    bundle: Path | None = None,
    clock: StageClock | None = None,
) -> list[ArmResult]:
    """Every unit of the plan (or `units`), one after another in this process tree, under one parent.
    `bundle`: a results bundle (`harness run --from`) that each finished unit is exported into at once,
    beside the units it already holds; the report is then the bundle's, of all its units. `clock` is
    given the report's seconds (the units' own are in their results)."""
    exp = plan.exp
    c = tracking.client()
    exp_id, parent = open_parent(c, exp)
    beat = tracking.Heartbeat(c, parent)
    results: list[ArmResult] = []
    try:
        for unit in plan.units if units is None else units:
            results.append(run_arm(c, exp_id, parent, plan, unit, force=force))
            if bundle is not None:
                from harness.run.bundle_export import export

                export(exp, plan.source, bundle, parent, keep=bundle)
                say(f"{unit.arm} seed {unit.seed}: exported into {bundle}")
        clock = clock or StageClock()
        references_stage(c, exp_id, parent, plan, force, bundle, clock)
    except BaseException as e:  # Ctrl-C, or a failure outside any arm: the parent says so and ends
        beat.stop()
        tracking.finish_quietly(c, parent, "KILLED" if isinstance(e, KeyboardInterrupt) else "FAILED")
        raise
    beat.stop()
    timed_report(c, exp, parent, bundle, clock)
    tracking.finish(c, parent, "FINISHED")
    return results


def references_stage(
    c, exp_id: str, parent: str, plan: Plan, force: tuple[str, ...], bundle: Path | None, clock: StageClock
) -> None:
    """After the units (in this process or as jobs): the degenerate references, their wall seconds
    given to `clock` and logged on the parent as `time/references`, exported into `bundle` if any."""
    with clock("references"):
        made = score_references(c, exp_id, parent, plan, force, bundle)
    if not made:
        return
    tracking.log_metrics(c, parent, [(keys.TIME_PREFIX + "references", clock.seconds["references"], 0)])
    if bundle is not None:
        from harness.run.bundle_export import export

        export(plan.exp, plan.source, bundle, parent, keep=bundle)
        say(f"degenerate references: exported into {bundle}")


def score_references(
    c, exp_id: str, parent: str, plan: Plan, force: tuple[str, ...], bundle: Path | None
) -> list:
    """The experiment's degenerate references (harness/run/reference_units.py) under `parent`; with a results
    `bundle`, the source unit's video lengths come from it when the workspace lacks its videos. A
    reference that cannot be made is said and left out: it never costs the arms' results."""
    from harness.run import reference_units
    from svi.config import ConfigError

    source, kinds = reference_units.wanted(plan)
    if source is None:
        return []
    if bundle is not None and (Path(bundle) / "manifest.json").is_file():
        from reports.bundle import read_manifest

        if not reference_units.missing_from(plan, read_manifest(bundle)):
            return []  # the bundle holds them under this plan's keys: made once, kept
    clips = reference_units.clips_from_bundle(bundle, source) if bundle is not None else None
    try:
        return reference_units.run_references(
            c, exp_id, parent, plan, score_stage=stage_score, generator_of=arm_generator, clips_per_sample=clips,
            force="score" in force,
        )  # fmt: skip
    except Exception as e:  # the arms' results stand without them: said, and the report says they are missing
        say(f"degenerate references left out: {failure_text(e) if not isinstance(e, ConfigError) else e}")
        return []


def timed_report(
    c, exp: Experiment, parent: str, bundle: Path | None = None, clock: StageClock | None = None
) -> None:
    """`write_report` of an experiment's invocation, its wall seconds logged on the parent run as
    `time/report` (and given to `clock`)."""
    clock = clock or StageClock()
    with clock("report"):
        write_report(
            c, exp.name, parent, arm_order=list(exp.arms), primary=exp.primary, comparisons=exp.comparison_pairs,
            bundle=bundle, guards=exp.guards,
        )  # fmt: skip
    tracking.log_metrics(c, parent, [(keys.TIME_PREFIX + "report", clock.seconds["report"], 0)])


def write_report(
    c,
    name: str,
    parent: str | None,
    *,
    arm_order: list[str] | None = None,
    primary: str | None = None,
    comparisons: list[tuple[str, str]] | None = None,
    sweep: bool = False,
    bundle: Path | None = None,
    guards: list[str] | None = None,
) -> Path | None:
    """Tables and plots under <workspace>/reports/<name>/, logged to the parent run; from the results
    `bundle` when given (all its units), else from the parent's runs in the store."""
    from harness.tracking.store_reader import build_report, build_sweep_report

    out = workspace.report_dir(name)
    try:
        if bundle is not None:
            from harness.declare.preregistration import git_check
            from reports.bundle import build_report_from

            files = build_report_from(bundle, out, registration_check=git_check)
        elif sweep:
            files = build_sweep_report(name, out, workspace.tracking_uri(), parent)
        else:
            files = build_report(
                name, out, workspace.tracking_uri(), parent, arm_order=arm_order, primary=primary,
                comparisons=comparisons, guards=guards,
            )  # fmt: skip
    except Exception as e:  # a report problem must not lose the runs it reports on
        say(f"report for {name} failed: {failure_text(e)}")
        return None
    if parent:
        for f in files.values():
            c.log_artifact(parent, str(f), keys.REPORT_DIR)
        try:
            publish_report(c, parent, files, sweep=sweep)
        except Exception as e:  # the files are logged; the review extras must not fail the invocation
            say(f"report for {name}: could not add it to the parent run's page: {type(e).__name__}: {e}")
    say(f"report: {out / 'report.md'}")
    return out


def publish_report(c, parent: str, files: dict[str, Path], *, sweep: bool = False) -> None:
    """What a reviewer opens first: report.md and report.html at the parent's artifact root (report.md
    with its plots linked into `report/`), the report as the parent's description, and (experiments)
    each arm's difference from the reference arm as `delta_vs_base` metrics on its runs, and the
    review's summary (harness/tracking/deltas.py `log_summary`) on the arms' and references' runs."""
    import tempfile

    md = files.get("report.md")
    if md is not None:
        text = md.read_text(encoding="utf-8")
        tracking.set_note(
            c, parent, tracking.report_note(text), "the whole report is report.md / report.html"
        )
        with tempfile.TemporaryDirectory() as tmp:
            linked = Path(tmp) / "report.md"  # the plots stay in report/: link them from the root
            linked.write_text(re.sub(r"(!\[[^\]]*\]\()([^)/]+\))", rf"\1{keys.REPORT_DIR}/\2", text), "utf-8")
            c.log_artifact(parent, str(linked))
    if "report.html" in files:  # self-contained: plots inlined
        c.log_artifact(parent, str(files["report.html"]))
    if not sweep and "results.csv" in files:
        tracking.log_report_figures(c, parent, files["results.csv"])


def training_rows(cfg: SVIConfig) -> list[dict]:
    """The training set's manifest, one row per clip: its path under data.root and its caption (Shot /
    Film: the category CSVs, read without opening a video), or the talk / dance dataset's samples."""
    import dataclasses

    from svi.training.data import FILENAME_COLUMN, PROMPT_COLUMN, read_category_csv, training_clips

    root = Path(cfg.data.root)
    if cfg.condition.kind == "none":
        rows = []
        for csv in sorted(root.glob("*/*.csv")):
            if csv.stem != csv.parent.name:  # the layout's CSV is <category>/<category>.csv
                continue
            table = read_category_csv(csv)
            for name, caption in zip(table[FILENAME_COLUMN], table[PROMPT_COLUMN]):
                rows.append({"clip": f"{csv.parent.name}/{name}", "caption": caption, "category": csv.stem})
        return rows
    rows = []
    dataset = training_clips(cfg)
    # dance: DanceSample records; talk: the preprocessed sample folders' ids
    for sample in dataset.samples if hasattr(dataset, "samples") else dataset.ids:
        fields = dataclasses.asdict(sample) if dataclasses.is_dataclass(sample) else {"clip": sample}
        rows.append({k: str(v) for k, v in fields.items() if isinstance(v, (str, int, float, Path))})
    return rows


def run_arm(
    c,
    exp_id: str,
    parent: str,
    plan: Plan,
    unit: ArmPlan,
    *,
    force: tuple[str, ...] = (),
    train_watch: Callable[[str, Path], None] | None = None,
    on_run: Callable[[str], None] | None = None,
    generate_watch: Callable[[str, str, list], None] | None = None,
) -> ArmResult:
    """One ArmPlan through train -> generate -> score, logged as a child run of `parent`.

    `train_watch(run_id, train_folder)` is called every second while training runs (a sweep reads
    the probe videos there); it may raise `StopArm`. `generate_watch(run_id, track, videos)` is called
    after every generation round with the videos it advanced (a sweep scores the clips so far); it may
    raise `StopArm` too. `on_run(run_id)` learns the run as it opens (a cluster job marks it when it is
    re-queued).
    """
    exp, base, who = plan.exp, unit.folder, f"{unit.arm} seed {unit.seed}"
    clock = StageClock()
    with clock("log"):
        run = tracking.ArmRun(c, exp_id, parent, unit, arm_description(exp, unit))
        # the plan this unit runs under, kept as a fact of its run: `harness export` writes it, never
        # recomputing it with whatever code exports later
        if unit.arm in exp.arms:
            run.set_tags({keys.PLAN_HASH_TAG: unit_hash(plan_inputs(plan, unit))})
    if on_run is not None:
        on_run(run.run_id)
    result = ArmResult(unit.arm, unit.seed, run.run_id, "RUNNING", seconds=clock.seconds)
    try:
        cfg = unit.cfg.model_copy(deep=True)
        with clock("provision"):
            cfg.data.root = provision.training_data(cfg) if unit.train else cfg.data.root
            bench = provision.benchmark_root(exp, cfg) if exp.suites else None
        with clock("log"):
            save_config(cfg, base / "config.yaml")
            run.log_config(cfg, base / "config.yaml")
        lora, trained = None, untrained_hash(cfg)
        if unit.train:
            say(f"{who}: train ({cfg.train.steps} steps)")
            curves = run.live_curves(base / "train")  # curves reach MLflow while training runs
            watch = functools.partial(train_watch, run.run_id, base / "train") if train_watch else None

            def on_poll() -> None:
                curves.poll()
                if watch is not None:
                    watch()

            with tracking.SystemMetrics(run.run_id), clock("train"):
                lora, trained, skipped = stage_train(
                    exp, cfg, base / "train", "train" in force, on_poll, launch.Allocation.from_job()
                )
            say(f"{who}: train {'skipped (done)' if skipped else 'finished'}")
            with clock("log"):
                run.log_training(base / "train", lora)
        elif unit.arm in exp.arms and exp.arms[unit.arm].lora_from:
            with clock("train"):
                lora, trained = stage_borrowed_loras(plan, unit)
        g = cfg.generate
        run.log_params({keys.SECONDS_PER_CLIP: (g.num_frames - g.lead_frames()) / g.fps})
        generator = arm_generator(cfg, lora)
        for spec in exp.suites:
            track = spec.name
            videos = base / "videos" / track
            # The videos' lock is held until they are scored and logged: another invocation's
            # `--force generate` must not rewrite them while this one reads them.
            with workspace.stage_lock(videos):
                say(f"{who}: generate {track}")
                with clock("generate"):
                    rounds = functools.partial(generate_watch, run.run_id, track) if generate_watch else None
                    manifest, gen_hash, _, samples = stage_generate(
                        cfg, spec, bench, exp.skip_bad_samples, lora, trained, videos, "generate" in force,
                        generator, rounds, exp.draws,
                    )  # fmt: skip
                say(f"{who}: score {track}")
                with clock("provision"):
                    truth, images, audio = provision.references(bench, spec.suite, spec.length, videos)
                scores = base / "scores" / track
                with clock("score"):
                    report, _, _ = stage_score(
                        exp, videos, gen_hash, scores, "score" in force, truth, images, audio
                    )
                run.log_suite(
                    track, manifest, videos, report, scores,
                    source=suites.suite_folder(bench, spec.suite, spec.length),
                    prompts={s.name: s.prompts for s in samples},
                    review=base / "review", clock=clock,
                )  # fmt: skip
            left_out = [Path(b["video"]).stem for b in report.get("failed") or []]
            if left_out:  # only with skip_bad_videos: otherwise scoring raised
                run.set_tags({keys.SKIPPED_VIDEOS_PREFIX + track: ",".join(left_out)})
                say(f"{who}: {track}: {len(left_out)} undecodable video(s) left out: {', '.join(left_out)}")
            result.scores.update({keys.score_key(track, m): v for m, v in report["aggregate"].items()})
        with clock("log"):
            if unit.train:  # after the prompt sets, which readers of older runs find as the first input
                run.log_training_set(cfg.data.root, training_rows(cfg))
            run.log_metrics([(keys.TIME_PREFIX + k, v, 0) for k, v in clock.seconds.items()])
        run.finish("FINISHED")
        result.status = "FINISHED"
    except KeyboardInterrupt:
        run.finish("KILLED")
        raise
    except StopArm as e:
        run.log_training(base / "train")  # the curves so far
        run.set_tags(e.tags)
        run.finish("KILLED")
        say(f"{who}: stopped: {e}")
        raise
    except Exception as e:  # a failed arm must not stop the others
        result.status, result.error = "FAILED", failure_text(e)
        files = [base / "train" / "train.log"]
        try:  # the whole traceback beside the arm's folders; on a full disk there may be no room
            err = base / "error.txt"
            err.parent.mkdir(parents=True, exist_ok=True)
            err.write_text(scrub(traceback.format_exc()))
            files.insert(0, err)
        except OSError:
            pass
        run.fail(result.error, files)  # never raises: it logs what it can and marks the run FAILED
        say(f"{who}: FAILED: {result.error}")
    return result


def failure_text(error: BaseException) -> str:
    """What a failed arm says, in its run's `error` tag and on the console: one line for a full disk
    (whatever raised it: MLflow, a decoder, the training child), else the exception's type and
    message; passwords masked."""
    full = workspace.disk_full(error)
    if full is not None:
        return workspace.disk_full_message(full)
    return scrub(f"{type(error).__name__}: {error}")
