"""Metric names, the groups the command line takes, and how each metric is built.

`backend="vbench"` loads VBench's official weight files from the cache folder (VBENCH_CACHE_DIR);
`backend="random"` builds every network with random initialisation (same architectures): numbers
that exercise the pipeline and measure speed, never results. `backend="toy"` scores toy-world
videos with the same formulas on a small encoder trained on the toy world and OpenCV optical flow
(`benchmarks/metrics/toy.py`): comparable between arms, never with published VBench numbers.
Every metric reports its backend.

Weight-free metrics are the same for every backend: psnr / ssim, and the `drift` group (colour
shift, sharpness loss and distance to the true continuation along the video, `drift.py`).
"""

from __future__ import annotations

import os

from benchmarks.metrics.base import Metric

GROUPS: dict[str, list[str]] = {
    "vbench": [
        "subject_consistency",
        "background_consistency",
        "aesthetic_quality",
        "imaging_quality",
        "dynamic_degree",
        "motion_smoothness",
    ],
    "i2v": ["i2v_subject", "i2v_background"],
    "psnr_ssim": ["psnr", "ssim"],
    "fvd": ["fvd"],
    "drift": ["colour_shift", "sharpness_loss", "truth_distance"],
}
ALL = [name for names in GROUPS.values() for name in names]
BACKENDS = ("vbench", "random", "toy")


class MetricUnavailable(RuntimeError):
    """A metric whose model cannot be built here (the message says why)."""


def expand(spec: str | list[str]) -> list[str]:
    """'vbench,fvd' -> the metric names, in order, without repeats."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in (i.strip() for i in items if i.strip()):
        if item in GROUPS:
            names += GROUPS[item]
        elif item in ALL:
            names.append(item)
        else:
            known = ", ".join(list(GROUPS) + ALL)
            raise ValueError(f"unknown metric {item!r}; known metrics and groups: {known}")
    return list(dict.fromkeys(names))


def build(
    name: str,
    *,
    backend: str = "vbench",
    cache_dir: str | os.PathLike | None = None,
    device: str = "cpu",
    batch_size: int = 16,
    i3d: str | os.PathLike | None = None,
    toy_weights: str | os.PathLike | None = None,
) -> Metric:
    """One metric with its networks loaded (official weights), random-initialised or toy-world trained.

    toy_weights: the toy encoder's safetensors file (backend "toy"; default the committed weights).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    random = backend == "random"
    if name in ("psnr", "ssim"):
        from benchmarks.metrics.fidelity import PSNR, SSIM

        return PSNR() if name == "psnr" else SSIM()
    if name in GROUPS["drift"]:
        from benchmarks.metrics.drift import METRICS

        return METRICS[name]()
    if backend == "toy":
        from benchmarks.metrics import toy

        if name not in toy.NAMES:
            raise ValueError(f"unknown metric {name!r}; known: {', '.join(ALL)}")
        return toy.build(name, weights=toy_weights, device=device, batch_size=batch_size)
    if name == "fvd":
        from benchmarks.metrics.fvd import FVD

        return FVD.with_random_i3d(device=device) if random else FVD(weights_path=i3d, device=device)
    if name in ("subject_consistency", "background_consistency", "i2v_subject", "i2v_background"):
        from benchmarks.metrics import consistency as c
        from benchmarks.metrics.extractors import ClipImageEncoder, DinoViTB16

        cls = c.BY_NAME[name]
        if not random:
            return cls.from_cache(cache_dir, device=device, batch_size=batch_size)
        if name == "background_consistency":
            return cls(ClipImageEncoder.random("ViT-B-32", batch_size=batch_size).to(device))
        return cls(DinoViTB16.random(batch_size=batch_size).to(device))
    if name == "aesthetic_quality":
        from benchmarks.metrics.aesthetic import AestheticQuality
        from benchmarks.metrics.extractors import AestheticHead, ClipImageEncoder

        if not random:
            return AestheticQuality.from_cache(cache_dir, device=device, batch_size=batch_size)
        clip = ClipImageEncoder.random("ViT-L-14", batch_size=batch_size).to(device)
        return AestheticQuality(clip, AestheticHead.random().to(device))
    if name in ("dynamic_degree", "motion_smoothness"):
        from benchmarks.metrics.motion import DynamicDegree, MotionSmoothness
        from benchmarks.metrics.vbench_models import AmtInterpolator, RaftFlow

        tag = "random-init" if random else "vbench-weights"
        if name == "dynamic_degree":
            return DynamicDegree(RaftFlow.build(cache_dir, random=random).to(device), backend=tag)
        return MotionSmoothness(AmtInterpolator.build(cache_dir, random=random).to(device), backend=tag)
    if name == "imaging_quality":
        from benchmarks.metrics.motion import ImagingQuality
        from benchmarks.metrics.musiq import MUSIQ

        model = MUSIQ.random() if random else MUSIQ.from_cache(cache_dir)
        tag = "random-init" if random else "vbench-weights"
        return ImagingQuality(model.to(device), backend=tag, batch=batch_size)
    raise ValueError(f"unknown metric {name!r}; known: {', '.join(ALL)}")
