"""Toy generation with the text padding attended once vs diffusers' processor (JSON on stdout).

Wan's text context is a prompt's umT5 tokens padded with zeros to 512, attended in full by every
cross-attention at every step. `svi.model.context_attention` merges the padding's identical rows into
one with a log-count bias (the same function). Both processors generate the same N toy-world benchmark
videos of C clips (their own prompts, consistent track), alternating in this process on one backbone;
the headline is `merged / diffusers` of the median seconds, with the prompts' token counts beside it.

    python benchmarks/perf/context_padding.py [--samples 8] [--clips 3] [--repeats 3] [--threads 2] [--out FILE]
"""

from __future__ import annotations

import os
import statistics
import tempfile

from benchmarks.perf import report


def main() -> None:
    args = report.toy_generation_args(__doc__, samples=8, clips=3, repeats=3)

    import torch

    from svi.config import build_config
    from svi.generation.generator import LongVideoGenerator
    from svi.model.context_attention import attend_padding_in_full, merge_context_padding

    torch.set_num_threads(args.threads)
    cfg = build_config({"model": {"preset": "toy"}})
    g = cfg.generate
    generator = LongVideoGenerator.from_config(cfg, None, "cpu")
    transformer = generator.bb.transformer

    with tempfile.TemporaryDirectory() as d:
        samples = report.toy_world_samples(d, g, args.samples, args.clips)
        tokens = [generator.bb.prompt_tokens(p) for s in samples for p in s.prompts[: args.clips]]

        def run() -> float:
            return report.timed_generation(generator, samples, g, args.clips)

        arms = {"diffusers": attend_padding_in_full, "merged": merge_context_padding}
        load_before = os.getloadavg()
        seconds: dict[str, list[float]] = {name: [] for name in arms}
        for repeat in range(args.repeats + 1):  # the first round warms up
            for name, install in arms.items():
                install(transformer)
                t = run()
                if repeat:
                    seconds[name].append(t)
        load_after = os.getloadavg()

    sample_clips = len(samples) * args.clips
    median = {name: statistics.median(s) for name, s in seconds.items()}
    report.emit(
        {
            "benchmark": "context_padding",
            **report.toy_generation_run(g, len(samples), args.clips, args.repeats, load_before, load_after),
            "prompt_tokens": {"min": min(tokens), "max": max(tokens), "context": generator.bb.text_limit},
            "seconds_per_sample_clip": {name: m / sample_clips for name, m in median.items()},
            "seconds_runs": seconds,
            "merged_over_diffusers": median["merged"] / median["diffusers"],
        },
        args.out,
    )


if __name__ == "__main__":
    main()
