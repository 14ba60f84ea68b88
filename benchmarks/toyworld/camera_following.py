"""Does a toy base move the picture as the world's camera does? (what gate G3 needs first, fast)

In toy world 3 the camera travels over a landscape, as the prompt states, so a model that beats the
first frame held still must move the picture as the camera does (`world3_headroom`'s `keep_in_view`
row: keeping what frame 0 shows and moving it as the camera does leaves a wide margin over the held
frame; redrawing everything leaves none). This takes consistent-track benchmark scenes of the weights'
world, makes the base's first clip from each scene's first frame under its prompt, and estimates how
far the picture moved between the clip's first and last frames (`displacement`: the whole-pixel shift
that best maps one onto the other), beside the true clip's. With `--all-headings` each scene is
restated under each of the eight headings, at one speed, so every scene is seen under every heading.

`following` is the base's displacement projected on the truth's, over the truth's length (1: it moves
as the world does; 0: it holds still, as a frozen frame does; negative: the wrong way); `error_px` the
distance between the two displacements. A landscape that moves 1 px a frame moves 16 px over a clip.
`heading_spread` (with `--all-headings`) asks whether the heading's words change the clip at all: the
mean absolute pixel difference of each heading's clip from the mean of the scene's clips under all
headings (the same noise for all), beside the truth's (0: the heading changes nothing).

    python -m benchmarks.toyworld camera_following --samples 4
    python -m benchmarks.toyworld camera_following --weights WORKSPACE/runs/EXP/pretrain/model
    python -m benchmarks.toyworld camera_following --all-headings
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

from benchmarks.toyworld.demo_recipe import recipe

SPEED = "steadily"  # of --all-headings: 1 px a frame at 64 px, 16 px over a toy clip


def displacement(first: np.ndarray, last: np.ndarray, reach: int) -> tuple[int, int]:
    """The whole-pixel shift (dy, dx), |dy|, |dx| <= reach, that best maps `first` onto `last` (float
    [H, W, C]): the content at first[y, x] is found at last[y + dy, x + dx], scored by the mean
    absolute difference over the frames' overlap. Ties keep the smallest shift (a still picture: 0, 0)."""
    h, w = first.shape[:2]
    if not 0 <= reach < min(h, w) // 2:
        raise ValueError(f"reach {reach} must be below half the frame side ({min(h, w) // 2})")
    shifts = sorted(
        ((dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)),
        key=lambda s: (abs(s[0]) + abs(s[1]), s),
    )
    best, where = np.inf, (0, 0)
    for dy, dx in shifts:
        a = first[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        b = last[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)]
        err = float(np.abs(a - b).mean())
        if err < best:
            best, where = err, (dy, dx)
    return where


def following(made: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(projection of `made` [2] on `truth` [2] over |truth|^2, |made - truth|) for displacements."""
    norm = float(truth @ truth)
    if norm == 0:
        raise ValueError("the truth does not move: following is undefined")
    return float(made @ truth) / norm, float(np.linalg.norm(made - truth))


def heading_spread(clips: np.ndarray) -> float:
    """Mean absolute difference of each clip [K, F, H, W, C] from their mean over the K headings."""
    return float(np.abs(clips - clips.mean(axis=0, keepdims=True)).mean())


def measure(cfg, samples: int, reach: int, all_headings: bool = False) -> dict:
    import torch

    from harness.declare.experiment import TOY_BENCHMARK_SEED
    from svi.generation.generator import LongVideoGenerator
    from svi.model.presets import preset_weights, toy_world_of
    from toyworld.world import CAMERA_HEADINGS, describe, render, sample_scene, scene_seed

    world = toy_world_of(preset_weights("toy", cfg.model.weights))
    if world < 3:
        raise ValueError(f"these weights are toy world {world}'s, which has no camera: use a world-3 base")
    g = cfg.generate
    gen = LongVideoGenerator.from_config(cfg, lora=None, device="cpu")
    neg = gen.negative_context()  # text CFG where the recipe (or a --set) asks for it
    rows, spread = [], {"truth": [], "base": []}
    for i in range(samples):
        clips = {"truth": [], "base": []}
        scene = sample_scene(
            scene_seed("consistent", TOY_BENCHMARK_SEED, i), (g.height, g.width), world=world
        )
        first = torch.from_numpy(render(scene, 0, 1)[0]).permute(2, 0, 1).float() / 127.5 - 1  # [3, H, W]
        headings = CAMERA_HEADINGS if all_headings else (scene.camera.heading,)
        for heading in headings:
            moved = scene
            if all_headings:
                moved = replace(scene, camera=replace(scene.camera, heading=heading, speed=SPEED))
            truth = render(moved, 0, g.num_frames).astype(np.float32) / 255  # [F, H, W, 3]
            torch.manual_seed(i)
            with torch.no_grad():
                video, _ = gen.generate_clip(
                    0, describe(moved), first[None], None, None, gen.clip_contexts(first[None], [None]), neg
                )  # [1, 3, F, H, W] in [-1, 1]
            made = ((video[0].permute(1, 2, 3, 0) + 1) / 2).clamp(0, 1).numpy()  # [F, H, W, 3]
            true_shift = np.array(displacement(truth[0], truth[-1], reach), dtype=float)
            made_shift = np.array(displacement(made[0], made[-1], reach), dtype=float)
            follow, error = following(made_shift, true_shift)
            clips["truth"].append(truth)
            clips["base"].append(made)
            rows.append({"scene": i, "heading": heading, "truth": true_shift.tolist(),
                         "base": made_shift.tolist(), "following": follow, "error_px": error})  # fmt: skip
        if all_headings:  # one heading has nothing to spread over
            for name, made in clips.items():
                spread[name].append(heading_spread(np.stack(made)))
    per_heading = {
        h: round(float(np.mean([r["following"] for r in rows if r["heading"] == h])), 3)
        for h in dict.fromkeys(r["heading"] for r in rows)
    }
    out = {
        "samples": samples, "all_headings": all_headings, "toy_world": world,
        "truth_px": round(float(np.mean([np.linalg.norm(r["truth"]) for r in rows])), 2),
        "following": round(float(np.mean([r["following"] for r in rows])), 3),
        "error_px": round(float(np.mean([r["error_px"] for r in rows])), 2),
        "following_per_heading": per_heading,
    }  # fmt: skip
    if all_headings:
        out["speed"] = SPEED
        out["heading_spread"] = {name: round(float(np.mean(v)), 4) for name, v in spread.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", help="a toy model folder of world 3 (default: the committed svi/weights/toy)")
    p.add_argument("--samples", type=int, default=4, help="consistent-track scenes (default 4)")
    p.add_argument("--all-headings", action="store_true",
                   help="restate each scene under the 8 headings a Camera takes, at 1 px a frame, and "
                   "measure how much the heading's words change the clip (heading_spread)")  # fmt: skip
    p.add_argument("--reach", type=int, default=20, help="largest shift searched, px (default 20)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="an override of the demo's recipe (generate.steps=20); repeatable")  # fmt: skip
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = p.parse_args(argv)
    if args.samples < 1 or (args.threads is not None and args.threads < 1):
        p.error("--samples and --threads must be at least 1")
    try:
        cfg = recipe(args.weights, args.set)
    except ValueError as e:
        p.error(str(e))
    side = min(cfg.generate.height, cfg.generate.width)
    if not 0 <= args.reach < side // 2:
        p.error(f"--reach {args.reach} must be at least 0 and below half the frame side ({side // 2})")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        print(
            json.dumps(
                {
                    **measure(cfg, args.samples, args.reach, args.all_headings),
                    "overrides": args.set,
                }
            )
        )
    except ValueError as e:
        p.error(str(e))
    return 0
