"""Where one track stage's time goes, against what this machine can do (JSON on stdout).

One (arm, track) of an experiment goes through the harness's own stages, in a fresh workspace:
generate (`pipeline.stage_generate`), score (`pipeline.stage_score`) and log (`ArmRun.log_suite`, its
review media included). Each is split into its parts:

    generate  transformer, vae_encode (conditioning), vae_decode, text_encoder, image_encoder,
              mp4_write, other (sampling arithmetic, state files, sidecars)
    score     decode (frames read and converted), toy_encoder (the shared per-frame network),
              farneback (optical flow), psnr_ssim, fvd_reference (the true videos' features, once per
              track and process), fvd_distance, other (every metric's own arithmetic)
    log       media (keyframe strips, enlarged images, previews), mlflow (every client call, images
              encoded inside them), other

and the transformer's and the VAE's achieved GFLOP/s (their FLOPs counted by torch's FlopCounterMode
on one call of each shape, times the calls made) against the peak of this machine measured in the
same process on the same threads: a float32 matmul (2048 x 2048) and a 3-D convolution shaped like the
VAE's (96 channels, 3x3x3). Medians over repeats of the peaks; the stages run once (minutes).

    python benchmarks/perf/track_profile.py [--experiment ablation_eimg] [--arm base] [--track 0]
        [--samples 8] [--length 100s] [--threads 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.perf.batched_generation import PARTS as GENERATE_PARTS
from benchmarks.perf.batched_generation import Timer, instrument
from benchmarks.perf.report import emit

SCORE_PARTS = ("decode", "toy_encoder", "farneback", "psnr_ssim", "fvd_reference", "fvd_distance")
LOG_PARTS = ("media", "mlflow")
MLFLOW_CALLS = (
    "log_image",
    "log_artifact",
    "log_batch",
    "log_table",
    "set_tag",
    "log_inputs",
    "set_terminated",
)


def peaks(threads: int, repeats: int = 5) -> dict:
    """GFLOP/s on these threads (medians): a large float32 matmul (2048 x 2048, the machine's matmul
    peak); a matmul of the toy transformer's own shape (640 tokens x 128 -> 512, what its FFN can reach);
    and a VAE-shaped conv3d (96 channels, 3x3x3) in the default and the channels-last layout (the VAE
    runs channels-last on the CPU: svi.model.backbone.VAE_LAYOUT). The conv3d peak is the faster one."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    tokens, width = torch.randn(640, 128), torch.randn(128, 512)
    x, w = torch.randn(1, 96, 8, 64, 64), torch.randn(96, 96, 3, 3, 3)
    cl = torch.channels_last_3d
    x_cl, w_cl = x.contiguous(memory_format=cl), w.contiguous(memory_format=cl)
    conv_flops = 2 * 96 * 96 * 27 * 8 * 64 * 64  # padding 1: every output position

    def best(fn, flops: float) -> float:
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return flops / statistics.median(times) / 1e9

    with torch.inference_mode():
        out = {
            "matmul_gflops": best(lambda: a @ b, 2 * n**3),
            "matmul_dit_shape_gflops": best(lambda: tokens @ width, 2 * 640 * 128 * 512),
            "conv3d_default_layout_gflops": best(lambda: F.conv3d(x, w, padding=1), conv_flops),
            "conv3d_channels_last_gflops": best(lambda: F.conv3d(x_cl, w_cl, padding=1), conv_flops),
        }
    out["conv3d_gflops"] = max(out["conv3d_default_layout_gflops"], out["conv3d_channels_last_gflops"])
    return out


def counted_flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


class OuterTimer(Timer):
    """A Timer that counts a part once when its wrapped functions call each other (keyframe_strip
    enlarging its frames is media once, not twice)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth: dict[str, int] = {}

    def wrap(self, part: str, fn):
        def timed(*args, **kwargs):
            outer = self.depth.get(part, 0) == 0
            self.depth[part] = self.depth.get(part, 0) + 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth[part] -= 1
                if outer:
                    self.seconds[part] += time.perf_counter() - t0

        return timed


class CallFlops:
    """A module's or function's calls and FLOPs: each new input shape is counted once by FlopCounterMode
    (outside the timed run), then multiplied by its calls."""

    def __init__(self) -> None:
        self.calls: dict[tuple, int] = {}
        self.examples: dict[tuple, tuple] = {}

    def record(self, key: tuple, example: tuple) -> None:
        self.calls[key] = self.calls.get(key, 0) + 1
        self.examples.setdefault(key, example)

    def total(self, run) -> float:
        return float(
            sum(counted_flops(lambda e=self.examples[k]: run(*e)) * n for k, n in self.calls.items())
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experiment", default="ablation_eimg")
    p.add_argument("--arm", default="base", help="an untrained arm profiles without a training")
    p.add_argument("--track", type=int, default=0, help="which of the experiment's suites")
    p.add_argument("--samples", type=int, help="samples (default: the experiment's)")
    p.add_argument("--length", help="video length, e.g. 20s (default: the suite's)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out")
    args = p.parse_args()

    home = Path(tempfile.mkdtemp(prefix="track_profile_"))
    os.environ["HARNESS_HOME"] = str(home)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow.db'}"
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    import torch

    torch.set_num_threads(args.threads)
    machine_peaks = peaks(args.threads)

    from harness import tracking
    from harness.declare.experiment import load_experiment
    from harness.declare.plan import make_plan
    from harness.run import pipeline, provision
    from harness.tracking import keys
    from svi.generation.generator import LongVideoGenerator

    overrides = []
    if args.samples:
        overrides.append(f"toy_samples={args.samples}")
    exp, source = load_experiment(args.experiment, overrides)
    spec = exp.suites[args.track]
    if args.length:
        spec = spec.model_copy(update={"length": args.length})
        exp = exp.model_copy(update={"suites": [spec]})
    plan = make_plan(exp, source)
    unit = next(u for u in plan.units if u.arm == args.arm)
    cfg = unit.cfg
    bench = provision.benchmark_root(exp, cfg)
    gen = LongVideoGenerator.from_config(cfg, None, "cpu")
    timer = Timer()
    instrument(gen.bb, timer)
    transformer_calls, decode_calls, encode_calls = CallFlops(), CallFlops(), CallFlops()
    bb = gen.bb
    decode, encode = bb.decode_latents, bb.encode_video

    def counting_decode(latents, *a, **k):
        decode_calls.record((tuple(latents.shape),), (latents,))
        return decode(latents, *a, **k)

    def counting_encode(video, *a, **k):
        encode_calls.record((tuple(video.shape),), (video,))
        return encode(video, *a, **k)

    bb.decode_latents, bb.encode_video = counting_decode, counting_encode

    def shapes(values) -> tuple:
        return tuple(tuple(v.shape) for v in values if torch.is_tensor(v))

    hook = bb.transformer.register_forward_pre_hook(
        lambda m, a, kw: transformer_calls.record(shapes(a) + shapes(kw.values()), (a, dict(kw))),
        with_kwargs=True,
    )
    folder = unit.folder
    videos = folder / "videos" / keys.track(spec.suite, spec.length)
    t0 = time.perf_counter()
    with timer.hooks(bb.transformer, "transformer"), torch.inference_mode():
        manifest, gen_hash, _, samples = pipeline.stage_generate(
            cfg, spec, bench, False, None, "untrained", videos, True, lambda: gen
        )
    generate_seconds = time.perf_counter() - t0
    hook.remove()
    generate_parts = {k: timer.seconds.get(k, 0.0) for k in GENERATE_PARTS}
    generate_parts["other"] = generate_seconds - sum(generate_parts.values())
    with torch.inference_mode():
        flops = {
            "transformer": transformer_calls.total(lambda a, kw: bb.transformer(*a, **kw)),
            "vae_decode": decode_calls.total(decode),
            "vae_encode": encode_calls.total(encode),
        }

    # scoring, its parts timed where they run
    import scoring.fidelity as fidelity
    import scoring.fvd as fvd
    import scoring.score as score_mod
    import scoring.stream as stream
    import scoring.toy as toy

    score_timer = OuterTimer()
    stream.FrameReader.read = score_timer.wrap("decode", stream.FrameReader.read)
    toy.SharedOutputs.__call__ = score_timer.wrap("toy_encoder", toy.SharedOutputs.__call__)
    toy._flows = score_timer.wrap("farneback", toy._flows)  # wall time of the threaded flows
    fidelity.ssim = score_timer.wrap("psnr_ssim", fidelity.ssim)
    fidelity.psnr = score_timer.wrap("psnr_ssim", fidelity.psnr)
    fvd.ReferenceStats.distance = score_timer.wrap("fvd_distance", fvd.ReferenceStats.distance)
    score_mod.reference_features = score_timer.wrap("fvd_reference", score_mod.reference_features)
    truth, images, audio = provision.references(bench, spec.suite, spec.length, videos)
    t0 = time.perf_counter()
    report, _, _ = pipeline.stage_score(
        exp, videos, gen_hash, folder / "scores" / videos.name, True, truth, images, audio
    )
    score_seconds = time.perf_counter() - t0
    # decode inside the FVD reference pass is counted there, not twice
    score_parts = {k: score_timer.seconds.get(k, 0.0) for k in SCORE_PARTS}
    score_parts["other"] = score_seconds - sum(score_parts.values())

    # logging, as harness run logs a track
    from harness.tracking import media

    log_timer = OuterTimer()
    for name in ("keyframes", "keyframe_strip", "enlarge", "suite_preview"):
        setattr(media, name, log_timer.wrap("media", getattr(media, name)))
    c = tracking.client()
    for name in MLFLOW_CALLS:
        setattr(c, name, log_timer.wrap("mlflow", getattr(c, name)))
    exp_id = tracking.ensure_experiment(c, exp.name)
    parent = tracking.start_parent(c, exp_id, "track profile", {"experiment": exp.name})
    run = tracking.ArmRun(c, exp_id, parent, unit)
    from harness.base.clock import StageClock

    clock = StageClock()
    from scoring import suites

    t0 = time.perf_counter()
    run.log_suite(
        videos.name, manifest, videos, report, folder / "scores" / videos.name,
        source=suites.suite_folder(bench, spec.suite, spec.length),
        prompts={s.name: s.prompts for s in samples}, review=folder / "review", clock=clock,
    )  # fmt: skip
    log_seconds = time.perf_counter() - t0
    log_parts = {k: log_timer.seconds.get(k, 0.0) for k in LOG_PARTS}
    log_parts["other"] = log_seconds - sum(log_parts.values())
    run.finish()

    sample_clips = sum(len(v["windows"]) for v in report["videos"])
    achieved = {
        k: flops[k] / max(generate_parts[k], 1e-9) / 1e9 for k in ("transformer", "vae_decode", "vae_encode")
    }
    emit(
        {
            "benchmark": "track_profile",
            "experiment": exp.name,
            "arm": unit.arm,
            "track": videos.name,
            "samples": len(samples),
            "clip": {
                "frames": cfg.generate.num_frames,
                "height": cfg.generate.height,
                "width": cfg.generate.width,
            },
            "steps": cfg.generate.steps,
            "batch_size": cfg.generate.batch_size,
            "threads": args.threads,
            "seconds": {"generate": generate_seconds, "score": score_seconds, "log": log_seconds},
            "score_plus_log_over_generate": (score_seconds + log_seconds) / generate_seconds,
            "target_score_plus_log_over_generate": 0.25,
            "generate_parts": generate_parts,
            "score_parts": score_parts,
            "log_parts": log_parts,
            "log_stages": clock.seconds,
            "flops": flops,
            "achieved_gflops": achieved,
            "peak_gflops": machine_peaks,
            "fraction_of_peak": {
                "transformer": achieved["transformer"] / machine_peaks["matmul_gflops"],
                "transformer_of_its_shape": achieved["transformer"]
                / machine_peaks["matmul_dit_shape_gflops"],
                "vae_decode": achieved["vae_decode"] / machine_peaks["conv3d_gflops"],
                "vae_encode": achieved["vae_encode"] / machine_peaks["conv3d_gflops"],
            },
            "sample_clips": sample_clips,
            "seconds_per_sample_clip": {
                "generate": generate_seconds / sample_clips,
                "score": score_seconds / sample_clips,
                "log": log_seconds / sample_clips,
            },
            "workspace": str(home),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
