"""Storylines for the creative track: a toy-world scene that changes at clip boundaries.

Clip k of a long video covers frames [k * (clip_frames - overlap), ... + clip_frames): its first
`overlap` frames are the condition frames carried over from clip k - 1. An event of clip k takes
effect at the first new frame, `k * (clip_frames - overlap) + overlap`, and clip k's prompt says what
changed and then describes the whole scene as it now is.

Events: an object changes colour, a new object slides in from an edge (at most 3 objects), an object
disappears (at least 1 stays), the background changes. They come every 1 to 3 clips, drawn from a
seed. Physics is continuous across events: objects are identified by a stable id and keep their
closed-form trajectories, so `render_story` has the same continuation property as `world.render`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from toyworld.world import (
    COLOUR_NAMES,
    MAX_OBJECTS,
    Background,
    Scene,
    Sprite,
    background_from_dict,
    background_short,
    check_size,
    describe,
    object_phrase,
    pick,
    render,
    sample_background,
    sample_entering_sprite,
    sprite_from_dict,
)

EVENT_KINDS = ["recolour", "enter", "leave", "background"]
EVENT_WEIGHTS = {"recolour": 0.3, "enter": 0.25, "leave": 0.2, "background": 0.25}


@dataclass(frozen=True)
class Event:
    clip: int  # takes effect at the first new frame of this clip
    kind: str  # one of EVENT_KINDS
    object_id: int = -1  # recolour / leave: the object changed; enter: the id of the newcomer
    colour: str | None = None  # recolour: the new colour
    sprite: Sprite | None = None  # enter: the newcomer (with enter_frame / enter_edge)
    background: Background | None = None  # background: the new background

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Event:
        return cls(
            clip=int(d["clip"]),
            kind=d["kind"],
            object_id=int(d.get("object_id", -1)),
            colour=d.get("colour"),
            sprite=sprite_from_dict(d["sprite"]) if d.get("sprite") else None,
            background=background_from_dict(d["background"]) if d.get("background") else None,
        )


@dataclass(frozen=True)
class Storyline:
    scene: Scene  # the scene at frame 0; object i of it has id i
    events: tuple[Event, ...]  # sorted by clip, at most one per clip
    num_clips: int
    clip_frames: int = 17
    overlap: int = 1

    def clip_start(self, clip: int) -> int:
        return clip * (self.clip_frames - self.overlap)

    def event_frame(self, clip: int) -> int:
        """The first frame that shows an event of `clip`."""
        return self.clip_start(clip) + self.overlap

    @property
    def num_frames(self) -> int:
        """Frames spanned by all clips."""
        return self.clip_start(self.num_clips - 1) + self.clip_frames

    def to_dict(self) -> dict:
        return {
            "scene": self.scene.to_dict(),
            "events": [e.to_dict() for e in self.events],
            "num_clips": self.num_clips,
            "clip_frames": self.clip_frames,
            "overlap": self.overlap,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Storyline:
        return cls(
            scene=Scene.from_dict(d["scene"]),
            events=tuple(Event.from_dict(e) for e in d["events"]),
            num_clips=int(d["num_clips"]),
            clip_frames=int(d["clip_frames"]),
            overlap=int(d["overlap"]),
        )


# -- applying events -----------------------------------------------------------------------------


def _apply(scene: Scene, ids: tuple[int, ...], event: Event) -> tuple[Scene, tuple[int, ...]]:
    """The scene (and object ids, in depth order) after `event`."""
    objects = list(scene.objects)
    if event.kind == "recolour":
        i = ids.index(event.object_id)
        objects[i] = replace(objects[i], colour=event.colour)
    elif event.kind == "enter":
        objects.append(event.sprite)  # newcomers are drawn on top
        ids = (*ids, event.object_id)
    elif event.kind == "leave":
        i = ids.index(event.object_id)
        del objects[i]
        ids = ids[:i] + ids[i + 1 :]
    elif event.kind == "background":
        return replace(scene, background=event.background), ids
    else:
        raise ValueError(f"unknown event kind {event.kind!r}; choose one of {', '.join(EVENT_KINDS)}")
    return replace(scene, objects=tuple(objects)), ids


def change_sentence(event: Event, before: Scene, ids: tuple[int, ...]) -> str:
    """What changed, e.g. 'The red circle turns yellow.'"""
    if event.kind == "recolour":
        the = object_phrase(before.objects[ids.index(event.object_id)], "the")
        return f"{the.capitalize()} turns {event.colour}."
    if event.kind == "enter":
        return f"{object_phrase(event.sprite).capitalize()} enters from the {event.sprite.enter_edge}."
    if event.kind == "leave":
        return f"{object_phrase(before.objects[ids.index(event.object_id)], 'the').capitalize()} disappears."
    return f"The background changes to {background_short(event.background)}."


def _states(storyline: Storyline):
    """(event, scene before, ids before, scene after, ids after) for every event in order."""
    scene, ids = storyline.scene, tuple(range(len(storyline.scene.objects)))
    for event in storyline.events:
        after, after_ids = _apply(scene, ids, event)
        yield event, scene, ids, after, after_ids
        scene, ids = after, after_ids


def scene_at(storyline: Storyline, frame: int) -> Scene:
    """The scene as it is at `frame` (every event whose first frame is <= frame applied)."""
    scene = storyline.scene
    for event, _, _, after, _ in _states(storyline):
        if storyline.event_frame(event.clip) > frame:
            break
        scene = after
    return scene


def clip_scene(storyline: Storyline, clip: int) -> Scene:
    """The scene of clip `clip` after its event (what its prompt describes)."""
    return scene_at(storyline, storyline.event_frame(clip))


def prompts(storyline: Storyline) -> list[str]:
    """One prompt per clip: the change (on event clips) followed by the full scene description."""
    by_clip = {event.clip: (event, before, ids) for event, before, ids, _, _ in _states(storyline)}
    out = []
    for k in range(storyline.num_clips):
        text = describe(clip_scene(storyline, k))
        if k in by_clip:
            text = f"{change_sentence(*by_clip[k])} {text}"
        out.append(text)
    return out


# -- sampling ------------------------------------------------------------------------------------


def _sample_event(
    rng: np.random.Generator, scene: Scene, ids: tuple[int, ...], clip: int, frame: int, next_id: int
) -> Event:
    n = len(scene.objects)
    allowed = [
        k for k in EVENT_KINDS if not (k == "enter" and n >= MAX_OBJECTS) and not (k == "leave" and n <= 1)
    ]
    weights = np.array([EVENT_WEIGHTS[k] for k in allowed])
    kind = allowed[int(rng.choice(len(allowed), p=weights / weights.sum()))]
    object_colours = [o.colour for o in scene.objects]
    background_colours = list(scene.background.colours)
    if kind == "recolour":
        i = int(rng.integers(n))
        colour = pick(rng, COLOUR_NAMES, object_colours + background_colours)
        return Event(clip, kind, object_id=ids[i], colour=colour)
    if kind == "enter":
        colour = pick(rng, COLOUR_NAMES, object_colours + background_colours)
        sprite = sample_entering_sprite(rng, colour, scene.size, frame)
        return Event(clip, kind, object_id=next_id, sprite=sprite)
    if kind == "leave":
        return Event(clip, kind, object_id=ids[int(rng.integers(n))])
    current = background_short(scene.background)
    while True:  # a change the prompt can name; almost always the first draw
        background = sample_background(rng, exclude_colours=object_colours)
        if background_short(background) != current:
            return Event(clip, kind, background=background)


def sample_storyline(
    scene: Scene,
    seed: int,
    num_clips: int,
    clip_frames: int = 17,
    overlap: int = 1,
    *,
    gaps: tuple[int, int] = (1, 3),
) -> Storyline:
    """A storyline over `num_clips` clips with an event every gaps[0]..gaps[1] clips (never in clip 0)."""
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    if not 0 <= overlap < clip_frames:
        raise ValueError(
            f"overlap must be in [0, clip_frames), got overlap={overlap}, clip_frames={clip_frames}"
        )
    if not 1 <= gaps[0] <= gaps[1]:
        raise ValueError(f"gaps must be 1 <= low <= high, got {gaps}")
    check_size(scene.size)
    rng = np.random.default_rng(seed)
    story = Storyline(scene, (), num_clips, clip_frames, overlap)
    events = []
    current, ids, next_id = scene, tuple(range(len(scene.objects))), len(scene.objects)
    clip = int(rng.integers(gaps[0], gaps[1] + 1))
    while clip < num_clips:
        event = _sample_event(rng, current, ids, clip, story.event_frame(clip), next_id)
        events.append(event)
        next_id += event.kind == "enter"
        current, ids = _apply(current, ids, event)
        clip += int(rng.integers(gaps[0], gaps[1] + 1))
    return replace(story, events=tuple(events))


# -- rendering -----------------------------------------------------------------------------------


def render_story(
    storyline: Storyline,
    start: int = 0,
    num: int = 1,
    *,
    size: tuple[int, int] | None = None,
    discs: dict | None = None,
) -> np.ndarray:
    """uint8 [num, H, W, 3]: frames start .. start + num - 1 of the storyline (later frames: no events).
    discs: landscape cells drawn in place of the scene's own (`world.render`'s)."""
    if start < 0 or num < 0:
        raise ValueError(f"start and num must be >= 0, got start={start}, num={num}")
    frames = {storyline.event_frame(e.clip) for e in storyline.events}
    cuts = sorted(f for f in frames if start < f < start + num)
    bounds = [start, *cuts, start + num]
    parts = [
        render(scene_at(storyline, a), a, b - a, size=size, discs=discs) for a, b in zip(bounds, bounds[1:])
    ]
    return np.concatenate(parts, axis=0)
