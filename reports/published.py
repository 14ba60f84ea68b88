"""Published numbers, typed in for reference rows in reports: the SVI paper's tables, and the long-video
rows of Deep Forcing's Table 1 (each method on its own model).

These rows are shown below our own rows, labelled "(published)", never marked best and never averaged
with anything we measured. Values are in the paper's display units: the VBench dimensions in
percent, PSNR in dB, SSIM on 0-1, FVD and Sync-C / Sync-D as printed. Each table names its paper
(`source`) and where in it the rows are (`where`).

Deep Forcing's delta-drift (|q(first 5 s) - q(last 5 s)|, the `drift_protocols` metrics) has no rows
here: no printed value of it was found to type in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scoring.specs import GROUPS

SOURCE = "SVI paper (Li et al., 2025, arXiv:2510.09212)"
DEEP_FORCING_SOURCE = "Deep Forcing paper (arXiv:2512.05081)"

VBENCH_SIX = tuple(GROUPS["vbench"])  # Table 1's columns, in VBench's (and the paper's) order
ABLATION_FOUR = VBENCH_SIX[:4]
LONG_VIDEO_THREE = ("dynamic_degree", "imaging_quality", "subject_consistency")  # Deep Forcing's order


@dataclass(frozen=True)
class PublishedRow:
    label: str
    values: dict[str, float]  # metric name -> value in display units


@dataclass(frozen=True)
class PublishedTable:
    name: str  # "consistent", "creative", "ablation", "talk", "dance"
    where: str  # where in the paper, for the footnote
    suites: tuple[str, ...]  # benchmark suites these rows are shown beside ("*": any)
    rows: tuple[PublishedRow, ...] = field(default_factory=tuple)
    source: str = SOURCE  # the paper


def _six(*values: float) -> dict[str, float]:
    return dict(zip(VBENCH_SIX, values, strict=True))


def _four(*values: float) -> dict[str, float]:
    return dict(zip(ABLATION_FOUR, values, strict=True))


def _long(*values: float) -> dict[str, float]:
    return dict(zip(LONG_VIDEO_THREE, values, strict=True))


CONSISTENT = PublishedTable(
    "consistent",
    "Table 1 (top), consistent benchmark; each method run from its own repository on its own model "
    "(FramePack on HunyuanVideo, Wan 2.1 and SVI on Wan 2.1 I2V 14B)",
    ("consistent",),
    (
        PublishedRow("Wan 2.1", _six(87.03, 92.45, 56.40, 65.70, 12.68, 98.51)),
        PublishedRow("FramePack", _six(93.08, 94.72, 63.57, 66.72, 7.75, 99.57)),
        PublishedRow("SVI-Shot", _six(98.13, 98.19, 63.84, 71.88, 17.61, 98.93)),
    ),
)

CREATIVE = PublishedTable(
    "creative",
    "Table 1 (bottom), creative benchmark (Wan 2.1 and SVI on Wan 2.1 I2V 14B)",
    ("creative",),
    (
        PublishedRow("Wan 2.1", _six(81.44, 89.81, 51.33, 53.09, 61.97, 98.57)),
        PublishedRow("SVI-Film", _six(84.27, 90.68, 57.02, 57.04, 57.04, 99.12)),
        PublishedRow("SVI-Shot", _six(93.52, 95.86, 58.07, 62.81, 55.63, 98.42)),
    ),
)

# docs/method.md §9 does not say which of E_vid / E_noi each of the two middle rows removes, so they are
# labelled (a) and (b) rather than guessed.
ABLATION = PublishedTable(
    "ablation",
    "error-injection ablation",
    ("*",),
    (
        PublishedRow("Wan 2.1", _four(66.73, 82.83, 43.95, 42.31)),
        PublishedRow("w/o E_img", _four(73.82, 84.21, 49.58, 57.63)),
        PublishedRow("w/o E_vid or E_noi (a)", _four(94.22, 94.87, 59.80, 69.90)),
        PublishedRow("w/o E_vid or E_noi (b)", _four(93.56, 95.01, 58.99, 71.50)),
        PublishedRow("full", _four(94.69, 95.39, 61.88, 71.22)),
    ),
)

TALK = PublishedTable(
    "talk",
    "conditional benchmark, audio-driven talking (300 s)",
    ("talk", "conditional_talk"),
    (PublishedRow("SVI-Talk", {"sync_c": 6.12, "sync_d": 8.74, "fvd": 390.0}),),
)

DANCE = PublishedTable(
    "dance",
    "conditional benchmark, skeleton-driven dance (50 s)",
    ("dance", "conditional_dance"),
    (PublishedRow("SVI-Dance", {"psnr": 20.01, "ssim": 0.71, "fvd": 299.0}),),
)

# Text-to-video on MovieGen prompts, not SVI's image-to-video benchmarks: a different benchmark, models
# and backbone from any run here, shown for orientation beside VBench-Long scores of any suite.
LONG_VIDEO = PublishedTable(
    "long_video",
    "Table 1, VBench-Long on 128 MovieGen prompts, 60 s videos; published on their own models (each "
    "method's own model, not this harness's backbone)",
    ("*",),
    (
        PublishedRow("LongLive", _long(43.49, 69.11, 97.85)),
        PublishedRow("Rolling Forcing", _long(31.35, 70.25, 97.97)),
        PublishedRow("Self Forcing", _long(31.98, 66.33, 96.82)),
        PublishedRow("Deep Forcing (training-free)", _long(57.19, 69.27, 96.96)),
    ),
    DEEP_FORCING_SOURCE,
)

TABLE1 = {"consistent": CONSISTENT, "creative": CREATIVE}
CONDITIONAL = (TALK, DANCE)


def vbench_rows(suite: str) -> PublishedTable | None:
    """Table 1 rows for a suite (consistent / creative), or None when the paper has none."""
    return TABLE1.get(suite)


def conditional_rows(suite: str) -> PublishedTable | None:
    """The conditional-benchmark rows (FVD, PSNR/SSIM, Sync-C/D) for a talk / dance suite."""
    return next((t for t in CONDITIONAL if suite in t.suites), None)


def long_video_rows() -> PublishedTable:
    """Deep Forcing's Table 1 rows (VBench-Long, 60 s, MovieGen prompts; each method on its own model):
    Dynamic Degree, Imaging Quality and Subject Consistency, in percent. Its `source` names the paper."""
    return LONG_VIDEO
