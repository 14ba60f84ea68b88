"""The declaration of a pretraining (`kind: pretrain`, such as `pretrain_toy`): the toy-world training
set it writes, the pretraining's own configuration (svi/training/pretrain.py's PretrainConfig) and its
evaluation, validated before any work. harness/run/pretraining.py runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.declare.experiment import MAX_SAMPLES
from svi.config import ConfigError, deep_merge, format_validation_error, parse_override
from svi.training.pretrain import PretrainConfig, init_world_error

# The toy-world training set a pretraining writes: bounded like an experiment's samples, as the file
# may come from anyone (pretrain_toy writes 1000 clips of 33 frames).
MAX_WORLD_CLIPS = 100_000
MAX_CLIP_FRAMES = 1000


# `init: run:NAME` starts from the model that pretraining NAME made in this workspace, so a base made in
# two steps (pretrain_toy_w3, then pretrain_toy_w3_first from it) is declared end to end.
RUN_PREFIX = "run:"


def init_run_folder(name: str) -> Path:
    """The model folder pretraining experiment `name` wrote under HARNESS_HOME; refused (ValueError)
    until that run has finished."""
    from harness.base.workspace import check_name, path

    folder = path("runs", check_name(name, "init run"), "pretrain", "model")
    if not (folder / "transformer" / "config.json").is_file():
        raise ValueError(
            f"init {RUN_PREFIX}{name}: {folder} holds no finished model; run `harness run {name}` first "
            "in this workspace (HARNESS_HOME)"
        )
    return folder


class WorldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # the toy world (toyworld.world.WORLDS): 3 adds a travelling camera over a landscape
    version: Literal[2, 3] = 2
    clips: int = Field(1000, ge=1, le=MAX_WORLD_CLIPS)
    # frames per training mp4; windows of data.num_frames are drawn from it
    clip_frames: int = Field(33, ge=2, le=MAX_CLIP_FRAMES)
    seed: int = 0
    story_fraction: float = Field(0.3, ge=0.0, le=1.0)
    # people (toy world 2): talking heads and dancers, so the base model knows the conditional tracks'
    # subjects before a stand-in adapter drives them (toyworld/writers.py person_clip)
    faces_fraction: float = Field(0.0, ge=0.0, le=1.0)
    dancers_fraction: float = Field(0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _fractions(self):
        if self.faces_fraction + self.dancers_fraction > 1:
            raise ValueError("world.faces_fraction + world.dancers_fraction must be at most 1")
        return self


class EvalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    samples: int = Field(8, ge=1, le=MAX_SAMPLES)
    seed: int = 1000


class PretrainExperiment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kind: Literal["pretrain"] = "pretrain"
    description: str = ""
    world: WorldSpec = WorldSpec()
    pretrain: PretrainConfig = PretrainConfig()
    evaluate: EvalSpec = EvalSpec()

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        from harness.base.workspace import check_name

        return check_name(v, "experiment name")

    @model_validator(mode="after")
    def _one_world(self):
        """The model is made for the world its clips come from: pretrain.toy_world follows world.version."""
        if "toy_world" in self.pretrain.model_fields_set and self.pretrain.toy_world != self.world.version:
            raise ValueError(
                f"pretrain.toy_world ({self.pretrain.toy_world}) differs from world.version "
                f"({self.world.version}): set world.version alone"
            )
        self.pretrain.toy_world = self.world.version
        if (init := self.pretrain.init) and init.startswith(RUN_PREFIX):
            self.pretrain.init = str(init_run_folder(init[len(RUN_PREFIX) :]))
        if error := init_world_error(self.pretrain):  # before any clip is written
            raise ValueError(error)
        return self

    def world_key(self) -> dict:
        """The training set's parameters as its data folder is keyed (world 2's keys as before)."""
        return self.world.model_dump(exclude={"version"} if self.world.version == 2 else set())


def load(path: Path, raw: dict, overrides: list[str] = ()) -> PretrainExperiment:
    """Validate a `kind: pretrain` file with dotted overrides (`pretrain.dit.steps=100 world.clips=50`)."""
    for text in overrides:
        raw = deep_merge(raw, parse_override(text))
    source = str(path) + (" with overrides " + " ".join(overrides) if overrides else "")
    try:
        return PretrainExperiment.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source)) from None
