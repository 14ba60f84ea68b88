"""The toy world: a procedural, deterministic synthetic video world (scenes, storylines, files).

`world` renders scenes of bouncing, spinning shapes with a closed-form physics; `story` changes a
scene at clip boundaries (the creative track); `writers` writes training sets and benchmarks in the
official SVI formats and the true continuation of every benchmark sample; `talking_heads` and `dancers`
the conditional tracks' people; `synthetic` tiny moving-square clips (tests, the demo); `scorers` trains
the toy scoring networks. CLI: `python -m toyworld --help`.
"""

from toyworld.story import Event, Storyline, prompts, render_story, sample_storyline
from toyworld.world import (
    BACKGROUND_KINDS,
    COLOURS,
    LABEL_CLASSES,
    SHAPES,
    Scene,
    describe,
    labels,
    render,
    sample_labeled_frames,
    sample_scene,
)
from toyworld.writers import true_video, write_benchmark, write_training_set

__all__ = [
    "BACKGROUND_KINDS",
    "COLOURS",
    "LABEL_CLASSES",
    "SHAPES",
    "Event",
    "Scene",
    "Storyline",
    "describe",
    "labels",
    "prompts",
    "render",
    "render_story",
    "sample_labeled_frames",
    "sample_scene",
    "sample_storyline",
    "true_video",
    "write_benchmark",
    "write_training_set",
]
