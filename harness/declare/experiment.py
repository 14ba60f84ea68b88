"""Declared experiments: a base configuration, arms (overrides), seeds, suites and metrics.

An experiment file (`configs/experiments/<name>.yaml`) is validated before anything runs:

    name: ablation_eimg
    description: one line for `harness list`
    config: {...}            # the base SVI configuration (svi/config.py schema), or
    base: some_config.yaml   # a config file relative to the experiment file (config: then overrides it)
    arms:
      base: {train: false, role: baseline}          # the untuned base model (the reference row)
      full: {}
      no_eimg: {overrides: {erft.p_img: 0.0}}
    seeds: [0]
    suites: [{suite: consistent, length: 50s}]
    metrics: vbench
Dotted command-line overrides go to the experiment when their first key is an experiment field
(`seeds=[0,1]`) and to the base configuration otherwise (`train.steps=50`).

An experiment file may come from anyone: it is read by svi.config's bounded YAML reader (size, aliases,
nesting, repeated keys), and every field that drives work or memory is bounded below (the MAX_*
constants), so a hostile declaration is one message and exit code 2 in seconds, never a long run.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from harness.base.configs import EXPERIMENTS_DIR
from scoring.references import DECLARABLE, REFERENCE_DRAWS, REFERENCES, RESCORE
from svi.config import (
    ConfigError,
    StrictScalars,
    SVIConfig,
    build_config,
    deep_merge,
    dotted,
    drop_defaults,
    format_validation_error,
    parse_override,
    read_mapping,
)

# Bounds of the fields that drive work or memory. Each is far above what an experiment asks for (the
# shipped ones: up to 8 arms, 3 seeds, 2 tracks, 8 toy samples) and far below what costs hours to refuse.
MAX_SEED = 2**31 - 1
TOY_BENCHMARK_SEED = 1000  # toyworld.writers.write_benchmark's: the scenes every flagship bundle scored  # seeds reach torch, numpy and the clip-noise streams; all take a 31-bit seed
MAX_SEEDS = 1000
MAX_ARMS = 64
MAX_UNITS = 1000  # arms x seeds: each unit is a training, a generation and a scoring
MAX_SAMPLES = 1000  # toy_samples and a track's limit: samples per track
MAX_DRAWS = 64  # videos per sample and seed (draws): the energy score needs 2 or more
MAX_TRACK_SECONDS = 3600.0  # a track's video length (the paper's longest: 300 s)
MAX_SUITES = 16
MAX_REFERENCE_DRAWS = 64  # videos a sample of a drawn reference (pan, truth_alt): each is built and scored
MAX_COMPARISONS = 256
MAX_OVERRIDES = 256  # dotted keys of one arm
MAX_SHELL_LINES = 64  # executor.setup lines, executor.slurm_extra options
MAX_SHELL_TEXT = 1000  # characters of one setup line or one sbatch option's value


def _seed(v: Any) -> int:
    """A seed as declared: a whole number in [0, MAX_SEED]; 1.0, "1" and true are not seeds."""
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_SEED:
        raise ValueError(f"a seed is a whole number from 0 to {MAX_SEED}, got {v!r}")
    return v


Seed = Annotated[int, BeforeValidator(_seed)]
ShellText = Annotated[str, Field(max_length=MAX_SHELL_TEXT)]


class Arm(StrictScalars):
    model_config = ConfigDict(extra="forbid")
    train: bool = True
    role: Literal["arm", "baseline"] = "arm"
    # dotted keys -> values, applied to the base config
    overrides: dict[str, Any] = Field({}, max_length=MAX_OVERRIDES)
    # A two-expert model's arm that trains nothing itself and generates with other arms' LoRAs, each
    # expert's from its own training unit at the same seed: {high: ARM, low: ARM} (SVI 2.0 Pro's pair of
    # LoRAs). The named arms train that expert (train.expert); a unit trains them first if they have not.
    lora_from: dict[Literal["high", "low"], str] = Field({}, max_length=2)

    @model_serializer(mode="wrap")
    def _drop_later_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # declarations recorded before lora_from existed (bundles, registrations) stay as they were
        return drop_defaults(handler(self), {"lora_from": {}})

    @model_validator(mode="after")
    def _borrows_untrained(self) -> Arm:
        if self.lora_from and self.train:
            raise ValueError("an arm with lora_from generates with other arms' LoRAs: set train: false")
        return self


def track_seconds(length: str | float) -> float:
    """A video's length in seconds (svi.config.parse_length), at most MAX_TRACK_SECONDS: a track's, and
    what `harness generate --length` may ask. A ValueError saying the bound otherwise."""
    from svi.config import parse_length

    seconds = parse_length(length)
    if not seconds <= MAX_TRACK_SECONDS:
        raise ValueError(f"a track is at most {MAX_TRACK_SECONDS:.0f}s long, got {length!r}")
    return seconds


class SuiteSpec(StrictScalars):
    """One benchmark track: `{suite: consistent, length: 50s}`; the conditional benchmark's tracks are
    `{suite: conditional, track: talk}` (or `suite: conditional_talk`), at their paper length by default
    (talk 300 s, dance 50 s)."""

    model_config = ConfigDict(extra="forbid")
    suite: Literal["consistent", "creative", "conditional", "conditional_talk", "conditional_dance"]
    track: Literal["talk", "dance"] | None = None
    length: str | None = None
    limit: int | None = Field(None, ge=1, le=MAX_SAMPLES)

    @field_validator("length")
    @classmethod
    def _bounded_length(cls, v: str | None) -> str | None:
        if v is not None:
            track_seconds(v)
        return v

    @model_validator(mode="after")
    def _resolve(self) -> SuiteSpec:
        from scoring.suites import SUITES

        if self.suite == "conditional":
            if self.track is None:
                raise ValueError("suite conditional needs a track: talk or dance")
            self.suite = f"conditional_{self.track}"
        elif self.track is not None and self.suite != f"conditional_{self.track}":
            raise ValueError(f"track {self.track!r} belongs to suite conditional, not {self.suite!r}")
        self.track = None
        if self.length is None:
            self.length = SUITES[self.suite].length
        return self

    @property
    def seconds(self) -> float:
        """The track's length in seconds (`length` parsed, as its validator checked it)."""
        from svi.config import parse_length

        return parse_length(self.length)

    @property
    def name(self) -> str:
        """`<suite>_<length>`: the track's name, the prefix of its score keys."""
        from reports.frames import track

        return track(self.suite, self.length)


class Hypothesis(StrictScalars):
    """A question fixed before the data (harness/declare/preregistration.py): `comparison` ("full - plain", the
    first arm minus the second) on `metric`, on `track` (<suite>_<length>; None: every track), with
    the direction the hypothesis says the difference goes (`less`: below 0; `greater`: above 0;
    `two-sided`: either). `primary`: the registration's primary hypothesis (exactly one)."""

    model_config = ConfigDict(extra="forbid")
    comparison: str
    metric: str
    track: str | None = None
    direction: Literal["less", "greater", "two-sided"] = "two-sided"
    primary: bool = False


class ExecutorSpec(StrictScalars):
    """Where the (arm, seed) units run (harness/run/jobs.py). `inline`: one after another in the harness's
    own process tree (the default); `local`: parallel local jobs through submitit's local executor;
    `slurm`: one SLURM job per unit through submitit, each launching its training on its allocation.
    The command line (`--executor`, `--nodes`, ...) overrides these."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["inline", "local", "slurm"] = "inline"
    nodes: int = Field(1, ge=1)  # per job; more than one: torchrun across the job's nodes
    gpus_per_node: int = Field(0, ge=0)  # also the training processes per node (0: one CPU process)
    cpus_per_task: int | None = Field(None, ge=1)
    mem_gb: float | None = Field(None, gt=0)
    partition: str | None = None
    account: str | None = None
    time_limit_min: int = Field(24 * 60, ge=1)  # a job that reaches it is re-queued and resumes
    parallel: int | None = Field(None, ge=1)  # local: units at once (default: 2; threads shared out)
    # shell lines run before a SLURM job (module load ..., source venv)
    setup: list[ShellText] = Field([], max_length=MAX_SHELL_LINES)
    # further sbatch options, as submitit's slurm_additional_parameters
    slurm_extra: dict[str, Any] = Field({}, max_length=MAX_SHELL_LINES)

    @field_validator("slurm_extra")
    @classmethod
    def _one_value_per_option(cls, v: dict[str, Any]) -> dict[str, Any]:
        # submitit writes each as `#SBATCH --key=value` (true: `--key`): a list or mapping is no option
        for key, value in v.items():
            if not isinstance(value, (str, int, float, bool)):
                raise ValueError(
                    f"{key}: an sbatch option takes one value (text, a number or true), "
                    f"got a {type(value).__name__}"
                )
            if isinstance(value, str) and len(value) > MAX_SHELL_TEXT:
                raise ValueError(f"{key}: {len(value)} characters, more than {MAX_SHELL_TEXT}")
        return v


class Experiment(StrictScalars):
    model_config = ConfigDict(extra="forbid")
    _arm_configs: dict = PrivateAttr(default_factory=dict)  # (arm, source) -> its validated config
    name: str
    description: str = ""
    base: str | None = None
    config: dict[str, Any] = {}
    arms: dict[str, Arm] = Field(max_length=MAX_ARMS)
    seeds: list[Seed] = Field([0], min_length=1, max_length=MAX_SEEDS)
    suites: list[SuiteSpec] = Field([], max_length=MAX_SUITES)
    metrics: str = "vbench"  # comma-separated metric names and groups (scoring/specs.py)
    # The metric the experiment's question is about: its differences are Holm-corrected as a family of
    # their own, the other metrics' as a secondary family (reports/tables.py). None: one family.
    primary: str | None = None
    # Guards of a one-sided primary (reports/verdicts.py): metrics every degenerate reference fails and the
    # truth passes (motion against frozen; non-repetition against loop and pingpong), shown beside the
    # primary wherever it is. `harness plan` refuses a primary known to be one-sided without them.
    guards: list[str] = Field([], max_length=MAX_COMPARISONS)
    # Differences the experiment's question needs beyond each arm against the baseline, as
    # "ARM - OTHER_ARM" (e.g. "full - plain"): tested and reported like the others (reports/tables.py).
    comparisons: list[str] = Field([], max_length=MAX_COMPARISONS)
    # Questions fixed before the data (`harness plan EXP --preregister`): tested as a Holm family of
    # their own, one-sided where they say which way; every other difference is exploratory.
    hypotheses: list[Hypothesis] = Field([], max_length=MAX_COMPARISONS)
    # vbench: official weights; random: random-init networks (pipeline checks); toy: networks trained on
    # the toy world and weight-free ones (scoring/toy.py). Every score records its backend.
    metrics_backend: Literal["vbench", "random", "toy"] = "vbench"
    # samples per track of the toy-world benchmark the harness writes for the toy preset (no
    # benchmark_root / SVI_BENCHMARK); load_experiment refuses it where no arm uses the toy preset
    toy_samples: int = Field(4, ge=1, le=MAX_SAMPLES)
    # the toy world's benchmark scenes: another seed, other scenes (a confirmatory run on scenes the
    # exploratory run did not see)
    toy_benchmark_seed: int = Field(TOY_BENCHMARK_SEED, ge=0, le=MAX_SEED)
    # Videos generated per sample by each trained model: the same conditioning with other noise. The
    # energy score (a sampler scored against the truth over its draws) needs 2 or more.
    draws: int = Field(1, ge=1, le=MAX_DRAWS)
    benchmark_root: str | None = None
    skip_bad_samples: bool = False  # leave out unusable benchmark samples instead of refusing to start
    # a generated video that cannot be decoded fails its arm by name; true: it is left out of the scores
    # and recorded (MLflow tag skipped_videos.<track>, a "Videos left out" table in the report)
    skip_bad_videos: bool = False
    # The degenerate references scored beside the arms (scoring/references.py, harness/run/reference_units.py):
    # videos made with no model from the baseline's first clips. `none` turns them off.
    # `truth_vae` (the truth through the source arm's VAE: the fidelity ceiling) is built when listed.
    # `pan` (the first frame panned at a random heading and speed) and `truth_alt` (other true futures,
    # where the benchmark's world can draw them: the toy world's) are built when listed, each
    # `reference_draws` videos a sample (the energy score's draws; scoring/energy.py `draw_path`).
    references: list[Literal[DECLARABLE]] | Literal["none"] = list(REFERENCES)
    reference_draws: int = Field(REFERENCE_DRAWS, ge=2, le=MAX_REFERENCE_DRAWS)
    window: str = "clip"
    nproc: int | None = Field(None, ge=1)
    launcher: Literal["auto", "deepspeed", "torchrun", "none"] = "auto"
    executor: ExecutorSpec = ExecutorSpec()

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        from harness.base.workspace import check_name

        return check_name(v, "experiment name")

    @field_validator("arms")
    @classmethod
    def _some_arms(cls, v: dict[str, Arm]) -> dict[str, Arm]:
        from harness.base.workspace import check_name

        if not v:
            raise ValueError("an experiment needs at least one arm, e.g. `arms: {full: {}}`")
        for name in v:
            check_name(name, "arm name")
            if name in (*DECLARABLE, RESCORE):  # a reference's run (and bundle unit) has its name
                raise ValueError(f"arm name {name!r} is the name of a reference: rename the arm")
        return v

    @model_validator(mode="after")
    def _lora_from_arms(self) -> Experiment:
        for name, arm in self.arms.items():
            for expert, other in arm.lora_from.items():
                if other not in self.arms or not self.arms[other].train:
                    trained = [a for a, spec in self.arms.items() if spec.train]
                    raise ValueError(
                        f"arm {name!r}: lora_from.{expert} names {other!r}, which is not a trained arm of "
                        f"this experiment (trained arms: {', '.join(trained) or 'none'})"
                    )
        return self

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: list[int]) -> list[int]:
        repeated = sorted({s for s in v if v.count(s) > 1}) if len(set(v)) != len(v) else []
        if repeated:  # (names the repeats, not a list that may hold a thousand seeds)
            raise ValueError(f"seeds must be distinct; repeated: {', '.join(map(str, repeated[:10]))}")
        return v

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, v: str) -> str:
        from scoring.specs import expand  # torch-free: a typo fails in well under a second

        if not expand(v):
            raise ValueError("name at least one metric or group, e.g. `metrics: vbench`")
        return v

    @field_validator("window")
    @classmethod
    def _known_window(cls, v: str) -> str:
        from scoring.specs import parse_window

        parse_window(v)
        return v

    @model_validator(mode="after")
    def _draws_for_a_sampler(self) -> Experiment:
        from scoring.specs import expand, spec

        over = [m for m in expand(self.metrics) if spec(m).over_draws]
        if over and self.draws < 2:
            raise ValueError(
                f"{', '.join(over)} score(s) a sampler over its draws of each sample, and one draw has no "
                f"spread: declare `draws: 2` or more (draws: {self.draws})"
            )
        return self

    @model_validator(mode="after")
    def _primary_is_scored(self) -> Experiment:
        from scoring.specs import expand

        if self.primary is not None and self.primary not in expand(self.metrics):
            raise ValueError(
                f"primary metric {self.primary!r} is not among the scored metrics ({self.metrics})"
            )
        return self

    @model_validator(mode="after")
    def _guards_are_scored(self) -> Experiment:
        from scoring.specs import expand

        scored = expand(self.metrics)
        for g in self.guards:
            if g not in scored or g == self.primary:
                raise ValueError(
                    f"guard {g!r}: a guard is a scored metric other than the primary (scored: {self.metrics})"
                )
        return self

    @model_serializer(mode="wrap")
    def _drop_later_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # declarations recorded before guards existed (bundles, registrations) stay as they were
        return drop_defaults(handler(self), {"guards": []})

    @model_validator(mode="after")
    def _comparisons_of_arms(self) -> Experiment:
        from reports.tables import parse_comparisons

        parse_comparisons(self.comparisons, list(self.arms))
        return self

    @model_validator(mode="after")
    def _hypotheses_are_scored_comparisons(self) -> Experiment:
        from reports.tables import parse_comparisons
        from scoring.specs import expand

        scored, tracks = expand(self.metrics), [s.name for s in self.suites]
        for h in self.hypotheses:
            parse_comparisons([h.comparison], list(self.arms))
            if h.metric not in scored:
                raise ValueError(f"hypothesis {h.comparison} on {h.metric!r}: not among the scored metrics")
            if h.track is not None and h.track not in tracks:
                raise ValueError(
                    f"hypothesis {h.comparison} on track {h.track!r}: tracks are {', '.join(tracks)}"
                )
        if self.hypotheses and sum(h.primary for h in self.hypotheses) != 1:
            raise ValueError(
                "hypotheses: mark exactly one `primary: true` (the registration's primary hypothesis)"
            )
        return self

    @model_validator(mode="after")
    def _bounded_units(self) -> Experiment:
        units = len(self.arms) * len(self.seeds)
        if units > MAX_UNITS:
            raise ValueError(
                f"{len(self.arms)} arms x {len(self.seeds)} seeds = {units} units (each a training, a "
                f"generation and a scoring), more than {MAX_UNITS}: split the experiment"
            )
        return self

    @model_validator(mode="after")
    def _suites_distinct(self) -> Experiment:
        keys = [s.name for s in self.suites]
        if len(set(keys)) != len(keys):
            raise ValueError(f"suites repeat a track: {', '.join(keys)}")
        return self

    @property
    def comparison_pairs(self) -> list[tuple[str, str]]:
        """The declared comparisons as (arm, other arm) pairs: arm minus other, then those of the
        hypotheses not declared as comparisons."""
        from reports.tables import parse_comparisons

        declared = parse_comparisons(self.comparisons, list(self.arms))
        hyps = parse_comparisons(list(dict.fromkeys(h.comparison for h in self.hypotheses)), list(self.arms))
        return declared + [p for p in hyps if p not in declared]

    @property
    def reference_kinds(self) -> list[str]:
        """The degenerate references to score (in their order), none for `references: none`."""
        return [] if self.references == "none" else list(dict.fromkeys(self.references))

    @property
    def tracks(self) -> list[str]:
        """`<suite>_<length>` of every suite, the prefix of its MLflow score keys."""
        return [s.name for s in self.suites]

    def arm_config(
        self, arm: str, source: Path | None = None, extra: dict[str, Any] | None = None
    ) -> SVIConfig:
        """The resolved, validated SVI configuration of one arm (`extra`: dotted overrides on top, a
        sweep trial's). An arm without `extra` is validated once per process: later calls (one per
        seed) get a copy of the first."""
        if extra:
            return self._resolve_arm(arm, source, extra)
        key = (arm, str(source))
        if key not in self._arm_configs:
            self._arm_configs[key] = self._resolve_arm(arm, source, None)
        return self._arm_configs[key].model_copy(deep=True)

    def _resolve_arm(self, arm: str, source: Path | None, extra: dict[str, Any] | None) -> SVIConfig:
        raw = copy.deepcopy(self.config)
        if self.base:
            from svi.config import read_yaml

            base_path = (source.parent if source else Path.cwd()) / self.base
            raw = deep_merge(read_yaml(base_path), raw)
        for key, value in {**self.arms[arm].overrides, **(extra or {})}.items():
            raw = deep_merge(raw, dotted(key, value))  # typed values, as the YAML gave them
        where = f"{source or self.name}: arm {arm!r}"
        cfg = build_config(raw, where)
        if self.draws > 1 and cfg.generate.noise == "official":
            raise ConfigError(
                f"{where}: generate.noise=official draws the same noise for every video (clip k from seed "
                f"42 k), so its {self.draws} draws would be one video: use generate.noise=streams with draws"
            )
        return cfg


def experiment_names() -> dict[str, str]:
    """name -> one-line description of every shipped experiment."""
    out = {}
    for f in sorted(EXPERIMENTS_DIR.glob("*.yaml")):
        try:
            data = read_mapping(f)
        except ConfigError:  # listed all the same: `harness plan NAME` says what is wrong with it
            out[f.stem] = "(unreadable: see harness plan " + f.stem + ")"
            continue
        out[f.stem] = (
            str(data.get("description", "")).strip().splitlines()[0] if data.get("description") else ""
        )
    return out


def find_experiment(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    candidate = EXPERIMENTS_DIR / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    known = ", ".join(experiment_names()) or "(none)"
    raise ConfigError(f"unknown experiment {name_or_path!r}; known experiments: {known}")


def read_experiment_file(path: Path) -> dict:
    """The raw mapping of an experiment file (any kind), or a ConfigError naming the file."""
    return read_mapping(path)


def is_pretrain(raw: dict) -> bool:
    """A `kind: pretrain` file (harness/run/pretraining.py) rather than an arms experiment."""
    return isinstance(raw, dict) and raw.get("kind") == "pretrain"


def load_experiment(name_or_path: str, overrides: list[str] = ()) -> tuple[Experiment, Path]:
    """The experiment a name or a path names, with command-line overrides, validated (every arm)."""
    path = find_experiment(name_or_path)
    return experiment_from(path, read_experiment_file(path), overrides), path


def experiment_from(path: Path, raw: dict, overrides: list[str] = ()) -> Experiment:
    """An experiment from the mapping already read from `path` (the file is read once: `harness run`
    reads it first to tell a pretraining from an experiment), validated with every arm."""
    fields = set(Experiment.model_fields) - {"config"}
    for text in overrides:
        diff = parse_override(text)
        key = next(iter(diff))
        raw = deep_merge(raw, diff) if key in fields else deep_merge(raw, {"config": diff})
    source = str(path) + (" with overrides " + " ".join(overrides) if overrides else "")
    try:
        exp = Experiment.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source)) from None
    configs = [exp.arm_config(arm, path) for arm in exp.arms]  # every arm validates before anything runs
    _check_toy_samples(exp, configs, source)
    _check_experts(exp, configs, source)
    return exp


def _check_experts(exp: Experiment, configs: list[SVIConfig], source: str) -> None:
    """A trained arm of a two-expert preset (Wan 2.2 A14B) names the expert it trains, each expert its
    own unit (train.expert); an arm of a one-transformer preset names none. Refused before any work,
    rather than when its training starts."""
    from svi.model.presets import get_preset

    for (name, arm), cfg in zip(exp.arms.items(), configs):
        two = get_preset(cfg.model.preset).experts == 2
        if arm.train and two and cfg.train.expert is None:
            raise ConfigError(
                f"{source}: arm {name!r} trains {cfg.model.preset}, which has two experts trained apart: set "
                f"train.expert=high or train.expert=low in its overrides (one arm per expert)"
            )
        if not two and cfg.train.expert is not None:
            raise ConfigError(
                f"{source}: arm {name!r} sets train.expert={cfg.train.expert}, but {cfg.model.preset} has one "
                "transformer: leave train.expert out"
            )
        if arm.lora_from and not two:
            raise ConfigError(
                f"{source}: arm {name!r} takes lora_from, which is for a two-expert model; "
                f"{cfg.model.preset} has one transformer"
            )
        by_arm = dict(zip(exp.arms, configs))
        for expert, other in arm.lora_from.items():
            if by_arm[other].train.expert != expert:
                raise ConfigError(
                    f"{source}: arm {name!r}: lora_from.{expert} names {other!r}, which trains the "
                    f"{by_arm[other].train.expert} expert: name an arm with train.expert={expert}"
                )


def _check_toy_samples(exp: Experiment, configs: list[SVIConfig], source: str) -> None:
    """`toy_samples` sizes the toy-world benchmark written for arms of a toy-world preset (toy, toy-a14b;
    harness/run/provision.py);
    declared where no arm uses that preset it would be ignored in silence, so it is refused."""
    from svi.model.presets import get_preset

    presets = sorted({cfg.model.preset for cfg in configs})
    if "toy_samples" in exp.model_fields_set and not any(get_preset(p).toy_world for p in presets):
        raise ConfigError(
            f"{source}: toy_samples sizes the toy-world benchmark of the toy preset, but no arm uses it "
            f"(presets: {', '.join(presets)}): leave toy_samples out (limit a track with "
            "suites: [{suite: ..., limit: N}])"
        )
