"""The untuned toy base against the first frame held still, clip by clip (gate G3's question, fast).

Gate G3 asks that the base arm beat every degenerate reference over the first 10 s of the benchmark
videos. A whole demo run answers it in tens of minutes; this answers the same question on a few scenes
in about a minute, for trying generation settings or a new base: it writes toy-world benchmark scenes
of the weights' world, chains the base's clips as the demo's recipe does (configs/recipes/toy_shot.yaml
with `--set` overrides; text CFG against the recipe's negative prompt where its scale asks for it),
and prints the mean absolute pixel difference to the true video (the `truth_distance` metric, on [0, 1],
before any mp4 encoding) per 2 s clip, beside the first frame held still.

    python -m benchmarks.toyworld base_vs_still --samples 4 --seconds 10
    python -m benchmarks.toyworld base_vs_still --set generate.guidance_scale=5 --track creative
    python -m benchmarks.toyworld base_vs_still --weights WORKSPACE/runs/pretrain_toy_w3_dit/pretrain/model

`--per-frame` adds the distance of each of clip 0's frames, beside the first frame held still and the
true clip through the weights' VAE (`truth_vae`, the floor of any model with that VAE): where in its
first clip the base falls behind.

    python -m benchmarks.toyworld base_vs_still --samples 8 --per-frame
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmarks.toyworld.demo_recipe import recipe


def chained_clips(gen, image: torch.Tensor, prompts: list[str]) -> list[torch.Tensor]:
    """One chained clip of the base per prompt (clip k's prompt: `prompts[k]`) from `image` [1, 3, H, W]
    in [-1, 1], as pixel chaining's drop_lead assembly keeps them (`svi.generation.sampling.assembled_windows`):
    every clip but the last without its last K frames, which the next clip starts from.
    -> [frames [F_k, 3, H, W] on [0, 1]] in order."""
    cfg, neg = gen.cfg, gen.negative_context()
    chain, parts, clips = None, [], len(prompts)
    with torch.no_grad():
        for k, prompt in enumerate(prompts):
            video, _ = gen.generate_clip(
                k,
                prompt,
                image,
                chain,
                None,
                gen.clip_contexts(image, [chain]),
                neg,
            )  # [1, 3, F, H, W]
            frames = ((video[0].permute(1, 0, 2, 3) + 1) / 2).clamp(0, 1)  # [F, 3, H, W]
            parts.append(frames if k == clips - 1 else frames[: frames.shape[0] - cfg.motion_frames])
            chain = video[:, :, -cfg.motion_frames :].clone()
    return parts


def per_clip_distance(parts: list[torch.Tensor], truth: torch.Tensor) -> list[float]:
    """Mean absolute difference of each assembled clip to the same frames of `truth` [T, 3, H, W]."""
    out, start = [], 0
    for part in parts:
        out.append(float((part - truth[start : start + len(part)]).abs().mean()))
        start += len(part)
    return out


def frame_distance(frames: torch.Tensor, truth: torch.Tensor) -> np.ndarray:
    """Mean absolute difference of each frame [F, 3, H, W] to the same frame of `truth` -> [F]."""
    return (frames - truth[: len(frames)]).abs().mean(dim=(1, 2, 3)).numpy()


def compare(cfg, samples: int, seconds: float, track: str, per_frame: bool = False) -> dict:
    from harness.run.reference_units import vae_roundtrip
    from scoring import suites
    from svi.generation.generator import LongVideoGenerator
    from svi.generation.sampling import assign_prompts, total_frames
    from svi.model.presets import preset_weights, toy_world_of
    from toyworld.writers import true_video, write_benchmark

    g = cfg.generate
    clips = g.clips_for(seconds)
    frames = total_frames(clips, g.num_frames, g.lead_frames())
    gen = LongVideoGenerator.from_config(cfg, lora=None, device="cpu")
    world = toy_world_of(preset_weights("toy", cfg.model.weights))
    round_trip = vae_roundtrip(gen, cfg).roundtrip  # truth_vae's round trip, as the references build it
    out = {"base": np.zeros(clips), "frozen": np.zeros(clips)}
    frames0 = {"base": 0.0, "frozen": 0.0, "truth_vae": 0.0}  # -> [frames of clip 0 kept] each
    with tempfile.TemporaryDirectory() as tmp:
        bench = write_benchmark(
            Path(tmp) / "bench", num_consistent=samples, num_creative=samples, size=(g.height, g.width),
            story_clips=clips, clip_frames=g.num_frames, overlap=g.lead_frames(), world=world, progress=False,
        )  # fmt: skip
        found, _ = suites.load_samples(suites.suite_folder(bench, track, "50s"))
        for sample in found[:samples]:
            truth = (
                torch.from_numpy(true_video(sample.image.parent, frames)).permute(0, 3, 1, 2).float() / 255
            )
            made = chained_clips(gen, (truth[0] * 2 - 1)[None], assign_prompts(sample.prompts, clips))
            still = [truth[:1].expand_as(part) for part in made]  # the first frame, as long as each clip
            for name, parts in (("base", made), ("frozen", still)):
                out[name] += np.array(per_clip_distance(parts, truth)) / samples
            if per_frame:  # clip 0's frames as assembled (its last K dropped when a clip follows)
                first = truth[: len(made[0])]
                clip = (truth[: g.num_frames] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
                trip = torch.from_numpy(round_trip(clip[None])[0, : len(first)]).permute(0, 3, 1, 2) / 255
                frames0["base"] += frame_distance(made[0], first) / samples
                frames0["frozen"] += frame_distance(first[:1].expand_as(first), first) / samples
                frames0["truth_vae"] += frame_distance(trip, first) / samples
    result = {
        "track": track, "samples": samples, "clips": clips, "toy_world": world,
        "per_clip": {k: [round(float(v), 4) for v in vs] for k, vs in out.items()},
        "mean": {k: round(float(vs.mean()), 4) for k, vs in out.items()},
    }  # fmt: skip
    if per_frame:
        result["clip0_per_frame"] = {k: [round(float(v), 4) for v in vs] for k, vs in frames0.items()}
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", help="a toy model folder (default: the committed svi/weights/toy)")
    p.add_argument("--samples", type=int, default=4, help="benchmark scenes (default 4)")
    p.add_argument("--seconds", type=float, default=10.0, help="video length compared (default 10: G3's)")
    p.add_argument("--track", choices=("consistent", "creative"), default="consistent")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="an override of the recipe (generate.guidance_scale=5); repeatable")  # fmt: skip
    p.add_argument("--per-frame", action="store_true",
                   help="also each frame of clip 0, beside the held frame and the true clip through the VAE")  # fmt: skip
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = p.parse_args(argv)
    if args.samples < 1 or args.seconds <= 0:
        p.error("--samples must be at least 1 and --seconds positive")
    try:
        cfg = recipe(args.weights, args.set)
    except ValueError as e:  # svi.config.ConfigError too: a bad key or value, named
        p.error(str(e))
    if args.threads:
        torch.set_num_threads(args.threads)
    result = compare(cfg, args.samples, args.seconds, args.track, args.per_frame)
    print(json.dumps({**result, "overrides": args.set}))
    return 0
