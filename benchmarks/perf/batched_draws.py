"""A sample's draws generated as one batch vs one at a time (JSON on stdout).

The energy score needs K draws of each sample: the same conditioning (image, prompts) with other noise
(`svi.generation.sampling.draw_seed`). With `draws: K` the harness makes a sample's draws consecutive
jobs, so they share a batch where `generate.batch_size` allows. The toy preset generates K draws of N
toy-world samples of C clips once with `generate.batch_size = 1` (the reference) and once with
`batch_size = K`, alternating in this process on one backbone; the headline is the ratio of the
medians of seconds per draw-clip (reference over batched), with the load average beside it.

    python benchmarks/perf/batched_draws.py [--draws 4] [--samples 2] [--clips 2] [--repeats 3] [--threads 2] [--out FILE]
"""

from __future__ import annotations

import os
import statistics
import tempfile

from benchmarks.perf import report


def main() -> None:
    args = report.toy_generation_args(
        __doc__, samples=2, clips=2, repeats=3,
        extra=lambda p: p.add_argument("--draws", type=int, default=4, help="draws per sample (K)"),
    )  # fmt: skip

    import torch

    from svi.config import build_config
    from svi.generation.generator import LongVideoGenerator

    torch.set_num_threads(args.threads)
    cfg = build_config({"model": {"preset": "toy"}})
    g = cfg.generate
    base = LongVideoGenerator.from_config(cfg, None, "cpu")  # the committed toy weights, no LoRA
    arms = {b: LongVideoGenerator(base.bb, g.model_copy(update={"batch_size": b})) for b in (1, args.draws)}

    with tempfile.TemporaryDirectory() as d:
        samples = report.toy_world_samples(d, g, args.samples, args.clips)
        load_before = os.getloadavg()
        seconds: dict[int, list[float]] = {b: [] for b in arms}
        for repeat in range(args.repeats + 1):  # the first round warms up
            for b, gen in arms.items():
                t = report.timed_generation(gen, samples, gen.cfg, args.clips, draws=args.draws)
                if repeat:
                    seconds[b].append(t)
        load_after = os.getloadavg()

    draw_clips = len(samples) * args.draws * args.clips
    per = {b: statistics.median(s) / draw_clips for b, s in seconds.items()}
    report.emit(
        {
            "benchmark": "batched_draws",
            **report.toy_generation_run(g, len(samples), args.clips, args.repeats, load_before, load_after),
            "draws": args.draws,
            "seconds_per_draw_clip": {"one_at_a_time": per[1], "batched": per[args.draws]},
            "seconds_runs": {"one_at_a_time": seconds[1], "batched": seconds[args.draws]},
            "speedup": per[1] / per[args.draws],
        },
        args.out,
    )


if __name__ == "__main__":
    main()
