"""Speech for SVI-Talk: decoding, loudness, wav2vec2 features per video frame, and per-clip slicing.

The audio path of SVI-Talk (MultiTalk's, which the official SVI-Talk code reuses):

    samples = read_audio("speech.wav")                    # [S] float32 mono at 16 kHz
    encoder = Wav2Vec2Features.from_folder("weights/chinese-wav2vec2-base")
    features = encoder(samples)                           # [N, L, D]: one row per 25 fps video frame
    windows = audio_windows(features, start, stop)        # [stop - start, 5, L, D] for one clip's frames

- `Wav2Vec2Features` runs transformers' `Wav2Vec2Model` the way MultiTalk's wrapper does: the
  convolutional features (50 per second) are resampled by linear interpolation to the number of
  video frames *before* the transformer encoder, and the hidden states of all encoder layers
  (not the input embedding) are stacked: [N, L, D] with L = 12, D = 768 for the base model.
  Before that the speech is loudness-normalised to -23 LUFS (ITU-R BS.1770), as the official
  preprocessing does with pyloudnorm; `integrated_loudness` is our own BS.1770 meter (scipy).
- Each video frame i sees a window of `context` = 5 feature rows, i-2 .. i+2, clamped to the
  ends of the whole recording (`frame_window_indices`).
- A clip of a long video covers frames [start, stop) of the assembled video
  (`svi.model.adapters.clip_frame_range`); `audio_windows` and `sample_range` cut the features and the
  raw samples to exactly those frames.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SAMPLE_RATE = 16000  # Hz: wav2vec2's rate, and what the official preprocessing resamples to
VIDEO_FPS = 25  # the official talk data and MultiTalk assume 25 fps video
CONTEXT_FRAMES = 5  # feature rows per video frame: i-2 .. i+2
LOUDNESS_LUFS = -23.0  # the official loudness target

WAV2VEC_REPO = "TencentGameMate/chinese-wav2vec2-base"
WAV2VEC_FILES = {
    "config.json": ("config.json",),
    "model weights": ("model.safetensors", "pytorch_model.bin"),
    "preprocessor_config.json": ("preprocessor_config.json",),
}


class AudioFileNotFoundError(FileNotFoundError):
    pass


class AudioDecodeError(RuntimeError):
    pass


class Wav2Vec2WeightsNotFoundError(FileNotFoundError):
    pass


# ---------------------------------------------------------------------------------------------
# Reading and writing


def read_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Decode an audio file (wav, flac, mp3, or the audio track of a video) -> float32 [S] in [-1, 1].

    Resampled to `sample_rate` with PyAV's resampler; several channels are averaged to mono (as
    librosa.load, which the official code uses, does)."""
    import av

    path = Path(path)
    if not path.is_file():
        raise AudioFileNotFoundError(f"audio file not found: {path}")
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{path} has no audio stream; give a wav, flac or mp3 file")
            stream = container.streams.audio[0]
            # Resample the rate only; the channels are averaged below, not mixed by swresample's matrix.
            resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=sample_rate)
            for frame in container.decode(stream):
                chunks += [f.to_ndarray() for f in resampler.resample(frame)]  # [C, n] each
            chunks += [f.to_ndarray() for f in resampler.resample(None)]
    except AudioDecodeError:
        raise
    except Exception as error:  # PyAV raises its own error types (av.error.InvalidDataError, ...)
        raise AudioDecodeError(
            f"cannot decode {path} ({type(error).__name__}: {error}); convert it to a 16 kHz wav, "
            f"e.g. ffmpeg -i {path.name} -ac 1 -ar {sample_rate} out.wav"
        ) from error
    if not chunks:
        raise AudioDecodeError(f"{path} decoded to no samples; is the audio track empty?")
    samples = np.concatenate(chunks, axis=1).mean(axis=0)  # [S]
    return torch.from_numpy(np.clip(samples, -1.0, 1.0).astype(np.float32))


def write_wav(path: str | Path, samples: torch.Tensor | np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono samples in [-1, 1] as 16-bit PCM wav (values outside are clipped)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.asarray(samples.detach().cpu() if isinstance(samples, torch.Tensor) else samples, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"write_wav takes mono samples [S], got shape {tuple(x.shape)}")
    pcm = np.round(np.clip(x, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return path


# ---------------------------------------------------------------------------------------------
# Loudness (ITU-R BS.1770-4 integrated loudness, gated), as pyloudnorm.Meter computes it

BLOCK_SECONDS = 0.4
BLOCK_OVERLAP = 0.75
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0


def _biquad(kind: str, gain_db: float, q: float, fc: float, rate: int) -> tuple[np.ndarray, np.ndarray]:
    # RBJ audio-EQ-cookbook biquads: the two stages of BS.1770's K-weighting.
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * fc / rate
    alpha = math.sin(w0) / (2 * q)
    cos = math.cos(w0)
    if kind == "high_shelf":
        s = 2 * math.sqrt(a) * alpha
        b = [
            a * ((a + 1) + (a - 1) * cos + s),
            -2 * a * ((a - 1) + (a + 1) * cos),
            a * ((a + 1) + (a - 1) * cos - s),
        ]
        den = [(a + 1) - (a - 1) * cos + s, 2 * ((a - 1) - (a + 1) * cos), (a + 1) - (a - 1) * cos - s]
    else:  # high_pass
        b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
        den = [1 + alpha, -2 * cos, 1 - alpha]
    return np.array(b) / den[0], np.array(den) / den[0]


def integrated_loudness(samples: torch.Tensor | np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Integrated loudness of mono samples in LUFS (-inf for silence). Needs at least 0.4 s.

    The K-weighting biquads are designed for the sample rate as pyloudnorm (the official tool) designs
    them; a full-scale 997 Hz sine reads -3.05 LUFS at 48 kHz (the spec's -3.01 within 0.05)."""
    from scipy.signal import lfilter

    x = np.asarray(samples, dtype=np.float64)
    block = int(BLOCK_SECONDS * sample_rate)
    if x.ndim != 1 or x.shape[0] < block:
        raise ValueError(f"loudness needs mono audio of at least {BLOCK_SECONDS} s, got shape {x.shape}")
    for stage in (("high_shelf", 4.0, 1 / math.sqrt(2), 1500.0), ("high_pass", 0.0, 0.5, 38.0)):
        x = lfilter(*_biquad(*stage, rate=sample_rate), x)
    step = BLOCK_SECONDS * (1 - BLOCK_OVERLAP)
    num_blocks = int(round((x.shape[0] / sample_rate - BLOCK_SECONDS) / step)) + 1
    power = np.array(
        [
            np.mean(x[int(j * step * sample_rate) : int(j * step * sample_rate) + block] ** 2)
            for j in range(num_blocks)
        ]
    )  # [blocks] mean square of each 400 ms block
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10 * np.log10(power)
        kept = power[block_lufs >= ABSOLUTE_GATE_LUFS]
        if kept.size == 0:
            return float("-inf")
        relative_gate = -0.691 + 10 * np.log10(kept.mean()) + RELATIVE_GATE_LU
        kept = power[(block_lufs > relative_gate) & (block_lufs > ABSOLUTE_GATE_LUFS)]
        return float(-0.691 + 10 * np.log10(kept.mean())) if kept.size else float("-inf")


def loudness_normalize(
    samples: torch.Tensor, sample_rate: int = SAMPLE_RATE, target_lufs: float = LOUDNESS_LUFS
) -> torch.Tensor:
    """Scale speech to `target_lufs` (no clipping, like pyloudnorm). Silence (|loudness| > 100 LUFS, the
    official rule) and clips shorter than one 0.4 s gating block are returned unchanged."""
    if samples.shape[-1] < int(BLOCK_SECONDS * sample_rate):
        return samples
    loudness = integrated_loudness(samples.detach().cpu().numpy(), sample_rate)
    if not math.isfinite(loudness) or abs(loudness) > 100:
        return samples
    return samples * 10 ** ((target_lufs - loudness) / 20)


# ---------------------------------------------------------------------------------------------
# Frames <-> features <-> samples


def num_video_frames(num_samples: int, fps: float = VIDEO_FPS, sample_rate: int = SAMPLE_RATE) -> int:
    """Video frames the audio spans, int(duration * fps): the feature rows the official code makes."""
    return int(num_samples / sample_rate * fps)


def frame_window_indices(
    num_frames: int, context: int = CONTEXT_FRAMES, start: int = 0, stop: int | None = None
):
    """Feature rows each video frame sees: [stop - start, context] long, row i = i-c//2 .. i+c//2 clamped
    to [0, num_frames - 1]. Frames past the end (stop > num_frames) see the last row, as officially."""
    if context < 1 or context % 2 == 0:
        raise ValueError(f"context must be a positive odd number of frames, got {context}")
    if num_frames < 1:
        raise ValueError(f"need at least one feature row, got {num_frames}")
    stop = num_frames if stop is None else stop
    if not 0 <= start <= stop:
        raise ValueError(f"bad frame range [{start}, {stop})")
    offsets = torch.arange(context) - context // 2  # [context]
    rows = torch.arange(start, stop)[:, None] + offsets[None, :]  # [stop - start, context]
    return rows.clamp_(0, num_frames - 1)


def audio_windows(
    features: torch.Tensor, start: int, stop: int, context: int = CONTEXT_FRAMES
) -> torch.Tensor:
    """Per-frame feature windows of video frames [start, stop): [N, L, D] -> [stop - start, context, L, D]."""
    if features.ndim != 3:
        raise ValueError(f"features must be [N, L, D] (one row per video frame), got {tuple(features.shape)}")
    return features[frame_window_indices(features.shape[0], context, start, stop)]


def sample_range(
    frame_start: int, frame_stop: int, fps: float = VIDEO_FPS, sample_rate: int = SAMPLE_RATE
) -> tuple[int, int]:
    """Raw-audio samples [start, stop) that play during video frames [frame_start, frame_stop)."""
    if not 0 <= frame_start <= frame_stop:
        raise ValueError(f"bad frame range [{frame_start}, {frame_stop})")
    return round(frame_start * sample_rate / fps), round(frame_stop * sample_rate / fps)


def clip_audio_frames(
    clip: int, clip_frames: int, lead_frames: int, official: bool = False
) -> tuple[int, int]:
    """Feature rows [start, stop) that drive clip `clip` of a long video.

    Default: in step with the assembled video (clip k starts at k (F - K), `clip_frame_range`).
    official=True: the official test_svi_talk.py slicing, k F - K for k > 0. The official script
    keeps all F frames of every clip (the K restated frames appear twice), so against its own output
    each later clip's audio leads its frames by K frames; against a video assembled without the
    restated frames (docs/method.md §6) the audio runs ahead by K (k - 1) frames and drifts."""
    from svi.model.adapters import clip_frame_range

    if official:
        if clip < 0 or lead_frames >= clip_frames:
            raise ValueError(f"bad clip {clip} or lead {lead_frames} for {clip_frames}-frame clips")
        start = clip * clip_frames - (lead_frames if clip > 0 else 0)
        return start, start + clip_frames
    return clip_frame_range(clip, clip_frames, lead_frames)


# ---------------------------------------------------------------------------------------------
# wav2vec2 features


def check_wav2vec_folder(folder: str | Path) -> Path:
    """The folder if it holds a transformers wav2vec2 checkpoint, else an error listing what is missing."""
    folder = Path(folder)
    missing = [
        f"{what} ({' or '.join(names)})"
        for what, names in WAV2VEC_FILES.items()
        if not any((folder / n).is_file() for n in names)
    ]
    if not folder.is_dir() or missing:
        lacks = "does not exist" if not folder.is_dir() else f"lacks {', '.join(missing)}"
        raise Wav2Vec2WeightsNotFoundError(
            f"wav2vec2 folder {folder} {lacks}. Put a transformers wav2vec2 checkpoint there: config.json, "
            "model.safetensors or pytorch_model.bin, and preprocessor_config.json, e.g. the files of "
            f"https://huggingface.co/{WAV2VEC_REPO} (huggingface-cli download {WAV2VEC_REPO} --local-dir {folder})"
        )
    return folder


class Wav2Vec2Features:
    """Per-video-frame speech features [N, L, D] from transformers' wav2vec2 (frozen, eval mode)."""

    def __init__(self, model, extractor, loudness_lufs: float | None = LOUDNESS_LUFS):
        self.model = model.eval().requires_grad_(False)
        self.extractor = extractor
        self.loudness_lufs = loudness_lufs

    @classmethod
    def from_folder(
        cls, folder: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> Wav2Vec2Features:
        """Load from a local folder (never from a hub), e.g. chinese-wav2vec2-base."""
        from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

        folder = check_wav2vec_folder(folder)
        model = Wav2Vec2Model.from_pretrained(folder, local_files_only=True, torch_dtype=dtype)
        extractor = Wav2Vec2FeatureExtractor.from_pretrained(folder, local_files_only=True)
        return cls(model.to(device), extractor)

    @classmethod
    def random(
        cls, seed: int = 0, hidden_size: int = 16, num_layers: int = 2, heads: int = 2, conv_dim: int = 8
    ) -> Wav2Vec2Features:
        """Random initialisation at test size: wav2vec2's real conv stack (50 features per second of
        16 kHz audio) with narrow channels and a small encoder."""
        from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

        torch.manual_seed(seed)
        config = Wav2Vec2Config(
            hidden_size=hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=heads,
            intermediate_size=2 * hidden_size,
            conv_dim=(conv_dim,) * 7,
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2,
        )
        extractor = Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0, do_normalize=True
        )
        return cls(Wav2Vec2Model(config), extractor)

    @property
    def num_layers(self) -> int:
        return self.model.config.num_hidden_layers

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    @property
    def min_samples(self) -> int:
        # The conv stack's receptive field: shorter input gives no feature at all.
        field, stride = 1, 1
        for k, s in zip(self.model.config.conv_kernel, self.model.config.conv_stride):
            field += (k - 1) * stride
            stride *= s
        return field

    @torch.no_grad()
    def __call__(
        self,
        audio: torch.Tensor,
        num_frames: int | None = None,
        fps: float = VIDEO_FPS,
        sample_rate: int = SAMPLE_RATE,
    ) -> torch.Tensor:
        """Mono audio [S] at 16 kHz -> features [num_frames, L, D] (float32, CPU), one row per video frame.

        num_frames: the video frames the audio spans; default int(duration * fps), as officially."""
        if sample_rate != self.extractor.sampling_rate:
            raise ValueError(
                f"audio at {sample_rate} Hz, wav2vec2 takes {self.extractor.sampling_rate} Hz; "
                f"read it with read_audio(path, sample_rate={self.extractor.sampling_rate})"
            )
        if audio.ndim != 1:
            raise ValueError(f"audio must be mono samples [S], got shape {tuple(audio.shape)}")
        if audio.shape[0] < self.min_samples:
            raise ValueError(
                f"audio of {audio.shape[0]} samples is shorter than wav2vec2's {self.min_samples}"
            )
        num_frames = num_video_frames(audio.shape[0], fps, sample_rate) if num_frames is None else num_frames
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        audio = audio.detach().float().cpu()
        if self.loudness_lufs is not None:
            audio = loudness_normalize(audio, sample_rate, self.loudness_lufs)
        values = self.extractor(audio.numpy(), sampling_rate=sample_rate, return_tensors="pt").input_values
        param = next(self.model.parameters())
        values = values.to(param.device, param.dtype)  # [1, S]

        conv = self.model.feature_extractor(values)  # [1, C, T] at 50 per second
        # MultiTalk resamples the conv features to the video's frame count before the encoder.
        conv = F.interpolate(conv, size=num_frames, mode="linear", align_corners=True).transpose(1, 2)
        hidden, _ = self.model.feature_projection(conv)  # [1, N, D]
        layers = self.model.encoder.layers
        outputs: list[torch.Tensor] = []
        handles = [
            layer.register_forward_hook(
                lambda m, a, out: outputs.append(out[0] if isinstance(out, tuple) else out)
            )
            for layer in layers
        ]
        try:
            last = self.model.encoder(hidden)[0]  # [1, N, D]
        finally:
            for h in handles:
                h.remove()
        # The last entry of hidden_states is the encoder's output (after its final norm, if it has one).
        outputs[-1] = last
        return torch.stack(outputs, dim=2)[0].float().cpu()  # [N, L, D]
