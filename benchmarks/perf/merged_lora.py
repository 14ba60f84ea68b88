"""Generation with a trained LoRA merged into the weights vs kept as peft's active adapter: seconds per
sample-clip of the toy preset, against the bare base model (JSON on stdout).

`LongVideoGenerator.from_config` merges an arm's LoRA into the transformer's weights
(`svi.model.lora.load_lora(..., fuse=True)`), as the official inference (DiffSynth's loader) does; an
active adapter adds two small matmuls and peft's dispatch to every targeted linear at every step. The
three arms generate the same N videos of C clips in this process, alternating, each with the toy
recipe's LoRA shape (rank 32, alpha 32, the official targets) filled with random weights. The headline
is `active / merged` of the median seconds (how much slower an unmerged LoRA generates) and
`merged / base` (1 means a merged LoRA costs nothing at inference, the method's claim).

    python benchmarks/perf/merged_lora.py [--samples 4] [--clips 2] [--repeats 3] [--threads 2] [--out FILE]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

from benchmarks.perf.report import emit, toy_generation_args, toy_generation_run


def main() -> None:
    args = toy_generation_args(__doc__, samples=4, clips=2, repeats=3)

    import torch

    from svi.config import LoraConfig, build_config
    from svi.generation.generator import LongVideoGenerator
    from svi.generation.video import VideoJob, fixed_prompts
    from svi.model.backbone import load_backbone
    from svi.model.lora import add_lora, export_lora, load_lora

    torch.set_num_threads(args.threads)
    cfg = build_config({"model": {"preset": "toy"}})
    g = cfg.generate
    with tempfile.TemporaryDirectory() as d:
        trained = load_backbone(cfg.model)
        add_lora(trained.transformer, LoraConfig(rank=32, alpha=32))  # toy_shot.yaml's shape
        gen = torch.Generator().manual_seed(0)
        for name, param in trained.transformer.named_parameters():
            if ".lora_" in name:
                param.data = torch.randn(param.shape, generator=gen) * 0.02
        lora = export_lora(trained.transformer, f"{d}/lora.safetensors")
        active = load_backbone(cfg.model)
        active.transformer.eval()
        load_lora(active.transformer, lora)
        arms = {
            "base": LongVideoGenerator.from_config(cfg, None, "cpu"),
            "active": LongVideoGenerator(active, g),
            "merged": LongVideoGenerator.from_config(cfg, lora, "cpu"),
        }
        images = [
            torch.rand(3, g.height, g.width, generator=torch.Generator().manual_seed(i)) * 2 - 1
            for i in range(args.samples)
        ]

        def run(generator: LongVideoGenerator) -> float:
            with tempfile.TemporaryDirectory() as out:
                jobs = [
                    VideoJob(
                        images[i], fixed_prompts([f"sample {i}"]), f"{out}/v{i}.mp4", num_clips=args.clips
                    )
                    for i in range(args.samples)
                ]
                t0 = time.perf_counter()
                generator.generate_batch(jobs, progress=False)
                return time.perf_counter() - t0

        load_before = os.getloadavg()
        for generator in arms.values():  # warm-up
            run(generator)
        seconds: dict[str, list[float]] = {name: [] for name in arms}
        for _ in range(args.repeats):
            for name, generator in arms.items():
                seconds[name].append(run(generator))
        load_after = os.getloadavg()

    sample_clips = args.samples * args.clips
    median = {name: statistics.median(s) for name, s in seconds.items()}
    emit(
        {
            "benchmark": "merged_lora",
            **toy_generation_run(g, args.samples, args.clips, args.repeats, load_before, load_after),
            "seconds_per_sample_clip": {name: m / sample_clips for name, m in median.items()},
            "seconds_runs": seconds,
            "active_over_merged": median["active"] / median["merged"],
            "merged_over_base": median["merged"] / median["base"],
        },
        args.out,
    )


if __name__ == "__main__":
    main()
