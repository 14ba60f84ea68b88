"""The metric table: every fact about a metric, stated once (torch-free; `reports/` reads it too).

One `MetricSpec` row per metric: its group (what `--metrics vbench` expands to), how reports show
it (label, display scale, decimals, direction), what reference it needs to be scored, and which
function builds it on each backend. The registry (`registry.build`), the metric classes
(`Metric.higher_is_better`, `Metric.needs_*`), scoring (`scoring.score_suite`) and the report tables
all read these rows. Builders are named as "module:function" strings and imported only when a metric
is built, so this file imports nothing heavy. `parse_window` (the scoring windows' names) lives here
too, so a command line checks `--metrics` and `--window` before importing torch.

Facts (docs/method.md §8): the VBench and VBench-I2V dimensions are on 0-1, higher is better (shown in
percent); FVD is lower-is-better against a reference set of videos; PSNR (dB) and SSIM compare a video
with its ground truth; the drift metrics (`drift.py`) are lower-is-better, truth_distance against the
ground truth; the energy score (`energy.py`) scores a sampler's draws of each sample against the truth,
lower is better. Sync-C / Sync-D score a talking video against its audio with SyncNet (`sync.py`); they
have no toy-world builder yet. The drift protocols of the long-video papers (`drift_protocols.py`:
Deep Forcing's delta-drift, LV-Bench's Video Drift Error) are lower-is-better rows computed from a
VBench dimension's per-frame values (their `base`) in the same pass, on every backend the base has.
The guards (`repetition.py`, `truth_clips.py`) are scores that a held frame, a loop and a ping-pong
cannot win; coherence at a distance is marked `one_sided` (it rewards stillness).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

NEEDS = ("reference_video", "input_image", "reference_set", "audio")
# Bump when a metric gives other values on the same videos: it enters every score stage's hash and
# every unit's plan (harness/declare/plan.py), so old scores are redone, not mixed with new ones.
# 2: the toy FVD reads frames at the toy encoder's 64 px instead of through I3D's 224.
SCORES_VERSION = 2
BACKENDS = ("vbench", "random", "toy")


@dataclass(frozen=True)
class MetricSpec:
    """One metric's facts.

    scale: display value = logged value * scale (100: a 0-1 VBench dimension shown in percent).
    higher_is_better: None means no direction (reports mark no best).
    needs: what scoring must be given besides the video: "reference_video" (a ground-truth video per
      generated video), "input_image" (the image an image-to-video sample started from),
      "reference_set" (a set of real videos, for FVD), "audio" (each video's soundtrack, for Sync-C/D).
    builders: backend -> "module:function"; the function is called as
      fn(name, *, backend, cache_dir, device, batch_size, i3d, toy_weights, face_detector, base) -> Metric
      (base: the built metric of the row's `base`, or None).
      Empty: the metric is shown in reports but cannot be scored yet.
    binary: each video scores 0 or 1 (dynamic_degree), so the suite value is a fraction of videos
      and a t-interval over videos is only approximate (reports say so).
    base: a drift protocol's dimension: the metric whose per-frame values it is computed from, in the
      same pass over each video (`drift_protocols.py`); its builder gets that metric as `base`. Such a
      metric scores fixed spans of the whole video, so the VBench-Long protocol cannot give it.
    window_unit, window_scale: where a metric's per-window values (the drift curves) are another
      quantity than its whole-video score, their unit and display scale (dynamic_degree: a video
      scores 0 or 1, a window the mean of its frame pairs' top-5% optical-flow magnitude, in pixels).
      None: the windows are on the score's own scale and unit.
    one_sided: the metric measures drift and is blind to stillness: a held frame scores as well as the
      truth or better by construction (coherence at a distance: a frame held for 10 s is perfectly
      coherent with itself), so it can carry an answer only beside guards (group `guards`) that the
      degenerate references fail and the truth passes (docs/method.md §14).
    over_draws: scored over a sample's draws (the videos one trained model makes of it with other
      noise, `scoring/energy.py`): an experiment declaring it needs `draws: 2` or more; a video with
      no other draws beside it is scored as a deterministic forecast (spread 0).
    """

    name: str
    group: str
    label: str
    scale: float = 1.0
    higher_is_better: bool | None = True
    decimals: int = 2
    needs: frozenset[str] = frozenset()
    builders: Mapping[str, str] = field(default_factory=dict, compare=False)
    binary: bool = False
    base: str | None = None
    window_unit: str | None = None
    window_scale: float | None = None
    one_sided: bool = False
    over_draws: bool = False

    def __post_init__(self) -> None:
        if not self.needs <= set(NEEDS):
            raise ValueError(f"{self.name}: unknown needs {sorted(self.needs - set(NEEDS))}; known: {NEEDS}")
        if not set(self.builders) <= set(BACKENDS):
            raise ValueError(f"{self.name}: unknown backends {sorted(set(self.builders) - set(BACKENDS))}")
        object.__setattr__(self, "builders", MappingProxyType(dict(self.builders)))

    @property
    def curve_scale(self) -> float:
        """Display value of a per-window value = logged value * curve_scale."""
        return self.scale if self.window_scale is None else self.window_scale

    @property
    def curve_label(self) -> str:
        """The drift plots' axis label: the label with the per-window values' unit."""
        if self.window_unit is not None:
            return f"{self.label}: {self.window_unit}"
        return self.label + (" (%)" if self.scale == 100.0 else "")

    @property
    def implemented(self) -> bool:
        return bool(self.builders)

    @property
    def needs_reference_video(self) -> bool:
        return "reference_video" in self.needs

    @property
    def needs_input_image(self) -> bool:
        return "input_image" in self.needs

    @property
    def needs_reference_set(self) -> bool:
        return "reference_set" in self.needs

    @property
    def needs_audio(self) -> bool:
        return "audio" in self.needs

    @property
    def needs_reference(self) -> bool:
        """Scored against real videos (a ground truth or a reference set), which probes never have."""
        return self.needs_reference_video or self.needs_reference_set

    @property
    def anchored(self) -> bool:
        """Anchored to the truth: scored against the true continuation (or a set of real videos), so
        the truth itself is its best value by construction and no video can beat it. Every other
        metric scores a video alone, and a video that beats the truth on it is an artefact or a held
        picture (reports/verdicts.py). The fact is `needs_reference`: stated once, there."""
        return self.needs_reference

    def builder(self, backend: str) -> Callable | None:
        """The function that builds this metric on `backend` (imported now), or None if there is none."""
        path = self.builders.get(backend)
        return resolve(path) if path is not None else None


def resolve(path: str) -> Callable:
    """'package.module:function' -> the function."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


_B = "scoring.builders:"


def _per_backend(vbench_and_random: str) -> dict[str, str]:
    """A network metric: VBench weights or random init from one builder, the toy models from another."""
    return {"vbench": _B + vbench_and_random, "random": _B + vbench_and_random, "toy": _B + "toy"}


def _direct(builder: str) -> dict[str, str]:
    """A weight-free metric: the same on every backend."""
    return dict.fromkeys(BACKENDS, _B + builder)


def _protocol(
    name: str, label: str, base: str, builder: str, scale: float = 1.0, decimals: int = 3
) -> MetricSpec:
    """A drift protocol's row (`drift_protocols.py`): lower is better, built on every backend its base is."""
    builders = dict.fromkeys(_DIMENSIONS[base].builders, _B + builder)
    return MetricSpec(name, "drift_protocols", label, scale, False, decimals, builders=builders, base=base)


_VIDEO = frozenset({"reference_video"})
_AUDIO = frozenset({"audio"})
_SYNC = dict.fromkeys(BACKENDS, _B + "sync")  # SyncNet weights, random init, or the toy sync network

# Row order is the order of groups, of `ALL` and of the columns in reports.
_ROWS = (
    MetricSpec("subject_consistency", "vbench", "Sub. Cons", 100.0, builders=_per_backend("consistency")),
    MetricSpec("background_consistency", "vbench", "Back. Cons", 100.0, builders=_per_backend("consistency")),
    MetricSpec("aesthetic_quality", "vbench", "Aest", 100.0, builders=_per_backend("aesthetic")),
    MetricSpec("imaging_quality", "vbench", "Img", 100.0, builders=_per_backend("imaging_quality")),
    MetricSpec(
        "dynamic_degree",
        "vbench",
        "Dyn. Deg",
        100.0,
        builders=_per_backend("motion"),
        binary=True,
        window_unit="top-5% flow (px per frame)",
        window_scale=1.0,
    ),  # fmt: skip
    MetricSpec("motion_smoothness", "vbench", "Motion Sm.", 100.0, builders=_per_backend("motion")),
    # VBench-I2V dimensions share VBench's 0-1 scale, so they are shown in percent too
    MetricSpec(
        "i2v_subject",
        "i2v",
        "I2V Sub.",
        100.0,
        needs=frozenset({"input_image"}),
        builders=_per_backend("consistency"),
    ),
    MetricSpec(
        "i2v_background",
        "i2v",
        "I2V Back.",
        100.0,
        needs=frozenset({"input_image"}),
        builders=_per_backend("consistency"),
    ),
    MetricSpec("psnr", "psnr_ssim", "PSNR (dB)", 1.0, True, 2, _VIDEO, _direct("fidelity")),
    MetricSpec("ssim", "psnr_ssim", "SSIM", 1.0, True, 3, _VIDEO, _direct("fidelity")),
    MetricSpec("sync_c", "sync", "Sync-C", 1.0, True, 2, _AUDIO, _SYNC),
    MetricSpec("sync_d", "sync", "Sync-D", 1.0, False, 2, _AUDIO, _SYNC),
    MetricSpec("fvd", "fvd", "FVD", 1.0, False, 1, frozenset({"reference_set"}), _per_backend("fvd")),
    MetricSpec("colour_shift", "drift", "Colour shift", 1.0, False, 4, builders=_direct("drift")),
    MetricSpec("sharpness_loss", "drift", "Sharpness loss", 1.0, False, 4, builders=_direct("drift")),
    MetricSpec("truth_distance", "drift", "Truth distance", 1.0, False, 4, _VIDEO, _direct("drift")),
)
_DIMENSIONS = {s.name: s for s in _ROWS}
# The long-video papers' drift protocols on a dimension's per-frame values: Deep Forcing's delta-drift
# (a difference of 0-1 scores, shown in percentage points) and LV-Bench's Video Drift Error (a weighted
# sum of relative changes), in the reference's order (clarity, motion, aesthetic, background, subject).
_ROWS += (
    _protocol("delta_drift_aesthetic", "Δdrift Aest", "aesthetic_quality", "delta_drift", 100.0, 2),
    _protocol("delta_drift_imaging", "Δdrift Img", "imaging_quality", "delta_drift", 100.0, 2),
    _protocol("vde_imaging", "VDE Clarity", "imaging_quality", "vde"),
    _protocol("vde_motion", "VDE Motion", "motion_smoothness", "vde"),
    _protocol("vde_aesthetic", "VDE Aest", "aesthetic_quality", "vde"),
    _protocol("vde_background", "VDE Back.", "background_consistency", "vde"),
    _protocol("vde_subject", "VDE Sub.", "subject_consistency", "vde"),
)

# Long-horizon coherence (VBench #206): the consistency dimensions' features compared 10 s apart.
_ROWS += tuple(
    MetricSpec(
        f"{part}_coherence",
        "coherence",
        f"{label} coh. 10 s",
        100.0,
        True,
        2,
        builders=dict.fromkeys(_DIMENSIONS[f"{part}_consistency"].builders, _B + "coherence"),
        base=f"{part}_consistency",
        one_sided=True,
    )  # fmt: skip
    for part, label in (("subject", "Sub."), ("background", "Back."))
)
# Guards: scores that the trivial videos cannot win (docs/guides/scoring.md). Non-repetition (higher is
# better: a loop, a ping-pong and a held frame score 0) on subject consistency's features, in its pass;
# the distance to the truth's 16-frame clips at the same time (lower is better) in FVD's clip features.
_ROWS += (
    MetricSpec(
        "non_repetition",
        "guards",
        "Non-repetition",
        1.0,
        True,
        4,
        builders=dict.fromkeys(_DIMENSIONS["subject_consistency"].builders, _B + "non_repetition"),
        base="subject_consistency",
    ),
    MetricSpec(
        "truth_clip_distance",
        "guards",
        "Truth clip dist.",
        1.0,
        False,
        4,
        _VIDEO,
        builders=dict.fromkeys(_DIMENSIONS["fvd"].builders, _B + "truth_clips"),
    ),
)

# The energy score (`energy.py`): a sampler's draws of each sample against the truth, in pixels (the
# distance of `truth_distance`), lower is better, with its two terms beside it: the mean distance of a
# draw from the truth (lower is better) and half the mean distance between two draws (no direction).
_ROWS += tuple(
    MetricSpec(name, "energy", label, 1.0, better, 4, _VIDEO, _direct("energy"), over_draws=True)
    for name, label, better in (
        ("energy_score", "Energy score", False),
        ("energy_accuracy", "Energy: to truth", False),
        ("energy_spread", "Energy: spread", None),
    )
)

# The energy score in FVD's clip features, clip by clip (`truth_clips.py`): the distance the guard
# `truth_clip_distance` measures for one video, as a sampler's score over its draws, with its two terms
# beside it as the pixel one's. Its own group.
_ROWS += tuple(
    MetricSpec(
        name, "clip_energy", label, 1.0, better, 4, _VIDEO,
        dict.fromkeys(_DIMENSIONS["fvd"].builders, _B + "clip_energy"), over_draws=True,
    )
    for name, label, better in (
        ("clip_energy_score", "Clip energy score", False),
        ("clip_energy_accuracy", "Clip energy: to truth", False),
        ("clip_energy_spread", "Clip energy: spread", None),
    )
)  # fmt: skip

SPECS: dict[str, MetricSpec] = {s.name: s for s in _ROWS}
# The metrics that can be scored, and the groups the command line takes (only implemented metrics).
ALL: list[str] = [s.name for s in _ROWS if s.implemented]
GROUPS: dict[str, list[str]] = {}
for _s in _ROWS:
    if _s.implemented:
        GROUPS.setdefault(_s.group, []).append(_s.name)
_PLANNED_GROUPS = {s.group for s in _ROWS} - set(GROUPS)


def spec(name: str) -> MetricSpec:
    """The row of metric `name` (implemented or not); ValueError for a name the table does not have."""
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known metrics: {', '.join(SPECS)}") from None


# -- direction: every comparison of two values of a metric goes through these -----------------------
# The rule for a metric without a direction (higher_is_better None) or one the table does not have:
# `direction` says None and `has_direction` False; every other accessor raises a ValueError naming the
# metric, since no value of it is better than another. A caller that may meet such a metric asks
# `has_direction` first.


def direction(metric: str) -> bool | None:
    """True: higher is better; False: lower is better; None: no direction, or a metric not in the table."""
    found = SPECS.get(metric)
    return None if found is None else found.higher_is_better


def has_direction(metric: str) -> bool:
    """Whether `metric` is in the table with a direction (one of its values can be better than another)."""
    return direction(metric) is not None


def _sign(metric: str) -> int:
    """+1 for a higher-is-better metric, -1 for a lower-is-better one; ValueError without a direction."""
    found = direction(metric)
    if found is None:
        raise ValueError(f"metric {metric!r} has no direction (scoring/specs.py): no value of it is better")
    return 1 if found else -1


def oriented(metric: str, x):
    """`x` (a value, a difference, or an array of them) signed so that bigger is better on `metric`."""
    return _sign(metric) * x


def better(metric: str, a: float, b: float) -> bool:
    """`a` is strictly better than `b` on `metric`."""
    return bool(oriented(metric, a) > oriented(metric, b))


def best_of(metric: str, values: Mapping) -> object | None:
    """The key of the best value in `values` (key -> value) on `metric`, NaN values left out; the first
    such key on a tie; None when no value is left."""
    sign = _sign(metric)
    scored = {k: v for k, v in values.items() if v == v}  # v != v: NaN
    return max(scored, key=lambda k: sign * scored[k]) if scored else None


def clear_better(metric: str, a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Interval `a` (low, high) lies wholly on the better side of interval `b` on `metric`: a's worse
    end is better than b's better end. A NaN bound clears nothing (False)."""
    sign = _sign(metric)
    if any(bound != bound for bound in (*a, *b)):  # NaN
        return False
    a_worst = min(sign * a[0], sign * a[1])
    b_best = max(sign * b[0], sign * b[1])
    return bool(a_worst > b_best)


def _known() -> str:
    return ", ".join(list(GROUPS) + ALL)


def expand(spec_str: str | list[str]) -> list[str]:
    """'vbench,fvd' (or a list of names and groups) -> the metric names, in order, without repeats."""
    items = spec_str.split(",") if isinstance(spec_str, str) else list(spec_str)
    names: list[str] = []
    for item in (i.strip() for i in items if i.strip()):
        if item in GROUPS:
            names += GROUPS[item]
        elif item in ALL:
            names.append(item)
        elif item in SPECS or item in _PLANNED_GROUPS:
            raise ValueError(
                f"metric {item!r} is not implemented yet: nothing here scores it (reports only show the "
                f"paper's published values); known metrics and groups: {_known()}"
            )
        else:
            raise ValueError(f"unknown metric {item!r}; known metrics and groups: {_known()}")
    return list(dict.fromkeys(names))


# Scoring windows are named here (not in stream.py) so that callers check them without importing torch.
def parse_window(text: str) -> tuple[str, float | None]:
    """'clip' -> ('clip', None); 'video' -> ('video', None): one window; '2s' / '2.5s' -> ('seconds', 2.0)."""
    from svi.config import parse_length  # torch-free

    t = text.strip().lower()
    if t in ("clip", "video"):
        return t, None
    try:
        return "seconds", parse_length(t)
    except ValueError:
        raise ValueError(
            f"--window must be 'clip', 'video' or a positive number of seconds such as '2s', got {text!r}"
        ) from None
