"""The toy world: procedural scenes of bouncing, spinning shapes with a closed-form physics.

A scene is a static background (solid, gradient, stripes or checker) and 1 to 3 shapes (square,
circle, triangle, diamond) that move at constant velocity, bounce off the frame borders and spin at
constant angular velocity. Every quantity is a closed-form function of the absolute frame index t
(the position is a reflected "triangle wave" of p0 + v * t), so any frame renders directly and
`render(scene, 10, 5)` equals `render(scene, 0, 15)[10:]` byte for byte. That gives every benchmark
sample its exact true continuation, however long.

Toy world 3 adds a travelling camera (`Camera`): the background and a landscape of scattered discs
live in world coordinates, which the camera crosses at a constant velocity in one of eight stated
directions, so the picture never repeats and a frame held still falls behind within seconds; the
shapes are the subjects it follows (they keep bouncing inside the frame). The landscape is endless
and procedural: one disc per cell of a grid in world coordinates at most, drawn from a hash of the
scene's landscape seed and the cell, so any part of it renders directly. World-2 scenes have no
camera (`Scene.camera` None): their frames come from the shapes and the background alone.

Units: lengths are in frame sides `s = min(H, W)`; the frame spans [0, H/s] x [0, W/s] in (y, x) and a
speed of 1/64 is 1 px/frame at 64 px. So one scene renders the same picture at 32x32 and 64x64.
Edges are anti-aliased analytically: coverage = clamp(0.5 - signed distance in pixels, 0, 1).

Bit-exact determinism across frame ranges: per-pixel work uses only IEEE-exact elementwise
arithmetic (+, -, *, sqrt, max, clip). Transcendentals run per frame through `math` on scalars,
because numpy's SIMD sin/cos may round a value differently depending on where it sits in an array.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, replace

import numpy as np

# Names -> RGB. Object and background colours come from this one palette.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 45, 45),
    "orange": (240, 140, 30),
    "yellow": (240, 215, 50),
    "green": (50, 170, 70),
    "cyan": (50, 200, 215),
    "blue": (45, 85, 220),
    "purple": (135, 70, 200),
    "pink": (240, 130, 185),
    "brown": (130, 85, 45),
    "white": (240, 240, 240),
    "grey": (128, 128, 128),
    "black": (25, 25, 25),
}
COLOUR_NAMES = list(COLOURS)
SHAPES = ["square", "circle", "triangle", "diamond"]
BACKGROUND_KINDS = ["solid", "gradient", "stripes", "checker"]
EDGES = ["top", "bottom", "left", "right"]
MAX_OBJECTS = 3
NONE = -1  # label id of an absent object slot (use as ignore_index)

# Stripe normals (radians) and how the stripes look: normal along x -> vertical stripes.
STRIPE_ORIENTATIONS = {"vertical": 0.0, "horizontal": math.pi / 2, "diagonal": math.pi / 4}

# Sampling ranges, in frame sides (and frames).
SIZE_RANGE = (0.18, 0.36)  # diameter of the circumscribed circle
SPEED_RANGE = (0.5 / 64, 2.5 / 64)  # per frame
SPIN_RANGE = (0.01, 0.08)  # radians per frame, either sign
PERIOD_RANGE = (0.25, 0.5)  # stripe / checker period
SMALL_BELOW, LARGE_ABOVE = 0.24, 0.30  # size words in the prompts
SIZE_MULTIPLE = 16  # frame sides must be multiples of this (Wan: VAE x8, patch x2)
# Frames rendered at once: bounds the float32 temporaries to about 8 MB each.
CHUNK_PIXELS = 1 << 21

# Toy world 3: the toy worlds whose scenes this module renders (world 2 has no camera).
WORLDS = (2, 3)
# Camera headings (radians, y down) and the words the prompt states them with: "the camera moves right".
CAMERA_HEADINGS = {
    "right": 0.0,
    "down and to the right": math.pi / 4,
    "down": math.pi / 2,
    "down and to the left": 3 * math.pi / 4,
    "left": math.pi,
    "up and to the left": 5 * math.pi / 4,
    "up": 3 * math.pi / 2,
    "up and to the right": 7 * math.pi / 4,
}
# Camera speeds (frame sides per frame) and their words: 0.5 and 1 px/frame at 64 px.
CAMERA_SPEEDS = {"slowly": 0.5 / 64, "steadily": 1.0 / 64}
# The cameras toy world 3 draws from (its sets' stamps record them, so a set drawn from others is
# written again): all eight headings and both speeds, stated only in the prompt. A world that draws
# one heading is a one-line change here (what a base learns from one: docs/guides/toyworld_record.md, "The
# padding, not the words").
WORLD3_HEADINGS = tuple(CAMERA_HEADINGS)
WORLD3_SPEEDS = tuple(CAMERA_SPEEDS)
LANDSCAPE_CELL = 0.5  # side of a landscape cell, frame sides: one disc at most per cell
LANDSCAPE_FILL = 0.75  # chance that a cell holds a disc
LANDSCAPE_RADIUS = (0.08, 0.2)  # disc radius, frame sides (inside its cell's reach, see _cell_disc)
LANDSCAPE_COLOURS = 2  # colours of a scene's discs (named in its prompt)


# -- scene description ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Background:
    kind: str  # one of BACKGROUND_KINDS
    colours: tuple[str, str]  # (main, second); solid backgrounds repeat the main colour
    angle: float = 0.0  # radians: gradient direction or stripe normal
    period: float = 0.25  # stripe / checker period, frame sides


@dataclass(frozen=True)
class Sprite:
    """One moving shape. Its state at frame t is a closed-form function of t."""

    shape: str  # one of SHAPES
    colour: str  # a COLOURS name
    size: float  # diameter of the circumscribed circle, frame sides
    position: tuple[float, float]  # unfolded centre (y, x) at t = 0
    velocity: tuple[float, float]  # (vy, vx) per frame
    angle: float  # radians at t = 0
    spin: float  # radians per frame
    # Objects that enter during a storyline slide in from `enter_edge` starting at `enter_frame`
    # (centre on the border line) until they touch the inside of the border, then bounce as usual.
    enter_frame: int | None = None
    enter_edge: str | None = None

    @property
    def radius(self) -> float:
        return self.size / 2


@dataclass(frozen=True)
class Camera:
    """Toy world 3's travelling camera and the landscape it crosses.

    The camera's top-left corner is at `origin + velocity * t` in world coordinates (frame sides), so
    the world moves the other way in the picture. The landscape is the scene's background pattern,
    taken in world coordinates, under discs of `colours` scattered by `landscape_seed`.
    """

    heading: str  # one of CAMERA_HEADINGS
    speed: str  # one of CAMERA_SPEEDS
    origin: tuple[float, float]  # (y, x) at t = 0
    colours: tuple[str, ...]  # the landscape discs' colours
    landscape_seed: int

    def __post_init__(self):
        for what, value, allowed in (
            ("heading", self.heading, CAMERA_HEADINGS),
            ("speed", self.speed, CAMERA_SPEEDS),
        ):
            if value not in allowed:
                raise ValueError(f"camera {what} {value!r} is not one of: {', '.join(map(repr, allowed))}")

    @property
    def velocity(self) -> tuple[float, float]:
        """(vy, vx) in frame sides per frame."""
        angle, speed = CAMERA_HEADINGS[self.heading], CAMERA_SPEEDS[self.speed]
        return speed * math.sin(angle), speed * math.cos(angle)

    def offset(self, t: int) -> tuple[float, float]:
        """The camera's top-left corner (y, x) at frame t, float64 (one scalar path for every frame)."""
        vy, vx = self.velocity
        return self.origin[0] + vy * t, self.origin[1] + vx * t


@dataclass(frozen=True)
class Scene:
    background: Background
    objects: tuple[Sprite, ...]  # in depth order: later ones are drawn on top
    size: tuple[int, int] = (64, 64)  # (H, W) in pixels
    camera: Camera | None = None  # toy world 3; None: the still camera of world 2

    @property
    def world(self) -> int:
        """The toy world this scene belongs to (3 with a camera, else 2)."""
        return 2 if self.camera is None else 3

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.camera is None:  # world-2 files stay as they were
            del d["camera"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Scene:
        camera = d.get("camera")
        return cls(
            background=background_from_dict(d["background"]),
            objects=tuple(sprite_from_dict(o) for o in d["objects"]),
            size=tuple(d["size"]),
            camera=None if camera is None else camera_from_dict(camera),
        )


def camera_from_dict(d: dict) -> Camera:
    return Camera(
        d["heading"],
        d["speed"],
        tuple(float(v) for v in d["origin"]),
        tuple(d["colours"]),
        int(d["landscape_seed"]),
    )


def background_from_dict(d: dict) -> Background:
    return Background(d["kind"], tuple(d["colours"]), float(d["angle"]), float(d["period"]))


def sprite_from_dict(d: dict) -> Sprite:
    return Sprite(
        shape=d["shape"],
        colour=d["colour"],
        size=float(d["size"]),
        position=tuple(float(v) for v in d["position"]),
        velocity=tuple(float(v) for v in d["velocity"]),
        angle=float(d["angle"]),
        spin=float(d["spin"]),
        enter_frame=d.get("enter_frame"),
        enter_edge=d.get("enter_edge"),
    )


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    height, width = (int(v) for v in size)
    for name, value in (("height", height), ("width", width)):
        if value < SIZE_MULTIPLE or value % SIZE_MULTIPLE:
            down = max(SIZE_MULTIPLE, value // SIZE_MULTIPLE * SIZE_MULTIPLE)
            raise ValueError(
                f"toy world {name} must be a positive multiple of {SIZE_MULTIPLE}, got {value}; "
                f"try {down} or {down + SIZE_MULTIPLE}"
            )
    return height, width


def extent(size: tuple[int, int]) -> tuple[float, float]:
    """The frame's (height, width) in frame sides: (1, 1) for square frames."""
    height, width = size
    side = min(height, width)
    return height / side, width / side


# -- seeds ---------------------------------------------------------------------------------------

# Benchmark scenes get seeds >= 2**62, everything else (training, labelled frames) below: a training
# scene can never be a benchmark scene.
BENCHMARK_SPLITS = ("consistent", "creative", "consistent-story", "creative-story")


def scene_seed(split: str, seed: int, index: int) -> int:
    """A stable seed for item `index` of `split` under a user `seed` (not Python's salted hash)."""
    digest = hashlib.blake2b(f"toyworld:{split}:{seed}:{index}".encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little") >> 2  # 62 bits
    return value | (1 << 62) if split in BENCHMARK_SPLITS else value


# -- sampling ------------------------------------------------------------------------------------


def pick(rng: np.random.Generator, options, exclude=()) -> str:
    """A uniformly drawn option that is not in `exclude`."""
    allowed = [o for o in options if o not in set(exclude)]
    return allowed[int(rng.integers(len(allowed)))]


def sample_background(rng: np.random.Generator, exclude_colours=()) -> Background:
    kind = BACKGROUND_KINDS[int(rng.choice(len(BACKGROUND_KINDS), p=[0.3, 0.3, 0.2, 0.2]))]
    first = pick(rng, COLOUR_NAMES, exclude_colours)
    second = first if kind == "solid" else pick(rng, COLOUR_NAMES, (*exclude_colours, first))
    if kind == "stripes":
        angle = STRIPE_ORIENTATIONS[pick(rng, list(STRIPE_ORIENTATIONS))]
    elif kind == "gradient":
        angle = float(rng.uniform(0, 2 * math.pi))
    else:
        angle = 0.0
    period = float(rng.uniform(*PERIOD_RANGE)) if kind in ("stripes", "checker") else 0.25
    return Background(kind, (first, second), angle, period)


def _sample_motion(rng: np.random.Generator) -> tuple[tuple[float, float], float, float]:
    speed = rng.uniform(*SPEED_RANGE)
    heading = rng.uniform(0, 2 * math.pi)
    velocity = (float(speed * math.sin(heading)), float(speed * math.cos(heading)))
    spin = float(rng.uniform(*SPIN_RANGE) * (1 if rng.random() < 0.5 else -1))
    return velocity, float(rng.uniform(0, 2 * math.pi)), spin


def sample_sprite(rng: np.random.Generator, colour: str, size_hw: tuple[int, int]) -> Sprite:
    """A sprite of `colour` somewhere inside the frame, with a random shape, size and motion."""
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    size = float(rng.uniform(*SIZE_RANGE))
    r = size / 2
    ey, ex = extent(size_hw)
    position = (float(rng.uniform(r, ey - r)), float(rng.uniform(r, ex - r)))
    velocity, angle, spin = _sample_motion(rng)
    return Sprite(shape, colour, size, position, velocity, angle, spin)


def redrawn_motion(sprite: Sprite, rng: np.random.Generator) -> Sprite:
    """`sprite` where it is at frame 0, at its angle there, with its velocity and spin drawn again from
    the world's ranges: one future a still frame cannot rule out (a picture shows where a subject is,
    not where it goes). A sprite that enters later is returned as it is."""
    if sprite.enter_frame is not None:
        return sprite
    velocity, _, spin = _sample_motion(rng)
    return replace(sprite, velocity=velocity, spin=spin)


def sample_entering_sprite(
    rng: np.random.Generator, colour: str, size_hw: tuple[int, int], frame: int
) -> Sprite:
    """A sprite that slides in from a random edge from `frame` on (see `Sprite.enter_frame`)."""
    sprite = sample_sprite(rng, colour, size_hw)
    edge = EDGES[int(rng.integers(len(EDGES)))]
    speed = float(rng.uniform(*SPEED_RANGE))
    return entering(sprite, edge, frame, speed, size_hw)


def entering(sprite: Sprite, edge: str, frame: int, speed: float, size_hw: tuple[int, int]) -> Sprite:
    """`sprite` made to enter from `edge` at `frame`, moving inward at `speed` along the edge normal.

    The unfolded coordinate along the normal is chosen so that the bounce trajectory starts exactly
    where the slide-in ends (touching the border, moving inward): the path is continuous.
    """
    if edge not in EDGES:
        raise ValueError(f"unknown edge {edge!r}; choose one of {', '.join(EDGES)}")
    axis = 0 if edge in ("top", "bottom") else 1
    length = extent(size_hw)[axis]
    r = sprite.radius
    settle = frame + r / speed  # frame at which the slide-in ends
    if edge in ("top", "left"):  # unfolded u = speed * (t - settle) + r: at r, increasing
        p, v = r - speed * settle, speed
    else:  # unfolded u = length - r - speed * (t - settle): at length - r, decreasing
        p, v = length - r + speed * settle, -speed
    position, velocity = list(sprite.position), list(sprite.velocity)
    position[axis], velocity[axis] = p, v
    return replace(
        sprite, position=tuple(position), velocity=tuple(velocity), enter_frame=frame, enter_edge=edge
    )


def sample_camera(seed: int, exclude_colours=()) -> Camera:
    """Toy world 3's camera for scene seed `seed`: its heading and speed (WORLD3_HEADINGS,
    WORLD3_SPEEDS; stated in the prompt), a random place in the landscape, and LANDSCAPE_COLOURS disc
    colours that are not in `exclude_colours`."""
    rng = np.random.default_rng([seed, 3])  # its own stream: the rest of the scene is world 2's
    heading = pick(rng, WORLD3_HEADINGS)
    speed = pick(rng, WORLD3_SPEEDS)
    origin = (float(rng.uniform(0, 64)), float(rng.uniform(0, 64)))
    colours = []
    for _ in range(LANDSCAPE_COLOURS):
        colours.append(pick(rng, COLOUR_NAMES, (*exclude_colours, *colours)))
    return Camera(heading, speed, origin, tuple(colours), int(rng.integers(1 << 62)))


def sample_scene(seed: int, size: tuple[int, int] = (64, 64), world: int = 2) -> Scene:
    """A random scene: a background and 1 to 3 objects of distinct colours, none the background's; in
    toy world 3 also a travelling camera over a landscape (the same background and objects as world 2's
    scene of this seed)."""
    if world not in WORLDS:
        raise ValueError(f"unknown toy world {world}; choose one of {', '.join(map(str, WORLDS))}")
    size = check_size(size)
    rng = np.random.default_rng(seed)
    background = sample_background(rng)
    num_objects = int(rng.integers(1, MAX_OBJECTS + 1))
    used = list(background.colours)
    objects = []
    for _ in range(num_objects):
        colour = pick(rng, COLOUR_NAMES, used)
        used.append(colour)
        objects.append(sample_sprite(rng, colour, size))
    camera = sample_camera(seed, used) if world == 3 else None
    return Scene(background, tuple(objects), size, camera)


# -- physics (closed form in the absolute frame index) -------------------------------------------


def _reflect(u: np.ndarray, low: float, high: float) -> np.ndarray:
    """Triangle wave: u folded into [low, high] as a ball bouncing between two walls would be."""
    span = high - low
    w = np.mod(u - low, 2 * span)
    return low + np.where(w <= span, w, 2 * span - w)


def centres(sprite: Sprite, t: np.ndarray, size_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Centre (y [F], x [F]) in frame sides at the frames t [F] (float64)."""
    r = sprite.radius
    out = []
    for axis, length in enumerate(extent(size_hw)):
        out.append(_reflect(sprite.position[axis] + sprite.velocity[axis] * t, r, length - r))
    if sprite.enter_frame is not None:
        axis = 0 if sprite.enter_edge in ("top", "bottom") else 1
        speed = abs(sprite.velocity[axis])
        since = t - sprite.enter_frame
        if sprite.enter_edge in ("top", "left"):
            slide = speed * since
        else:
            slide = extent(size_hw)[axis] - speed * since
        out[axis] = np.where(since < r / speed, slide, out[axis])
    return out[0], out[1]


def angles(sprite: Sprite, t: np.ndarray) -> np.ndarray:
    """Rotation [F] in radians."""
    return sprite.angle + sprite.spin * t


# -- rendering -----------------------------------------------------------------------------------


def _polygon(vertices: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Outward unit normals [E, 2] (y, x) and offsets [E] of a convex polygon (unit circumradius)."""
    v = np.asarray(vertices, dtype=np.float64)
    normals, offsets = [], []
    centre = v.mean(axis=0)
    for a, b in zip(v, np.roll(v, -1, axis=0)):
        edge = b - a
        n = np.array([-edge[1], edge[0]]) / math.hypot(edge[0], edge[1])
        if n @ (a - centre) < 0:  # point away from the centre whatever the vertex order
            n = -n
        normals.append(n)
        offsets.append(float(n @ a))
    return np.array(normals), np.array(offsets)


def _on_circle(degrees: list[float]) -> list[tuple[float, float]]:
    return [(math.sin(math.radians(d)), math.cos(math.radians(d))) for d in degrees]


# Convex shapes as half-planes; the circumscribed circle has radius 1 (scaled by the sprite radius).
POLYGONS = {
    "square": _polygon(_on_circle([45, 135, 225, 315])),
    "triangle": _polygon(_on_circle([-90, 30, 150])),  # apex up at angle 0
    "diamond": _polygon([(-1.0, 0.0), (0.0, 0.6), (1.0, 0.0), (0.0, -0.6)]),  # tall rhombus
}


def _signed_distance(
    shape: str, dy: np.ndarray, dx: np.ndarray, cos: np.ndarray, sin: np.ndarray, radius: float
) -> np.ndarray:
    """Signed distance [f, H, W] (negative inside) from pixel offsets dy [f, H, 1], dx [f, 1, W].

    Polygons use max over edges of (rotated normal . offset - edge offset): exact inside and along
    the edges, slightly short near outside corners, which the one-pixel edge ramp does not show.
    """
    if shape == "circle":
        return np.sqrt(dy * dy + dx * dx) - np.float32(radius)
    normals, offsets = POLYGONS[shape]
    dist = None
    for (ny, nx), offset in zip(normals, offsets):
        # The normal rotated by the sprite's angle: [f, 1, 1] each.
        ry = (sin * nx + cos * ny)[:, None, None]
        rx = (cos * nx - sin * ny)[:, None, None]
        d = ry * dy + rx * dx - np.float32(offset * radius)
        dist = d if dist is None else np.maximum(dist, d)
    return dist


def _stripe_alpha(proj: np.ndarray, period: float, pixels_per_unit: float) -> np.ndarray:
    """Anti-aliased square wave in [0, 1]: 1 on every other half-period band of `proj`."""
    tri = np.abs(np.mod(proj / period, 1.0) - 0.5)  # 0.5 at band centres of colour 1, 0 at colour 2
    return np.clip(0.5 - (tri - 0.25) * period * pixels_per_unit, 0.0, 1.0)


def _grid(size_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, float]:
    """Pixel centres ys [H], xs [W] in frame sides (float32) and pixels per frame side."""
    height, width = size_hw
    side = min(height, width)
    ys = ((np.arange(height) + 0.5) / side).astype(np.float32)
    xs = ((np.arange(width) + 0.5) / side).astype(np.float32)
    return ys, xs, float(side)


def render_background(
    background: Background, size_hw: tuple[int, int], offset: tuple[float, float] | None = None
) -> np.ndarray:
    """float32 [H, W, 3] in 0..255. With `offset` (a camera's top-left corner, world 3) stripes and
    checkers are taken in world coordinates, so they move with the camera; a gradient stays (lighting)."""
    ys, xs, px = _grid(size_hw)
    first = np.asarray(COLOURS[background.colours[0]], dtype=np.float32)
    second = np.asarray(COLOURS[background.colours[1]], dtype=np.float32)
    y, x = ys[:, None], xs[None, :]  # [H, 1], [1, W]
    c, s = np.float32(math.cos(background.angle)), np.float32(math.sin(background.angle))
    # The offset's part of a pattern coordinate, folded into one period in float64 (exact per frame).
    oy, ox = offset or (0.0, 0.0)
    period = background.period
    if background.kind == "solid":
        mix = np.zeros((len(ys), len(xs)), dtype=np.float32)
    elif background.kind == "gradient":
        proj = x * c + y * s  # [H, W]
        mix = (proj - proj.min()) / max(float(proj.max() - proj.min()), 1e-6)
    elif background.kind == "stripes":
        shift = np.float32((ox * float(c) + oy * float(s)) % period) if offset else np.float32(0)
        mix = _stripe_alpha(x * c + y * s + shift, period, px)
    elif background.kind == "checker":
        sy, sx = (np.float32(oy % period), np.float32(ox % period)) if offset else (0, 0)
        ay, ax = _stripe_alpha(y + sy, period, px), _stripe_alpha(x + sx, period, px)
        mix = ay + ax - 2 * ay * ax  # soft XOR of the two stripe patterns
    else:
        raise ValueError(f"unknown background kind {background.kind!r}; choose one of {BACKGROUND_KINDS}")
    return first + mix[..., None].astype(np.float32) * (second - first)


def _draw(
    frames: np.ndarray, sprite: Sprite, t: np.ndarray, scene_hw: tuple[int, int], pixels_hw: tuple[int, int]
) -> None:
    """Composites `sprite` over float32 frames [f, H, W, 3] at the frames t [f], in place.

    Physics runs in the scene's frame (`scene_hw`), pixels at `pixels_hw` (same aspect ratio).
    """
    ys, xs, px = _grid(pixels_hw)
    cy, cx = centres(sprite, t, scene_hw)
    theta = angles(sprite, t)
    cos = np.array([math.cos(a) for a in theta], dtype=np.float32)
    sin = np.array([math.sin(a) for a in theta], dtype=np.float32)
    dy = ys[None, :, None] - cy.astype(np.float32)[:, None, None]  # [f, H, 1]
    dx = xs[None, None, :] - cx.astype(np.float32)[:, None, None]  # [f, 1, W]
    dist = _signed_distance(sprite.shape, dy, dx, cos, sin, sprite.radius)  # [f, H, W]
    alpha = np.clip(np.float32(0.5) - dist * np.float32(px), 0.0, 1.0)[..., None]  # [f, H, W, 1]
    colour = np.asarray(COLOURS[sprite.colour], dtype=np.float32)
    frames += alpha * (colour - frames)


def _zigzag(i: int) -> int:
    """A cell index as a non-negative integer (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...), for a seed."""
    return 2 * i if i >= 0 else -2 * i - 1


def cell_disc(camera: Camera, iy: int, ix: int) -> tuple[float, float, float, str] | None:
    """The landscape disc of cell (iy, ix): centre (y, x) and radius in world frame sides and colour,
    or None for an empty cell. A pure function of the landscape seed and the cell."""
    rng = np.random.default_rng([camera.landscape_seed, _zigzag(iy), _zigzag(ix)])
    if rng.random() >= LANDSCAPE_FILL:
        return None
    cy, cx = (iy + rng.random()) * LANDSCAPE_CELL, (ix + rng.random()) * LANDSCAPE_CELL
    radius = float(rng.uniform(*LANDSCAPE_RADIUS))
    return cy, cx, radius, camera.colours[int(rng.integers(len(camera.colours)))]


def cells_in_view(camera: Camera, t: int, scene_hw, pixels_hw) -> list[tuple[int, int]]:
    """The landscape cells (iy, ix) whose disc can reach the picture at frame t, in drawing order."""
    _, _, px = _grid(pixels_hw)
    oy, ox = camera.offset(t)
    reach = LANDSCAPE_RADIUS[1] + 1.0 / px  # a disc's edge ramp ends within this of its centre
    ey, ex = extent(scene_hw)
    rows = range(
        math.floor((oy - reach) / LANDSCAPE_CELL), math.floor((oy + ey + reach) / LANDSCAPE_CELL) + 1
    )
    cols = range(
        math.floor((ox - reach) / LANDSCAPE_CELL), math.floor((ox + ex + reach) / LANDSCAPE_CELL) + 1
    )
    return [(iy, ix) for iy in rows for ix in cols]


def _draw_landscape(frame: np.ndarray, camera: Camera, t: int, scene_hw, pixels_hw, discs: dict) -> None:
    """Composites the landscape discs seen at frame t over frame [H, W, 3] in place, in one global
    order (by cell), so a pixel's value does not depend on which other cells are in view. `discs`
    caches cell_disc across frames."""
    ys, xs, px = _grid(pixels_hw)
    oy, ox = camera.offset(t)
    for iy, ix in cells_in_view(camera, t, scene_hw, pixels_hw):
        if (iy, ix) not in discs:
            discs[iy, ix] = cell_disc(camera, iy, ix)
        disc = discs[iy, ix]
        if disc is None:
            continue
        cy, cx, radius, colour = disc
        dy = ys[:, None] - np.float32(cy - oy)  # [H, 1]
        dx = xs[None, :] - np.float32(cx - ox)  # [1, W]
        dist = np.sqrt(dy * dy + dx * dx) - np.float32(radius)  # [H, W]
        alpha = np.clip(np.float32(0.5) - dist * np.float32(px), 0.0, 1.0)[..., None]  # [H, W, 1]
        frame += alpha * (np.asarray(COLOURS[colour], dtype=np.float32) - frame)


def render(
    scene: Scene,
    start: int = 0,
    num: int = 1,
    *,
    size: tuple[int, int] | None = None,
    discs: dict | None = None,
) -> np.ndarray:
    """uint8 [num, H, W, 3]: frames start .. start + num - 1 of `scene` (at `size`, default the scene's).
    discs: landscape cells already drawn ((iy, ix) -> `cell_disc`'s value), used in place of the scene's
    own for those cells (a counterfactual landscape, e.g. another scene's discs where frame 0 saw them);
    not changed."""
    size_hw = check_size(size or scene.size)
    if extent(size_hw) != extent(scene.size):
        raise ValueError(f"render size {size_hw} must keep the scene's aspect ratio {tuple(scene.size)}")
    if start < 0 or num < 0:
        raise ValueError(f"start and num must be >= 0, got start={start}, num={num}")
    height, width = size_hw
    # world 2: one static background [H, W, 3]; world 3: each frame's own, under the camera
    background = render_background(scene.background, size_hw) if scene.camera is None else None
    out = np.empty((num, height, width, 3), dtype=np.uint8)
    chunk = max(1, CHUNK_PIXELS // (height * width))
    discs = dict(discs or {})
    for begin in range(0, num, chunk):
        t = np.arange(start + begin, start + min(num, begin + chunk), dtype=np.float64)  # [f]
        if background is not None:
            frames = np.repeat(background[None], len(t), axis=0)  # [f, H, W, 3]
        else:  # world 3: the landscape under the camera, frame by frame
            frames = np.empty((len(t), height, width, 3), dtype=np.float32)  # render_background's
            for i, ti in enumerate(t.astype(np.int64).tolist()):
                frames[i] = render_background(scene.background, size_hw, scene.camera.offset(ti))
                _draw_landscape(frames[i], scene.camera, ti, scene.size, size_hw, discs)
        for sprite in scene.objects:
            _draw(frames, sprite, t, scene.size, size_hw)
        out[begin : begin + len(t)] = np.rint(np.clip(frames, 0, 255))
    return out


# -- text ----------------------------------------------------------------------------------------


def size_word(sprite: Sprite) -> str:
    if sprite.size < SMALL_BELOW:
        return "small"
    if sprite.size > LARGE_ABOVE:
        return "large"
    return ""


def object_phrase(sprite: Sprite, article: str = "a") -> str:
    """'a small red circle' / 'an orange square' / 'the red circle'."""
    words = [w for w in (size_word(sprite), sprite.colour, sprite.shape) if w]
    if article == "a" and words[0][0] in "aeiou":
        article = "an"
    return " ".join([article, *words])


def _stripe_orientation(angle: float) -> str:
    return min(STRIPE_ORIENTATIONS, key=lambda k: abs(STRIPE_ORIENTATIONS[k] - angle))


def background_short(background: Background) -> str:
    """'plain green' / 'a green-to-yellow gradient' / 'vertical green and yellow stripes' / ..."""
    first, second = background.colours
    if background.kind == "solid":
        return f"plain {first}"
    if background.kind == "gradient":
        return f"a {first}-to-{second} gradient"
    if background.kind == "stripes":
        return f"{_stripe_orientation(background.angle)} {first} and {second} stripes"
    return f"a {first} and {second} checkerboard"


def background_phrase(background: Background) -> str:
    """The background as it ends a scene description: 'a plain green background', ..."""
    short = background_short(background)
    if background.kind == "solid":
        return f"a {short} background"
    if background.kind == "stripes":
        return f"a background of {short}"
    return f"{short} background"


def join_words(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def describe(scene: Scene) -> str:
    """A templated prompt naming every object (depth order), its size, colour and shape, and the background.

    Scenes that differ in any of those (see `labels`, plus size words and stripe orientation) get
    different texts; positions and motions are not described.
    """
    things = join_words([object_phrase(o) for o in scene.objects])
    verb = "bounces" if len(scene.objects) == 1 else "bounce"
    text = f"{things} {verb} around over {background_phrase(scene.background)}."
    if scene.camera is not None:  # world 3: what the landscape holds and where the camera goes
        cam = scene.camera
        text = text[:-1] + f" scattered with {join_words(list(cam.colours))} discs."
        text += f" The camera moves {cam.speed} {cam.heading}."
    return text[0].upper() + text[1:]


# -- labels for feature extractors ---------------------------------------------------------------

# Label name -> number of classes. Absent object slots hold NONE (-1).
LABEL_CLASSES: dict[str, int] = {
    "background_kind": len(BACKGROUND_KINDS),
    "background_colour": len(COLOURS),
    "num_objects": MAX_OBJECTS + 1,
    **{
        f"object{i}_{part}": n
        for i in range(MAX_OBJECTS)
        for part, n in (("shape", len(SHAPES)), ("colour", len(COLOURS)))
    },
}


def labels(scene: Scene) -> dict[str, int]:
    """Integer class ids (see LABEL_CLASSES); object slots follow the depth order."""
    out = {
        "background_kind": BACKGROUND_KINDS.index(scene.background.kind),
        "background_colour": COLOUR_NAMES.index(scene.background.colours[0]),
        "num_objects": len(scene.objects),
    }
    for i in range(MAX_OBJECTS):
        sprite = scene.objects[i] if i < len(scene.objects) else None
        out[f"object{i}_shape"] = SHAPES.index(sprite.shape) if sprite else NONE
        out[f"object{i}_colour"] = COLOUR_NAMES.index(sprite.colour) if sprite else NONE
    return out


def sample_labeled_frames(
    n: int, seed: int, size: tuple[int, int] = (64, 64), max_frame: int = 2000
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """n random scenes, each at a random frame in [0, max_frame): uint8 [N, H, W, 3] and int64 [N] labels.

    Scene seeds are from the non-benchmark half, so the frames never show a benchmark scene.
    """
    size = check_size(size)
    rng = np.random.default_rng(scene_seed("labels-times", seed, 0))
    times = rng.integers(0, max_frame, size=n)
    frames = np.empty((n, *size, 3), dtype=np.uint8)
    table = {name: np.empty(n, dtype=np.int64) for name in LABEL_CLASSES}
    for i in range(n):
        scene = sample_scene(scene_seed("labels", seed, i), size)
        frames[i] = render(scene, int(times[i]), 1)[0]
        for name, value in labels(scene).items():
            table[name][i] = value
    return frames, table
