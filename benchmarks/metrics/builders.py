"""How each metric is built on each backend: the functions the spec table (`specs.py`) names.

Every builder is called as fn(name, *, backend, cache_dir, device, batch_size, i3d, toy_weights) and
uses the options it needs. `backend="vbench"` loads VBench's official weight files from the cache
folder (VBENCH_CACHE_DIR); `"random"` builds the same architectures with random initialisation
(numbers that exercise the pipeline and measure speed, never results); `"toy"` swaps in the toy-world
models (`toy.py`). Weight-free metrics (psnr / ssim, the drift group) are the same on every backend.
A missing weight file raises FileNotFoundError naming the file.
"""

from __future__ import annotations

from benchmarks.metrics.base import Metric

_RANDOM = "random-init"
_WEIGHTS = "vbench-weights"


def fidelity(name: str, **_) -> Metric:
    from benchmarks.metrics.fidelity import PSNR, SSIM

    return {"psnr": PSNR, "ssim": SSIM}[name]()


def drift(name: str, **_) -> Metric:
    from benchmarks.metrics.drift import METRICS

    return METRICS[name]()


def consistency(name: str, *, backend: str, cache_dir=None, device="cpu", batch_size=16, **_) -> Metric:
    """subject_consistency, background_consistency, i2v_subject, i2v_background."""
    from benchmarks.metrics import consistency as c
    from benchmarks.metrics.extractors import ClipImageEncoder, DinoViTB16

    cls = c.BY_NAME[name]
    if backend != "random":
        return cls.from_cache(cache_dir, device=device, batch_size=batch_size)
    if name == "background_consistency":
        return cls(ClipImageEncoder.random("ViT-B-32", batch_size=batch_size).to(device))
    return cls(DinoViTB16.random(batch_size=batch_size).to(device))


def aesthetic(name: str, *, backend: str, cache_dir=None, device="cpu", batch_size=16, **_) -> Metric:
    from benchmarks.metrics.aesthetic import AestheticQuality
    from benchmarks.metrics.extractors import AestheticHead, ClipImageEncoder

    if backend != "random":
        return AestheticQuality.from_cache(cache_dir, device=device, batch_size=batch_size)
    clip = ClipImageEncoder.random("ViT-L-14", batch_size=batch_size).to(device)
    return AestheticQuality(clip, AestheticHead.random().to(device))


def motion(name: str, *, backend: str, cache_dir=None, device="cpu", **_) -> Metric:
    """dynamic_degree (RAFT) and motion_smoothness (AMT-S)."""
    from benchmarks.metrics.motion import DynamicDegree, MotionSmoothness
    from benchmarks.metrics.vbench_models import AmtInterpolator, RaftFlow

    random = backend == "random"
    tag = _RANDOM if random else _WEIGHTS
    if name == "dynamic_degree":
        return DynamicDegree(RaftFlow.build(cache_dir, random=random).to(device), backend=tag)
    return MotionSmoothness(AmtInterpolator.build(cache_dir, random=random).to(device), backend=tag)


def imaging_quality(name: str, *, backend: str, cache_dir=None, device="cpu", batch_size=16, **_) -> Metric:
    from benchmarks.metrics.motion import ImagingQuality
    from benchmarks.metrics.musiq import MUSIQ

    random = backend == "random"
    model = MUSIQ.random() if random else MUSIQ.from_cache(cache_dir)
    return ImagingQuality(model.to(device), backend=_RANDOM if random else _WEIGHTS, batch=batch_size)


def fvd(name: str, *, backend: str, device="cpu", i3d=None, **_) -> Metric:
    from benchmarks.metrics.fvd import FVD

    if backend == "random":
        return FVD.with_random_i3d(device=device)
    return FVD(weights_path=i3d, device=device)


def toy(name: str, *, device="cpu", batch_size=16, toy_weights=None, **_) -> Metric:
    """The toy backend's models for the network metrics (toy.py; default the committed weights)."""
    from benchmarks.metrics import toy as toy_backend

    return toy_backend.build(name, weights=toy_weights, device=device, batch_size=batch_size)
