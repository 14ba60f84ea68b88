"""How each metric is built on each backend: the functions the spec table (`specs.py`) names.

Every builder is called as fn(name, *, backend, cache_dir, device, batch_size, i3d, toy_weights,
face_detector, base) and uses the options it needs. `backend="vbench"` loads VBench's official weight files
from the cache folder (VBENCH_CACHE_DIR; Sync-C/D's reference weights in its syncnet/); `"random"`
builds the same architectures with random initialisation (numbers that exercise the pipeline and measure
speed, never results); `"toy"` swaps in the toy-world models (`toy.py`). Weight-free metrics (psnr /
ssim, the drift group) are the same on every backend. The drift protocols wrap their dimension's metric
(`base`, built by the registry), so they exist on every backend it does. A missing weight file raises
FileNotFoundError naming the file.
"""

from __future__ import annotations

import functools

from scoring.base import Metric

_RANDOM = "random-init"
_WEIGHTS = "vbench-weights"


def fidelity(name: str, **_) -> Metric:
    from scoring.fidelity import PSNR, SSIM

    return {"psnr": PSNR, "ssim": SSIM}[name]()


def drift(name: str, **_) -> Metric:
    from scoring.drift import METRICS

    return METRICS[name]()


def energy(name: str, **_) -> Metric:
    from scoring.energy import EnergyMetric

    return EnergyMetric(name)


def delta_drift(name: str, *, base: Metric, **_) -> Metric:
    """delta_drift_aesthetic, delta_drift_imaging: on `base`'s per-frame values (drift_protocols.py)."""
    from scoring.drift_protocols import DeltaDrift

    return DeltaDrift(name, base)


def vde(name: str, *, base: Metric, **_) -> Metric:
    """vde_imaging, vde_motion, vde_aesthetic, vde_background, vde_subject (drift_protocols.py)."""
    from scoring.drift_protocols import VideoDriftError

    return VideoDriftError(name, base)


def coherence(name: str, *, base: Metric, **_) -> Metric:
    """subject_coherence, background_coherence: on the consistency dimension's features."""
    from scoring.drift_protocols import LongCoherence

    return LongCoherence(name, base)


def non_repetition(name: str, *, base: Metric, **_) -> Metric:
    """non_repetition: on subject_consistency's per-frame features, in its pass (repetition.py)."""
    from scoring.repetition import NonRepetition

    return NonRepetition(name, base)


def _clip_extractor(backend: str, **options) -> Metric:
    """FVD's clip extractor on this backend (I3D, random I3D, toy encoder): the features of the metrics
    that compare a video's clips with the truth's."""
    return toy("fvd", **options) if backend == "toy" else fvd("fvd", backend=backend, **options)


def truth_clips(name: str, *, backend: str, **options) -> Metric:
    """truth_clip_distance: the clips of FVD's extractor on this backend."""
    from scoring.truth_clips import TruthClipDistance

    return TruthClipDistance(_clip_extractor(backend, **options))


def clip_energy(name: str, *, backend: str, **options) -> Metric:
    """clip_energy_score and its terms: a sample's draws against the truth in the clips of FVD's extractor on
    this backend."""
    from scoring.truth_clips import ClipEnergyScore

    return ClipEnergyScore(_clip_extractor(backend, **options), name)


def consistency(name: str, *, backend: str, cache_dir=None, device="cpu", batch_size=16, **_) -> Metric:
    """subject_consistency, background_consistency, i2v_subject, i2v_background."""
    from scoring import consistency as c
    from scoring.extractors import ClipImageEncoder, DinoViTB16

    cls = c.BY_NAME[name]
    if backend != "random":
        return cls.from_cache(cache_dir, device=device, batch_size=batch_size)
    if name == "background_consistency":
        return cls(ClipImageEncoder.random("ViT-B-32", batch_size=batch_size).to(device))
    return cls(DinoViTB16.random(batch_size=batch_size).to(device))


def aesthetic(name: str, *, backend: str, cache_dir=None, device="cpu", batch_size=16, **_) -> Metric:
    from scoring.aesthetic import AestheticQuality
    from scoring.extractors import AestheticHead, ClipImageEncoder

    if backend != "random":
        return AestheticQuality.from_cache(cache_dir, device=device, batch_size=batch_size)
    clip = ClipImageEncoder.random("ViT-L-14", batch_size=batch_size).to(device)
    return AestheticQuality(clip, AestheticHead.random().to(device))


def motion(name: str, *, backend: str, cache_dir=None, device="cpu", **_) -> Metric:
    """dynamic_degree (RAFT) and motion_smoothness (AMT-S)."""
    from scoring.motion import DynamicDegree, MotionSmoothness
    from scoring.vbench_models import AmtInterpolator, RaftFlow

    random = backend == "random"
    tag = _RANDOM if random else _WEIGHTS
    if name == "dynamic_degree":
        return DynamicDegree(RaftFlow.build(cache_dir, random=random).to(device), backend=tag)
    return MotionSmoothness(AmtInterpolator.build(cache_dir, random=random).to(device), backend=tag)


def imaging_quality(name: str, *, backend: str, cache_dir=None, device="cpu", batch_size=16, **_) -> Metric:
    from scoring.motion import ImagingQuality
    from scoring.musiq import MUSIQ

    random = backend == "random"
    model = MUSIQ.random() if random else MUSIQ.from_cache(cache_dir)
    return ImagingQuality(model.to(device), backend=_RANDOM if random else _WEIGHTS, batch=batch_size)


def fvd(name: str, *, backend: str, device="cpu", i3d=None, **_) -> Metric:
    from scoring.fvd import FVD

    if backend == "random":
        return FVD.with_random_i3d(device=device)
    return FVD(weights_path=i3d, device=device)


SYNC_DETECTORS = ("haar", "s3fd")


def sync(
    name: str, *, backend: str, cache_dir=None, device="cpu", batch_size=16, face_detector=None, **_
) -> Metric:
    """sync_c, sync_d: SyncNet v2 (`<cache_dir>/syncnet/syncnet_v2.model`) or random init, and a face
    detector: "haar" (default, weight-free) or "s3fd" (`<cache_dir>/syncnet/sfd_face.pth`; random init
    on the random backend); on the toy backend the toy world's sync network (toy_sync.py) on whole
    frames. batch_size: 5-frame windows per SyncNet call.

    The two metrics get the same model and detector objects (cached here), so `sync.sync_metric` gives
    them one shared pass per video; a toy builder does the same with its own cached model and a
    `faces.FixedBox()`. Face tracks follow the reference's rules (`faces.TrackRules`), on the toy
    backend its scaled ones (`toy_sync.TOY_TRACK_RULES`)."""
    from scoring.faces import REFERENCE_TRACK_RULES
    from scoring.sync import sync_metric

    cache = str(cache_dir) if cache_dir else None
    model, detector = _sync_parts(backend, cache, str(device), face_detector or "haar")
    if backend == "toy":
        from scoring.toy_sync import TOY_TRACK_RULES as rules
    else:
        rules = REFERENCE_TRACK_RULES
    return sync_metric(name, model, detector, batch_windows=batch_size, rules=rules)


@functools.lru_cache(maxsize=2)
def _sync_parts(backend: str, cache_dir: str | None, device: str, face_detector: str):
    from scoring.faces import S3FD, HaarFaceDetector
    from scoring.syncnet import SyncNet, load_syncnet
    from scoring.vbench_models import cache_dir as vbench_cache

    if face_detector not in SYNC_DETECTORS:
        raise ValueError(
            f"unknown face_detector {face_detector!r}; choose one of {', '.join(SYNC_DETECTORS)}"
        )
    if backend == "toy":  # the toy world's sync network on whole-frame crops (its faces fill the frame)
        from scoring.faces import FixedBox
        from scoring.toy_sync import ToySyncNet

        return ToySyncNet.from_committed().to(device), FixedBox()
    folder = vbench_cache(cache_dir) / "syncnet"
    random = backend == "random"
    model = SyncNet.random() if random else load_syncnet(folder / "syncnet_v2.model")
    if face_detector == "haar":
        detector = HaarFaceDetector()
    else:
        detector = (S3FD.random() if random else S3FD.from_file(folder / "sfd_face.pth")).to(device)
    return model.to(device), detector


def toy(name: str, *, device="cpu", batch_size=16, toy_weights=None, **_) -> Metric:
    """The toy backend's models for the network metrics (toy.py; default the committed weights)."""
    from scoring import toy as toy_backend

    return toy_backend.build(name, weights=toy_weights, device=device, batch_size=batch_size)
