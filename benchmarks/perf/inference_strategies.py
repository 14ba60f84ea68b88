"""Generation cost per clip of each long-video strategy over chaining (JSON on stdout).

The toy preset (its committed weights and generation settings: 17-frame 64 x 64 clips, 20 Euler
steps, no CFG) generates the same N videos of C clips (each with its own reference image and prompts)
with every `generate.strategy`, on one backbone in this process: chain (pixel chaining, the default and
the reference), chain with latent chaining (FramePack's frame arithmetic), rolling (its default stages:
one latent frame per stage), framepack, freenoise (its default stride) and history_guidance. Arms
alternate within each repeat; the figures are medians over repeats. Per arm: seconds per clip and per
new frame, their ratios over chain, the transformer rows per clip (forwards x batch rows: the cost that
does not depend on the machine), and where the time went (transformer, VAE encode and decode, the
rest). The 1-minute load average before and after is recorded: other processes on the cores inflate
every arm, the ratios less.

    python benchmarks/perf/inference_strategies.py [--samples 2] [--clips 4] [--repeats 3]
        [--guidance 1.0] [--threads 2] [--out FILE]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

from benchmarks.perf.batched_generation import Timer, instrument
from benchmarks.perf.report import emit, toy_generation_args, toy_generation_run

PARTS = ("transformer", "vae_encode", "vae_decode")
ARMS = {
    "chain": {},
    "chain_latent": {"chaining": "latent"},
    "rolling": {"strategy": "rolling"},
    "framepack": {"strategy": "framepack", "chaining": "latent"},
    "freenoise": {"strategy": "freenoise"},
    "history_guidance": {"strategy": "history_guidance"},
}


def main() -> None:
    args = toy_generation_args(
        __doc__, samples=2, clips=4, repeats=3,
        extra=lambda p: p.add_argument("--guidance", type=float, help="text CFG scale (default: the toy preset's, 1.0)"),
    )  # fmt: skip

    import torch

    from svi.config import build_config
    from svi.generation.generator import LongVideoGenerator
    from svi.generation.video import VideoJob, fixed_prompts

    torch.set_num_threads(args.threads)
    extra = {} if args.guidance is None else {"guidance_scale": args.guidance}
    base_cfg = build_config({"model": {"preset": "toy"}, "generate": {**extra, "batch_size": args.samples}})
    base = LongVideoGenerator.from_config(base_cfg, None, "cpu")  # the committed toy weights, no LoRA
    timer = Timer()
    instrument(base.bb, timer)

    def arm_config(arm: dict):
        settings = {**base_cfg.generate.model_dump(), **arm}
        return build_config({"model": {"preset": "toy"}, "generate": settings}).generate

    generators = {name: LongVideoGenerator(base.bb, arm_config(arm)) for name, arm in ARMS.items()}
    g = base_cfg.generate
    images = [
        torch.rand(3, g.height, g.width, generator=torch.Generator().manual_seed(i)) * 2 - 1
        for i in range(args.samples)
    ]
    prompts = [[f"sample {i} clip {k}" for k in range(args.clips)] for i in range(args.samples)]
    rows: list[int] = []
    counter = base.bb.transformer.register_forward_hook(lambda m, a, out: rows.append(a[0].shape[0]))

    def run(gen: LongVideoGenerator) -> dict:
        with tempfile.TemporaryDirectory() as d:
            jobs = [
                VideoJob(images[i], fixed_prompts(prompts[i]), f"{d}/v{i}.mp4", num_clips=args.clips)
                for i in range(args.samples)
            ]
            timer.reset()
            rows.clear()
            t0 = time.perf_counter()
            with timer.hooks(gen.bb.transformer, "transformer"):
                results = gen.generate_batch(jobs, progress=False)
            seconds = time.perf_counter() - t0
        parts = {k: timer.seconds.get(k, 0.0) for k in PARTS}
        parts["other"] = seconds - sum(parts.values())
        frames = sum(r.num_frames for r in results)
        return {"seconds": seconds, "parts": parts, "frames": frames, "rows": sum(rows)}

    load_before = os.getloadavg()
    for gen in generators.values():  # warm-up: allocator pools, kernel caches, lazy imports
        run(gen)
    runs: dict[str, list[dict]] = {name: [] for name in generators}
    for _ in range(args.repeats):
        for name, gen in generators.items():
            runs[name].append(run(gen))
    load_after = os.getloadavg()
    counter.remove()

    clips = args.samples * args.clips

    def summary(name: str) -> dict:
        seconds = statistics.median(r["seconds"] for r in runs[name])
        frames = runs[name][0]["frames"]
        cfg = generators[name].cfg
        settings = {"strategy": cfg.strategy, "chaining": cfg.chaining, "lead_frames": generators[name].lead}
        if cfg.strategy == "rolling":
            settings["rolling_stages"] = cfg.rolling_stage_count()
        if cfg.strategy == "freenoise":
            settings["freenoise_stride"] = cfg.freenoise_window_stride()
        if cfg.strategy == "history_guidance":
            settings["history_scale"] = cfg.history_scale
        return {
            "settings": settings,
            "seconds_median": seconds,
            "seconds_runs": [r["seconds"] for r in runs[name]],
            "seconds_per_clip": seconds / clips,
            "frames_per_video": frames / args.samples,
            "seconds_per_frame": seconds / frames,
            "transformer_rows_per_clip": runs[name][0]["rows"] / clips,
            "seconds_per_clip_parts": {
                k: statistics.median(r["parts"][k] for r in runs[name]) / clips for k in (*PARTS, "other")
            },
        }

    arms = {name: summary(name) for name in generators}
    ref, ref_latent = arms["chain"], arms["chain_latent"]
    for name, arm in arms.items():
        arm["per_clip_over_chain"] = arm["seconds_per_clip"] / ref["seconds_per_clip"]
        arm["per_frame_over_chain"] = arm["seconds_per_frame"] / ref["seconds_per_frame"]
        arm["transformer_rows_over_chain"] = (
            arm["transformer_rows_per_clip"] / ref["transformer_rows_per_clip"]
        )
        if generators[name].cfg.chaining == "latent":
            arm["per_clip_over_chain_latent"] = arm["seconds_per_clip"] / ref_latent["seconds_per_clip"]
    emit(
        {
            "benchmark": "inference_strategies",
            **toy_generation_run(g, args.samples, args.clips, args.repeats, load_before, load_after),
            "arms": arms,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
