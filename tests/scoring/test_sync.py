"""Sync-C / Sync-D: the offset search's known answers, MFCC windows, SyncNet and S3FD files, the
detectors, the face crop, and the streaming accumulator on a synthetic talking video.

The streaming tests use `CodeModel`, a tiny deterministic SyncModel (not a stand-in for SyncNet): each
video frame is one grey level g, and its 40 ms of audio a 1 kHz tone of amplitude ~exp(g / 50). The
model embeds a video window as the five frames' centre grey levels / 50 and an audio window as half
the log energies (MFCC c0) of its frames' first steps, both centred, so the two embeddings agree
exactly when the audio is in step with the video and the known offset must come out.
"""

import math

import numpy as np
import pytest
import python_speech_features
import torch
from scipy.interpolate import interp1d
from scipy.signal import medfilt

from scoring import registry
from scoring.base import VideoInfo
from scoring.faces import (
    REFERENCE_TRACK_RULES,
    S3FD,
    FaceTracker,
    FixedBox,
    HaarFaceDetector,
    TrackRules,
    crop_face,
    median_filter_track,
    nms,
)
from scoring.sync import (
    SyncModel,
    audio_windows,
    mfcc_features,
    offset_distances,
    sync_metric,
    sync_scores,
    video_windows,
    window_starts,
)
from scoring.syncnet import SyncNet, load_syncnet

FPS, RATE = 25, 16000
# Every track scored: the streaming tests' synthetic videos are short and small (the reference's rules
# need more than 100 detections of faces above 100 px; their own tests are below)
ALL_TRACKS = TrackRules(min_track=0, min_face_size=0.0)

# ---------------------------------------------------------------------------------------------------
# The offset search: known answers
# ---------------------------------------------------------------------------------------------------


def test_distances_and_scores_by_hand():
    video = torch.tensor([[1.0], [2.0], [3.0]])
    dists = offset_distances(video, video.clone(), vshift=1)
    # audio padded to [0, 1, 2, 3, 0]; row i compares video i with audio i-1, i, i+1
    expected = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 1.0], [1.0, 0.0, 3.0]])
    torch.testing.assert_close(dists, expected, atol=1e-5, rtol=0)
    scores = sync_scores(dists)
    assert scores.offset == 0
    assert scores.sync_d == pytest.approx(0.0, abs=1e-5)
    assert scores.mdist == pytest.approx((1.0, 0.0, 5 / 3), abs=1e-5)
    assert scores.sync_c == pytest.approx(1.0, abs=1e-5)  # median 1 - min 0


def _unit_vectors(n: int, dim: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    return x / x.norm(dim=1, keepdim=True)


def test_identical_streams_give_offset_zero():
    v = _unit_vectors(120)
    scores = sync_scores(offset_distances(v, v.clone()))
    assert scores.offset == 0 and scores.sync_d < 1e-4 and scores.sync_c > 1.0
    assert len(scores.mdist) == 31


@pytest.mark.parametrize("k", [-9, -2, 1, 4, 12])
def test_shifted_audio_gives_its_offset_with_the_sign(k):
    base = _unit_vectors(120 + 30)
    video = base[15 : 15 + 120]
    audio = base[15 + k : 15 + k + 120]  # audio at frame i carries the video's frame i + k: audio leads by k
    scores = sync_scores(offset_distances(video, audio))
    assert scores.offset == k
    assert scores.mdist[15 - k] == scores.sync_d  # column j holds offset 15 - j


def test_confidence_falls_with_another_clips_audio():
    video = _unit_vectors(120, seed=1)
    matched = sync_scores(offset_distances(video, video.clone()))
    other = sync_scores(offset_distances(video, _unit_vectors(120, seed=2)))
    assert other.sync_c < 0.2 * matched.sync_c
    assert other.sync_d > matched.sync_d + 1.0


def test_scores_reject_bad_shapes():
    with pytest.raises(ValueError, match="2 vshift"):
        sync_scores(torch.zeros(0, 31))
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        offset_distances(torch.zeros(3, 4), torch.zeros(2, 4))


# ---------------------------------------------------------------------------------------------------
# Windows and MFCCs
# ---------------------------------------------------------------------------------------------------


def test_window_starts_follow_the_reference_count():
    assert window_starts(0, 100, 1000) == range(0, 95)  # m frames -> m - 5 windows
    assert window_starts(0, 100, 50) == range(0, 45)  # the audio ends first
    assert window_starts(10, 16, 1000) == range(10, 11)  # 6 frames: one window
    assert not window_starts(10, 15, 1000)  # 5 frames: none


def test_mfcc_call_and_windows():
    n = 10
    g = np.random.default_rng(0)
    audio = (0.3 * g.standard_normal(n * 640)).clip(-1, 1).astype(np.float32)
    mfcc = mfcc_features(torch.from_numpy(audio))
    assert mfcc.shape == (4 * n - 1, 13) and mfcc.dtype == np.float32  # 100 steps/s, 13 coefficients
    pcm = np.clip(np.rint(audio.astype(np.float64) * 32768), -32768, 32767).astype(np.int16)
    np.testing.assert_allclose(mfcc, python_speech_features.mfcc(pcm, 16000), rtol=1e-6, atol=1e-5)
    # int16 scale: twice the amplitude adds log 4 to c0 (the log energy) and leaves c1.. alone
    louder = mfcc_features(torch.from_numpy(audio / 2))
    np.testing.assert_allclose(mfcc[:, 0] - louder[:, 0], math.log(4), atol=2e-3)
    np.testing.assert_allclose(mfcc[:, 1:], louder[:, 1:], atol=1e-2)  # up to int16 rounding
    with pytest.raises(ValueError, match="16000 Hz"):
        mfcc_features(audio, sample_rate=8000)

    steps = np.arange(40 * 13, dtype=np.float32).reshape(40, 13)
    windows = audio_windows(steps, [0, 2])  # [2, 1, 13, 20]: coefficients x time
    assert windows.shape == (2, 1, 13, 20)
    torch.testing.assert_close(windows[1, 0], torch.from_numpy(steps[8:28].T.copy()))
    with pytest.raises(ValueError, match="MFCC step"):
        audio_windows(steps, [6])


def test_video_windows_are_bgr_and_consecutive():
    crops = np.zeros((7, 4, 4, 3), dtype=np.uint8)
    crops[..., 0] = np.arange(7)[:, None, None]  # red = frame index
    crops[..., 2] = 200  # blue
    windows = video_windows(crops)
    assert windows.shape == (3, 3, 5, 4, 4) and windows.dtype == torch.float32
    assert windows[2, 2, :, 0, 0].tolist() == [2, 3, 4, 5, 6]  # red is the last channel (BGR)
    assert (windows[:, 0] == 200).all()


# ---------------------------------------------------------------------------------------------------
# SyncNet and S3FD: architecture and files
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def syncnet():
    return SyncNet.random(seed=0)


def test_syncnet_shapes_and_protocol(syncnet):
    assert isinstance(syncnet, SyncModel) and syncnet.crop_size == 224 and syncnet.backend == "random-init"
    with torch.inference_mode():
        assert syncnet.embed_video(torch.rand(2, 3, 5, 224, 224) * 255).shape == (2, 1024)
        assert syncnet.embed_audio(torch.randn(2, 1, 13, 20)).shape == (2, 1024)
    assert not syncnet.training


def test_syncnet_file_round_trip(syncnet, tmp_path):
    path = tmp_path / "syncnet_v2.model"
    torch.save(syncnet.state_dict(), path)  # the reference's format: a bare state dict
    loaded = load_syncnet(path)
    assert loaded.backend == "syncnet_v2"
    for key, value in syncnet.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    # the published file predates num_batches_tracked
    old = {k: v for k, v in syncnet.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(old, path)
    load_syncnet(path)
    torch.save({**old, "extra.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="unexpected keys \\['extra.weight'\\]"):
        load_syncnet(path)
    del old["netfclip.3.weight"]
    torch.save(old, path)
    with pytest.raises(ValueError, match="netfclip.3.weight"):
        load_syncnet(path)
    with pytest.raises(FileNotFoundError, match="syncnet_v2.model from http"):
        load_syncnet(tmp_path / "missing" / "syncnet_v2.model")


@pytest.fixture(scope="module")
def s3fd_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("s3fd") / "sfd_face.pth"
    torch.save(S3FD.random(seed=0).state_dict(), path)
    return path


def test_s3fd_file_loads_strictly(s3fd_file, tmp_path):
    model = S3FD.from_file(s3fd_file)
    assert model.backend == "s3fd" and len(model.state_dict()) == 65
    state = torch.load(s3fd_file, weights_only=True)
    del state["conf.0.weight"]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="conf.0.weight"):
        S3FD.from_file(tmp_path / "bad.pth")
    with pytest.raises(FileNotFoundError, match="sfd_face.pth from https"):
        S3FD.from_file(tmp_path / "none.pth")


def test_s3fd_runs_and_decodes():
    model = S3FD.random(seed=0, scale=1.0, conf_threshold=0.0)  # every prior passes: exercises decoding
    frame = np.random.default_rng(0).integers(0, 256, (128, 160, 3), dtype=np.uint8)
    boxes = model.detect(frame)
    assert 0 < len(boxes) <= 750
    assert all(len(b) == 5 and b[2] > b[0] and b[3] > b[1] for b in boxes)
    big = np.random.default_rng(0).integers(0, 256, (512, 640, 3), dtype=np.uint8)
    assert S3FD.random(seed=0).detect(big) == []  # random weights score no face above 0.9
    with pytest.raises(ValueError, match="at least 28 px"):
        S3FD.random(seed=0).detect(frame[:100])  # 40 x 25 px after the reference's 0.25 scale


def test_priors_decode_and_nms_known_answers():
    priors = S3FD.priors((8, 16), [(2, 4)])  # one source at stride 4, prior size 16
    assert priors.shape == (8, 4)
    torch.testing.assert_close(priors[5], torch.tensor([0.375, 0.75, 1.0, 2.0]))  # row 1, column 1
    boxes = S3FD.decode(torch.zeros(1, 4), torch.tensor([[0.5, 0.5, 0.2, 0.4]]))
    torch.testing.assert_close(boxes, torch.tensor([[0.4, 0.3, 0.6, 0.7]]))
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 5]])
    keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7, 0.95]), 0.3)
    assert keep.tolist() == [3, 2]  # IoU with [3]: [0] 0.5, [1] 0.32; [1] with [0]: 0.68
    assert nms(boxes, torch.tensor([0.9, 0.8, 0.7, 0.95]), 0.6).tolist() == [3, 0, 2]
    assert nms(boxes, torch.tensor([0.9, 0.8, 0.7, 0.95]), 0.7).tolist() == [3, 0, 1, 2]


# ---------------------------------------------------------------------------------------------------
# Detectors and the crop
# ---------------------------------------------------------------------------------------------------


def test_haar_finds_no_face_where_there_is_none():
    haar = HaarFaceDetector()
    assert haar.backend == "opencv-haar"
    rng = np.random.default_rng(0)
    for frame in [
        np.full((240, 320, 3), 128, np.uint8),
        rng.integers(0, 256, (240, 320, 3), dtype=np.uint8),
        np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (240, 1, 3)),
    ]:
        assert haar.detect(frame) == []


def test_fixed_box():
    frame = np.zeros((20, 30, 3), np.uint8)
    assert FixedBox().detect(frame) == [(0.0, 0.0, 30.0, 20.0, 1.0)]
    assert FixedBox((1, 2, 3, 4)).detect(frame) == [(1.0, 2.0, 3.0, 4.0, 1.0)]


def _reference_crop(frame, x, y, s, cs=0.4):
    """The crop written out the way run_pipeline.py describes it: pad, slice, resize."""
    import cv2

    pad = int(s * (1 + 2 * cs))
    padded = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), constant_values=110)
    my, mx = y + pad, x + pad
    face = padded[int(my - s) : int(my + s * (1 + 2 * cs)), int(mx - s * (1 + cs)) : int(mx + s * (1 + cs))]
    return cv2.resize(face, (224, 224))


@pytest.mark.parametrize("x, y, s", [(60.0, 40.0, 15.0), (3.2, 70.7, 22.5), (95.5, 2.0, 40.0), (50, 50, 1.0)])
def test_crop_matches_the_padded_reference(x, y, s):
    frame = np.random.default_rng(1).integers(0, 256, (80, 100, 3), dtype=np.uint8)
    np.testing.assert_array_equal(crop_face(frame, x, y, s), _reference_crop(frame, x, y, s))


class ScriptedDetector:
    """Returns the given boxes frame by frame (None: no face), for the track tests."""

    backend = "scripted"

    def __init__(self, boxes):
        self.boxes = list(boxes)
        self.calls = 0

    def detect(self, frame):
        box = self.boxes[self.calls]
        self.calls += 1
        return [] if box is None else [tuple(box) + (1.0,)]


def test_face_track_is_the_median_filtered_reference_crop():
    rng = np.random.default_rng(2)
    n = 30
    frames = rng.integers(0, 256, (n, 60, 80, 3), dtype=np.uint8)
    x1, y1 = 30 + np.cumsum(rng.uniform(-1, 1, n)), 15 + np.cumsum(rng.uniform(-1, 1, n))
    boxes = np.stack([x1, y1, x1 + rng.uniform(18, 22, n), y1 + rng.uniform(22, 26, n)], axis=1)
    boxes[[0, 1, 2]] = np.nan  # no face in the first three frames: the track starts at frame 3
    boxes[[10, 11]] = np.nan  # a gap: the boxes of frames 10, 11 are interpolated
    tracker, crops = FaceTracker(ALL_TRACKS, size=32), []
    for i, (frame, box) in enumerate(zip(frames, boxes)):
        # a second face elsewhere (IoU 0) from frame 3 on: a track of its own, id 1
        faces = ([] if np.isnan(box[0]) else [(*box, 0.9)]) + ([(0, 0, 4, 4, 0.99)] if i >= 3 else [])
        crops += tracker.push(frame, faces)
    track_id = 0
    crops = [c for c in crops if c[0] == track_id]
    peeked = tracker.peek(track_id)
    rest = [c for c in tracker.flush() if c[0] == track_id]
    assert [i for i, _ in peeked] == [i for _, i, _ in rest]
    assert all(np.array_equal(a, b) for (_, a), (_, _, b) in zip(peeked, rest))
    crops += rest
    track = tracker.tracks[track_id]
    assert track.first_frame == 3 and [i for _, i, _ in crops] == list(range(3, n))
    assert track.detections == n - 5

    # the reference: interp1d over the detected frames, then centre and half-size, then medfilt 13
    seen = ~np.isnan(boxes[:, 0])
    filled = interp1d(np.flatnonzero(seen), boxes[seen], axis=0)(np.arange(3, n))
    centre_size = np.stack(
        [
            (filled[:, 0] + filled[:, 2]) / 2,
            (filled[:, 1] + filled[:, 3]) / 2,
            np.maximum(filled[:, 2] - filled[:, 0], filled[:, 3] - filled[:, 1]) / 2,
        ],
        axis=1,
    )
    smooth = np.stack([medfilt(centre_size[:, c], kernel_size=13) for c in range(3)], axis=1)
    np.testing.assert_allclose(median_filter_track(centre_size), smooth)
    for (_, index, crop), (x, y, s) in zip(crops, smooth):
        np.testing.assert_array_equal(crop, crop_face(frames[index], x, y, s, size=32))
    size = max((filled[:, 2] - filled[:, 0]).mean(), (filled[:, 3] - filled[:, 1]).mean())
    assert track.face_size() == pytest.approx(size)


def _tracks(detections, rules=REFERENCE_TRACK_RULES):
    """The tracker's tracks of a synthetic video: detections[t] lists frame t's boxes."""
    tracker, frame = FaceTracker(rules, size=8), np.zeros((4, 4, 3), np.uint8)
    for boxes in detections:
        tracker.push(frame, [(*b, 1.0) for b in boxes])
    tracker.flush()
    return tracker.tracks


FACE = (100.0, 100.0, 260.0, 280.0)  # a 160 x 180 px face


def test_a_face_lost_for_more_than_25_frames_starts_a_new_track():
    """run_pipeline.py's track_shot: a detection joins the track at most num_failed_det = 25 frames after
    its last one; later, the face starts a new track."""
    lost_30 = [[FACE]] * 150 + [[]] * 30 + [[FACE]] * 150
    first, second = _tracks(lost_30)
    assert (first.first_frame, first.last_frame, first.detections) == (0, 149, 150)
    assert (second.first_frame, second.last_frame, second.detections) == (180, 329, 150)
    assert first.kept(REFERENCE_TRACK_RULES) and second.kept(REFERENCE_TRACK_RULES)
    lost_24 = [[FACE]] * 150 + [[]] * 24 + [[FACE]] * 150  # next detection 25 frames after the last
    (one,) = _tracks(lost_24)
    assert (one.first_frame, one.last_frame, one.detections) == (0, 323, 300)
    moved = (400.0, 100.0, 560.0, 280.0)  # another place (IoU 0): another track, the first one goes on
    a, b = _tracks([[FACE]] * 120 + [[moved, FACE]] * 120)
    assert (a.detections, a.last_frame, b.first_frame, b.detections) == (240, 239, 120, 120)


def test_short_tracks_and_small_faces_are_not_scored():
    """Scored: more than min_track = 100 detections and a mean face above min_face_size = 100 px."""
    rules = REFERENCE_TRACK_RULES
    (short,) = _tracks([[FACE]] * 50)
    (hundred,) = _tracks([[FACE]] * 100)
    (long,) = _tracks([[FACE]] * 101)
    assert not short.kept(rules) and not hundred.kept(rules) and long.kept(rules)
    small = (10.0, 10.0, 90.0, 110.0)  # 80 x 100 px: the larger mean side is 100, not above it
    (tiny,) = _tracks([[small]] * 200)
    assert tiny.face_size() == pytest.approx(100.0) and not tiny.kept(rules)
    assert tiny.kept(TrackRules(min_face_size=99.0))


def test_the_reference_rules_drop_what_they_should_from_a_scored_video():
    """Through the metric (the reference's track rules but for the face size: the synthetic frames are
    32 px): a 50-frame face gives no value; a video whose face is lost for 30 frames is scored on both
    tracks, each against its own stretch of the audio."""
    model, rules, face = CodeModel(), TrackRules(min_face_size=0.0), (0, 0, 32, 32)
    video, audio = _talking(260, shift=2)
    (result,), _ = _score([sync_metric("sync_c", model, ScriptedDetector([face] * 50 + [None] * 210), rules=rules)],
                          video, audio)  # fmt: skip
    assert result.value is None and "none with more than 100 detections" in result.extra["reason"]
    assert result.extra["dropped_tracks"] == 1
    split = ScriptedDetector([face] * 115 + [None] * 30 + [face] * 115)
    (c,), _ = _score([sync_metric("sync_c", model, split, rules=rules)], video, audio)
    tracks = c.extra["tracks"]
    assert [t["frames"] for t in tracks] == [[0, 115], [145, 260]] and c.weight == 2.0
    assert all(t["av_offset"] == 2 for t in tracks) and c.extra["av_offset"] is None
    assert c.value == pytest.approx((tracks[0]["sync_c"] + tracks[1]["sync_c"]) / 2)
    assert c.extra["scored_windows"] == 2 * (115 - 5) and c.extra["track_rules"]["min_track"] == 100


# ---------------------------------------------------------------------------------------------------
# Streaming through the accumulator
# ---------------------------------------------------------------------------------------------------


class CodeModel:
    """A SyncModel whose embeddings are the grey-level code of the frames and of the audio (see the
    module doc). Counts its calls, to check that Sync-C and Sync-D share one pass."""

    crop_size = 16
    backend = "code"

    def __init__(self):
        self.video_windows = 0

    def embed_video(self, frames):  # [N, 3, 5, 16, 16] BGR 0-255
        self.video_windows += frames.shape[0]
        code = frames[:, :, :, 8, 8].mean(dim=1) / 50  # [N, 5]
        return code - code.mean(dim=1, keepdim=True)

    def embed_audio(self, mfcc):  # [N, 1, 13, 20]
        code = mfcc[:, 0, 0, 0::4] / 2  # half the log energy of each frame's first step: log amplitude
        return code - code.mean(dim=1, keepdim=True)


def _talking(n: int, shift: int = 0, seed: int = 0, audio_seed: int | None = None):
    """n grey frames [n, 3, 32, 32] float 0-255 and their audio [n * 640] (1 kHz tone, amplitude
    0.5 exp((g - 220) / 50)); the audio leads the video by `shift` frames; audio_seed: another clip's."""
    g = np.random.default_rng(seed).integers(30, 221, n + 40).astype(np.float64)
    video = torch.from_numpy(g[20 : 20 + n]).float().view(n, 1, 1, 1).expand(n, 3, 32, 32).clone()
    if audio_seed is not None:
        g = np.random.default_rng(audio_seed).integers(30, 221, n + 40).astype(np.float64)
    codes = g[20 + shift : 20 + shift + n]
    # 40 periods per frame, ending on a zero: the pre-emphasis (x[t] - 0.97 x[t - 1]) of a frame's
    # first sample then does not see the previous frame's amplitude
    tone = np.sin(2 * np.pi * 1000 * (np.arange(640) + 1) / RATE)
    audio = np.concatenate([0.5 * np.exp((c - 220) / 50) * tone for c in codes])
    return video, torch.from_numpy(audio.astype(np.float32))


def _info(video, audio, fps=FPS):
    return VideoInfo("talk", fps, video.shape[0], 32, 32, audio=audio)


def _score(metrics, video, audio, windows=None, chunk=16):
    """Feed every metric chunk by chunk (the runner's order), closing windows of the given sizes."""
    info = _info(video, audio)
    accs = [m.new_video(info) for m in metrics]
    windows = windows or [video.shape[0]]
    values, start = [], 0
    for size in windows:
        for s in range(start, start + size, chunk):
            e = min(s + chunk, start + size)
            for acc in accs:
                acc.update(video[s:e])
        values.append([acc.end_window() for acc in accs])
        start += size
    return [acc.finish() for acc in accs], values


@pytest.fixture
def code_metrics():
    model, detector = CodeModel(), FixedBox()
    return (
        model,
        sync_metric("sync_c", model, detector, 8, ALL_TRACKS),
        sync_metric("sync_d", model, detector, 8, ALL_TRACKS),
    )


@pytest.mark.parametrize("shift", [0, 3, -5])
def test_stream_finds_the_audio_offset(code_metrics, shift):
    _, sync_c, sync_d = code_metrics
    video, audio = _talking(100, shift=shift)
    (c, d), _ = _score([sync_c, sync_d], video, audio, windows=[40, 40, 20])
    assert c.extra["av_offset"] == d.extra["av_offset"] == shift
    assert c.extra["window_av_offset"] == [shift] * 3
    assert c.extra["scored_windows"] == 95 and c.extra["first_face_frame"] == 0
    # in step the codes agree, but for the |shift| windows at an end whose audio is the zero padding
    assert d.value < (0.01 if shift == 0 else 0.15) and c.value > 1.0
    assert c.value == c.extra["sync_c"] and d.value == c.extra["sync_d"]
    assert sync_c.backend == "code+fixed"


def test_stream_confidence_falls_with_another_clips_audio(code_metrics):
    _, sync_c, sync_d = code_metrics
    video, audio = _talking(100)
    _, other = _talking(100, audio_seed=7)
    (matched, matched_d), _ = _score([sync_c, sync_d], video, audio)
    (wrong, wrong_d), _ = _score([sync_c, sync_d], video, other)
    assert wrong.value < 0.5 * matched.value and wrong_d.value > matched_d.value + 0.5


def test_stream_equals_the_whole_video_at_once(code_metrics):
    model, sync_c, sync_d = code_metrics
    video, audio = _talking(90, shift=2)
    (c, d), values = _score([sync_c, sync_d], video, audio, windows=[31, 3, 56], chunk=7)
    # the whole video at once with the pure functions
    frames = video.round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    crops = np.stack([crop_face(f, 16.0, 16.0, 16.0, size=16) for f in frames])  # FixedBox: the whole frame
    starts = window_starts(0, 90, audio.shape[0] // 640)
    video_emb = model.embed_video(video_windows(crops)[: len(starts)])
    audio_emb = model.embed_audio(audio_windows(mfcc_features(audio), starts))
    expected = sync_scores(offset_distances(video_emb, audio_emb))
    assert c.value == pytest.approx(expected.sync_c, abs=1e-6) and d.value == pytest.approx(
        expected.sync_d, abs=1e-6
    )
    assert c.extra["mdist"] == pytest.approx(list(expected.mdist), abs=1e-6)
    # windows: [0, 31) and [34, 90) are scored on their own; [31, 34) is too short
    assert [v[0] for v in values] == c.windows and c.windows[1] is None and d.windows[1] is None
    first = sync_scores(offset_distances(video_emb[:26], audio_emb[:26]))
    assert c.windows[0] == pytest.approx(first.sync_c, abs=1e-6)
    # the video's value does not depend on the windows or the chunks
    (c2, _), _ = _score([sync_c, sync_d], video, audio, chunk=90)
    assert c2.value == pytest.approx(c.value, abs=1e-9)


def test_sync_c_and_sync_d_share_one_pass(code_metrics):
    model, sync_c, sync_d = code_metrics
    assert sync_c.scorer is sync_d.scorer
    video, audio = _talking(60)
    _score([sync_c], video, audio)
    alone = model.video_windows
    _score([sync_c, sync_d], video, audio)
    assert model.video_windows == 2 * alone  # the pair costs what one metric costs


def test_stream_keeps_only_a_few_crops(code_metrics):
    _, sync_c, _ = code_metrics
    video, audio = _talking(120)
    acc = sync_c.new_video(_info(video, audio))
    for s in range(0, 120, 5):
        acc.update(video[s : s + 5])
        tracks = list(acc.video.embeddings.values())  # one track, once its first crop is final
        assert len(tracks) <= 1 and all(len(t.crops) <= 8 + 4 for t in tracks)
        assert len(acc.video.tracker.held) <= 7
    assert acc.finish().value is not None


def test_faces_found_late_or_never(code_metrics):
    model, _, _ = code_metrics
    video, audio = _talking(60, shift=1)
    late = ScriptedDetector([None] * 12 + [(0, 0, 32, 32)] * 48)
    (result,), _ = _score([sync_metric("sync_d", model, late, rules=ALL_TRACKS)], video, audio)
    assert result.extra["first_face_frame"] == 12 and result.extra["scored_windows"] == 60 - 12 - 5
    assert result.extra["av_offset"] == 1
    never = ScriptedDetector([None] * 60)
    (result,), values = _score(
        [sync_metric("sync_c", model, never, rules=ALL_TRACKS)], video, audio, windows=[30, 30]
    )
    assert result.value is None and values == [[None], [None]] and result.extra["reason"] == "no face found"
    assert sync_metric("sync_c", model, never, rules=ALL_TRACKS).aggregate([result]) is None


def test_short_audio_and_bad_inputs(code_metrics):
    _, sync_c, _ = code_metrics
    video, audio = _talking(60)
    (result,), _ = _score([sync_c], video, audio[: 30 * 640])  # the audio stops at frame 30
    assert result.extra["scored_windows"] == 25
    with pytest.raises(ValueError, match="25 fps.*ffmpeg -i in.mp4 -r 25"):
        sync_c.new_video(_info(video, audio, fps=16))
    with pytest.raises(ValueError, match="need the audio"):
        sync_c.new_video(_info(video, None))


def test_suite_value_is_the_mean_of_videos(code_metrics):
    _, sync_c, _ = code_metrics
    results = [_score([sync_c], *_talking(40, seed=s))[0][0] for s in range(2)]
    assert sync_c.aggregate(results) == pytest.approx((results[0].value + results[1].value) / 2)


# ---------------------------------------------------------------------------------------------------
# Building and scoring files
# ---------------------------------------------------------------------------------------------------


def test_builders_name_model_and_detector(tmp_path, s3fd_file, syncnet):
    c, d = registry.build("sync_c", backend="random"), registry.build("sync_d", backend="random")
    assert c.backend == d.backend == "random-init+opencv-haar" and c.scorer is d.scorer
    assert c.needs_audio and not c.spec.needs_reference
    with pytest.raises(FileNotFoundError, match="syncnet/syncnet_v2.model"):
        registry.build("sync_c", cache_dir=tmp_path)
    (tmp_path / "syncnet").mkdir()
    torch.save(syncnet.state_dict(), tmp_path / "syncnet" / "syncnet_v2.model")
    assert registry.build("sync_c", cache_dir=tmp_path).backend == "syncnet_v2+opencv-haar"
    with pytest.raises(FileNotFoundError, match="syncnet/sfd_face.pth"):
        registry.build("sync_c", cache_dir=tmp_path, face_detector="s3fd")
    (tmp_path / "syncnet" / "sfd_face.pth").symlink_to(s3fd_file)
    assert registry.build("sync_d", cache_dir=tmp_path, face_detector="s3fd").backend == "syncnet_v2+s3fd"
    with pytest.raises(ValueError, match="unknown face_detector 'dlib'"):
        registry.build("sync_c", backend="random", face_detector="dlib")
    assert registry.build("sync_c", backend="toy").backend == "toy-sync+fixed"
    # the reference's track rules, but on the toy backend its scaled ones (toy_sync.TOY_TRACK_RULES)
    assert c.scorer.rules == REFERENCE_TRACK_RULES == TrackRules(0.5, 25, 100, 100.0)
    toy = registry.build("sync_c", backend="toy").scorer.rules
    assert (toy.num_failed_det, toy.min_track, round(toy.min_face_size, 1)) == (25, 5, 13.3)


def test_score_suite_reads_each_videos_audio(tmp_path, monkeypatch, code_metrics):
    from scoring import score as scoring
    from svi.conditions.audio import write_wav
    from toyworld.synthetic import write_video

    model, _, _ = code_metrics
    monkeypatch.setattr(
        registry, "build", lambda name, **kw: sync_metric(name, model, FixedBox(), 8, ALL_TRACKS)
    )
    scoring.build_metrics.cache_clear()
    videos, audio = [], {}
    for i, shift in enumerate([0, 4]):
        frames, samples = _talking(75, shift=shift, seed=i)
        path = tmp_path / f"talk{i}.mp4"
        write_video(path, frames.permute(0, 2, 3, 1).to(torch.uint8).numpy(), fps=FPS)
        videos.append(path)
        audio[path.stem] = write_wav(tmp_path / f"talk{i}.wav", samples)
    try:
        report = scoring.score_suite(videos, "sync", window="1s", audio=audio, progress=False)
        missing = scoring.score_suite(
            videos, "sync", window="video", audio={"talk0": audio["talk0"]}, progress=False
        )
        long = scoring.score_suite(videos, "sync_d", window="video", long=True, audio=audio, progress=False)
    finally:
        scoring.build_metrics.cache_clear()
    assert report["unavailable"] == {} and report["failed"] == []
    scores = [v["scores"] for v in report["videos"]]
    # in step after x264 and the wav round trip (the shifted video pays for its 4 padded windows)
    assert (
        scores[0]["sync_d"] < 0.05 and scores[1]["sync_d"] < 0.15 and min(s["sync_c"] for s in scores) > 1.0
    )
    assert report["aggregate"]["sync_c"] == pytest.approx((scores[0]["sync_c"] + scores[1]["sync_c"]) / 2)
    assert len(report["videos"][0]["window_scores"]["sync_c"]) == 3  # 1 s windows: 25, 25, 25 frames
    assert "1 video(s) have none: talk1" in missing["unavailable"]["sync_c"]
    assert long["videos"][0]["scores"]["sync_d"] < 0.05  # 2 s clips, each with its stretch of the audio


def test_toy_backend_scores_a_toy_talk_sample_in_sync_above_a_mismatched_one(tmp_path):
    """The registry's toy Sync-C/D (toy sync network, whole-frame crops) through score_suite."""
    from scoring.score import build_metrics, score_suite
    from svi.conditions.audio import write_wav
    from toyworld.synthetic import write_video
    from toyworld.talking_heads import talk_sample

    frames, audio = talk_sample(4.0, seed=7, height=64, width=64)
    _, other = talk_sample(4.0, seed=8, height=64, width=64)
    write_video(tmp_path / "v.mp4", frames, 25)
    write_wav(tmp_path / "own.wav", audio)
    write_wav(tmp_path / "other.wav", other)
    build_metrics.cache_clear()
    own = score_suite(
        [tmp_path / "v.mp4"],
        "sync",
        backend="toy",
        window="video",
        audio={"v": tmp_path / "own.wav"},
        progress=False,
    )
    mismatched = score_suite(
        [tmp_path / "v.mp4"],
        "sync",
        backend="toy",
        window="video",
        audio={"v": tmp_path / "other.wav"},
        progress=False,
    )
    assert own["backends"]["sync_c"] == "toy-sync+fixed"
    assert own["aggregate"]["sync_c"] > 2 * mismatched["aggregate"]["sync_c"]
    assert own["aggregate"]["sync_d"] < mismatched["aggregate"]["sync_d"]
