"""The toy world's conditional track: speech and mouth, the toy dancer, their files, the toy sync network."""

import wave

import numpy as np
import pytest
import torch
from PIL import Image

from scoring import toy_sync
from scoring.faces import FixedBox
from scoring.sync import SyncModel, mfcc_features, sync_metric
from svi import video_io
from toyworld import dancers as dance
from toyworld import scorers
from toyworld import talking_heads as talk

# ---------------------------------------------------------------------------------------------------
# Speech
# ---------------------------------------------------------------------------------------------------


def test_speech_is_deterministic_mono_16k_float32():
    a = talk.speech(3.0, seed=5)
    assert a.dtype == np.float32 and a.shape == (48000,)
    assert np.array_equal(a, talk.speech(3.0, seed=5)) and not np.array_equal(a, talk.speech(3.0, seed=6))
    assert np.abs(a).max() == pytest.approx(talk.PEAK, rel=1e-6)


def test_modulation_peak_of_a_known_am_signal():
    t = np.arange(5 * 16000) / 16000
    carrier = np.random.default_rng(0).standard_normal(t.size)
    assert talk.modulation_peak_hz(carrier * (1 + np.cos(2 * np.pi * 4.0 * t))) == pytest.approx(4.0, abs=0.2)
    assert talk.modulation_peak_hz(carrier * (1 + np.cos(2 * np.pi * 1.5 * t))) == pytest.approx(1.5, abs=0.2)
    with pytest.raises(ValueError, match="2 s"):
        talk.modulation_peak_hz(carrier[:16000])


@pytest.mark.parametrize("seed", range(6))
def test_speech_envelope_modulates_at_the_syllable_rate(seed):
    low, high = talk.SYLLABLE_RATE_HZ
    assert low <= talk.modulation_peak_hz(talk.speech(10.0, seed)) <= high
    plan = talk.syllables(10.0, seed)
    durations = np.array([s.end_seconds - s.start_seconds for s in plan])
    assert (1 / durations).min() >= low and (1 / durations).max() <= high


def test_pauses_are_exactly_silent_and_syllables_are_not():
    audio = talk.speech(10.0, seed=2)
    plan = talk.syllables(10.0, seed=2)
    rate = talk.SAMPLE_RATE
    pauses = [(0.0, plan[0].start_seconds)]
    pauses += [
        (a.end_seconds, b.start_seconds) for a, b in zip(plan, plan[1:]) if b.start_seconds > a.end_seconds
    ]
    pauses.append((plan[-1].end_seconds, 10.0))
    assert len(pauses) >= 4 and all(b - a >= 0.24 for a, b in pauses[1:-1])
    for a, b in pauses:
        assert not audio[int(np.ceil(a * rate)) : int(b * rate)].any()
    for s in plan:
        middle = audio[int((s.start_seconds + 0.3 * (s.end_seconds - s.start_seconds)) * rate) :][:800]
        assert np.sqrt(np.mean(middle**2)) > 0.02


# ---------------------------------------------------------------------------------------------------
# Mouth and face
# ---------------------------------------------------------------------------------------------------


def test_mouth_opening_known_answers():
    per_frame = np.array([0, 0, 0, 2.0, 0, 0, 0, 0.5, 0.5, 0.5])  # a constant level per 40 ms frame
    audio = np.repeat(per_frame, 640) * np.tile([1.0, -1.0], 3200)  # RMS of frame i = per_frame[i]
    opening = talk.mouth_opening(audio)
    assert opening.dtype == np.float32 and opening.shape == (10,)
    # smoothed with (1, 2, 1) / 4, divided by the maximum (1.0 at frame 3)
    expected = np.array([0, 0, 0.5, 1.0, 0.5, 0, 0.125, 0.375, 0.5, 0.375])
    np.testing.assert_allclose(opening, expected, atol=1e-6)
    # past the audio's end is silence; silence stays 0 without dividing by zero
    np.testing.assert_allclose(talk.mouth_opening(audio, num_frames=12)[10:], [0.125, 0.0], atol=1e-6)
    assert not talk.mouth_opening(np.zeros(6400)).any()
    with pytest.raises(ValueError, match="mono"):
        talk.mouth_opening(np.zeros((2, 640)))


def test_mouth_is_shut_in_pauses_and_open_in_syllables():
    audio = talk.speech(10.0, seed=4)
    opening = talk.mouth_opening(audio, num_frames=250)
    assert opening.min() == 0.0 and opening.max() == 1.0
    frame_of = (np.arange(250) + 0.5) / talk.FPS  # centre of each frame, seconds
    plan = talk.syllables(10.0, seed=4)
    starts, ends = np.array([s.start_seconds for s in plan]), np.array([s.end_seconds for s in plan])
    # a frame whose neighbours lie in a pause too (the smoothing reaches one frame)
    far = np.array([np.all((ends < t - 0.1) | (starts > t + 0.1)) for t in frame_of])
    assert far.sum() > 20 and not opening[far].any()
    peaks = [int(((s.start_seconds + s.end_seconds) / 2) * talk.FPS) for s in plan]
    assert np.median(opening[peaks]) > 0.4


def _mouth_pixels(frame: np.ndarray) -> int:
    r, g, b = (frame[..., c].astype(int) for c in range(3))
    return int(((abs(r - 70) < 25) & (g < 40) & (abs(b - 25) < 20)).sum())


@pytest.mark.bitwise("the face is a closed-form function of each frame's opening, evaluated elementwise")
def test_render_face_mouth_follows_the_openings():
    openings = np.array([0.0, 0.25, 0.5, 0.75, 1.0], dtype=np.float32)
    frames = talk.render_face(openings, 64, 64, seed=3)
    assert frames.shape == (5, 64, 64, 3) and frames.dtype == np.uint8
    dark = [_mouth_pixels(f) for f in frames]
    assert dark[0] <= 2 and all(b > a for a, b in zip(dark, dark[1:])) and dark[-1] > 60
    # closed-form in the frame index: rendered in parts equals rendered whole; other seeds look different
    whole = talk.render_face(np.linspace(0, 1, 30), 32, 32, seed=3)
    part = talk.render_face(np.linspace(0, 1, 30)[12:], 32, 32, seed=3, start_frame=12)
    assert np.array_equal(whole[12:], part)
    assert not np.array_equal(whole, talk.render_face(np.linspace(0, 1, 30), 32, 32, seed=4))
    with pytest.raises(ValueError, match="multiple of 16"):
        talk.render_face(openings, 40, 64)


def test_talk_sample_lines_frames_up_with_audio():
    frames, audio = talk.talk_sample(2.0, seed=1, height=32, width=32)
    assert frames.shape == (50, 32, 32, 3) and audio.shape == (32000,)
    # the mouth is drawn from the audio's opening: silent frames show a shut mouth
    opening = talk.mouth_opening(audio, num_frames=50)
    assert np.array_equal(frames, talk.render_face(opening, 32, 32, seed=1))


# ---------------------------------------------------------------------------------------------------
# Dancer
# ---------------------------------------------------------------------------------------------------


def test_dance_joints_are_closed_form_with_fixed_bones_and_stay_in_frame():
    for seed in range(5):
        d = dance.sample_dance(seed)
        j = dance.joints(d, 0, 1000)  # [F, 9, 2] (y, x) in frame sides
        assert j.shape == (1000, 9, 2) and np.array_equal(dance.joints(d, 400, 10), j[400:410])
        bone = {(1, 2): dance.TORSO, (3, 4): dance.FOREARM, (2, 7): dance.LEG, (1, 0): dance.NECK}
        for (a, b), length in bone.items():
            np.testing.assert_allclose(np.linalg.norm(j[:, a] - j[:, b], axis=-1), length, atol=1e-9)
        assert j.min() > 0.05 and j.max() < 0.95  # the head's and limbs' widths fit too
        step, turn = np.abs(np.diff(j, axis=0)).max(), np.abs(np.diff(j, 2, axis=0)).max()
        assert step < 0.1 and turn < 0.5 * step  # no jumps; sampled well above the motion's rate
        assert np.ptp(j[:, 4, 0]) > 0.05  # the hands dance
    assert dance.Dance.from_dict(d.to_dict()) == d


def test_dancer_video_is_a_function_of_the_pose_maps():
    j = dance.joints(dance.sample_dance(3), 0, 12)
    j[7] = j[2]  # a pose the dancer takes twice
    maps, video = dance.pose_maps(j, 64, 64), dance.render_dancer(j, 64, 64, seed=3)
    assert maps.shape == video.shape == (12, 64, 64, 3) and video.dtype == np.uint8
    assert np.array_equal(maps[7], maps[2]) and np.array_equal(video[7], video[2])
    # frames differ exactly where the poses (hence the maps) differ; no clock, no noise
    for a in range(12):
        for b in range(a + 1, 12):
            assert np.array_equal(maps[a], maps[b]) == np.array_equal(video[a], video[b])
    order = np.random.default_rng(0).permutation(12)
    assert np.array_equal(dance.render_dancer(j[order], 64, 64, seed=3), video[order])
    assert np.array_equal(dance.pose_maps(j[order], 64, 64), maps[order])
    # the skeleton lies on the dancer's body, whose colours are none of the background's
    look = dance.sample_dancer_look(3)
    background = dance.world.render_background(look.background, (64, 64)).round()
    body = np.abs(video.astype(float) - background).sum(-1) > 30  # [F, H, W]
    skeleton = maps.max(-1) > 100
    assert (body & skeleton).sum() / skeleton.sum() > 0.9


def test_pose_maps_use_the_official_colours_on_black():
    j = dance.joints(dance.sample_dance(0), 0, 1)
    maps = dance.pose_maps(j, 64, 64)[0]
    assert (maps.max(-1) == 0).mean() > 0.8  # black background
    y, x = (j[0, 1] * 64).astype(int)  # the neck: OpenPose point 1, drawn in its official colour
    assert tuple(maps[y, x]) == dance.JOINT_COLOURS[1] == (0, 85, 255)
    with pytest.raises(ValueError, match=r"\[F, 9, 2\]"):
        dance.pose_maps(np.zeros((2, 5, 2)))


# ---------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------


def test_talk_benchmark_files(tmp_path):
    from svi.conditions.audio import read_audio

    root = talk.write_talk_benchmark(tmp_path, 1, seconds=2.0, size=(32, 32), progress=False)
    folder = root / "toy_000"
    frames, audio = talk.load_talk_sample(folder)
    assert frames.shape == (50, 32, 32, 3)
    assert np.array_equal(np.asarray(Image.open(folder / "image.png").convert("RGB")), frames[0])
    with wave.open(str(folder / "audio.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (16000, 1, 2, 32000)
    np.testing.assert_allclose(read_audio(folder / "audio.wav").numpy(), audio, atol=1e-4)  # 16-bit PCM
    assert video_io.video_fps(folder / "gt.mp4") == 25 and video_io.count_frames(folder / "gt.mp4") == 50
    assert (
        np.abs(video_io.read_frames(folder / "gt.mp4").astype(float) - frames).mean() < 12
    )  # yuv420p, 32 px
    stamp = (folder / "gt.mp4").stat().st_mtime_ns  # the same parameters keep the files
    talk.write_talk_benchmark(tmp_path, 1, seconds=2.0, size=(32, 32), progress=False)
    assert (folder / "gt.mp4").stat().st_mtime_ns == stamp
    assert talk.talk_seed("benchmark", 1000, 0) >= 2**62 > talk.talk_seed("train", 1000, 0)


def test_talk_training_set_reads_through_the_talk_dataset(tmp_path):
    from svi.conditions.audio import Wav2Vec2Features
    from svi.training.talk_data import TalkClipDataset

    encoder = Wav2Vec2Features.random()
    root = talk.write_talk_training_set(
        tmp_path, 1, seconds=1.0, size=(32, 32), encoder=encoder, progress=False
    )
    assert video_io.video_fps(root / "raw" / "videos" / "toy_00000.mp4") == 25
    with wave.open(str(root / "raw" / "audios" / "toy_00000.wav")) as w:
        assert w.getframerate() == 16000 and w.getnframes() == 16000
    item = TalkClipDataset(root, num_frames=17, height=32, width=32)[0]
    assert item["video"].shape == (3, 17, 32, 32) and item["audio"].shape[:2] == (17, 5)


def test_dance_benchmark_files(tmp_path):
    root = dance.write_dance_benchmark(tmp_path, 1, seconds=1.0, size=(32, 32), progress=False)
    folder = root / "toy_000"
    pose, video = dance.load_dance_sample(folder)
    assert pose.shape == video.shape == (25, 32, 32, 3)
    assert np.array_equal(np.asarray(Image.open(folder / "image.png").convert("RGB")), video[0])
    for name, truth in (("pose.mp4", pose), ("gt.mp4", video)):
        assert video_io.video_fps(folder / name) == 25 and video_io.count_frames(folder / name) == 25
        assert np.abs(video_io.read_frames(folder / name).astype(float) - truth).mean() < 12  # yuv420p, 32 px
    # the dance goes on past the written frames
    _, later = dance.load_dance_sample(folder, num_frames=10, start=20)
    assert np.array_equal(later[:5], video[20:])


def test_dance_training_set_reads_through_the_dance_dataset(tmp_path):
    from svi.training.dance_data import DanceClipDataset

    path = dance.write_dance_training_set(tmp_path, 1, seconds=1.0, size=(32, 32), progress=False)
    assert path == tmp_path / "preprocessed" and (tmp_path / "raw" / "videos" / "toy_00000.mp4").is_file()
    item = DanceClipDataset(path, num_frames=17, height=32, width=32)[0]
    assert item["video"].shape == (3, 17, 32, 32) and item["pose"].shape == (3, 17, 32, 32)
    assert item["pose"].min() >= 0 and (item["pose"].amax(0) < 0.1).float().mean() > 0.5  # mostly black


# ---------------------------------------------------------------------------------------------------
# The toy sync network
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sync_net():
    return toy_sync.ToySyncNet.from_committed()


@pytest.fixture(scope="module")
def held_out():
    """Two benchmark-range clips (never trained on), cropped as the toy backend crops: the whole frame."""
    seeds = [talk.talk_seed("benchmark", 77, i) for i in range(2)]
    return [scorers.make_clip(s, 8.0, 64, 48, box_jitter=False) for s in seeds]


def test_committed_network_follows_the_sync_model_protocol(sync_net):
    assert isinstance(sync_net, SyncModel) and sync_net.crop_size == 48 and sync_net.backend == "toy-sync"
    assert toy_sync.DEFAULT_WEIGHTS.stat().st_size < 1_000_000
    frames = torch.rand(4, 3, 5, 48, 48) * 255
    v = sync_net.embed_video(frames)
    a = sync_net.embed_audio(torch.randn(4, 1, 13, 20) * 10)
    assert v.shape == a.shape == (4, 64)
    torch.testing.assert_close(v.norm(dim=-1), torch.ones(4))
    torch.testing.assert_close(sync_net.embed_video(frames.flip(1)), v)  # RGB and BGR alike
    with pytest.raises(FileNotFoundError, match="python -m toyworld.scorers sync"):
        toy_sync.ToySyncNet.from_file("/nonexistent/toy_sync.safetensors")


def test_in_sync_beats_another_clips_audio(sync_net, held_out):
    for k, clip in enumerate(held_out):
        true = scorers.clip_scores(sync_net, clip)
        other = scorers.clip_scores(sync_net, clip, held_out[1 - k].audio)
        assert true.offset == 0
        assert true.sync_c > 2 * other.sync_c and true.sync_c > 0.3
        assert true.sync_d < other.sync_d - 0.2


@pytest.mark.parametrize("delay_frames", [5, -3])
def test_shifted_audio_gives_the_shift_as_offset(sync_net, held_out, delay_frames):
    clip = held_out[0]
    scores = scorers.clip_scores(sync_net, clip, scorers.delay_audio(clip.audio, delay_frames))
    assert abs(scores.offset - (-delay_frames)) <= 1  # audio late by s frames: offset -s
    assert scores.sync_c > 0.3


def test_streaming_metric_with_a_fixed_box_matches_the_offset_search(sync_net):
    frames, audio = talk.talk_sample(4.0, talk.talk_seed("benchmark", 78, 0), 64, 64)
    sync_c = sync_metric("sync_c", sync_net, FixedBox(), 16, toy_sync.TOY_TRACK_RULES)  # the toy backend's
    info = toy_sync_info(frames, audio)
    acc = sync_c.new_video(info)
    acc.update(torch.from_numpy(frames).permute(0, 3, 1, 2).float())
    result = acc.finish()
    clip = scorers.TalkClip(scorers.face_crops(frames, None, 48), mfcc_features(audio), np.zeros(100), audio)
    expected = scorers.clip_scores(sync_net, clip)
    assert result.extra["av_offset"] == expected.offset == 0
    assert result.value == pytest.approx(expected.sync_c, abs=1e-4)


def toy_sync_info(frames, audio):
    from scoring.base import VideoInfo

    return VideoInfo("toy_talk", 25.0, len(frames), 64, 64, audio=torch.from_numpy(audio))


def test_delay_audio_known_answer():
    audio = np.arange(1, 2561, dtype=np.float32)  # 4 frames of 640 samples
    late = scorers.delay_audio(audio, 1)
    assert not late[:640].any() and np.array_equal(late[640:], audio[:-640])
    early = scorers.delay_audio(audio, -2)
    assert np.array_equal(early[:1280], audio[1280:]) and not early[1280:].any()


def test_training_pairs_are_balanced_and_mismatched_pairs_differ():
    clips = scorers.make_clips(2, seed=0, split="train", crop_size=48, seconds=3.0)
    c, i, c2, j, label = scorers.sample_pairs(clips, 64, np.random.default_rng(0))
    assert label.sum() == 32 and np.array_equal(label, np.arange(64) % 2 == 0)
    off = label == 0
    gaps = [
        np.abs(clips[a].openings[x : x + 5] - clips[b].openings[y : y + 5]).mean()
        for a, x, b, y in zip(c, i, c2, j)
    ]
    assert min(np.array(gaps)[off]) >= 0.05 and not np.array(gaps)[~off].any()
    same = off & (c == c2)
    assert same.any() and np.abs(i - j)[same].min() >= 1 and np.abs(i - j)[same].max() <= 15


@pytest.mark.slow  # two tiny training runs, their clips through the toy VAE (about 90 s on 2 cores)
def test_a_tiny_sync_run_is_deterministic():
    runs = [
        scorers.train_sync(steps=2, batch_size=8, num_clips=2, eval_clips=2, progress=False) for _ in range(2)
    ]
    for (a, _), (b, _) in [runs]:
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(x, y), name
    assert set(runs[0][1]["eval"]) == {"in_sync", "mismatched", "shifted", "clips"}
