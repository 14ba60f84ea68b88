"""Time per clip: our generator vs diffusers' WanImageToVideoPipeline on the same components (JSON).

Both generate one clip from the same image and prompt with the same tiny components, resolution,
frame count, steps, Euler sampler (shift 5) and text CFG scale, and both include what a clip costs
end to end: prompt and negative-prompt encoding, CLIP image encoding, VAE encoding of the condition,
sampling, VAE decoding. Arms alternate; medians over repeats.

    python benchmarks/perf/generate_vs_pipeline.py [--size 64] [--frames 9] [--steps 20] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline

from benchmarks.perf.report import emit
from svi.config import GenerateConfig
from svi.generation.generator import LongVideoGenerator
from svi.model.backbone import build_tiny


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=64, help="height = width in pixels (multiple of 16)")
    p.add_argument("--frames", type=int, default=9)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out")
    args = p.parse_args()

    bb = build_tiny()
    cfg = GenerateConfig(
        num_frames=args.frames,
        height=args.size,
        width=args.size,
        steps=args.steps,
        guidance_scale=args.guidance,
    )
    gen = LongVideoGenerator(bb, cfg)
    pipe = WanImageToVideoPipeline(
        tokenizer=bb.tokenizer,
        text_encoder=bb.text_encoder,
        vae=bb.vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=cfg.shift),
        image_processor=bb.image_processor,
        image_encoder=bb.image_encoder,
        transformer=bb.transformer,
    )
    pipe.set_progress_bar_config(disable=True)
    image = torch.rand(3, args.size, args.size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    prompt = "a red square moves left over a blue gradient"

    def ours():
        ref = image[None]
        gen.generate_clip(
            0, prompt, ref, None, None, bb.encode_image(ref), bb.encode_text([cfg.negative_prompt])
        )

    def theirs():
        pipe(
            image=(image + 1) / 2,
            prompt=prompt,
            negative_prompt=cfg.negative_prompt,
            height=args.size,
            width=args.size,
            num_frames=args.frames,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            max_sequence_length=bb.max_text_tokens,
            generator=torch.Generator().manual_seed(0),
            output_type="pt",
        )

    arms = {"ours": ours, "diffusers_pipeline": theirs}
    for fn in arms.values():
        fn()  # warm-up
    times = {k: [] for k in arms}
    with torch.no_grad():
        for _ in range(args.repeats):
            for name, fn in arms.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "benchmark": "generate_vs_pipeline",
        "clip": {"frames": args.frames, "height": args.size, "width": args.size},
        "steps": args.steps,
        "guidance_scale": args.guidance,
        "repeats": args.repeats,
        "median_seconds_per_clip": med,
        "all_seconds": times,
        "ratio_ours_over_pipeline": med["ours"] / med["diffusers_pipeline"],
        "target_ratio": 1.0,
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
