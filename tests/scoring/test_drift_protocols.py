"""The drift protocols (scoring/drift_protocols.py): Deep Forcing's delta-drift and LV-Bench's
Video Drift Error. Known answers of the formulas, the spans as a video of their own, one network run
per frame when the protocols and their dimension are scored together, and score_suite end to end."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from scoring import registry
from scoring.base import VideoInfo
from scoring.consistency import SubjectConsistency
from scoring.drift_protocols import (
    DeltaDrift,
    VideoDriftError,
    delta_drift,
    delta_drift_spans,
    vde_chunks,
    vde_weights,
    video_drift_error,
)
from scoring.extractors import ImageFeatureExtractor
from scoring.motion import ImagingQuality, MotionSmoothness
from scoring.score import build_metrics, score_suite, write_scores
from scoring.specs import BACKENDS, GROUPS, spec
from tests.tolerances import float32_cosine
from toyworld.synthetic import moving_square_frames, write_video

PROTOCOLS = GROUPS["drift_protocols"]  # the names and their order: test_specs.py


# ----------------------------------------------------------------------------------------------
# Known answers (by hand, from the references' formulas)


def test_delta_drift_is_the_absolute_difference():
    assert delta_drift(0.62, 0.55) == pytest.approx(0.07)
    assert delta_drift(0.55, 0.62) == pytest.approx(0.07)  # a rise is drift too
    assert delta_drift(0.6, 0.6) == 0.0


def test_delta_drift_spans_are_the_first_and_last_five_seconds():
    assert delta_drift_spans(960, 16.0) == [(0, 80), (880, 960)]  # a 60 s video at 16 fps
    assert delta_drift_spans(160, 16.0) == [(0, 80), (80, 160)]  # exactly 10 s: they touch
    assert delta_drift_spans(159, 16.0) is None  # shorter than 10 s: they would overlap
    assert delta_drift_spans(44, 4.0) == [(0, 20), (24, 44)]
    assert delta_drift_spans(0, 16.0) is None


def test_vde_chunks_follow_the_reference():
    # 25 frames: 10 chunks of 25 // 10 = 2 frames from frame 0; frames 20-24 are dropped
    assert vde_chunks(25) == [(2 * k, 2 * k + 2) for k in range(10)]
    assert vde_chunks(10) == [(k, k + 1) for k in range(10)]
    assert vde_chunks(9) is None  # fewer frames than chunks: the reference skips the video
    assert vde_chunks(765)[-1] == (684, 760)  # a 50 s SVI video at 16 fps: chunks of 76 frames


def test_vde_weights():
    assert vde_weights(10) == [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]  # chunks 2 .. 10
    assert vde_weights(3, "log") == pytest.approx([math.log(2), 0.0])
    assert vde_weights(1) == []
    with pytest.raises(ValueError, match="linear, log"):
        vde_weights(3, "square")


def test_video_drift_error_known_answers():
    # m = [0.5, 0.45, 0.55]: |0.45 - 0.5| / 0.5 = 0.1 (weight 2), |0.55 - 0.5| / 0.5 = 0.1 (weight 1)
    assert video_drift_error([0.5, 0.45, 0.55]) == pytest.approx(0.3)
    assert video_drift_error([0.5, 0.45, 0.55], "log") == pytest.approx(0.1 * math.log(2))
    assert video_drift_error([0.7] * 10) == 0.0
    # ten chunks: drift in the second chunk weighs 9, in the last 1
    assert video_drift_error([1.0, 0.5] + [1.0] * 8) == pytest.approx(4.5)
    assert video_drift_error([1.0] * 9 + [0.5]) == pytest.approx(0.5)
    assert video_drift_error([0.8]) == 0.0  # the reference's N < 2
    assert video_drift_error([0.0, 0.5]) == math.inf  # the reference's m_1 = 0


# ----------------------------------------------------------------------------------------------
# Streaming on models whose per-frame values a test dictates


class MeanQuality:
    """QualityFn: 100 x the frame's mean in [0, 1] (MUSIQ's scale); counts the frames it scores."""

    def __init__(self) -> None:
        self.frames = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # [N, 3, H, W] in [0, 1] -> [N]
        self.frames += x.shape[0]
        return x.mean(dim=(1, 2, 3)) * 100


class MeanColour(ImageFeatureExtractor):
    """Feature = the frame's mean RGB - 127.5; counts the frames it embeds."""

    feature_dim = 3

    def __init__(self) -> None:
        super().__init__("stub", batch_size=4)
        self.frames = 0

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        return frames

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        self.frames += pixels.shape[0]
        return pixels.mean(dim=(2, 3)) - 127.5


def midway(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """InterpFn: the average of the two neighbours."""
    return (a + b) / 2


def _video(num_frames: int, seed: int = 0) -> torch.Tensor:
    """[F, 3, 8, 8] float 0-255 integers, drifting brighter along the video."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, 120, (num_frames, 3, 8, 8), generator=g).float()
    return (noise + torch.linspace(0, 120, num_frames).view(-1, 1, 1, 1)).round()


def _score(metrics, frames: torch.Tensor, fps: float = 4.0, chunk: int = 5):
    """The runner's loop (stream.score_video) on frames in memory: one window per chunk."""
    info = VideoInfo("v", fps, frames.shape[0], frames.shape[2], frames.shape[3])
    accs = [m.new_video(info) for m in metrics]
    for s in range(0, frames.shape[0], chunk):
        for acc in accs:
            acc.update(frames[s : s + chunk])
        for acc in accs:
            acc.end_window()
    return [acc.finish() for acc in accs]


def _alone(base, frames: torch.Tensor) -> float | None:
    """The base metric's value of `frames` scored as a video of their own (a fresh metric pass)."""
    return _score([base], frames, chunk=3)[0].value


@pytest.mark.bitwise(
    "the dimension's value alone and beside its protocols comes from the same frames in the same chunks through the same operations (the protocols only read its per-frame values)"
)
def test_imaging_protocols_read_each_frame_once_and_match_the_formulas():
    quality = MeanQuality()
    base = ImagingQuality(quality, backend="stub", batch=3)
    delta, vde = DeltaDrift("delta_drift_imaging", base), VideoDriftError("vde_imaging", base)
    frames = _video(44)  # 11 s at 4 fps: first 5 s = frames 0-19, last 5 s = 24-43; 10 chunks of 4
    per_frame = frames.mean(dim=(1, 2, 3)) / 255  # what MeanQuality / 100 gives per frame

    alone = _score([base], frames)[0]
    assert quality.frames == 44
    for order in ([base, delta, vde], [vde, delta, base], [delta, vde]):
        quality.frames = 0
        results = dict(zip([m.name for m in order], _score(order, frames), strict=True))
        assert quality.frames == 44  # every frame through the model once, whoever reads it
        q_first, q_last = per_frame[:20].mean().item(), per_frame[24:].mean().item()
        assert results["delta_drift_imaging"].value == pytest.approx(abs(q_first - q_last))
        chunks = [per_frame[4 * k : 4 * k + 4].mean().item() for k in range(10)]
        assert results["vde_imaging"].extra["span_scores"] == pytest.approx(chunks)
        assert results["vde_imaging"].value == pytest.approx(video_drift_error(chunks))
        assert results["vde_imaging"].windows == [] and results["vde_imaging"].extra["reason"] is None
        if "imaging_quality" in results:  # the dimension's own numbers do not change
            assert results["imaging_quality"].value == alone.value
            assert results["imaging_quality"].windows == alone.windows


def test_spans_are_scored_as_videos_of_their_own():
    """Each span's value is the dimension's value of the span's frames scored alone (the references
    score each chunk as a video), for consistency (f_0 = the span's first frame) and motion."""
    frames = _video(40, seed=3)
    for base, name in [
        (SubjectConsistency(MeanColour()), "vde_subject"),
        (MotionSmoothness(midway, backend="stub", batch=2), "vde_motion"),
        (ImagingQuality(MeanQuality(), backend="stub"), "vde_imaging"),
    ]:
        result = _score([base, VideoDriftError(name, base)], frames, chunk=7)[1]
        expected = [_alone(base, frames[a:b]) for a, b in vde_chunks(40)]
        assert result.extra["spans"] == vde_chunks(40)
        assert result.extra["span_scores"] == pytest.approx(expected), name
        assert result.value == pytest.approx(video_drift_error(expected)), name


def test_motion_spans_take_only_predictions_inside_them():
    # frame i is uniformly c_i, a ramp of 5 per frame: the midway prediction of odd frame i is exact
    # unless c_i is off the ramp. Frames 3, 7, ... (4k + 3) are 50 off, but each is predicted from a
    # triplet (4k + 2 .. 4k + 4) that straddles two chunks; frame 1 is 20 off, inside chunk 1.
    c = torch.arange(40, dtype=torch.float32) * 5
    c[3::4] += 50
    c[1] += 20
    frames = c.view(-1, 1, 1, 1).expand(-1, 3, 4, 4).clone()  # [40, 3, 4, 4]
    base = MotionSmoothness(midway, backend="stub")
    own, vde = _score([base, VideoDriftError("vde_motion", base)], frames)
    m1 = (255 - 20) / 255
    assert vde.extra["span_scores"] == pytest.approx([m1] + [1.0] * 9)
    assert vde.value == pytest.approx(45 * (1 - m1) / m1)  # weights 9 + 8 + ... + 1 = 45
    assert own.value < m1  # the video's own value counts the straddling predictions


def test_short_videos_have_no_value_and_say_why():
    base = ImagingQuality(MeanQuality(), backend="stub")
    delta, vde = DeltaDrift("delta_drift_imaging", base), VideoDriftError("vde_imaging", base)
    short = _video(39)  # 9.75 s at 4 fps
    d, v = _score([delta, vde], short)
    assert d.value is None and "shorter than 2 x 5 s" in d.extra["reason"]
    assert v.value is not None  # 39 frames make 10 chunks of 3
    d, v = _score([delta, vde], _video(8))
    assert v.value is None and "fewer than the 10 chunks" in v.extra["reason"]
    assert base.quality_fn.frames == 39  # a video without spans does not run the model
    # a consistency chunk of one frame has no pair: no value, with the chunks named
    subject = VideoDriftError("vde_subject", SubjectConsistency(MeanColour()))
    (res,) = _score([subject], _video(15))
    assert res.value is None and "chunk(s) [1, 2" in res.extra["reason"]


def test_a_protocol_takes_only_its_dimension():
    base = ImagingQuality(MeanQuality(), backend="stub")
    with pytest.raises(ValueError, match="aesthetic_quality's per-frame values"):
        DeltaDrift("delta_drift_aesthetic", base)
    with pytest.raises(ValueError, match="takes no base"):
        registry.build("psnr", base=base)


# ----------------------------------------------------------------------------------------------
# The table, the registry and score_suite


def test_the_table_rows():
    for name in PROTOCOLS:
        row = spec(name)
        assert row.higher_is_better is False and not row.needs
        assert set(row.builders) == set(spec(row.base).builders) == set(BACKENDS)
    assert spec("delta_drift_imaging").scale == 100.0 and spec("vde_imaging").label == "VDE Clarity"


def test_build_metrics_gives_protocols_the_suites_dimension():
    metrics, unavailable = build_metrics("aesthetic_quality,vde_subject,drift_protocols", "toy")
    by_name = {m.name: m for m in metrics}
    assert unavailable == {} and list(by_name) == ["aesthetic_quality", "vde_subject", *PROTOCOLS[:-1]]
    assert by_name["vde_aesthetic"].base is by_name["aesthetic_quality"]
    assert by_name["delta_drift_aesthetic"].base is by_name["aesthetic_quality"]
    # a dimension not asked for is built once for all its protocols, and not scored itself
    assert by_name["vde_imaging"].base is by_name["delta_drift_imaging"].base
    assert (
        by_name["vde_imaging"].base.name == "imaging_quality"
        and by_name["vde_motion"].backend == "toy-opencv"
    )
    alone = registry.build("vde_subject", backend="toy")  # the registry alone builds its own
    assert alone.base.name == "subject_consistency" and alone.base is not by_name["vde_subject"].base
    build_metrics.cache_clear()


def _write(folder, name: str, num_frames: int, fps: int, seed: int) -> None:
    frames = moving_square_frames(
        num_frames, 32, 32, (230, 40, 40), "right", seed=seed
    )  # uint8 [F, 32, 32, 3]
    fade = np.linspace(1.0, 0.5, num_frames)[:, None, None, None]  # darker along the video: drift
    write_video(folder / f"{name}.mp4", (frames * fade).round().astype(np.uint8), fps=fps)


def test_score_suite_on_the_toy_backend(tmp_path):
    _write(tmp_path, "long", 44, 4, seed=0)  # 11 s
    _write(tmp_path, "short", 24, 4, seed=1)  # 6 s: no delta-drift; chunks of 2 frames: no motion VDE
    videos = sorted(tmp_path.glob("*.mp4"))
    report = score_suite(videos, "vbench,drift_protocols", backend="toy", window="5s", progress=False)
    assert report["unavailable"] == {} and list(report["aggregate"])[6:] == PROTOCOLS
    long, short = (next(v for v in report["videos"] if v["video"] == n) for n in ("long", "short"))
    assert all(long["scores"][n] is not None and long["scores"][n] >= 0 for n in PROTOCOLS)
    assert short["scores"]["delta_drift_imaging"] is None and short["scores"]["vde_motion"] is None
    assert short["scores"]["vde_subject"] is not None
    assert report["aggregate"]["delta_drift_aesthetic"] == long["scores"]["delta_drift_aesthetic"]
    assert report["aggregate"]["vde_subject"] == pytest.approx(
        (long["scores"]["vde_subject"] + short["scores"]["vde_subject"]) / 2
    )
    assert long["window_scores"]["vde_subject"] == [None, None, None]  # per video: no window values
    assert report["backends"]["vde_motion"] == "toy-opencv"
    long_protocol = score_suite(videos, "vde_subject", backend="toy", long=True, progress=False)
    assert "without long" in long_protocol["unavailable"]["vde_subject"]
    build_metrics.cache_clear()


def test_score_suite_on_the_random_backend_runs_the_network_once_per_frame(tmp_path):
    """MUSIQ with random weights (slow on a CPU: 16 frames of 1 fps videos) for imaging_quality and both
    protocols on it; the per-window values of the dimension (1 s windows = frames) give the answers."""
    _write(tmp_path, "v0", 11, 1, seed=0)  # 11 s: spans 0-4 and 6-10; 10 chunks of 1 frame
    _write(tmp_path, "v1", 5, 1, seed=1)  # 5 s, 5 frames: neither protocol has a value
    names = "imaging_quality,delta_drift_imaging,vde_imaging"
    metrics, _ = build_metrics(names, "random")
    calls = []
    hook = metrics[0].quality_fn.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[0]))
    try:
        report = score_suite(
            sorted(tmp_path.glob("*.mp4")), names, backend="random", window="1s", progress=False
        )
    finally:
        hook.remove()
        build_metrics.cache_clear()
    assert sum(calls) == 16  # each frame through MUSIQ once, for the dimension and both protocols
    assert report["unavailable"] == {} and report["backends"]["vde_imaging"] == "random-init"
    v0, v1 = report["videos"]
    q = v0["window_scores"]["imaging_quality"]  # one frame per window
    assert len(q) == 11
    assert v0["scores"]["delta_drift_imaging"] == pytest.approx(abs(np.mean(q[:5]) - np.mean(q[6:])))
    assert v0["scores"]["vde_imaging"] == pytest.approx(video_drift_error(q[:10]))
    assert v1["scores"]["delta_drift_imaging"] is None and v1["scores"]["vde_imaging"] is None
    assert report["aggregate"]["vde_imaging"] == v0["scores"]["vde_imaging"]  # the mean of defined values
    _, csv = write_scores(report, tmp_path / "out")
    rows = pd.read_csv(csv)
    suite = rows[rows["level"] == "suite"].iloc[0]
    assert suite["delta_drift_imaging"] == pytest.approx(v0["scores"]["delta_drift_imaging"])


@pytest.mark.bitwise(
    "beside the protocol and alone, the same chunks; the value in one piece is compared with a float32 tolerance (tests/tolerances.py)"
)
def test_long_horizon_coherence_reads_the_consistency_features_once():
    """subject_coherence: the mean cosine of the features COHERENCE_GAP seconds apart, from the
    consistency dimension's pass (each frame embedded once), its curve at every gap that fits."""
    from scoring.drift_protocols import COHERENCE_GAP, LongCoherence
    from scoring.references import coherence_at_gaps

    extractor = MeanColour()
    base = SubjectConsistency(extractor)
    coherence = LongCoherence("subject_coherence", base)
    frames = _video(48, seed=5)  # 12 s at 4 fps: gaps 2, 5 and 10 s fit
    own, result = _score([base, coherence], frames, chunk=7)
    assert extractor.frames == 48  # the network once per frame, for both
    features = torch.nn.functional.normalize(frames.mean(dim=(2, 3)) - 127.5, dim=-1).double().numpy()
    expected = coherence_at_gaps(features, 4.0, [2.0, 5.0, 10.0])
    assert result.value == pytest.approx(expected[COHERENCE_GAP])
    assert result.extra["curve"] == pytest.approx(
        {"2s": expected[2.0], "5s": expected[5.0], "10s": expected[10.0]}
    )
    # unchanged by it: the same frames in the same chunks through the same operations (the protocol
    # only reads the features the dimension computed), so the value is the same float
    assert own.value == _score([SubjectConsistency(MeanColour())], frames, chunk=7)[0].value
    # in one piece, the network still sees each frame once, and the value is the same up to float32
    # rounding: the features are exact (sums of 64 integers over a power of two), so only each frame's
    # normalisation and dot product round, in another vector width when the batch differs
    whole = _score([SubjectConsistency(MeanColour())], frames, chunk=48)[0].value
    assert whole == pytest.approx(own.value, rel=0, abs=float32_cosine(1, MeanColour.feature_dim))
    still = frames[:1].expand(48, -1, -1, -1)
    assert _score([base, coherence], still)[1].value == pytest.approx(1.0)  # a held frame: perfectly coherent
    short = _score([base, coherence], frames[:40])[1]  # 10 s: no pair 10 s apart
    assert short.value is None and "not longer than the 10 s gap" in short.extra["reason"]
