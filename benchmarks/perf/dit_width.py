"""What a wider toy DiT would cost toy generation, the demo's largest model-bound stage (JSON on stdout).

Gate G3 asks for a base that beats a held frame; the committed toy DiT (6 blocks of width 128, about
2M parameters) does not, and more steps did not help (docs/guides/toyworld_record.md), so the next thing to
try is capacity. Every clip of every demo pays the DiT, and `make demo` must fit in 15 minutes (G6).
This generates the same N toy-world benchmark videos of C clips (their own prompts, consistent track)
with the toy preset's pipeline, its DiT swapped for random-initialised ones of the toy's depth at
each width asked (heads x 32; the FFN 4x the width and the image key/value width the width, as the
toy's), in this process, alternating; the VAE, the encoders and the sampling settings are the toy
preset's. Random weights cost what trained ones do. The headline is each width's median seconds over
the toy's (width 128), with the DiT's parameters and its share of the time (the DiT alone timed
through a forward hook).

    python benchmarks/perf/dit_width.py [--widths 128,192,256] [--samples 8] [--clips 3] [--repeats 2]
        [--threads 2] [--out FILE]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

from benchmarks.perf import report


def main() -> None:
    args = report.toy_generation_args(
        __doc__, samples=8, clips=3, repeats=2,
        extra=lambda p: p.add_argument("--widths", default="128,192,256", help="DiT widths, comma-separated"),
    )  # fmt: skip
    widths = [int(w) for w in args.widths.split(",")]

    import torch

    from svi.config import build_config
    from svi.generation.generator import LongVideoGenerator
    from svi.model.backbone import small_transformer
    from svi.model.context_attention import merge_context_padding
    from svi.model.presets import PRESETS, TOY, widened

    torch.set_num_threads(args.threads)
    cfg = build_config({"model": {"preset": "toy"}})
    g = cfg.generate
    generator = LongVideoGenerator.from_config(cfg, None, "cpu")
    toy = generator.bb.transformer
    channels = PRESETS["toy"].transformer_channels
    reference = TOY.heads * TOY.head_dim  # the committed toy DiT's width
    dits = {}
    for width in widths:
        if width == reference:
            dits[width] = toy  # the committed weights: the reference
            continue
        # the image tokens are projected to the width before their key/value projections
        arch = widened(TOY, width)
        torch.manual_seed(0)
        dit = small_transformer(arch, True, channels).to(dtype=toy.dtype).eval().requires_grad_(False)
        merge_context_padding(dit)  # as load_backbone installs it on every expert
        dits[width] = dit

    dit_seconds, started = [0.0], [0.0]  # the DiT's seconds in this run; when its forward began

    def begin(*_):
        started[0] = time.perf_counter()

    def end(*_):
        dit_seconds[0] += time.perf_counter() - started[0]

    for dit in dits.values():
        dit.register_forward_pre_hook(begin)
        dit.register_forward_hook(end)

    with tempfile.TemporaryDirectory() as d:
        samples = report.toy_world_samples(d, g, args.samples, args.clips)

        def run() -> tuple[float, float]:
            dit_seconds[0] = 0.0
            return report.timed_generation(generator, samples, g, args.clips), dit_seconds[0]

        load_before = os.getloadavg()
        seconds: dict[int, list[float]] = {w: [] for w in widths}
        in_dit: dict[int, list[float]] = {w: [] for w in widths}
        for repeat in range(args.repeats + 1):  # the first round warms up
            for width, dit in dits.items():
                generator.bb.transformer = dit
                total, dit_part = run()
                if repeat:
                    seconds[width].append(total)
                    in_dit[width].append(dit_part)
        generator.bb.transformer = toy
        load_after = os.getloadavg()

    median = {w: statistics.median(s) for w, s in seconds.items()}
    report.emit(
        {
            "benchmark": "dit_width",
            **report.toy_generation_run(g, len(samples), args.clips, args.repeats, load_before, load_after),
            "layers": TOY.layers,
            "parameters": {w: sum(p.numel() for p in dit.parameters()) for w, dit in dits.items()},
            "seconds_per_sample_clip": {w: m / (len(samples) * args.clips) for w, m in median.items()},
            "dit_share": {w: statistics.median(in_dit[w]) / median[w] for w in widths},
            "over_toy": {w: m / median[reference] for w, m in median.items()}
            if reference in median
            else None,
            "seconds_runs": {w: s for w, s in seconds.items()},
        },
        args.out,
    )


if __name__ == "__main__":
    main()
