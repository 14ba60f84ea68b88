"""`harness`: the command line researchers use.

Subcommands:
    harness list
        The declared experiments (harness/experiments/*.yaml) with one-line descriptions.
    harness run EXPERIMENT [key=value ...] [--force STAGE]
        Train, generate, score and log every arm and seed to MLflow; re-runs skip finished stages.
    harness ui
        The MLflow UI on 127.0.0.1 over the workspace's store.
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
Later issues add run, generate, score, sweep, report and ui.
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


def workspace() -> Path:
    return Path(os.environ.get("HARNESS_HOME", "workspace")).resolve()


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return EXIT_USAGE


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
    return launch.run(cmd, env=launch.child_env())


def cmd_demo(args: argparse.Namespace) -> int:
    from benchmarks.synthetic import write_dataset
    from svi.config import load_config, save_config

    home = workspace()
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
    rc = launch.run(cmd, env=launch.child_env())
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

    print("experiments (harness run NAME):")
    for name, desc in experiment_names().items():
        print(f"  {name:18s} {desc}")
    return 0


def preflight(exp, source: Path) -> None:
    """Inputs that must exist before anything is logged: weights folders and the benchmark folder."""
    from benchmarks import suites
    from svi.backbone import check_weights_folder, preset_weights

    for arm in exp.arms:
        cfg = exp.arm_config(arm, source)
        folder = preset_weights(cfg.model.preset, cfg.model.weights)
        if folder is not None:
            check_weights_folder(folder, cfg.model.preset)
    root = exp.benchmark_root or os.environ.get(suites.BENCHMARK_ENV)
    if root:
        for spec in exp.suites:
            suites.suite_folder(Path(root), spec.suite, spec.length)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.experiment import load_experiment
    from harness.runner import run_experiment
    from svi.config import ConfigError

    try:
        from harness import pretrain
        from harness.experiment import find_experiment, read_experiment_file

        path = find_experiment(args.experiment)
        raw = read_experiment_file(path)
        if pretrain.is_pretrain(raw):
            return run_pretrain_experiment(pretrain.load(path, raw, args.overrides), args)
        exp, source = load_experiment(args.experiment, args.overrides)
        preflight(exp, source)
    except (ConfigError, FileNotFoundError) as e:
        return _fail(str(e))
    try:
        results = run_experiment(exp, source, force=tuple(args.force or ()))
    except KeyboardInterrupt:
        print("interrupted: finished stages are kept; run the same command to resume", file=sys.stderr)
        return 130
    from harness import workspace

    print(f"\n{exp.name}: {len(results)} run(s)")
    for r in results:
        line = f"  {r.arm:12s} seed {r.seed}  {r.status}"
        if r.error:
            line += f"  {r.error.splitlines()[0][:200]}"
        print(line)
        for k, v in r.scores.items():
            print(f"      {k:40s} {'n/a' if v is None else f'{v:.4f}'}")
    report = workspace.home() / "reports" / exp.name / "report.md"
    if report.is_file():
        print(f"report: {report}  (also .html, .tex, .csv and drift plots beside it)")
    print(f"MLflow store: {workspace.tracking_uri()}  (browse with: harness ui)")
    return 0 if all(r.status == "FINISHED" for r in results) else 1


def run_pretrain_experiment(exp, args: argparse.Namespace) -> int:
    from harness import pretrain, workspace

    try:
        model = pretrain.run_pretrain(exp, force=tuple(args.force or ()))
    except KeyboardInterrupt:
        print("interrupted: finished stages are kept; run the same command to resume", file=sys.stderr)
        return 130
    except Exception as e:  # the MLflow run is marked FAILED with the error already
        print(f"{exp.name}: FAILED: {e}", file=sys.stderr)
        return 1
    result = json.loads((model.parent / "eval" / "eval.json").read_text())["mean"]
    print(f"\n{exp.name}: toy base model in {model}")
    for k, v in result.items():
        print(f"      eval/{k:28s} {v:.4f}")
    print(f"use it with model.weights={model} (or copy it over svi/weights/toy to make it the default)")
    print(f"MLflow store: {workspace.tracking_uri()}  (browse with: harness ui)")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from svi.config import ConfigError
    from sweeps.runner import load_sweep, run_sweep

    try:
        sweep = load_sweep(args.sweep, args.overrides)
    except ConfigError as e:
        return _fail(str(e))
    if args.trials:
        sweep.trials = args.trials
    try:
        study = run_sweep(sweep, args.sweep, args.overrides, workers=args.workers)
    except ConfigError as e:  # raised before anything is logged (e.g. the pruner's metric cannot be built)
        return _fail(str(e))
    except KeyboardInterrupt:
        print(
            "interrupted: the study keeps its finished trials; run the same command to resume",
            file=sys.stderr,
        )
        return 130
    trials = study.trials
    counts = {s: sum(t.state.name == s for t in trials) for s in ("COMPLETE", "FAIL", "PRUNED", "RUNNING")}
    print(
        f"{sweep.name}: {len(trials)} trials ({', '.join(f'{v} {k.lower()}' for k, v in counts.items() if v)})"
    )
    if counts["COMPLETE"] and len(sweep.objective) == 1:
        best = study.best_trial
        print(f"best: trial {best.number} {sweep.objective[0].metric} = {best.value:.4f} with {best.params}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness import workspace
    from reports.build import build_report, build_sweep_report
    from reports.runs import ReportError

    name = args.sweep or args.experiment
    if not name:
        return _fail("name an experiment (harness report EXPERIMENT) or a sweep (--sweep NAME)")
    out = Path(args.out) if args.out else workspace.home() / "reports" / name
    try:
        if args.sweep:
            files = build_sweep_report(name, out, workspace.tracking_uri(), args.parent)
        else:
            files = build_report(name, out, workspace.tracking_uri(), args.parent)
    except ReportError as e:
        return _fail(str(e))
    for f in files.values():
        print(f)
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from harness import workspace

    uri = workspace.tracking_uri()
    address = f"http://127.0.0.1:{args.port}"
    print(f"MLflow UI for {uri} at {address} (Ctrl-C stops it)", flush=True)
    cmd = [
        sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
        "--default-artifact-root", workspace.artifact_root(), "--host", "127.0.0.1", "--port", str(args.port),
    ]  # fmt: skip
    return launch.run(cmd, env=launch.child_env())


def cmd_generate(args: argparse.Namespace) -> int:
    import torch

    from benchmarks import suites
    from svi.backbone import WeightsNotFoundError, load_backbone
    from svi.config import ConfigError, load_config
    from svi.generate import (
        LongVideoGenerator,
        assign_prompts,
        clips_for_seconds,
        fixed_prompts,
        parse_length,
        stdin_prompts,
    )

    overrides = list(args.overrides)
    if args.preset:
        overrides.insert(0, f"model.preset={args.preset}")
    if args.weights:
        overrides.append(f"model.weights={args.weights}")
    if args.lora:
        overrides.append(f"generate.lora={args.lora}")
    if args.suite and not any(o.startswith("variant=") for o in overrides):
        overrides.insert(0, f"variant={suites.SUITES[args.suite].variant}")  # the track's settings
    try:
        if args.suite and (args.image or args.prompts or args.interactive):
            raise ConfigError("use either --suite or --image/--prompts/--interactive, not both")
        if not args.suite and not args.image:
            raise ConfigError(
                "say what to generate: --suite NAME, or --image IMG with --prompts FILE or --interactive"
            )
        if args.image and not (args.prompts or args.interactive):
            raise ConfigError("--image needs --prompts FILE (one prompt per line) or --interactive")
        cfg = load_config(args.config, overrides)
        seconds = parse_length(args.length) if args.length else None
    except (ConfigError, ValueError) as e:
        return _fail(str(e))
    gen_cfg = cfg.generate
    if args.no_lora:
        gen_cfg.lora = None

    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    out = Path(args.out)
    try:
        samples = digest = None
        if args.suite:
            folder = suites.suite_folder(suites.benchmark_root(args.benchmark_root), args.suite, args.length)
            samples, _ = suites.load_samples(folder, skip_bad=args.skip_bad)
            names = [n for n in (args.samples or "").split(",") if n]
            samples = suites.select(samples, limit=args.limit, names=names or None)
            man = suites.manifest(args.suite, args.length, samples)
            digest = man["digest"]
            if rank == 0:
                out.mkdir(parents=True, exist_ok=True)
                (out / "manifest.json").write_text(json.dumps(man, indent=2))
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        bb = load_backbone(
            cfg.model.preset, cfg.model.weights, dtype=dtype, max_text_tokens=cfg.model.max_text_tokens,
            attention=cfg.model.attention, seed=cfg.train.seed,
        )  # fmt: skip
        bb.to(device, encoder_dtype=dtype)
        if next(bb.transformer.parameters()).dtype != dtype:
            bb.transformer.to(dtype)
        bb.transformer.eval()
        if gen_cfg.lora:
            from svi.lora import load_lora

            load_lora(bb.transformer, gen_cfg.lora, scale=gen_cfg.lora_scale)
    except (FileNotFoundError, WeightsNotFoundError, suites.BadSampleError, ValueError) as e:
        return _fail(str(e))

    model_id = {
        "preset": cfg.model.preset,
        "weights": cfg.model.weights,
        "lora_sha256": _sha256_file(gen_cfg.lora) if gen_cfg.lora else None,
    }
    generator = LongVideoGenerator(bb, gen_cfg, device)
    if args.suite:
        results = suites.generate_suite(
            generator,
            samples,
            suite=args.suite,
            length=args.length,
            out_dir=out,
            digest=digest,
            rank=rank,
            world=world,
            model=model_id,
        )
    else:
        image = suites.load_image(args.image, gen_cfg.height, gen_cfg.width)
        if args.interactive:
            source = stdin_prompts()
            num_clips = (
                clips_for_seconds(seconds, gen_cfg.fps, gen_cfg.num_frames, generator.lead)
                if seconds
                else None
            )
        else:
            lines = [ln.strip() for ln in Path(args.prompts).read_text().splitlines() if ln.strip()]
            if not lines:
                return _fail(f"{args.prompts} holds no prompt")
            num_clips = (
                clips_for_seconds(seconds, gen_cfg.fps, gen_cfg.num_frames, generator.lead)
                if seconds
                else len(lines)
            )
            source = fixed_prompts(assign_prompts(lines, num_clips, "stream"))
        target = out if out.suffix == ".mp4" else out / (Path(args.image).stem + ".mp4")
        target.parent.mkdir(parents=True, exist_ok=True)
        results = [
            generator.generate(
                image,
                source,
                target,
                num_clips=num_clips,
                metadata={"image": str(args.image), "model": model_id},
            )
        ]
    for r in results:
        state = (
            "existed"
            if r.skipped
            else (f"resumed at clip {r.resumed_from}" if r.resumed_from else "generated")
        )
        print(f"{r.path}: {r.num_clips} clips, {r.num_frames} frames ({state})")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    import torch

    from benchmarks.metrics import registry
    from benchmarks.metrics.stream import parse_window, score_videos

    folder = Path(args.dir)
    try:
        names = registry.expand(args.metrics)
        parse_window(args.window)
        if not folder.is_dir():
            raise ValueError(f"no such folder: {folder}")
        videos = sorted(folder.glob("*.mp4"))
        if not videos:
            raise ValueError(f"no .mp4 videos in {folder}")
        needs_ref = [n for n in names if n in ("psnr", "ssim", "fvd")]
        if needs_ref and not args.reference:
            raise ValueError(f"{', '.join(needs_ref)} need --reference DIR (real / ground-truth videos)")
        ref_dir = Path(args.reference) if args.reference else None
        if ref_dir is not None and not ref_dir.is_dir():
            raise ValueError(f"no such reference folder: {ref_dir}")
    except ValueError as e:
        return _fail(str(e))
    if args.threads:
        torch.set_num_threads(args.threads)

    metrics, unavailable = [], {}
    for name in names:
        try:
            metrics.append(
                registry.build(
                    name, backend=args.backend, cache_dir=args.vbench_cache, device=args.device, i3d=args.i3d
                )
            )
        except registry.MetricUnavailable as e:
            unavailable[name] = str(e)
            print(f"warning: skipping {name}: {e}", file=sys.stderr)
        except (FileNotFoundError, ImportError) as e:
            return _fail(str(e))
    if not metrics:
        return _fail("none of the requested metrics can be computed here")

    fvd = next((m for m in metrics if m.name == "fvd"), None)
    fvd_reference_failed = []
    if fvd is not None:
        refs = sorted(ref_dir.glob("*.mp4"))
        ref_scores = score_videos(refs, [fvd], window="5s", aggregate=False)
        fvd_reference_failed = ref_scores.failed
        fvd.reference_features = fvd.features_of([v.results["fvd"] for v in ref_scores.videos])

    reference_videos = {p.stem: p for p in ref_dir.glob("*.mp4")} if ref_dir else None
    reference_images = _reference_images(videos) if any(m.needs_reference_image for m in metrics) else None
    suite = score_videos(
        videos,
        metrics,
        window=args.window,
        long=args.long,
        reference_videos=reference_videos,
        reference_images=reference_images,
    )
    report = suite.to_json()
    report["unavailable"] = unavailable
    if fvd is not None:
        report["fvd_per_window"] = fvd.per_window([v.results["fvd"] for v in suite.videos])
        report["fvd_reference_failed"] = [{"video": v, "error": e} for v, e in fvd_reference_failed]
    out = Path(args.out) if args.out else folder
    out.mkdir(parents=True, exist_ok=True)
    (out / "scores.json").write_text(json.dumps(report, indent=2, default=float))
    import pandas as pd

    table = pd.DataFrame(suite.rows())
    for col in ("window", "start_frame", "end_frame"):
        table[col] = table[col].astype("Int64")  # integers with blanks, not 3.0
    table.to_csv(out / "scores.csv", index=False)
    for name, value in suite.aggregate.items():
        shown = "n/a" if value is None else f"{value:.4f}"
        print(f"{name:24s} {shown}   ({suite.backends[name]})")
    for video, error in suite.failed:
        print(f"could not score {video}: {error}", file=sys.stderr)
    print(f"scores: {out / 'scores.json'}, {out / 'scores.csv'}")
    return 0


def _reference_images(videos: list[Path]) -> dict:
    """The input image of each generated video (from its sidecar), at the video's size, float 0-255."""
    from benchmarks.metrics.stream import input_image

    return {v.stem: image for v in videos if (image := input_image(v)) is not None}


def _sha256_file(path: str | Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def build_parser() -> argparse.ArgumentParser:
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
    r.set_defaults(func=cmd_run)
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
        description="Markdown, LaTeX, HTML and CSV tables in the paper's layout (mean +- std over seeds, "
        "best value marked, published numbers as separate rows) and stability plots, from the latest run "
        "of an experiment (or --parent RUN_ID), or a sweep's trial table and objective plots.",
    )
    rp.add_argument("experiment", nargs="?", help="experiment name")
    rp.add_argument("--sweep", help="report a sweep instead")
    rp.add_argument("--parent", help="a specific parent run id (default: the latest)")
    rp.add_argument("--out", help="output folder (default: <workspace>/reports/<name>)")
    rp.set_defaults(func=cmd_report)
    u = sub.add_parser("ui", help="the MLflow UI over the workspace's store (127.0.0.1)")
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
    g.add_argument("--suite", choices=["consistent", "creative"], help="benchmark track to generate")
    g.add_argument("--length", help="video length such as 50s or 250s (suites: 50s or 250s)")
    g.add_argument("--benchmark-root", help="svi-benchmark folder (default: $SVI_BENCHMARK)")
    g.add_argument("--limit", type=int, help="only the first N samples")
    g.add_argument("--samples", help="only these samples, comma-separated folder names")
    g.add_argument("--skip-bad", action="store_true", help="skip and count bad samples instead of failing")
    g.add_argument("--image", help="reference image of a single custom video")
    g.add_argument("--prompts", help="prompt stream file for --image: one prompt per line (one per clip)")
    g.add_argument("--interactive", action="store_true", help="read each clip's prompt from standard input")
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
        help="comma-separated metrics or groups: vbench, i2v, fvd, psnr_ssim, or single names",
    )
    sc.add_argument(
        "--reference", help="real videos: the FVD reference set, and ground truth (same names) for PSNR/SSIM"
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
    return p


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
