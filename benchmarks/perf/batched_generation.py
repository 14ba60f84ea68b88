"""Batched long-video generation: sample-clips per second at batch size B vs B = 1 (JSON on stdout).

The toy preset (its committed weights, its generation settings) generates the same N videos of C
clips (each with its own reference image and prompts) once with `generate.batch_size = 1` (one video
at a time, the reference) and once with `--batch` (default 8), alternating, in this process and on
the same backbone. The headline is the ratio of the medians of sample-clips per second (target: >= 4
at B = 8 on 2 CPU cores). Every run also records where its time went: the transformer, the VAE
(encode for the conditioning, decode), the text and image encoders, writing the mp4 segments, and
the rest (state files, sidecars, joining, Python). The 1-minute load average before and after is
recorded: other processes on the cores take from the batched arm (which uses every core) more than
from the reference.

    python benchmarks/perf/batched_generation.py [--samples 8] [--clips 3] [--batch 8] [--repeats 5]
        [--steps N] [--threads 2] [--out FILE]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager

from benchmarks.perf.report import emit, toy_generation_args

PARTS = ("transformer", "vae_encode", "vae_decode", "text_encoder", "image_encoder", "mp4_write")


class Timer:
    """Seconds spent in each named part, summed until `reset`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def reset(self) -> None:
        self.seconds.clear()

    def wrap(self, part: str, fn):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[part] += time.perf_counter() - t0

        return timed

    @contextmanager
    def hooks(self, module, part: str):
        """Time a module's forward passes (pre/post hooks)."""
        start: list[float] = []
        pre = module.register_forward_pre_hook(lambda m, a: start.append(time.perf_counter()))

        def post(m, a, out):
            self.seconds[part] += time.perf_counter() - start.pop()

        post_handle = module.register_forward_hook(post)
        try:
            yield
        finally:
            pre.remove()
            post_handle.remove()


def instrument(bb, timer: Timer) -> None:
    """Route the backbone's encoders and the generator's segment writer through `timer`."""
    from svi.generation import generator

    bb.encode_text = timer.wrap("text_encoder", bb.encode_text)
    bb.encode_image = timer.wrap("image_encoder", bb.encode_image)
    bb.encode_video = timer.wrap("vae_encode", bb.encode_video)
    bb.decode_latents = timer.wrap("vae_decode", bb.decode_latents)
    generator.write_segment = timer.wrap("mp4_write", generator.write_segment)


def main() -> None:
    def extra(p) -> None:
        p.add_argument("--batch", type=int, default=8, help="the batch size compared with 1")
        p.add_argument("--steps", type=int, help="sampling steps (default: the toy preset's)")

    args = toy_generation_args(__doc__, samples=8, clips=3, repeats=5, extra=extra)

    import torch

    from svi.config import build_config
    from svi.generation.generator import LongVideoGenerator
    from svi.generation.video import VideoJob, fixed_prompts

    torch.set_num_threads(args.threads)
    overrides = {} if args.steps is None else {"steps": args.steps}
    cfg = build_config({"model": {"preset": "toy"}, "generate": overrides})
    base = LongVideoGenerator.from_config(cfg, None, "cpu")  # the committed toy weights, no LoRA
    timer = Timer()
    instrument(base.bb, timer)
    g = cfg.generate
    arms = {
        b: LongVideoGenerator(base.bb, g.model_copy(update={"batch_size": b}))
        for b in sorted({1, args.batch})
    }
    images = [
        torch.rand(3, g.height, g.width, generator=torch.Generator().manual_seed(i)) * 2 - 1
        for i in range(args.samples)
    ]
    prompts = [[f"sample {i} clip {k}" for k in range(args.clips)] for i in range(args.samples)]

    def run(gen: LongVideoGenerator, samples: int) -> dict:
        with tempfile.TemporaryDirectory() as d:
            jobs = [
                VideoJob(images[i], fixed_prompts(prompts[i]), f"{d}/v{i}.mp4", num_clips=args.clips)
                for i in range(samples)
            ]
            timer.reset()
            t0 = time.perf_counter()
            with timer.hooks(gen.bb.transformer, "transformer"):
                gen.generate_batch(jobs, progress=False)
            seconds = time.perf_counter() - t0
        parts = {k: timer.seconds.get(k, 0.0) for k in PARTS}
        parts["other"] = seconds - sum(parts.values())
        return {"seconds": seconds, "parts": parts}

    load_before = os.getloadavg()  # other processes on the cores shrink the batched arm's gain most
    for b, gen in arms.items():  # warm-up: allocator pools, kernel caches, lazy imports
        run(gen, min(b, args.samples))
    runs: dict[int, list[dict]] = {b: [] for b in arms}
    for _ in range(args.repeats):
        for b, gen in arms.items():
            runs[b].append(run(gen, args.samples))

    sample_clips = args.samples * args.clips

    def summary(b: int) -> dict:
        seconds = statistics.median(r["seconds"] for r in runs[b])
        parts = {k: statistics.median(r["parts"][k] for r in runs[b]) for k in (*PARTS, "other")}
        return {
            "batch_size": b,
            "seconds_median": seconds,
            "seconds_runs": [r["seconds"] for r in runs[b]],
            "sample_clips_per_second": sample_clips / seconds,
            "seconds_per_sample_clip": {k: v / sample_clips for k, v in parts.items()},
            "share": {k: v / seconds for k, v in parts.items()},
        }

    load_after = os.getloadavg()
    one, many = summary(1), summary(args.batch)
    emit(
        {
            "benchmark": "batched_generation",
            "preset": "toy",
            "clip": {"frames": g.num_frames, "height": g.height, "width": g.width},
            "steps": g.steps,
            "sampler": g.sampler,
            "guidance_scale": g.guidance_scale,
            "chaining": g.chaining,
            "samples": args.samples,
            "clips_per_sample": args.clips,
            "repeats": args.repeats,
            "load_average_1min": {"before": load_before[0], "after": load_after[0]},
            "reference": one,
            "batched": many,
            "speedup_sample_clips_per_second": many["sample_clips_per_second"]
            / one["sample_clips_per_second"],
            "target_speedup": 4.0,
            "parts_speedup": {
                k: one["seconds_per_sample_clip"][k] / max(many["seconds_per_sample_clip"][k], 1e-12)
                for k in (*PARTS, "other")
            },
        },
        args.out,
    )


if __name__ == "__main__":
    main()
