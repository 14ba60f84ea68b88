"""The panned frame: a trivial video that moves.

The held frame, the loop and the ping-pong are trivial videos that do not travel. `pan` is one that
does, with no model: the sample's first frame seen through a camera gliding at a constant velocity, so
the picture slides the other way, and what comes into view from outside the frame is its nearest edge
pixel. Drawn at a random heading and speed it is a stochastic trivial forecast: a sampler that cannot
beat it on a proper score (scoring/energy.py) has learnt no more than "the camera moves".

Velocities are (vy, vx) in frame sides per frame, the convention of toy world 3's camera
(`toyworld.world.Camera`: its top-left corner at origin + velocity * t). Headings and speeds come from
the world's own cameras where the benchmark states them, else from SPEED_RANGE at a uniform heading.
"""

from __future__ import annotations

import math

import numpy as np

# Where a benchmark does not say how its camera moves: a uniform heading, and a speed of 0.5% to 2% of
# the frame's side a frame (8% to 32% a second at 16 fps).
SPEED_RANGE = (0.005, 0.02)


def _clamped(n: int, shift: int) -> np.ndarray:
    """Indices 0..n-1 moved by `shift`, held at the edges: [n]."""
    return np.clip(np.arange(n) + shift, 0, n - 1)


def pan(image: np.ndarray, frames: int, velocity: tuple[float, float]) -> np.ndarray:
    """`image` uint8 [H, W, 3] panned for `frames` frames at `velocity` (vy, vx) frame sides per frame
    -> uint8 [frames, H, W, 3]. Frame t shows the point (y + t vy H, x + t vx W) of the image at pixel
    (y, x), bilinear between pixels, the nearest edge pixel outside; frame 0 is the image itself."""
    if frames < 1:
        raise ValueError(f"a video has at least one frame, not {frames}")
    if not all(math.isfinite(v) for v in velocity):
        raise ValueError(f"a pan's velocity is finite, not {velocity}")
    h, w = image.shape[:2]
    src = image.astype(np.float64)  # [H, W, 3]
    out = np.empty((frames, *image.shape), dtype=np.uint8)  # [frames, H, W, 3]
    for t in range(frames):
        oy, ox = t * velocity[0] * h, t * velocity[1] * w  # offset in pixels
        iy, ix = math.floor(oy), math.floor(ox)
        fy, fx = oy - iy, ox - ix  # the fractions of the next pixel, in [0, 1)
        r0, r1 = _clamped(h, iy), _clamped(h, iy + 1)
        c0, c1 = _clamped(w, ix), _clamped(w, ix + 1)
        top = (1 - fx) * src[r0][:, c0] + fx * src[r0][:, c1]
        bottom = (1 - fx) * src[r1][:, c0] + fx * src[r1][:, c1]
        out[t] = np.clip(np.rint((1 - fy) * top + fy * bottom), 0, 255)
    return out


def velocity(angle: float, speed: float) -> tuple[float, float]:
    """(vy, vx) of a camera heading at `angle` (radians, 0 = right, pi/2 = down) at `speed` frame
    sides per frame."""
    return speed * math.sin(angle), speed * math.cos(angle)


def draw_velocities(
    rng: np.random.Generator,
    k: int,
    headings: dict[str, float] | None = None,
    speeds: dict[str, float] | None = None,
) -> list[tuple[float, float]]:
    """K pan velocities: each a heading and a speed drawn from the world's cameras (`headings`: name ->
    angle, `speeds`: name -> frame sides per frame, each equally likely), or, where a benchmark states
    none, a uniform angle and a speed uniform in SPEED_RANGE."""
    if k < 1:
        raise ValueError(f"at least one pan is drawn, not {k}")
    out = []
    for _ in range(k):
        if headings:
            angle = headings[sorted(headings)[rng.integers(len(headings))]]
        else:
            angle = rng.uniform(0.0, 2 * math.pi)
        if speeds:
            speed = speeds[sorted(speeds)[rng.integers(len(speeds))]]
        else:
            speed = rng.uniform(*SPEED_RANGE)
        out.append(velocity(angle, speed))
    return out
