"""Shared output of the performance scripts: one JSON document on stdout, optionally to a file."""

from __future__ import annotations

import json
import platform


def machine() -> dict:
    import torch

    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }


def emit(result: dict, out: str | None = None) -> None:
    """Print `result` (with the machine description added) as JSON, and write it to `out` if given."""
    text = json.dumps({**result, "host": machine()}, indent=2)
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")


def toy_generation_args(doc: str, samples: int, clips: int, repeats: int, extra=None):
    """The flags of a toy-generation benchmark (--samples, --clips, --repeats, --threads, --out), and
    those `extra(parser)` adds, parsed."""
    import argparse

    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if extra is not None:
        extra(p)
    p.add_argument("--samples", type=int, default=samples, help="videos per run (N)")
    p.add_argument("--clips", type=int, default=clips, help="clips per video (C)")
    p.add_argument("--repeats", type=int, default=repeats)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out")
    return p.parse_args()


def toy_generation_run(g, samples: int, clips: int, repeats: int, load_before, load_after) -> dict:
    """The settings a toy-generation benchmark ran with: the generate section `g`, its sample and
    clip counts, and the 1-minute load average before and after (other processes on the cores)."""
    return {
        "preset": "toy",
        "clip": {"frames": g.num_frames, "height": g.height, "width": g.width},
        "steps": g.steps,
        "guidance_scale": g.guidance_scale,
        "samples": samples,
        "clips_per_sample": clips,
        "repeats": repeats,
        "load_average_1min": {"before": load_before[0], "after": load_after[0]},
    }


def toy_world_samples(folder, g, samples: int, clips: int) -> list:
    """`samples` scenes of the toy world's consistent track, written under `folder` with stories of
    `clips` clips at the generate section `g`'s clip size (scoring.suites samples)."""
    from pathlib import Path

    from scoring import suites
    from toyworld.writers import write_benchmark

    bench = write_benchmark(
        Path(folder) / "bench", num_consistent=samples, num_creative=0, size=(g.height, g.width),
        story_clips=clips, clip_frames=g.num_frames, overlap=g.lead_frames(), progress=False,
    )  # fmt: skip
    found, _ = suites.load_samples(suites.suite_folder(bench, "consistent", "50s"))
    return found[:samples]


def timed_generation(generator, samples: list, g, clips: int, draws: int = 1) -> float:
    """Wall seconds of `generator.generate_batch` on `samples` (each its image and first `clips`
    prompts, a video of `clips` clips; `draws` videos of each with other noise, consecutive jobs), the
    videos written to a temporary folder."""
    import tempfile
    import time

    from scoring import suites
    from svi.generation.sampling import draw_seed
    from svi.generation.video import VideoJob, fixed_prompts

    with tempfile.TemporaryDirectory() as out:
        jobs = [
            VideoJob(
                suites.load_image(s.image, g.height, g.width),
                fixed_prompts(list(s.prompts[:clips])),
                f"{out}/v{i}_{k}.mp4",
                num_clips=clips,
                seed=draw_seed(g.seed, k),
            )
            for i, s in enumerate(samples)
            for k in range(draws)
        ]
        t0 = time.perf_counter()
        generator.generate_batch(jobs, progress=False)
        return time.perf_counter() - t0


def memory_growth(runs: dict, size: int, frames_key: str) -> dict:
    """The memory figures of a short and a long run (`runs`: length -> the child's peak_rss_bytes,
    rss_before_bytes and frames, shortest first): the long run's peak over the short's against the
    1.1 target, each run's increment in MiB, and (under `frames_key`) what its frames would take if
    held at once as uint8 `size` x `size` RGB."""
    short, long = runs[min(runs)], runs[max(runs)]
    return {
        "peak_ratio_long_over_short": long["peak_rss_bytes"] / short["peak_rss_bytes"],
        "target_ratio": 1.1,
        "increment_mib": {
            str(n): (r["peak_rss_bytes"] - r["rss_before_bytes"]) / 2**20 for n, r in runs.items()
        },
        frames_key: {str(n): r["frames"] * size * size * 3 / 2**20 for n, r in runs.items()},
    }
