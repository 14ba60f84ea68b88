"""The resolved plan of an experiment: one `ArmPlan` per (arm, seed), and the checks that run first.

    experiment YAML + overrides --load_experiment--> Experiment --make_plan--> Plan([ArmPlan, ...])
                                                               --check_plan--> inputs exist and read

`harness run`, `harness sweep` (a trial is one ArmPlan with sampled overrides) and `harness report`
share this step. Everything that can be known before work starts is checked here, so a mistake costs
seconds, not a training: cheap checks (names, numbers, metric names, windows) happen while the YAML
is validated (no torch import); `check_plan` then looks at the files the plan needs (weights folders,
benchmark samples, training clips). Both raise `ConfigError`, which the CLI turns into exit code 2
before anything is logged.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.base import workspace
from harness.base.hashing import digest, flatten
from harness.declare.experiment import Experiment
from harness.tracking.keys import GROUP_BY_TAG
from reports.colours import group_tag
from svi.config import TRAIN_ONLY_SECTIONS, ConfigError, SVIConfig


@dataclass(frozen=True)
class ArmPlan:
    """One unit of work: an arm at a seed, with its resolved configuration and its folder."""

    experiment: str  # the MLflow experiment it is logged under (the sweep's name for a trial)
    arm: str  # the arm's name (trialNNN for a sweep trial)
    seed: int
    role: str  # "arm" | "baseline"
    train: bool  # False: the untuned base model
    cfg: SVIConfig  # resolved and validated; train.seed and generate.seed are the unit's seed
    folder: Path  # runs/<experiment>/<arm>/seed<k> (a sweep trial: runs/<sweep>/<trial>)
    tags: dict[str, str] = field(default_factory=dict)  # extra MLflow tags (a trial's number)
    lora_from: dict[str, str] = field(default_factory=dict)  # expert -> the arm whose LoRA it generates with

    @property
    def trained_weights(self) -> bool:
        """Whether its videos come from trained weights: its own training, or LoRAs borrowed from other
        arms' trainings at its seed (`lora_from`); the statistics then count a seed as a trained model."""
        return self.train or bool(self.lora_from)

    @property
    def run_name(self) -> str:
        return f"{self.arm}-seed{self.seed}"


@dataclass(frozen=True)
class Plan:
    exp: Experiment
    source: Path
    units: tuple[ArmPlan, ...]


def arm_plan(
    exp: Experiment,
    source: Path,
    arm: str,
    seed: int,
    *,
    overrides: dict[str, Any] | None = None,
    name: str | None = None,
    folder: Path | None = None,
    experiment: str | None = None,
    tags: dict[str, str] | None = None,
) -> ArmPlan:
    """The ArmPlan of `arm` at `seed`; `overrides` (dotted keys) go on top of the arm's own (a sweep
    trial's sampled values), `name`/`folder`/`experiment` rename the unit (a trial)."""
    if arm not in exp.arms:
        raise ConfigError(f"{exp.name} has no arm {arm!r}; its arms: {', '.join(exp.arms)}")
    spec = exp.arms[arm]
    cfg = exp.arm_config(arm, source, extra=overrides)  # its own copy
    cfg.train.seed = seed
    cfg.generate.seed = seed
    name = name or arm
    # the review view groups an experiment's runs by a tag that gives each arm its own colour
    tags = {GROUP_BY_TAG: group_tag(list(exp.arms)), **(tags or {})}
    return ArmPlan(
        experiment=experiment or exp.name,
        arm=name,
        seed=seed,
        role=spec.role,
        train=spec.train,
        lora_from=dict(spec.lora_from),
        cfg=cfg,
        folder=folder or workspace.arm_dir(experiment or exp.name, name, seed),
        tags=tags,
    )


def make_plan(exp: Experiment, source: Path) -> Plan:
    """Every (arm, seed) of the experiment, seeds outermost (all arms of seed 0 first)."""
    units = tuple(arm_plan(exp, source, arm, seed) for seed in exp.seeds for arm in exp.arms)
    return Plan(exp, source, units)


# -- what decides a unit's results ---------------------------------------------------------------

# Settings that say where a file is, not what it holds: the same unit run on another machine, with the
# same weights and data in other folders, is the same unit (the stage hashes digest the contents).
LOCATION_KEYS = frozenset(
    {"model.weights", "data.root", "train.output_dir", "generate.lora", "generate.lora_2",
     "condition.weights", "condition.audio_encoder"}
)  # fmt: skip
# The experiment's fields that decide how a unit is benchmarked and scored (its name, seeds, arm list
# and executor do not change one unit's results).
SCORING_FIELDS = (
    "suites", "metrics", "metrics_backend", "window", "toy_samples", "toy_benchmark_seed", "skip_bad_samples",
    "skip_bad_videos", "draws",
)  # fmt: skip


def code_versions() -> dict[str, int]:
    """What the code computes on the same inputs, as versions: the scores (scoring/specs.py
    SCORES_VERSION), the toy world's files (toyworld/writers.py FORMAT_VERSION) and the toy world
    itself (svi/model/presets.py TOY_WORLD: its base model and recipes). Part of every unit's plan, so
    results made by older code are not taken for this code's."""
    from scoring.specs import SCORES_VERSION
    from svi.model.presets import TOY_WORLD
    from toyworld.writers import FORMAT_VERSION

    return {"scores": SCORES_VERSION, "toyworld": FORMAT_VERSION, "toy_world": TOY_WORLD}


def unit_inputs(
    declaration: dict, arm: str, config: dict, seed: int, versions: dict[str, int] | None = None
) -> dict[str, Any]:
    """What decides the results of `arm` at `seed`, as dotted keys: the arm's resolved configuration
    (`config`, a dumped SVIConfig) at that seed, less LOCATION_KEYS (and, for an untrained arm,
    TRAIN_ONLY_SECTIONS); whether it trains and its role;
    the experiment's SCORING_FIELDS; the code's `versions` (`code_versions`). `declaration`: the dumped Experiment. A pure function of dicts, so
    a results bundle's recorded declaration and configurations give back the inputs its units ran under."""
    spec = declaration["arms"][arm]
    # an arm with lora_from generates with LoRAs trained under its own configuration's train sections
    borrowed = spec.get("lora_from") or {}
    trains = spec.get("train", True) or bool(borrowed)
    flat = flatten(config)
    flat["train.seed"] = flat["generate.seed"] = seed  # as arm_plan sets them
    from svi.config import LATENT_SETTINGS

    if flat.get("generate.chaining") != "latent" or flat.get("generate.strategy") == "framepack":
        for key in LATENT_SETTINGS:  # latent chaining's condition: they decide nothing elsewhere
            flat.pop(f"generate.{key}", None)
    out = {
        f"config.{k}": v
        for k, v in flat.items()
        if k not in LOCATION_KEYS and (trains or k.split(".", 1)[0] not in TRAIN_ONLY_SECTIONS)
    }
    out["arm.train"], out["arm.role"] = spec.get("train", True), spec.get("role", "arm")
    for expert, other in sorted(borrowed.items()):  # and with what the named arms change
        out[f"arm.lora_from.{expert}"] = other
        overrides = declaration["arms"][other].get("overrides", {})
        out.update({f"arm.lora_from.{expert}.{k}": v for k, v in sorted(overrides.items())})
    # a field the declaration does not record (written before it existed) is absent, not None: the
    # recorded inputs then give back the recorded hash, and ADDED_SETTINGS says what it meant
    out.update({f"experiment.{k}": declaration[k] for k in SCORING_FIELDS if k in declaration})
    out.update({f"version.{k}": v for k, v in sorted((versions or {}).items())})
    return out


# Settings added to the schema after units were made, with the value that reproduces what the code did
# before they existed. A unit recorded without one ran as if it held that value, so `with_added_settings`
# fills it in before its inputs are compared with today's. Add a line here with every new setting whose
# default keeps the old behaviour; a test runs `harness run EXP --from results/EXP` on every committed
# bundle and fails when a new setting is missing here (or when it changes behaviour and the bundle is
# really stale).
ADDED_SETTINGS: dict[str, Any] = {
    "config.train.adapter_lr": None,  # 93dc301: the conditioning adapters' own rate; None: one rate
    "experiment.toy_benchmark_seed": 1000,  # the toy world's scenes: write_benchmark's seed until then
    # Wan 2.2 A14B (two experts): moot for a one-transformer model, whose units ran as these defaults say
    "config.generate.boundary": 0.875,
    "config.generate.guidance_scale_2": None,
    "config.train.expert": None,
    "config.train.expert_boundary": 0.875,
    "experiment.draws": 1,  # one video per sample and seed, as every unit made before the energy score
}


def with_added_settings(inputs: dict[str, Any]) -> dict[str, Any]:
    """`inputs` (`unit_inputs` of a recorded unit) with every ADDED_SETTINGS key it lacks set to the
    value that reproduces the code before the setting existed (only where the unit's section applies:
    an untrained arm has no train.* inputs)."""
    sections = {k.split(".", 2)[1] for k in inputs if k.startswith("config.")}

    def applies(key: str) -> bool:  # a config setting only where its section is an input of the unit
        return not key.startswith("config.") or key.split(".", 2)[1] in sections

    added = {k: v for k, v in ADDED_SETTINGS.items() if k not in inputs and applies(k)}
    return {**inputs, **added}


def committed_weights(cfg: SVIConfig) -> dict[str, str]:
    """Content hashes of the committed weights a unit loads (the toy base model, the toy stand-in
    adapter), which change under the same path when they are re-pretrained; empty for the others."""
    from svi.conditions.attach import committed_adapter_fingerprint
    from svi.model.presets import committed_weights_fingerprint

    found = {
        "base": committed_weights_fingerprint(cfg.model.preset, cfg.model.weights),
        "adapter": committed_adapter_fingerprint(cfg.condition, cfg.model.preset),
    }
    return {k: v for k, v in found.items() if v is not None}


def untrained_hash(cfg: SVIConfig) -> str:
    """What stands for the training stage of an arm that does not train: the base weights it loads."""
    weights = committed_weights(cfg)
    return digest("untrained", weights) if weights else "untrained"


def train_inputs(cfg: SVIConfig) -> dict:
    """What a trained LoRA depends on: everything but the generate section and the output folder, and
    the content of the committed weights it starts from (`committed_weights`)."""
    body = cfg.model_dump(mode="json")
    body.pop("generate")
    if body["condition"]["kind"] == "none":  # Shot / Film: hashes from before the section existed hold
        body.pop("condition")
    body["train"].pop("output_dir")
    if body["train"].get("expert") is None:  # one transformer: the expert settings are moot (old hashes hold)
        body["train"].pop("expert", None)
        body["train"].pop("expert_boundary", None)
    if body["train"].get("probe_every") is None:  # no probes: probe_clips is moot (and old hashes hold)
        body["train"].pop("probe_every", None)
        body["train"].pop("probe_clips", None)
    weights = committed_weights(cfg)
    if weights:
        body["committed_weights"] = weights
    return body


def train_hash(cfg: SVIConfig) -> str:
    return digest("train", train_inputs(cfg))


def unit_hash(inputs: dict[str, Any]) -> str:
    """The plan hash of a unit: a digest of its `unit_inputs`."""
    return digest("unit", inputs)


def earlier_hashes(inputs: dict[str, Any]) -> set[str]:
    """The plan hashes `inputs` (today's `unit_inputs`) had under each earlier schema: today's, and,
    for every point in ADDED_SETTINGS' order, the hash without the settings added after it, where they
    hold the value that keeps the old behaviour. A record that kept only a hash (a registration)
    matches when its hash is one of these; a setting moved off its old value matches none."""
    keys = list(ADDED_SETTINGS)
    out = {unit_hash(inputs)}
    for start in range(len(keys)):
        later = keys[start:]
        if all(inputs.get(k, ADDED_SETTINGS[k]) == ADDED_SETTINGS[k] for k in later):
            out.add(unit_hash({k: v for k, v in inputs.items() if k not in later}))
    return out


def plan_inputs(plan: Plan, unit: ArmPlan) -> dict[str, Any]:
    """`unit_inputs` of one unit of a plan."""
    return unit_inputs(
        plan.exp.model_dump(mode="json"),
        unit.arm,
        unit.cfg.model_dump(mode="json"),
        unit.seed,
        code_versions(),
    )


# -- checks on the files a plan needs ------------------------------------------------------------


def check_plan(plan: Plan, units: tuple[ArmPlan, ...] | None = None) -> None:
    """Weights folders, benchmark samples and training clips of `units` (default: all) exist and read.
    (What their sizes make is checked before this: harness/declare/bounds.py `check_sizes`.)

    Raises ConfigError naming every problem and what to do. Inputs the harness writes itself (toy-world
    or synthetic clips and benchmarks, when no folder is configured) are not checked: they are made
    by the harness, after this.
    """
    units = plan.units if units is None else units
    problems: list[str] = []
    for weights, preset in sorted({(u.cfg.model.weights or "", u.cfg.model.preset) for u in units}):
        problems += _check_weights(weights or None, preset)
    for u in units:
        problems += _check_condition(u)
    problems += _check_benchmark(plan.exp)
    seen: set[str] = set()
    for u in units:
        if u.train and u.cfg.data.root:
            key = json.dumps(u.cfg.data.model_dump(mode="json"), sort_keys=True)
            if key not in seen:
                seen.add(key)
                problems += _check_training_data(u)
    if problems:
        raise ConfigError("\n".join(problems))


def _check_weights(weights: str | None, preset: str) -> list[str]:
    """The preset's weights folder is named (or needs none) and holds every expected file."""
    from svi.model.presets import WeightsNotFoundError, check_weights_folder, preset_weights

    try:
        folder = preset_weights(preset, weights)
        if folder is not None:
            check_weights_folder(folder, preset)
    except WeightsNotFoundError as e:
        return [str(e)]
    return []


def _check_condition(unit: ArmPlan) -> list[str]:
    """The talk / dance adapter's weights and the audio encoder's folder are where the config says."""
    cond, preset = unit.cfg.condition, unit.cfg.model.preset
    if cond.kind == "none":
        return []
    from svi.conditions.attach import adapter_weights

    try:
        weights = adapter_weights(cond, preset)
        if weights is not None and not Path(weights).exists():
            raise FileNotFoundError(f"condition.weights {weights} does not exist")
        if cond.kind == "audio" and (cond.audio_encoder or preset not in ("tiny", "toy")):
            from svi.conditions.audio import check_wav2vec_folder

            check_wav2vec_folder(cond.audio_encoder or "condition.audio_encoder is not set")
    except FileNotFoundError as e:
        return [f"arm {unit.arm}: {e}"]
    return []


def benchmark_folder(exp: Experiment) -> Path | None:
    """The configured benchmark folder (experiment's benchmark_root or SVI_BENCHMARK), or None when
    the harness writes one itself."""
    from scoring.suites import BENCHMARK_ENV

    root = exp.benchmark_root or os.environ.get(BENCHMARK_ENV)
    return Path(root).expanduser() if root else None


def _check_benchmark(exp: Experiment) -> list[str]:
    root = benchmark_folder(exp)
    if root is None or not exp.suites:
        return []
    from scoring import suites

    problems = []
    for spec in exp.suites:
        try:
            folder = suites.suite_folder(root, spec.suite, spec.length)
            samples, _ = suites.load_samples(folder, skip_bad=exp.skip_bad_samples, suite=spec.suite)
            suites.select(samples, limit=spec.limit)
        except (FileNotFoundError, suites.BadSampleError, ValueError) as e:
            hint = "" if exp.skip_bad_samples else " (or set skip_bad_samples: true in the experiment)"
            problems.append(f"benchmark, suite {spec.suite} {spec.length}: {e}{hint}")
    return problems


def _check_training_data(unit: ArmPlan) -> list[str]:
    """Open every listed clip once (decord: cheap), as training would at its start."""
    from svi.training.clips import BadVideoError
    from svi.training.data import training_clips  # what training reads (talk, dance: their layouts

    d = unit.cfg.data
    try:
        training_clips(unit.cfg)
    except (BadVideoError, FileNotFoundError, ValueError) as e:
        hint = "" if d.skip_bad else " Fix or remove them, or set data.skip_bad=true to train without them."
        return [f"training data of arm {unit.arm} ({d.root}): {e}{hint}"]
    return []
