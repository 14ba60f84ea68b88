"""Other true futures of a toy-world sample: what a perfect sampler makes (the `truth_alt` reference).

A benchmark sample fixes its first frame and its prompt. The toy world knows what the prompt leaves
open, and draws it again:
- every subject's velocity and spin (`world.redrawn_motion`): frame 0 shows where a subject is, not
  where it goes, and the prompt says only that it bounces around;
- toy world 3's landscape out of view: the discs of the cells frame 0 shows are kept (`kept_discs`),
  every other cell comes from another landscape seed, one per draw.
What the prompt states is kept: the subjects, the background, the camera's heading and speed (world 3),
and on the creative track the storyline's events, clip by clip (a newcomer enters from the edge its
prompt names, as the truth's does: `redrawn_motion` leaves a sprite that enters later as it is). Every
draw's frame 0 is the truth's.

The draws come from the random stream [seed, FUTURES_STREAM], so a sample's futures are the same on
every run for one seed (benchmarks/toyworld/world3_headroom.py draws its `sampler` rows from it).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from toyworld.story import Storyline, render_story
from toyworld.world import (
    CAMERA_HEADINGS,
    CAMERA_SPEEDS,
    WORLD3_HEADINGS,
    WORLD3_SPEEDS,
    Scene,
    cell_disc,
    cells_in_view,
    pick,
    redrawn_motion,
    render,
)
from toyworld.writers import load_world

FUTURES_STREAM = 58  # the random stream of a sample's other futures, beside its seed


def kept_discs(scene: Scene) -> dict:
    """The landscape discs of the cells that `scene`'s frame 0 shows ((iy, ix) -> disc), for
    `render(..., discs=)`: another landscape keeps them and redraws the rest ({} without a camera)."""
    cam = scene.camera
    if cam is None:
        return {}
    return {cell: cell_disc(cam, *cell) for cell in cells_in_view(cam, 0, scene.size, scene.size)}


def drawn_futures(
    world: Scene | Storyline, frames: int, draws: int, seed: int, *, blind: bool = False, start: int = 0
) -> list[np.ndarray]:
    """`draws` other futures (uint8 [frames, H, W, 3], from frame `start`) of `world`, a scene or a
    storyline: frame 0's discs kept, the cells that come into view from another landscape seed (draw j:
    the scene's + 1 + j), each subject's velocity and spin drawn again; with `blind` the camera's
    heading and speed drawn too, from the cameras world 3 draws from (a sampler that does not read the
    camera's words: not another true future). Frame 0 of each is the truth's."""
    if draws < 1 or frames < 0:
        raise ValueError(f"at least one draw of at least no frames, not {draws} draws of {frames}")
    scene = world.scene if isinstance(world, Storyline) else world
    rng = np.random.default_rng([seed, FUTURES_STREAM])
    kept, out = kept_discs(scene), []
    for j in range(draws):
        cam = scene.camera
        if cam is not None:
            cam = replace(cam, landscape_seed=cam.landscape_seed + 1 + j)
            if blind:
                cam = replace(cam, heading=pick(rng, WORLD3_HEADINGS), speed=pick(rng, WORLD3_SPEEDS))
        objects = tuple(redrawn_motion(sprite, rng) for sprite in scene.objects)
        drawn = replace(scene, objects=objects, camera=cam)
        if isinstance(world, Storyline):
            out.append(render_story(replace(world, scene=drawn), start, frames, discs=kept))
        else:
            out.append(render(drawn, start, frames, discs=kept))
    return out


def other_futures(
    sample_dir: str | Path, num_frames: int, draws: int, seed: int, *, start: int = 0
) -> list[np.ndarray]:
    """`draws` other true futures (uint8 [num_frames, H, W, 3] each, from frame `start`) of the toy
    benchmark sample in `sample_dir` (its world.json: a scene or a storyline), from random stream
    [seed, FUTURES_STREAM]: `drawn_futures` with the prompt's camera kept."""
    return drawn_futures(load_world(sample_dir), num_frames, draws, seed, start=start)


def world_cameras(sample_dir: str | Path) -> tuple[dict[str, float], dict[str, float]] | None:
    """The cameras the world of the toy benchmark sample in `sample_dir` draws from, as
    `scoring.pan.draw_velocities` takes them (heading name -> angle, speed name -> frame sides per
    frame): toy world 3's (WORLD3_HEADINGS x WORLD3_SPEEDS); None for a world whose camera holds still
    (world 2), whose pans have no camera of the world's to follow."""
    world = load_world(sample_dir)
    scene = world.scene if isinstance(world, Storyline) else world
    if scene.camera is None:
        return None
    return {h: CAMERA_HEADINGS[h] for h in WORLD3_HEADINGS}, {s: CAMERA_SPEEDS[s] for s in WORLD3_SPEEDS}
