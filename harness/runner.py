"""`harness run EXPERIMENT`: train, generate, score and log every arm and seed.

Stages are keyed by a hash of the configuration they depend on, recorded in a `stage.json` beside
their output: a second run skips finished stages, a killed run resumes (training from its last
checkpoint, generation from its last finished clip), `--force STAGE` redoes one. A failed stage marks
the arm's MLflow run FAILED with the error and its log attached, and the other arms go on.
"""

from __future__ import annotations

import functools
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import launch, tracking, workspace
from harness.experiment import Experiment, digest, flatten
from svi.config import SVIConfig, save_config

STAGES = ("train", "generate", "score")


class StageError(RuntimeError):
    """A stage failed; the message carries the last lines of its log."""


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


def say(msg: str) -> None:
    print(f"[harness] {msg}", flush=True)


def _tail(path: Path, lines: int = 30) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_child(
    cmd: list[str], log: Path, what: str, env: dict[str, str] | None = None, on_poll: Callable | None = None
) -> None:
    """A stage's child process, its output appended to `log`: Ctrl-C gives KeyboardInterrupt, a
    failure a StageError with the log's last lines."""
    rc = launch.run(cmd, env=env or launch.child_env(), log_file=log, on_poll=on_poll)
    if rc == 130:
        raise KeyboardInterrupt
    if rc != 0:
        raise StageError(f"{what} exited with code {rc}; last lines of {log}:\n{_tail(log)}")


# -- inputs that the harness can make itself -------------------------------------------------------


# ERFT clips of the toy world: fewer than pretraining used, another seed (fine-tuning data is not the
# base model's pretraining data), twice a clip long so windows start anywhere.
TOY_TRAIN_CLIPS = 200
TOY_TRAIN_SEED = 1


def training_data(cfg: SVIConfig) -> str:
    """The configured clip folder, or one the harness writes into the workspace: toy-world clips for
    the toy preset, a few synthetic clips otherwise."""
    if cfg.data.root:
        return cfg.data.root
    if cfg.model.preset == "toy":
        from benchmarks.toyworld.writers import write_training_set

        size = (cfg.data.height, cfg.data.width)
        frames = 2 * cfg.data.num_frames - 1
        root = (
            workspace.home()
            / "data"
            / f"toyworld_erft_{digest(size, frames, TOY_TRAIN_CLIPS, TOY_TRAIN_SEED)}"
        )
        say(f"data.root is not set: toy-world training clips in {root}")
        write_training_set(root, TOY_TRAIN_CLIPS, num_frames=frames, size=size, seed=TOY_TRAIN_SEED)
        return str(root)
    root = workspace.home() / "data" / "synthetic_clips"
    if not (root / "moving" / "moving.csv").is_file():
        from benchmarks.synthetic import write_dataset

        say(f"data.root is not set: writing synthetic training clips to {root}")
        write_dataset(root, categories=("moving",), videos_per_category=4, num_frames=24, height=64, width=64)
    return str(root)


def benchmark_root(exp: Experiment, cfg: SVIConfig) -> Path:
    """The configured benchmark, else one written into the workspace: a toy-world benchmark (with its
    true continuations) for the toy preset, a synthetic one otherwise. `cfg` is an arm's configuration:
    the toy storylines change scene on its clip grid (clip length and carried-over frames)."""
    import os

    if exp.benchmark_root or os.environ.get("SVI_BENCHMARK"):
        return Path(exp.benchmark_root or os.environ["SVI_BENCHMARK"])
    if cfg.model.preset == "toy":
        from benchmarks.toyworld.writers import write_benchmark
        from svi.generate import clips_for_seconds, lead_frames, parse_length

        g = cfg.generate
        lead = lead_frames(g)
        clips = max(clips_for_seconds(parse_length(s.length), g.fps, g.num_frames, lead) for s in exp.suites)
        spec = {"n": exp.toy_samples, "size": (g.height, g.width), "clip": g.num_frames, "lead": lead}
        root = workspace.home() / "data" / f"toyworld_benchmark_{digest(spec, clips)}"
        write_benchmark(
            root, num_consistent=exp.toy_samples, num_creative=exp.toy_samples, size=(g.height, g.width),
            story_clips=clips, clip_frames=g.num_frames, overlap=lead, progress=False,
        )  # fmt: skip
        return root
    root = workspace.home() / "data" / "synthetic_benchmark"
    if not root.is_dir():
        from benchmarks.synthetic import write_benchmark

        say(f"no benchmark_root / SVI_BENCHMARK: writing a synthetic benchmark to {root}")
        write_benchmark(root, samples=2)
    return root


def references(bench: Path, suite: str, length: str, videos: Path) -> tuple[dict[str, Path], dict]:
    """Ground truth for scoring: (sample -> true video as long as the generated one, sample -> input
    image [3, H, W] float 0-255). True videos exist only for toy-world samples (a world.json); they
    are rendered once into `<bench>/truth/`."""
    from benchmarks import suites
    from benchmarks.metrics.stream import input_image
    from benchmarks.synthetic import write_video

    folder = suites.suite_folder(bench, suite, length)
    truth, images = {}, {}
    for mp4 in sorted(videos.glob("*.mp4")):
        sample = folder / mp4.stem
        meta = json.loads(mp4.with_suffix(".json").read_text())
        if (image := input_image(mp4)) is not None:
            images[mp4.stem] = image
        if (sample / "world.json").is_file():
            from benchmarks.toyworld.writers import true_video

            out = bench / "truth" / folder.name / f"{mp4.stem}_{meta['num_frames']}.mp4"
            if not out.is_file():
                out.parent.mkdir(parents=True, exist_ok=True)
                write_video(out.with_suffix(".tmp.mp4"), true_video(sample, meta["num_frames"]), meta["fps"])
                # The truth is on the generated video's clip grid: the same windows (FVD scores it).
                clips = {"clips": meta["clips"], "num_frames": meta["num_frames"], "fps": meta["fps"]}
                out.with_suffix(".json").write_text(json.dumps(clips))
                out.with_suffix(".tmp.mp4").replace(out)
            truth[mp4.stem] = out
    return truth, images


# -- stages --------------------------------------------------------------------------------------


def stage_train(
    exp: Experiment,
    cfg: SVIConfig,
    folder: Path,
    force: bool,
    on_poll: Callable[[], None] | None = None,
) -> tuple[Path, str, bool]:
    """-> (LoRA path, stage hash, skipped). `on_poll()` runs every second while training runs."""
    body = cfg.model_dump(mode="json")
    body.pop("generate")
    body["train"].pop("output_dir")
    if body["train"].get("probe_every") is None:  # no probes: probe_clips is moot (and old hashes hold)
        body["train"].pop("probe_every", None)
        body["train"].pop("probe_clips", None)
    h = digest("train", body)
    lora = folder / "lora.safetensors"
    if workspace.open_stage(folder, h, force) and lora.is_file():
        return lora, h, True
    folder.mkdir(parents=True, exist_ok=True)
    cfg = cfg.model_copy(deep=True)
    cfg.train.output_dir = str(folder)
    save_config(cfg, folder / "config.resolved.yaml")
    nproc = exp.nproc or launch.default_nproc()
    cmd = launch.train_command(folder / "config.resolved.yaml", nproc=nproc, launcher=exp.launcher)
    run_child(cmd, folder / "train.log", "training", on_poll=on_poll)
    workspace.mark_stage(folder, h, lora=str(lora))
    return lora, h, False


def stage_generate(
    cfg: SVIConfig,
    suite: str,
    length: str,
    limit: int | None,
    bench: Path,
    lora: Path | None,
    train_hash: str,
    folder: Path,
    force: bool,
    generator: Callable[[], object],
) -> tuple[dict, str, bool]:
    """-> (manifest, stage hash, skipped). `generator()` gives the arm's (shared) LongVideoGenerator."""
    from benchmarks import suites

    samples, _ = suites.load_samples(suites.suite_folder(bench, suite, length))
    samples = suites.select(samples, limit=limit)
    manifest = suites.manifest(suite, length, samples)
    h = digest(
        "generate", train_hash, cfg.generate.model_dump(mode="json"), suite, length, manifest["digest"]
    )
    if workspace.open_stage(folder, h, force):
        return manifest, h, True
    gen = generator()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    model_id = {"preset": cfg.model.preset, "lora": str(lora) if lora else None, "train_hash": train_hash}
    suites.generate_suite(
        gen, samples, suite=suite, length=length, out_dir=folder, digest=manifest["digest"], model=model_id
    )
    workspace.mark_stage(folder, h, suite=suite, length=length)
    return manifest, h, False


def arm_generator(cfg: SVIConfig, lora: Path | None) -> Callable[[], object]:
    """A loader that builds the arm's backbone (with its LoRA) on first use and then reuses it, so the
    suites of one arm load the weights once, and fully skipped arms never load them."""
    cache: list = []

    def get():
        if not cache:
            import torch

            from svi.backbone import load_backbone
            from svi.generate import LongVideoGenerator
            from svi.lora import load_lora

            bb = load_backbone(
                cfg.model.preset,
                cfg.model.weights,
                max_text_tokens=cfg.model.max_text_tokens,
                seed=cfg.train.seed,
            )
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            bb.to(device)
            bb.transformer.eval()
            if lora is not None:
                load_lora(bb.transformer, lora)
            cache.append(LongVideoGenerator(bb, cfg.generate, device))
        return cache[0]

    return get


@functools.lru_cache(maxsize=2)
def scoring_metrics(spec: str, backend: str) -> tuple[tuple, dict[str, str]]:
    """The scoring networks, built once per (metrics, backend) and shared by every arm and suite."""
    from benchmarks.metrics import registry

    metrics, unavailable = [], {}
    for name in registry.expand(spec):
        try:
            metrics.append(registry.build(name, backend=backend))
        except (registry.MetricUnavailable, ValueError) as e:
            unavailable[name] = str(e)
    return tuple(metrics), unavailable


def stage_score(
    exp: Experiment,
    videos: Path,
    gen_hash: str,
    folder: Path,
    force: bool,
    truth: dict[str, Path] | None = None,
    images: dict | None = None,
) -> tuple[dict, str, bool]:
    """-> (scores.json content, stage hash, skipped). `truth` (sample -> true video) enables the metrics
    scored against ground truth (PSNR, SSIM, truth_distance) and FVD (the true videos are its
    reference set); without it they are listed as unavailable."""
    from benchmarks.metrics.stream import score_videos

    h = digest("score", gen_hash, exp.metrics, exp.metrics_backend, exp.window, sorted(truth or {}))
    if workspace.open_stage(folder, h, force):
        return json.loads((folder / "scores.json").read_text()), h, True
    built, unavailable = scoring_metrics(exp.metrics, exp.metrics_backend)
    unavailable = dict(unavailable)
    metrics = []
    for m in built:
        if (m.needs_reference_video or getattr(m, "needs_reference_set", False)) and not truth:
            unavailable[m.name] = "needs ground-truth videos; only the toy-world benchmark has them"
        else:
            metrics.append(m)
    paths = sorted(videos.glob("*.mp4"))
    for m in metrics:
        if getattr(m, "needs_reference_set", False):  # FVD: the true videos' features are the reference
            ref = score_videos(
                [truth[p.stem] for p in paths if p.stem in truth], [m], window=exp.window,
                progress=False, aggregate=False,
            )  # fmt: skip
            m.reference_features = m.features_of([v.results[m.name] for v in ref.videos])
    suite_scores = score_videos(
        paths, metrics, window=exp.window, progress=False, reference_videos=truth, reference_images=images
    )
    report = suite_scores.to_json()
    report["unavailable"] = unavailable
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scores.json").write_text(json.dumps(report, indent=2, default=float))
    workspace.mark_stage(folder, h)
    return report, h, False


def drift_curves(report: dict) -> dict[str, list[float | None]]:
    """metric -> per-clip mean over videos of the window values (index = clip)."""
    curves: dict[str, list[float | None]] = {}
    for name in report["aggregate"]:
        per_video = [v["window_scores"].get(name) or [] for v in report["videos"]]
        length = max((len(w) for w in per_video), default=0)
        curve = []
        for k in range(length):
            vals = [w[k] for w in per_video if k < len(w) and w[k] is not None]
            curve.append(sum(vals) / len(vals) if vals else None)
        curves[name] = curve
    return curves


# -- the experiment --------------------------------------------------------------------------------


def run_experiment(exp: Experiment, source: Path, *, force: tuple[str, ...] = ()) -> list[ArmResult]:
    c = tracking.client()
    exp_id = tracking.ensure_experiment(c, exp.name)  # once, here, before any child process exists
    parent = tracking.start_parent(
        c, exp_id, f"{exp.name} {time.strftime('%Y-%m-%d %H:%M:%S')}", {"experiment": exp.name}
    )
    tracking.log_params(c, parent, {"arms": ",".join(exp.arms), "seeds": exp.seeds, "metrics": exp.metrics})
    results: list[ArmResult] = []
    try:
        for seed in exp.seeds:
            for arm_name in exp.arms:
                results.append(run_arm(c, exp_id, parent, exp, source, arm_name, seed, force=force))
    except KeyboardInterrupt:
        tracking.finish(c, parent, "KILLED")
        raise
    write_report(c, exp.name, parent, arm_order=list(exp.arms))
    tracking.finish(c, parent, "FINISHED")
    return results


def write_report(
    c, name: str, parent: str | None, *, arm_order: list[str] | None = None, sweep: bool = False
) -> Path | None:
    """Tables and plots under <workspace>/reports/<name>/, logged to the parent run."""
    from reports.build import build_report, build_sweep_report

    out = workspace.home() / "reports" / name
    try:
        if sweep:
            files = build_sweep_report(name, out, workspace.tracking_uri(), parent)
        else:
            files = build_report(name, out, workspace.tracking_uri(), parent, arm_order=arm_order)
    except Exception as e:  # a report problem must not lose the runs it reports on
        say(f"report for {name} failed: {type(e).__name__}: {e}")
        return None
    if parent:
        for f in files.values():
            c.log_artifact(parent, str(f), "report")
    say(f"report: {out / 'report.md'}")
    return out


def run_arm(
    c,
    exp_id: str,
    parent: str,
    exp: Experiment,
    source: Path,
    arm_name: str,
    seed: int,
    *,
    force: tuple[str, ...] = (),
    tags: dict[str, str] | None = None,
    workdir: Path | None = None,
    train_watch: Callable[[str, Path], None] | None = None,
) -> ArmResult:
    """One arm and seed through train -> generate -> score, logged as a child run of `parent`.

    `train_watch(run_id, train_folder)` is called every second while training runs (a sweep reads
    the probe videos there); it may raise `StopArm`.
    """
    arm = exp.arms[arm_name]
    run_tags = {"arm": arm_name, "seed": str(seed), "role": arm.role, "experiment": exp.name, **(tags or {})}
    run_id = tracking.start_child(c, exp_id, parent, f"{arm_name}-seed{seed}", run_tags)
    result = ArmResult(arm_name, seed, run_id, "RUNNING")
    base = workdir or workspace.arm_dir(exp.name, arm_name, seed)
    try:
        # Inside the try: an invalid configuration (say, a sweep's sampled value) fails this run only.
        cfg = exp.arm_config(arm_name, source).model_copy(deep=True)
        cfg.train.seed = seed
        cfg.generate.seed = seed
        cfg.data.root = training_data(cfg) if arm.train else cfg.data.root
        tracking.set_tags(c, run_id, {"variant": cfg.variant or "none", "preset": cfg.model.preset})
        tracking.log_params(c, run_id, flatten(cfg.model_dump(mode="json")))
        bench = benchmark_root(exp, cfg) if exp.suites else None
        save_config(cfg, base / "config.yaml")
        c.log_artifact(run_id, str(base / "config.yaml"))
        lora, train_hash = None, "untrained"
        if arm.train:
            say(f"{arm_name} seed {seed}: train ({cfg.train.steps} steps)")
            watch = functools.partial(train_watch, run_id, base / "train") if train_watch else None
            lora, train_hash, skipped = stage_train(exp, cfg, base / "train", "train" in force, watch)
            say(f"{arm_name} seed {seed}: train {'skipped (done)' if skipped else 'finished'}")
            tracking.log_training_metrics(c, run_id, base / "train" / "metrics.jsonl")
            c.log_artifact(run_id, str(lora))
        from svi.generate import lead_frames

        seconds_per_clip = (cfg.generate.num_frames - lead_frames(cfg.generate)) / cfg.generate.fps
        tracking.log_params(c, run_id, {"seconds_per_clip": seconds_per_clip})
        generator = arm_generator(cfg, lora)
        for spec in exp.suites:
            key = f"{spec.suite}_{spec.length}"
            videos = base / "videos" / key
            say(f"{arm_name} seed {seed}: generate {key}")
            manifest, gen_hash, _ = stage_generate(
                cfg,
                spec.suite,
                spec.length,
                spec.limit,
                bench,
                lora,
                train_hash,
                videos,
                "generate" in force,
                generator,
            )
            tracking.set_tags(c, run_id, {f"suite_digest.{key}": manifest["digest"], "suite": key})
            tracking.log_dataset(c, run_id, key, manifest)
            _log_media(c, run_id, videos, key)
            say(f"{arm_name} seed {seed}: score {key}")
            truth, images = references(bench, spec.suite, spec.length, videos)
            report, _, _ = stage_score(
                exp, videos, gen_hash, base / "scores" / key, "score" in force, truth, images
            )
            rows = [(f"{key}/{m}", v, 0) for m, v in report["aggregate"].items()]
            for m, curve in drift_curves(report).items():
                rows += [(f"drift/{key}/{m}", v, k) for k, v in enumerate(curve)]
            tracking.log_metrics(c, run_id, rows)
            tracking.set_tags(c, run_id, {f"metric_backend.{m}": b for m, b in report["backends"].items()})
            c.log_artifact(run_id, str(base / "scores" / key / "scores.json"), f"scores/{key}")
            result.scores.update({f"{key}/{m}": v for m, v in report["aggregate"].items()})
        tracking.finish(c, run_id, "FINISHED")
        result.status = "FINISHED"
    except KeyboardInterrupt:
        tracking.finish(c, run_id, "KILLED")
        raise
    except StopArm as e:
        tracking.log_training_metrics(c, run_id, base / "train" / "metrics.jsonl")  # the curves so far
        tracking.set_tags(c, run_id, e.tags)
        tracking.finish(c, run_id, "KILLED")
        say(f"{arm_name} seed {seed}: stopped: {e}")
        raise
    except Exception as e:  # a failed arm must not stop the others
        result.status, result.error = "FAILED", f"{type(e).__name__}: {e}"
        err = base / "error.txt"
        err.parent.mkdir(parents=True, exist_ok=True)
        err.write_text(traceback.format_exc())
        c.log_artifact(run_id, str(err))
        if (base / "train" / "train.log").is_file():
            c.log_artifact(run_id, str(base / "train" / "train.log"))
        tracking.set_tags(c, run_id, {"error": result.error[:5000]})
        tracking.finish(c, run_id, "FAILED")
        say(f"{arm_name} seed {seed}: FAILED: {result.error}")
    return result


def _log_media(c, run_id: str, videos: Path, key: str) -> None:
    """Each mp4 and a keyframe strip PNG (the MLflow UI previews images)."""
    for mp4 in sorted(videos.glob("*.mp4")):
        strip = videos / f"{mp4.stem}.keyframes.png"
        if not strip.is_file():
            keyframe_strip(mp4, strip)
        c.log_artifact(run_id, str(mp4), f"videos/{key}")
        c.log_artifact(run_id, str(strip), f"videos/{key}")


def keyframe_strip(video: Path, out: Path, count: int = 8) -> Path:
    """`count` evenly spaced frames side by side."""
    import numpy as np
    from PIL import Image

    from benchmarks.metrics.stream import FrameReader

    reader = FrameReader(video)
    n = reader.num_frames
    wanted = sorted({round(i * (n - 1) / max(1, count - 1)) for i in range(count)})
    frames, pos = [], 0
    for idx in wanted:
        frames.append(reader.read(pos, idx + 1)[-1].permute(1, 2, 0).byte().numpy())
        pos = idx + 1
    reader.close()
    Image.fromarray(np.concatenate(frames, axis=1)).save(out)
    return out
