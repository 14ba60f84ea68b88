"""Published numbers of the SVI paper (METHOD.md §9), typed in for reference rows in reports.

These rows are shown below our own rows, labelled "(published)", never marked best and never averaged
with anything we measured. Values are in the paper's display units: the six VBench dimensions in
percent, PSNR in dB, SSIM on 0-1, FVD and Sync-C / Sync-D as printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.metrics.specs import GROUPS

SOURCE = "SVI paper (Li et al., 2025, arXiv:2510.09212)"

VBENCH_SIX = tuple(GROUPS["vbench"])  # Table 1's columns, in VBench's (and the paper's) order
ABLATION_FOUR = VBENCH_SIX[:4]


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


def _six(*values: float) -> dict[str, float]:
    return dict(zip(VBENCH_SIX, values, strict=True))


def _four(*values: float) -> dict[str, float]:
    return dict(zip(ABLATION_FOUR, values, strict=True))


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

# METHOD.md §9 does not say which of E_vid / E_noi each of the two middle rows removes, so they are
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

TABLE1 = {"consistent": CONSISTENT, "creative": CREATIVE}
CONDITIONAL = (TALK, DANCE)


def vbench_rows(suite: str) -> PublishedTable | None:
    """Table 1 rows for a suite (consistent / creative), or None when the paper has none."""
    return TABLE1.get(suite)


def conditional_rows(suite: str) -> PublishedTable | None:
    """The conditional-benchmark rows (FVD, PSNR/SSIM, Sync-C/D) for a talk / dance suite."""
    return next((t for t in CONDITIONAL if suite in t.suites), None)
