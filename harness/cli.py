"""`harness`: the command line researchers use. A dispatcher: each command parses and checks its
arguments, then calls the module that does the work (harness/runner.py, harness/generation.py,
benchmarks/metrics/scoring.py, sweeps/runner.py, reports/build.py). Options and dotted overrides may
come in any order. Bad input is one message and exit code 2, before anything runs or is logged.

Subcommands:
    harness list
        The declared experiments (harness/experiments/*.yaml) and sweeps (sweeps/*.yaml).
    harness run EXPERIMENT [key=value ...] [--force STAGE]
        Train, generate, score and log every arm and seed to MLflow; re-runs skip finished stages.
    harness sweep SWEEP [--trials N] [--workers N] [key=value ...]
        An Optuna study over an experiment arm; each trial is one arm plan with sampled overrides.
    harness plan EXPERIMENT [--detect METRIC=VALUE] [--gpu H100 --gpus 8 --mfu 0.4]
        The dry run: units, input checks, the model on the meta device, GPU-hours and memory; with
        --detect, the samples x seeds an earlier run's variance components say would detect it.
    harness report EXPERIMENT | --sweep SWEEP [--detect METRIC=VALUE]
        Tables with crossed-design intervals, power, and drift plots rebuilt from MLflow.
    harness ui [EXPERIMENT] [--port 5000]
        The MLflow UI on 127.0.0.1 over the workspace's store; prints a link per experiment that opens
        a saved view of its latest run (harness/ui.py).
    harness train [--config FILE] [--nproc N] [--launcher ...] [key=value ...]
        ERFT training of one configuration, launched with deepspeed / torchrun / one process.
    harness generate --suite creative --length 50s --out DIR [...]
    harness generate --image IMG --prompts FILE --length 20s --out DIR [--interactive]
        Long videos on a benchmark suite or from one image, with or without an SVI LoRA; resumable;
        data-parallel under torchrun (each rank generates its share of the samples).
    harness score DIR --metrics vbench,fvd,psnr_ssim [--reference DIR] [--window clip|Ns] [--long]
        VBench dimensions, FVD, PSNR/SSIM of every video in DIR, streamed, per window and per video;
        writes DIR/scores.json and DIR/scores.csv.
    harness demo
        The smallest end-to-end run: writes a small synthetic clip set in the official layout under
        the workspace, trains an ERFT LoRA on the tiny preset, and prints where everything is.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from harness import launch

EXIT_USAGE = 2


def _fail(msg: str) -> int:
    from harness.redact import scrub

    print(f"error: {scrub(msg)}", file=sys.stderr)
    return EXIT_USAGE


def _store_line(uri: str) -> str:
    from harness.redact import redact_uri

    return f"MLflow store: {redact_uri(uri)}  (browse with: harness ui)"


def _disk_full_exit(error: BaseException) -> int | None:
    """One line and exit 1 for a full disk (wherever it surfaced), None for any other error."""
    from harness import workspace

    full = workspace.disk_full(error)
    if full is None:
        return None
    print(f"error: {workspace.disk_full_message(full)}", file=sys.stderr)
    return 1


def cmd_train(args: argparse.Namespace) -> int:
    from svi.config import ConfigError, load_config, save_config

    try:
        cfg = load_config(args.config, args.overrides)  # validate before anything starts
    except ConfigError as e:
        return _fail(str(e))
    out = Path(cfg.train.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    resolved = out / "config.resolved.yaml"
    save_config(cfg, resolved)
    nproc = args.nproc or launch.default_nproc()
    cmd = launch.train_command(resolved, nproc=nproc, launcher=args.launcher, hostfile=args.hostfile)
    print("launching:", " ".join(cmd), flush=True)
    return launch.run(cmd, env=launch.child_env(ranks=nproc))


def cmd_demo(args: argparse.Namespace) -> int:
    from benchmarks.synthetic import write_dataset
    from harness import workspace
    from svi.config import load_config, save_config

    home = workspace.home()
    data = home / "data" / "synthetic"
    if not (data / "moving" / "moving.csv").is_file():
        print(f"writing synthetic clips to {data}", flush=True)
        write_dataset(data, categories=("moving",), videos_per_category=4, num_frames=24, height=64, width=64)
    out = home / "runs" / "demo" / "train"
    cfg = load_config(
        Path(__file__).parent / "configs" / "demo.yaml",
        [f"data.root={data}", f"train.output_dir={out}", f"train.steps={args.steps}"],
    )
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.resolved.yaml")
    cmd = launch.train_command(out / "config.resolved.yaml", nproc=args.nproc, launcher="auto")
    print("launching:", " ".join(cmd), flush=True)
    rc = launch.run(cmd, env=launch.child_env(ranks=args.nproc))
    if rc != 0:
        return rc
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x]
    first, last = lines[0], lines[-1]
    print(
        f"\ndemo finished: {last['step']} ERFT steps on the tiny preset, {args.nproc} process(es)\n"
        f"  loss            {first['train/loss']:.4f} (step {first['step']}) -> {last['train/loss']:.4f}\n"
        f"  replay memory   {int(last.get('memory/noise/fill', 0))} noise-end + "
        f"{int(last.get('memory/clean/fill', 0))} clean-end errors (rank 0)\n"
        f"  LoRA (diffusers format)  {out / 'lora.safetensors'}\n"
        f"  metrics         {out / 'metrics.jsonl'}\n"
        f"  checkpoints     {out / 'checkpoints'}"
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from harness.experiment import experiment_names
    from sweeps.runner import sweep_names

    print("experiments (harness run NAME):")
    for name, desc in experiment_names().items():
        print(f"  {name:18s} {desc}")
    print("sweeps (harness sweep NAME):")
    for name, desc in sweep_names().items():
        print(f"  {name:18s} {desc.splitlines()[0] if desc else ''}")
    return 0


def _prepare_tracking() -> None:
    """The workspace can be written and the tracking store answers, before anything is logged."""
    from harness import tracking, workspace

    workspace.check_writable()
    tracking.check_reachable()


def cmd_run(args: argparse.Namespace) -> int:
    from harness.experiment import find_experiment, is_pretrain, load_experiment, read_experiment_file
    from svi.config import ConfigError

    try:
        path = find_experiment(args.experiment)
        raw = read_experiment_file(path)
        if is_pretrain(raw):
            from harness import pretrain

            exp = pretrain.load(path, raw, args.overrides)
            _prepare_tracking()
            return run_pretrain_experiment(exp, args)
        exp, source = load_experiment(args.experiment, args.overrides)  # names, numbers, metrics
        _prepare_tracking()
        from harness.plan import check_plan, make_plan

        plan = make_plan(exp, source)
        units = select_units(plan, args.arm, args.seed)
        spec = executor_spec(exp.executor, args)
        check_plan(plan)  # weights, benchmark samples, training clips
        if spec.kind != "inline":
            from harness.jobs import check_executor

            check_executor(spec)
    except ConfigError as e:
        return _fail(str(e))
    from harness.runner import run_experiment

    try:
        if spec.kind == "inline":
            results = run_experiment(plan, force=tuple(args.force or ()), units=units)
        else:
            from harness.jobs import run_jobs

            results = run_jobs(
                plan, spec, experiment_arg=args.experiment, overrides=args.overrides, units=units,
                force=tuple(args.force or ()), wait=not args.no_wait,
            )  # fmt: skip
            if args.no_wait:
                return 0
    except KeyboardInterrupt:
        print("interrupted: finished stages are kept; run the same command to resume", file=sys.stderr)
        return 130
    except OSError as e:
        code = _disk_full_exit(e)
        if code is None:
            raise
        return code
    from harness import workspace

    print(f"\n{exp.name}: {len(results)} run(s)")
    for r in results:
        line = f"  {r.arm:12s} seed {r.seed}  {r.status}"
        if r.error:
            line += f"  {r.error.splitlines()[0][:200]}"
        print(line)
        for k, v in r.scores.items():
            print(f"      {k:40s} {'n/a' if v is None else f'{v:.4f}'}")
    report = workspace.report_dir(exp.name) / "report.md"
    if report.is_file():
        print(f"report: {report}  (also .html, .tex, .csv and drift plots beside it)")
    uri = workspace.tracking_uri()
    print(_store_line(uri))
    from harness import ui

    server = uri.split(":", 1)[0].lower() in ("http", "https")  # a team server serves the UI itself
    try:
        links = _review_links(uri if server else ui.DEFAULT_UI_URL, exp.name) or []
    except LookupError:  # nothing was logged (every unit skipped before its run existed)
        links = []
    after = "" if server else "  (after: harness ui)"
    for _, found in links:
        print(f"review in the MLflow UI: {found.review}{after}")
        if found.keyframes:
            print(f"keyframes (samples x arms, a clip slider): {found.keyframes}{after}")
    return 0 if all(r.status == "FINISHED" for r in results) else 1


def cmd_plan(args: argparse.Namespace) -> int:
    """The dry run: units, input checks, the model on the meta device, cost, and (--detect) power."""
    from harness import dry_run, workspace
    from harness.experiment import load_experiment
    from harness.plan import check_plan, make_plan
    from svi.config import ConfigError

    try:
        detect = parse_detect(args.detect or [])
        exp, source = load_experiment(args.experiment, args.overrides)
        plan = make_plan(exp, source)
        if args.world < 1 or (args.mfu is not None and not 0 < args.mfu <= 1):
            raise ConfigError("--gpus must be at least 1 and --mfu in (0, 1]")
        from svi.cost import peak_of

        peak_of(args.gpu)
    except (ConfigError, ValueError) as e:
        return _fail(str(e))
    print("\n".join(dry_run.unit_lines(plan)))
    try:
        check_plan(plan)
        print("checks: every input `harness run` checks first is in place")
    except ConfigError as e:
        print(f"checks: would stop before any work:\n{e}")
    print(
        "\n".join(
            dry_run.cost_lines(plan, world=args.world, gpu=args.gpu, mfu=args.mfu, samples=args.samples)
        )
    )
    if detect:
        from harness import tracking

        try:
            tracking.check_reachable()
        except ConfigError as e:
            return _fail(str(e))
        print("\n".join(dry_run.power_lines(plan, detect, workspace.tracking_uri())))
    return 0


def select_units(plan, arm: str | None, seed: int | None) -> list:
    """The plan's units narrowed by `--arm` / `--seed` (a ConfigError naming the choices if none is left)."""
    from svi.config import ConfigError

    if arm is not None and arm not in plan.exp.arms:
        raise ConfigError(f"{plan.exp.name} has no arm {arm!r}; its arms: {', '.join(plan.exp.arms)}")
    if seed is not None and seed not in plan.exp.seeds:
        seeds = ", ".join(map(str, plan.exp.seeds))
        raise ConfigError(f"{plan.exp.name} has no seed {seed}; its seeds: {seeds} (or override seeds=[...])")
    return [u for u in plan.units if (arm is None or u.arm == arm) and (seed is None or u.seed == seed)]


def executor_spec(spec, args: argparse.Namespace):
    """The experiment's `executor:` section with the command line's options on top."""
    given = {
        "kind": args.executor,
        "nodes": args.nodes,
        "gpus_per_node": args.gpus_per_node,
        "partition": args.partition,
        "time_limit_min": args.time_limit,
        "parallel": args.parallel,
    }
    from pydantic import ValidationError

    from svi.config import ConfigError, format_validation_error

    try:
        return type(spec).model_validate(
            {**spec.model_dump(), **{k: v for k, v in given.items() if v is not None}}
        )
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, "the command line's job options")) from None


def run_pretrain_experiment(exp, args: argparse.Namespace) -> int:
    from harness import pretrain, workspace

    try:
        model = pretrain.run_pretrain(exp, force=tuple(args.force or ()))
    except KeyboardInterrupt:
        print("interrupted: finished stages are kept; run the same command to resume", file=sys.stderr)
        return 130
    except Exception as e:  # the MLflow run is marked FAILED with the error already
        from harness.redact import scrub

        code = _disk_full_exit(e)
        if code is None:
            print(f"{exp.name}: FAILED: {scrub(str(e))}", file=sys.stderr)
        return code or 1
    result = json.loads((model.parent / "eval" / "eval.json").read_text())["mean"]
    print(f"\n{exp.name}: toy base model in {model}")
    for k, v in result.items():
        print(f"      eval/{k:28s} {v:.4f}")
    print(f"use it with model.weights={model} (or copy it over svi/weights/toy to make it the default)")
    print(_store_line(workspace.tracking_uri()))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from svi.config import ConfigError
    from sweeps.runner import load_sweep, run_sweep

    try:
        sweep = load_sweep(args.sweep, args.overrides, check_inputs=True)
        if args.trials:
            sweep.trials = args.trials
        _prepare_tracking()
        study = run_sweep(sweep, args.sweep, args.overrides, workers=args.workers)
    except ConfigError as e:  # raised before anything is logged
        return _fail(str(e))
    except KeyboardInterrupt:
        print(
            "interrupted: the study keeps its finished trials; run the same command to resume",
            file=sys.stderr,
        )
        return 130
    from sweeps.runner import counted

    trials = counted(study.trials)  # a dead trial that was retried is counted once, as its retry
    counts = {s: sum(t.state.name == s for t in trials) for s in ("COMPLETE", "FAIL", "PRUNED", "RUNNING")}
    retried = len(study.trials) - len(trials)
    print(
        f"{sweep.name}: {len(trials)} trials ({', '.join(f'{v} {k.lower()}' for k, v in counts.items() if v)})"
        + (f"; {retried} dead trial(s) retried" if retried else "")
    )
    if counts["COMPLETE"] and len(sweep.objective) == 1:
        best = study.best_trial
        print(f"best: trial {best.number} {sweep.objective[0].metric} = {best.value:.4f} with {best.params}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness import workspace
    from harness.experiment import load_experiment
    from reports.build import build_report, build_sweep_report
    from reports.runs import ReportError
    from svi.config import ConfigError

    name = args.sweep or args.experiment
    if not name:
        return _fail("name an experiment (harness report EXPERIMENT) or a sweep (--sweep NAME)")
    try:
        detect = parse_detect(args.detect or [])
        out = Path(args.out) if args.out else workspace.report_dir(name)
        from harness import tracking

        tracking.check_reachable()  # seconds, not MLflow's minutes of retries against a dead store
    except ConfigError as e:
        return _fail(str(e))
    _settle_runs(name)
    try:
        if args.sweep:
            files = build_sweep_report(name, out, workspace.tracking_uri(), args.parent)
        else:
            try:  # a declared experiment: its arms in their declared order, its primary metric
                exp, _ = load_experiment(name)
                name, order, primary = exp.name, list(exp.arms), exp.primary
            except ConfigError:  # not declared here: whatever MLflow holds under that name
                order, primary = None, None
            files = build_report(
                name, out, workspace.tracking_uri(), args.parent, arm_order=order, reference=args.reference,
                primary=primary, detect=detect,
            )  # fmt: skip
    except ReportError as e:
        return _fail(str(e))
    for f in files.values():
        print(f)
    return 0


def parse_detect(items: list[str]) -> dict[str, float]:
    """`--detect METRIC=VALUE` options -> {metric: difference in the metric's display units}; a
    ConfigError naming the item for an unknown metric or a value that is not a positive number."""
    from benchmarks.metrics.specs import SPECS
    from svi.config import ConfigError

    out = {}
    for item in items:
        metric, _, value = item.partition("=")
        if metric not in SPECS:
            raise ConfigError(f"--detect {item}: unknown metric {metric!r}; known: {', '.join(SPECS)}")
        try:
            out[metric] = abs(float(value))
        except ValueError:
            raise ConfigError(
                f"--detect {item}: give METRIC=VALUE with a number, e.g. colour_shift=0.01"
            ) from None
        if out[metric] == 0:
            raise ConfigError(f"--detect {item}: a difference of 0 cannot be detected")
    return out


def _settle_runs(experiment: str) -> None:
    """Before a report: runs whose process vanished are marked FAILED, and the parents of submitted
    jobs that have all ended are finished (harness/tracking.py)."""
    from harness import tracking

    try:
        c = tracking.client()
        found = c.get_experiment_by_name(experiment)
        if found is None:
            return
        for run_id in tracking.reap_stale(c, found.experiment_id):
            print(f"run {run_id} was left RUNNING by a process that is gone: marked FAILED", file=sys.stderr)
        for run_id in tracking.settle_submitted(c, found.experiment_id):
            print(f"parent run {run_id}: all its jobs have ended: marked FINISHED", file=sys.stderr)
    except Exception as e:  # reporting must work from a read-only view of the store too
        from harness.redact import scrub

        print(f"could not check for stale runs: {type(e).__name__}: {scrub(str(e))}", file=sys.stderr)


def cmd_ui(args: argparse.Namespace) -> int:
    from harness import tracking, workspace
    from harness.redact import redact_uri
    from svi.config import ConfigError

    uri = workspace.tracking_uri()
    address = f"http://127.0.0.1:{args.port}"
    try:
        tracking.check_reachable(uri)
        links = _review_links(address, args.experiment)
    except ConfigError as e:
        return _fail(str(e))
    except LookupError as e:  # a named experiment the store does not hold
        return _fail(str(e))
    print(f"MLflow UI for {redact_uri(uri)} at {address} (Ctrl-C stops it)", flush=True)
    if links:
        print("review the latest run of each experiment (Model training, runs grouped by arm):")
        for name, found in links:
            print(f"  {name}: {found.review}")
            if found.keyframes:
                print(f"  {name} keyframes (samples x arms, a clip slider): {found.keyframes}")
    elif links is not None:
        print("no runs yet: `harness run EXPERIMENT` logs some, then open the link it prints")
    sys.stdout.flush()
    cmd = [
        sys.executable, "-m", "mlflow", "ui", "--default-artifact-root", workspace.artifact_root(),
        "--host", "127.0.0.1", "--port", str(args.port),
    ]  # fmt: skip
    # The store's URI (it may carry a password) goes by the environment, which `ps` does not show, not
    # on the command line. No job runners (MLflow's GenAI evaluation jobs, unused here): five fewer
    # processes, and none that starts after a stop signal has been passed on and so outlives the UI.
    env = {"MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return launch.run(cmd, env=launch.child_env(env))


def _review_links(base_url: str, experiment: str | None = None) -> list | None:
    """(experiment, ui.Links) of the review and keyframes views (harness/ui.py) of each experiment's latest parent run,
    written as an experiment tag first; None, after saying why, when the store refuses: a link is not
    worth failing a run or the UI for. LookupError for a named experiment the store does not hold."""
    from harness import tracking, ui

    try:
        return ui.review_links(tracking.client(), base_url, experiment)
    except LookupError:
        raise
    except Exception as e:
        from harness.redact import scrub

        print(
            f"no review link: the saved view could not be written ({type(e).__name__}: {scrub(str(e))[:200]}); "
            "the runs are in the UI all the same",
            file=sys.stderr,
        )
        return None


def cmd_generate(args: argparse.Namespace) -> int:
    from benchmarks import suites
    from harness.generation import (
        device_for_rank,
        generate_one,
        generate_suite_videos,
        sha256_file,
        suite_samples,
    )
    from svi.config import ConfigError, load_config
    from svi.generate import LongVideoGenerator, parse_length
    from svi.presets import WeightsNotFoundError, check_weights_folder, preset_weights

    overrides = list(args.overrides)
    if args.preset:
        overrides.insert(0, f"model.preset={args.preset}")
    if args.weights:
        overrides.append(f"model.weights={args.weights}")
    if args.lora:
        overrides.append(f"generate.lora={args.lora}")
    if args.suite and not args.length:
        args.length = suites.SUITES[args.suite].length  # the paper's length of the track
    if args.suite and not any(o.startswith("variant=") for o in overrides):
        overrides.insert(0, f"variant={suites.SUITES[args.suite].variant}")  # the track's settings
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    out = Path(args.out)
    try:
        drive = args.audio or args.pose
        if args.suite and (args.image or args.prompts or args.interactive or drive):
            raise ConfigError(
                "use either --suite or --image/--prompts/--interactive/--audio/--pose, not both"
            )
        if not args.suite and not args.image:
            raise ConfigError(
                "say what to generate: --suite NAME, or --image IMG with --prompts FILE, --interactive, "
                "--audio FILE (talk) or --pose VIDEO (dance)"
            )
        if args.image and not (args.prompts or args.interactive or drive):
            raise ConfigError("--image needs --prompts FILE (one prompt per line) or --interactive")
        if args.audio and args.pose:
            raise ConfigError("give --audio (a talking head) or --pose (a dance), not both")
        if drive and not any(o.startswith("variant=") for o in overrides):
            overrides.insert(0, f"variant={'talk' if args.audio else 'dance'}")
        for path in (args.audio, args.pose):
            if path and not Path(path).is_file():
                raise ConfigError(f"no such file: {path}")
        cfg = load_config(args.config, overrides)
        if drive and cfg.condition.kind != ("audio" if args.audio else "pose"):
            raise ConfigError(
                f"--{'audio' if args.audio else 'pose'} needs a model with that conditioning "
                f"(variant={'talk' if args.audio else 'dance'}); this config has condition.kind={cfg.condition.kind}"
            )
        from svi.strategies import PLANS_AHEAD

        if args.interactive and not args.length and cfg.generate.strategy in PLANS_AHEAD:
            raise ConfigError(
                f"generate.strategy={cfg.generate.strategy} {PLANS_AHEAD[cfg.generate.strategy]}, so it needs "
                "the video's length before the first clip: give --length (prompts may still come interactively)"
            )
        seconds = parse_length(args.length) if args.length else None
        lora = None if args.no_lora else cfg.generate.lora
        folder = preset_weights(cfg.model.preset, cfg.model.weights)
        if folder is not None:
            check_weights_folder(folder, cfg.model.preset)
        if args.suite:
            bench = suites.benchmark_root(args.benchmark_root)
            names = [n for n in (args.samples or "").split(",") if n] or None
            samples, manifest = suite_samples(
                bench, args.suite, args.length, limit=args.limit, names=names, skip_bad=args.skip_bad
            )
        elif args.prompts:
            suites.read_prompt_file(Path(args.prompts))  # a bad prompt file fails before any loading
        generator = LongVideoGenerator.from_config(cfg, lora, device_for_rank())
    except (ConfigError, FileNotFoundError, WeightsNotFoundError, suites.BadSampleError, ValueError) as e:
        return _fail(str(e))

    model_id = {
        "preset": cfg.model.preset,
        "weights": cfg.model.weights,
        "lora_sha256": sha256_file(lora) if lora else None,
    }
    if args.suite:
        results = generate_suite_videos(
            generator, samples, manifest, out, model=model_id, rank=rank, world=world
        )
    else:
        results = [
            generate_one(
                generator, args.image, args.prompts, out, seconds=seconds, interactive=args.interactive,
                model=model_id, audio=args.audio, pose=args.pose,
            )
        ]  # fmt: skip
    for r in results:
        state = (
            "existed"
            if r.skipped
            else (f"resumed at clip {r.resumed_from}" if r.resumed_from else "generated")
        )
        print(f"{r.path}: {r.num_clips} clips, {r.num_frames} frames ({state})")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from benchmarks.metrics import specs
    from benchmarks.metrics.scoring import score_suite, write_scores

    folder = Path(args.dir)
    try:
        names = specs.expand(args.metrics)
        specs.parse_window(args.window)
        if not folder.is_dir():
            raise ValueError(f"no such folder: {folder}")
        videos = sorted(folder.glob("*.mp4"))
        if not videos:
            raise ValueError(f"no .mp4 videos in {folder}")
        needs_ref = [n for n in names if specs.spec(n).needs_reference]
        if needs_ref and not args.reference:
            raise ValueError(f"{', '.join(needs_ref)} need --reference DIR (real / ground-truth videos)")
        ref_dir = Path(args.reference) if args.reference else None
        if ref_dir is not None and not ref_dir.is_dir():
            raise ValueError(f"no such reference folder: {ref_dir}")
        audio = _audio_files(videos, args.audio) if any(specs.spec(n).needs_audio for n in names) else None
    except ValueError as e:
        return _fail(str(e))
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    refs = sorted(ref_dir.glob("*.mp4")) if ref_dir else None
    try:
        report = score_suite(
            videos,
            names,
            backend=args.backend,
            window=args.window,
            long=args.long,
            reference_videos={p.stem: p for p in refs} if refs else None,
            reference_set=refs,
            audio=audio,
            build_options={
                "cache_dir": args.vbench_cache,
                "device": args.device,
                "i3d": args.i3d,
                "face_detector": args.face_detector,
            },
        )
    except (FileNotFoundError, ImportError) as e:
        return _fail(str(e))
    for name, reason in report["unavailable"].items():
        print(f"warning: skipping {name}: {reason}", file=sys.stderr)
    if not report["aggregate"]:
        return _fail("none of the requested metrics can be computed here")
    out = Path(args.out) if args.out else folder
    files = write_scores(report, out)
    for name, value in report["aggregate"].items():
        shown = "n/a" if value is None else f"{value:.4f}"
        print(f"{name:24s} {shown}   ({report['backends'][name]})")
    for item in report.get("failed", []):
        print(f"could not score {item['video']}: {item['error']}", file=sys.stderr)
    print(f"scores: {', '.join(str(f) for f in files)}")
    return 0


def _audio_files(videos: list[Path], folder: str | None) -> dict[str, Path]:
    """Each video's speech: <folder>/<video stem>.<wav|mp3|flac>, or the video file itself (its own
    soundtrack) without a folder. A missing file is a ValueError naming it."""
    from benchmarks.suites import AUDIO_SUFFIXES

    if folder is None:
        return {v.stem: v for v in videos}
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"no such audio folder: {root}")
    found, missing = {}, []
    for v in videos:
        match = next(
            (root / f"{v.stem}{s}" for s in AUDIO_SUFFIXES if (root / f"{v.stem}{s}").is_file()), None
        )
        if match is None:
            missing.append(v.stem)
        else:
            found[v.stem] = match
    if missing:
        raise ValueError(f"no audio in {root} for {', '.join(missing)} ({'/'.join(AUDIO_SUFFIXES)})")
    return found


def add_detect(parser: argparse.ArgumentParser) -> None:
    """`--detect METRIC=VALUE` (report and plan): a difference worth finding (`parse_detect`)."""
    parser.add_argument(
        "--detect",
        action="append",
        metavar="METRIC=VALUE",
        help="a difference worth finding, in the metric's display units (VBench: percentage points), "
        "e.g. colour_shift=0.01: the samples x seeds that would detect it at 80%% power",
    )


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    from benchmarks import suites  # torch-free: the track names for --suite

    """The top-level parser and each command's own parser."""
    p = argparse.ArgumentParser(
        prog="harness",
        description="svi-harness: train, generate, score and compare Stable Video Infinity experiments.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="the declared experiments").set_defaults(func=cmd_list)
    r = sub.add_parser(
        "run",
        help="train, generate, score and log an experiment",
        description="Run a declared experiment (harness list): for each arm and seed, train (DeepSpeed or "
        "torchrun child processes), generate on the suites, score, and log to MLflow. Finished stages are "
        "skipped on a re-run; a killed run resumes. Overrides: experiment fields (seeds=[0,1]) or the base "
        "configuration (train.steps=50 erft.p_img=0).",
    )
    r.add_argument("experiment", help="experiment name or path to an experiment YAML")
    r.add_argument("overrides", nargs="*", help="dotted overrides")
    r.add_argument(
        "--force",
        action="append",
        choices=["train", "generate", "score", "pretrain"],
        help="redo a stage (pretrain: for kind: pretrain experiments such as pretrain_toy)",
    )
    r.add_argument("--arm", help="run only this arm (all its seeds unless --seed)")
    r.add_argument("--seed", type=int, help="run only this seed")
    jobs = r.add_argument_group(
        "jobs",
        "Run every (arm, seed) as its own job through submitit, under one parent run; defaults come from "
        "the experiment's executor: section. A re-submitted job resumes its stages.",
    )
    jobs.add_argument(
        "--executor",
        choices=["inline", "local", "slurm"],
        help="inline: one after another here (default); local: parallel local jobs; slurm: one SLURM job each",
    )
    jobs.add_argument("--nodes", type=int, help="nodes per job (slurm; torchrun across them)")
    jobs.add_argument("--gpus-per-node", type=int, help="GPUs per node, one training process each")
    jobs.add_argument("--partition", help="SLURM partition")
    jobs.add_argument(
        "--time-limit", type=int, metavar="MIN", help="job time limit in minutes (re-queued at it)"
    )
    jobs.add_argument("--parallel", type=int, help="local: units at once (default 2; threads shared out)")
    jobs.add_argument(
        "--no-wait",
        action="store_true",
        help="submit and return; `harness report` aggregates when they are done",
    )
    r.set_defaults(func=cmd_run)
    pl = sub.add_parser(
        "plan",
        help="the dry run: units, checks, the model on the meta device, GPU-hours, memory, power",
        description="What `harness run EXPERIMENT` would do and cost, with nothing trained, generated or logged: "
        "every (arm, seed) unit and its folder, every input check, each model built on the meta device (the "
        "preset's transformer, LoRA targets, adapters; an official LoRA file's keys checked), training and "
        "generation FLOPs with GPU-hours at a model FLOPs utilisation and memory per GPU (ZeRO-2). With "
        "--detect METRIC=VALUE: from the latest earlier run of the experiment, the samples x seeds that would "
        "detect that difference at 80% power, with unit-hours.",
    )
    pl.add_argument("experiment", help="experiment name or path to an experiment YAML")
    pl.add_argument("overrides", nargs="*", help="dotted overrides, as for run")
    add_detect(pl)
    pl.add_argument(
        "--gpu", default="H100", help="GPU whose dense bf16 peak the GPU-hours use (default H100)"
    )
    pl.add_argument(
        "--gpus", dest="world", type=int, default=8, help="GPUs per training (ZeRO-2 world; default 8)"
    )
    pl.add_argument("--mfu", type=float, help="measured model FLOPs utilisation (default: an assumed 0.35)")
    pl.add_argument(
        "--samples", type=int, help="samples per track (default: the limit or the benchmark's count)"
    )
    pl.set_defaults(func=cmd_plan)
    sw = sub.add_parser(
        "sweep",
        help="an Optuna sweep (sweeps/*.yaml) of an experiment arm",
        description="Run an Optuna study: each trial is the sweep's arm with sampled settings through the "
        "same stages as `harness run`, one nested MLflow run under the sweep's parent run. The study "
        "resumes when re-run; failed trials are recorded and the sweep goes on.",
    )
    sw.add_argument("sweep", help="sweep name (sweeps/NAME.yaml) or path")
    sw.add_argument("overrides", nargs="*", help="overrides of the base experiment, e.g. train.steps=50")
    sw.add_argument("--trials", type=int, help="total trials of the study (default: the sweep file's)")
    sw.add_argument("--workers", type=int, default=1, help="worker processes sharing the study")
    sw.set_defaults(func=cmd_sweep)
    rp = sub.add_parser(
        "report",
        help="comparison tables and drift plots from MLflow runs",
        description="Markdown, LaTeX, HTML and CSV tables in the paper's layout and stability plots, from the "
        "latest run of an experiment (or --parent RUN_ID), or a sweep's trial table and objective plots. Every "
        "arm's cell is its mean with a 95% interval for the harness's crossed design (samples and seeds crossed: "
        "one trained model per seed; variance components, Satterthwaite df; n = samples x seeds); every other "
        "arm is compared with the reference arm the same way (paired by seed), marked * when significant after "
        "Holm over every tested difference of the report (the experiment's primary metric, if declared, is a "
        "family of its own); a fine-tuned arm with one seed is never marked. A power section gives the variance "
        "components and the minimum detectable difference of each comparison; drift plots show each arm's mean "
        "with its 95% band. Published numbers are separate rows.",
    )
    rp.add_argument("experiment", nargs="?", help="experiment name")
    rp.add_argument("--sweep", help="report a sweep instead")
    rp.add_argument("--parent", help="a specific parent run id (default: the latest)")
    rp.add_argument("--out", help="output folder (default: <workspace>/reports/<name>)")
    rp.add_argument(
        "--reference", help="the arm every other arm is compared with (default: the baseline arm)"
    )
    add_detect(rp)
    rp.set_defaults(func=cmd_report)
    u = sub.add_parser(
        "ui",
        help="the MLflow UI over the workspace's store (127.0.0.1), with a review link per experiment",
    )
    u.add_argument("experiment", nargs="?", help="link only this experiment's latest run")
    u.add_argument("--port", type=int, default=5000)
    u.set_defaults(func=cmd_ui)

    t = sub.add_parser(
        "train",
        help="ERFT training of one configuration",
        description="Train an ERFT LoRA. The config is validated first; the training processes are started "
        "with torchrun (one host), deepspeed (--hostfile for several hosts) or as one plain process.",
    )
    t.add_argument("--config", help="YAML config (svi.config schema); omitted: the defaults")
    t.add_argument("--nproc", type=int, help="processes on this host (default: one per GPU, or 1 on CPU)")
    t.add_argument("--launcher", choices=launch.LAUNCHERS, default="auto")
    t.add_argument("--hostfile", help="DeepSpeed hostfile for multi-node runs")
    t.add_argument("overrides", nargs="*", help="dotted overrides such as erft.p_img=0 train.steps=200")
    t.set_defaults(func=cmd_train)

    g = sub.add_parser(
        "generate",
        help="long videos on a benchmark suite or from one image",
        description="Generate long videos clip by clip (SVI chaining). A killed run resumes from the last "
        "finished clip; under torchrun each rank generates its share of the suite's samples.",
    )
    g.add_argument(
        "--suite",
        choices=list(suites.SUITES),
        help="benchmark track to generate (conditional_talk / conditional_dance: the conditional tracks)",
    )
    g.add_argument(
        "--length", help="video length such as 50s or 250s (suites: default the track's, 50s; talk 300s)"
    )
    g.add_argument("--benchmark-root", help="svi-benchmark folder (default: $SVI_BENCHMARK)")
    g.add_argument("--limit", type=int, help="only the first N samples")
    g.add_argument("--samples", help="only these samples, comma-separated folder names")
    g.add_argument("--skip-bad", action="store_true", help="skip and count bad samples instead of failing")
    g.add_argument("--image", help="reference image of a single custom video")
    g.add_argument("--prompts", help="prompt stream file for --image: one prompt per line (one per clip)")
    g.add_argument("--interactive", action="store_true", help="read each clip's prompt from standard input")
    g.add_argument(
        "--audio",
        help="speech (wav, mp3, flac) driving a talking head from --image (variant talk; the video lasts "
        "as long as the audio unless --length is shorter)",
    )
    g.add_argument(
        "--pose",
        help="pose video (rendered DWPose maps, e.g. pose.mp4) driving a dance from --image (variant dance; "
        "as long as the pose video unless --length says otherwise, looping it)",
    )
    g.add_argument("--out", required=True, help="output folder (or .mp4 path for --image)")
    g.add_argument("--preset", help="model preset: tiny or wan2.1-i2v-14b (default from the config: tiny)")
    g.add_argument("--weights", help="local Wan weights folder for real presets (or SVI_WEIGHTS)")
    g.add_argument("--lora", help="LoRA file: ours, diffusers or an official SVI checkpoint")
    g.add_argument("--no-lora", action="store_true", help="the base model (Wan 2.1 baseline): load no LoRA")
    g.add_argument("--config", help="YAML config; its generate section is used")
    g.add_argument("overrides", nargs="*", help="dotted overrides such as generate.steps=20 generate.seed=3")
    g.set_defaults(func=cmd_generate)

    sc = sub.add_parser(
        "score",
        help="score videos: VBench dimensions, FVD, PSNR/SSIM, per window and per video",
        description="Score every .mp4 in DIR. Videos are streamed in chunks (memory does not grow with "
        "length); values are reported per window (a generated clip, read from the generator's sidecar, or "
        "every N seconds), per video and for the suite, aggregated as each reference does. Writes "
        "scores.json and scores.csv. Videos that cannot be read are named and the rest are scored.",
    )
    sc.add_argument("dir", help="folder of generated videos (.mp4, with the generator's .json sidecars)")
    sc.add_argument(
        "--metrics",
        default="vbench",
        help="comma-separated metrics or groups: vbench, i2v, fvd, psnr_ssim, sync, or single names",
    )
    sc.add_argument(
        "--reference", help="real videos: the FVD reference set, and ground truth (same names) for PSNR/SSIM"
    )
    sc.add_argument(
        "--audio",
        help="folder of each video's speech (<video name>.wav/.mp3/.flac) for Sync-C/D; default: the "
        "videos' own soundtracks",
    )
    sc.add_argument(
        "--face-detector",
        choices=["haar", "s3fd"],
        default="haar",
        help="Sync-C/D face detector: OpenCV's bundled Haar cascade (weight-free) or the reference's S3FD "
        "(<vbench cache>/syncnet/sfd_face.pth)",
    )
    sc.add_argument("--window", default="clip", help="'clip' (one generated clip) or seconds such as '2s'")
    sc.add_argument(
        "--long", action="store_true", help="VBench-Long: score 2 s clips separately, average per video"
    )
    sc.add_argument(
        "--backend",
        choices=["vbench", "random", "toy"],
        default="vbench",
        help="official VBench weights, random init (pipeline checks and speed only), or toy-world "
        "networks and OpenCV flow (toy-world videos; never comparable with VBench numbers)",
    )
    sc.add_argument(
        "--vbench-cache", help="VBench weight folder (default $VBENCH_CACHE_DIR or ~/.cache/vbench)"
    )
    sc.add_argument(
        "--i3d", help="i3d_torchscript.pt for FVD (default <vbench cache>/fvd/i3d_torchscript.pt)"
    )
    sc.add_argument("--device", default="cpu")
    sc.add_argument("--threads", type=int, help="torch CPU threads")
    sc.add_argument("--out", help="output folder (default: DIR)")
    sc.set_defaults(func=cmd_score)

    d = sub.add_parser("demo", help="smallest end-to-end run on this machine (minutes on CPU)")
    d.add_argument("--steps", type=int, default=40, help="training steps (default 40)")
    d.add_argument("--nproc", type=int, default=1, help="CPU processes (default 1; 2 runs DeepSpeed on gloo)")
    d.set_defaults(func=cmd_demo)
    return p, sub.choices


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Options and positionals (dotted overrides) in any order: `harness sweep NAME --trials 2
    train.steps=30` as well as `harness sweep --trials 2 NAME train.steps=30`."""
    top, commands = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in commands:
        return commands[argv[0]].parse_intermixed_args(argv[1:])
    return top.parse_args(argv)  # --help, or an unknown command (argparse's message, exit 2)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if threading.current_thread() is not threading.main_thread():
        return args.func(args)
    # `kill <pid>` (a scheduler, a process manager) stops the harness as Ctrl-C does: runs are marked
    # KILLED and every child process, the MLflow server's workers included, is stopped.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.func(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
