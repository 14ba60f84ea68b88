"""svi.conditions.audio: decoding, BS.1770 loudness, wav2vec2 features per video frame, per-clip slicing."""

from __future__ import annotations

import math
import wave

import numpy as np
import pytest
import torch

from svi.conditions.audio import (
    AudioDecodeError,
    AudioFileNotFoundError,
    Wav2Vec2Features,
    Wav2Vec2WeightsNotFoundError,
    audio_windows,
    clip_audio_frames,
    frame_window_indices,
    integrated_loudness,
    loudness_normalize,
    num_video_frames,
    read_audio,
    sample_range,
    write_wav,
)
from svi.model.adapters import clip_frame_range


def sine(freq: float, seconds: float, amplitude: float, rate: int = 16000) -> torch.Tensor:
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    return (amplitude * torch.sin(2 * math.pi * freq * t)).float()


# -- reading and writing ----------------------------------------------------------------------


def test_wav_round_trip(tmp_path):
    x = sine(440, 0.5, 0.5)
    path = write_wav(tmp_path / "a.wav", x)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
    y = read_audio(path)
    assert y.dtype == torch.float32 and y.shape == x.shape
    assert torch.allclose(y, x, atol=1e-4)


def test_read_resamples_and_averages_channels(tmp_path):
    # 22.05 kHz stereo: a 0.5-amplitude 440 Hz tone on the left, silence on the right.
    rate, seconds = 22050, 1.0
    left = (sine(440, seconds, 0.5, rate).numpy() * 32767).astype("<i2")
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.stack([left, np.zeros_like(left)], axis=1).tobytes())
    y = read_audio(path, sample_rate=16000)
    assert abs(y.shape[0] - 16000) <= 32
    assert y[2000:14000].abs().max().item() == pytest.approx(0.25, abs=0.01)  # the mean of the channels


def test_read_errors(tmp_path):
    with pytest.raises(AudioFileNotFoundError, match="not found"):
        read_audio(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(AudioDecodeError, match="ffmpeg"):
        read_audio(bad)


# -- loudness -----------------------------------------------------------------------------------


def test_loudness_known_answers():
    # BS.1770 calibration: a full-scale 997 Hz sine in one channel reads -3.01 LUFS at 48 kHz (the filters
    # designed per rate, as pyloudnorm does, read 0.04 dB under the spec's tabulated ones).
    assert integrated_loudness(sine(997, 2.0, 1.0, rate=48000), 48000) == pytest.approx(-3.01, abs=0.05)
    # Loudness is 20 log10 of the amplitude: -20 dB of signal is -20 LU.
    full, tenth = integrated_loudness(sine(997, 2.0, 1.0)), integrated_loudness(sine(997, 2.0, 0.1))
    assert full - tenth == pytest.approx(20.0, abs=1e-6)
    # Gating: 2 s of tone then 2 s at -120 dB read as the tone (only the 3 straddling blocks lower it,
    # by 10 log10(18.5 / 20) = -0.34 dB), not as the 3 dB lower ungated mean.
    loud = sine(500, 2.0, 0.5)
    gated = integrated_loudness(torch.cat([loud, 1e-6 * loud]))
    assert gated - integrated_loudness(loud) == pytest.approx(-0.34, abs=0.05)
    assert integrated_loudness(torch.zeros(16000)) == float("-inf")


def test_loudness_normalize():
    y = loudness_normalize(sine(300, 2.0, 0.5))
    assert integrated_loudness(y) == pytest.approx(-23.0, abs=0.01)
    silence = torch.zeros(16000)
    assert loudness_normalize(silence) is silence  # silence is left alone, as officially
    short = sine(300, 0.2, 0.5)
    assert loudness_normalize(short) is short  # shorter than one 0.4 s gating block


# -- frames, windows, samples -----------------------------------------------------------------


def test_frame_window_indices_known_answer():
    expected = [
        [0, 0, 0, 1, 2],
        [0, 0, 1, 2, 3],
        [0, 1, 2, 3, 4],
        [1, 2, 3, 4, 5],
        [2, 3, 4, 5, 5],
        [3, 4, 5, 5, 5],
    ]
    assert frame_window_indices(6).tolist() == expected
    # Frames past the audio's end see its last row.
    assert frame_window_indices(6, start=5, stop=8).tolist() == [
        [3, 4, 5, 5, 5],
        [4, 5, 5, 5, 5],
        [5, 5, 5, 5, 5],
    ]
    assert frame_window_indices(4, context=1).tolist() == [[0], [1], [2], [3]]
    with pytest.raises(ValueError, match="odd"):
        frame_window_indices(6, context=4)


def test_clip_windows_line_up_with_the_clips_frames():
    # Feature row n holds the value n, so a window's centre says which frame it belongs to.
    num_rows, clip_frames, lead = 400, 81, 1
    features = torch.arange(num_rows, dtype=torch.float32)[:, None, None].expand(num_rows, 3, 2)
    for clip in range(5):
        start, stop = clip_frame_range(clip, clip_frames, lead)
        windows = audio_windows(features, start, stop)  # [81, 5, 3, 2]
        assert windows.shape == (81, 5, 3, 2)
        assert windows[:, 2, 0, 0].tolist() == [min(f, num_rows - 1) for f in range(start, stop)]
        assert windows[10, :, 1, 1].tolist() == [start + 8, start + 9, start + 10, start + 11, start + 12]
    # Clip k > 0 restates the previous clip's last frame: same frame, same audio.
    first = audio_windows(features, *clip_frame_range(0, clip_frames, lead))
    second = audio_windows(features, *clip_frame_range(1, clip_frames, lead))
    assert torch.equal(first[-1], second[0])


def test_sample_range_and_frame_counts():
    assert sample_range(0, 81) == (0, 51840)  # 640 samples per frame at 25 fps and 16 kHz
    start, stop = clip_frame_range(1, 81, 1)
    assert sample_range(start, stop) == (51200, 103040)
    assert sample_range(3, 4, fps=16) == (3000, 4000)
    assert num_video_frames(16000 * 10) == 250
    assert num_video_frames(16000 + 639) == 25  # int(duration * fps), as officially


def test_official_clip_slicing_versus_in_step():
    assert clip_audio_frames(0, 81, 1) == clip_audio_frames(0, 81, 1, official=True) == (0, 81)
    assert clip_audio_frames(1, 81, 1) == clip_audio_frames(1, 81, 1, official=True) == (80, 161)
    assert clip_audio_frames(2, 81, 1) == (160, 241)
    assert clip_audio_frames(2, 81, 1, official=True) == (161, 242)  # k * 81 - K
    # The official start runs ahead of the in-step one by K (k - 1) frames.
    for k in range(1, 10):
        assert clip_audio_frames(k, 81, 5, official=True)[0] - clip_audio_frames(k, 81, 5)[0] == 5 * (k - 1)


# -- wav2vec2 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def encoder() -> Wav2Vec2Features:
    return Wav2Vec2Features.random(seed=0)


def test_features_shape_and_frame_count(encoder):
    speech = sine(220, 1.0, 0.3) + 0.05 * torch.randn(16000, generator=torch.Generator().manual_seed(0))
    out = encoder(speech)
    assert out.shape == (25, encoder.num_layers, encoder.dim) == (25, 2, 16)  # one row per 25 fps frame
    assert out.dtype == torch.float32
    assert encoder(speech, num_frames=40).shape == (40, 2, 16)
    with pytest.raises(ValueError, match="16000 Hz"):
        encoder(speech, sample_rate=8000)


def test_features_are_transformers_hidden_states_of_the_encoder_layers(encoder):
    # When the video frame count equals wav2vec2's own feature count (49 for 1 s), the interpolation is the
    # identity, so the result must be transformers' hidden states of layers 1..L (not the input embedding).
    speech = torch.randn(16000, generator=torch.Generator().manual_seed(1)) * 0.1
    encoder.loudness_lufs = None
    try:
        ours = encoder(speech, num_frames=49)
    finally:
        encoder.loudness_lufs = -23.0
    values = encoder.extractor(speech.numpy(), sampling_rate=16000, return_tensors="pt").input_values
    with torch.no_grad():
        hidden = encoder.model(values, output_hidden_states=True).hidden_states
    assert len(hidden) == encoder.num_layers + 1
    reference = torch.stack(hidden[1:], dim=2)[0]  # [49, L, D]
    assert torch.allclose(ours, reference, atol=1e-5)
    assert not torch.allclose(ours[:, 0], hidden[0][0], atol=1e-3)


def test_from_folder_loads_and_names_missing_files(tmp_path, encoder):
    folder = tmp_path / "w2v"
    with pytest.raises(Wav2Vec2WeightsNotFoundError, match="chinese-wav2vec2-base"):
        Wav2Vec2Features.from_folder(folder)
    encoder.model.save_pretrained(folder)
    with pytest.raises(Wav2Vec2WeightsNotFoundError, match="preprocessor_config.json"):
        Wav2Vec2Features.from_folder(folder)
    encoder.extractor.save_pretrained(folder)
    loaded = Wav2Vec2Features.from_folder(folder)
    speech = sine(180, 0.6, 0.4)
    assert torch.allclose(loaded(speech), encoder(speech), atol=1e-6)
