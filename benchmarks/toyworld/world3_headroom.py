"""Can a model beat the first frame held still in toy world 3, even in principle? (gate G3's headroom)

Model-free rows, scored against the true video beside the first frame held still (`frozen`):
- `other_landscape` renders each consistent-track benchmark scene again with the same background,
  subjects and camera over another landscape seed (every disc drawn anew, even those in view at frame
  0): a model that knows the world's physics but invents every disc it shows.
- `keep_in_view` keeps the discs of the landscape cells that frame 0 shows and redraws only those
  that come into view later: a model that knows the physics and keeps what it was shown.
- `sampler` and `sampler_blind` (`--samplers`) are what a generative model scores at best: it draws
  one future, it does not take the median of them. Each is the mean distance over SAMPLER_DRAWS draws
  of a video rendered as `keep_in_view` is, but with every subject's velocity and spin drawn again from
  the world's ranges (frame 0 shows where a subject is, not where it goes). `sampler` keeps the truth's
  camera: a perfect model that reads the heading and speed in the prompt. `sampler_blind` draws the
  camera too, from WORLD3_HEADINGS x WORLD3_SPEEDS: a perfect model that does not read them.
All as the mean absolute pixel difference on [0, 1] (the `truth_distance` metric), per 2 s clip of the
first `--seconds`. With `--vae` each row (and the truth, as `truth_vae`) first goes through that toy
model's VAE clip by clip, as generation's clips do (`scoring.references.through_vae`): what a model with
that VAE could score at best; without it no ceiling is taken off and no torch is needed.

    python -m benchmarks.toyworld world3_headroom --samples 16 --seconds 10
    python -m benchmarks.toyworld world3_headroom --samples 8 --vae toy
    python -m benchmarks.toyworld world3_headroom --samples 8 --samplers --vae toy
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from harness.declare.experiment import TOY_BENCHMARK_SEED
from scoring.references import through_vae
from svi.model.presets import TOY_DEFAULTS
from toyworld.futures import FUTURES_STREAM, kept_discs
from toyworld.futures import drawn_futures as toy_futures
from toyworld.world import render, sample_scene, scene_seed

CLIP = TOY_DEFAULTS["generate"]["num_frames"]  # frames per toy clip; consecutive clips share one
FPS = TOY_DEFAULTS["generate"]["fps"]
SAMPLER_DRAWS = 4  # futures drawn per scene for `sampler` and `sampler_blind`
SAMPLER_STREAM = FUTURES_STREAM  # the random stream of the sampler's draws, beside the benchmark seed


def clip_spans(clips: int) -> list[slice]:
    """Frames of each clip of a chained video: clip 0 is frames 0..16, clip k its 16 new frames."""
    step = CLIP - 1
    return [slice(0, CLIP)] + [slice(1 + step * k, CLIP + step * k) for k in range(1, clips)]


def drawn_futures(scene, frames: int, draws: int, blind: bool, seed: int) -> list[np.ndarray]:
    """`draws` videos (uint8 [F, H, W, 3]) of `scene` as a perfect sampler could make them
    (toyworld.futures `drawn_futures`, the `truth_alt` reference's draws): frame 0's discs kept, the
    cells that come into view from another landscape seed (one per draw), each subject's velocity and
    spin drawn again, and with `blind` the camera's heading and speed drawn from the cameras world 3
    draws from. Frame 0 of each is the truth's."""
    return toy_futures(scene, frames, draws, seed, blind=blind)


def clip_distance(video: np.ndarray, truth: np.ndarray, spans: list[slice]) -> np.ndarray:
    """Mean absolute difference of `video` (uint8 [F, H, W, 3]) to `truth` (float [F, H, W, 3] on [0, 1])
    over each span -> [len(spans)]."""
    return np.array([np.abs(video[span].astype(np.float32) / 255 - truth[span]).mean() for span in spans])


def headroom(
    samples: int,
    seconds: float,
    seed: int = TOY_BENCHMARK_SEED,
    vae=None,
    samplers: bool = False,
) -> dict[str, list[float]]:
    """Per-clip mean absolute difference to the truth of `frozen`, `other_landscape` and `keep_in_view`,
    with `samplers` also `sampler` and `sampler_blind`
    (each the mean over SAMPLER_DRAWS drawn futures), and with `vae` (a `scoring.references.VaeRoundTrip`
    every row but frozen goes through) `truth_vae`, over the first `samples` consistent-track scenes of
    world 3."""
    clips = max(1, round(seconds * FPS / (CLIP - 1)))
    spans = clip_spans(clips)
    frames = spans[-1].stop
    step = CLIP - 1  # generation's windows: clip k's frames 16k .. 16k + 15, the last clip's 17
    windows = [(step * k, step * (k + 1) if k < clips - 1 else frames) for k in range(clips)]
    rows = ("frozen", "other_landscape", "keep_in_view", *(("sampler", "sampler_blind") if samplers else ()),
            *(("truth_vae",) if vae else ()))  # fmt: skip
    out = {name: np.zeros(clips) for name in rows}
    for i in range(samples):
        scene = sample_scene(scene_seed("consistent", seed, i), (64, 64), world=3)
        redrawn = replace(scene, camera=replace(scene.camera, landscape_seed=scene.camera.landscape_seed + 1))
        truth8 = render(scene, 0, frames)  # uint8 [F, H, W, 3]
        made = {
            "other_landscape": render(redrawn, 0, frames),
            "keep_in_view": render(redrawn, 0, frames, discs=kept_discs(scene)),
            **({"truth_vae": truth8} if vae else {}),
        }
        if vae:
            made = {name: through_vae(video, windows, vae) for name, video in made.items()}
        truth = truth8.astype(np.float32) / 255
        for k, span in enumerate(spans):
            out["frozen"][k] += np.abs(truth[:1] - truth[span]).mean() / samples
        for name, video in made.items():
            out[name] += clip_distance(video, truth, spans) / samples
        for name, is_blind in (("sampler", False), ("sampler_blind", True)) if samplers else ():
            for video in drawn_futures(scene, frames, SAMPLER_DRAWS, is_blind, seed + i):
                out[name] += clip_distance(
                    through_vae(video, windows, vae) if vae else video, truth, spans
                ) / (samples * SAMPLER_DRAWS)
    return {name: [round(float(v), 4) for v in values] for name, values in out.items()}


def toy_vae(weights: str):
    """The VAE round trip of a toy model folder (`toy`: the committed one) as the demo's recipe chains."""
    from benchmarks.toyworld.demo_recipe import recipe
    from harness.run.reference_units import vae_roundtrip
    from svi.generation.generator import LongVideoGenerator

    cfg = recipe(None if weights == "toy" else weights, [])
    return vae_roundtrip(LongVideoGenerator.from_config(cfg, lora=None, device="cpu"), cfg)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=16, help="consistent-track scenes (default 16)")
    p.add_argument("--seconds", type=float, default=10.0, help="video length scored (default 10: G3's span)")
    p.add_argument(
        "--vae", metavar="FOLDER", help="take the rows through this toy model's VAE (toy: the committed one)"
    )
    p.add_argument(
        "--samplers", action="store_true",
        help=f"add sampler and sampler_blind (the mean over {SAMPLER_DRAWS} drawn futures a scene: what a "
        "perfect generative model scores, reading the camera's words or not)",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.samples < 1 or args.seconds <= 0:
        p.error("--samples must be at least 1 and --seconds positive")
    if args.vae and args.vae != "toy" and not Path(args.vae).is_dir():
        p.error(f"--vae {args.vae}: no such folder (a toy model folder, or toy for the committed one)")
    vae = toy_vae(args.vae) if args.vae else None
    rows = headroom(args.samples, args.seconds, vae=vae, samplers=args.samplers)
    means = {name: round(float(np.mean(v)), 4) for name, v in rows.items()}
    print(
        json.dumps(
            {
                "samples": args.samples,
                "seconds": args.seconds,
                "vae": args.vae,
                "per_clip": rows,
                "mean": means,
            }
        )
    )
    return 0
