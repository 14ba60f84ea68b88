"""The toy talking head: speech-like audio and a face whose mouth follows it (the SVI-Talk track).

Audio (`speech`): a glottal pulse train at a slowly varying f0 (100-220 Hz) plus breath noise,
filtered by one of three crude vowel formant sets per syllable and shaped by syllable envelopes
(sin^2 bumps at 3-6 syllables per second) grouped into phrases separated by pauses of exact
silence. Mono float32 in [-1, 1] at 16 kHz, deterministic per seed.

Video (`render_face`): a face-like object at 25 fps (the SyncNet rate): a head ellipse swaying
a little, two eyes that blink now and then, and a mouth whose vertical opening is given per frame.
`mouth_opening` derives that opening from the audio (RMS over the frame's samples, smoothed,
normalised): the causal link between sound and picture that the toy sync network
(`scoring.toy_sync`) learns and Sync-C/D measure. Head sway and blinks do not depend on
the audio, so only the mouth carries sync.

Lengths are in frame sides as in `world.py` (the head looks the same at 32 and 64 px); edges are
anti-aliased the same way (coverage = clamp(0.5 - signed distance in pixels, 0, 1)).

Files:
- `write_talk_benchmark`: `<root>/toy_NNN/{image.png, audio.wav, gt.mp4, world.json}`; image.png is
  frame 0 of gt.mp4 (the reference image), audio.wav the driving audio (16 kHz, 16-bit PCM).
- `write_talk_training_set`: the official SVI-Talk layout `<root>/raw/videos/<id>.mp4`,
  `<root>/raw/audios/<id>.wav` and `<root>/preprocessed/<id>/{frame_data.pkl, audio_embedding.pkl}`
  (`write_talk_preprocessed`, through `svi.training.talk_data.write_talk_sample`; audio_embedding.pkl needs a
  wav2vec2 encoder).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from scoring.references import backbone_roundtrip, chained_round_trip
from svi.model.presets import TOY_DEFAULTS
from toyworld import world

SAMPLE_RATE = 16000  # Hz, what SyncNet's MFCCs and wav2vec2 expect
FPS = 25  # frames per second, what SyncNet expects (4 MFCC steps per frame)
SYLLABLE_RATE_HZ = (3.0, 6.0)  # the band a clip's syllable rate is drawn from
F0_RANGE_HZ = (100.0, 220.0)
PHRASE_SYLLABLES = (3, 8)  # syllables per phrase (inclusive)
PAUSE_SECONDS = (0.25, 0.6)
LEAD_SECONDS = (0.1, 0.3)  # silence before the first syllable
PEAK = 0.8  # peak amplitude of a clip
# Crude vowel formants (F1, F2, F3) in Hz with bandwidths: /a/, /i/, /u/.
VOWELS_HZ = ((730.0, 1090.0, 2440.0), (270.0, 2290.0, 3010.0), (300.0, 870.0, 2240.0))
FORMANT_BANDWIDTHS_HZ = (90.0, 110.0, 170.0)

# Face geometry in frame sides, relative to the frame centre (y, x).
HEAD_RADII = (0.40, 0.31)
EYE_OFFSET = (-0.10, 0.12)
EYE_RADIUS = 0.045
MOUTH_OFFSET = 0.17
MOUTH_HALF_WIDTH = 0.11
MOUTH_HALF_HEIGHT = (0.008, 0.095)  # closed .. fully open
LIP = 0.018  # lip thickness around the mouth opening
SWAY = 0.025  # head sway amplitude
SWAY_HZ = (0.15, 0.4)
BLINK_EVERY_SECONDS = (2.0, 5.0)
BLINK_FRAMES = 3
HEAD_COLOURS = ("pink", "orange", "yellow", "brown", "white")
EYE_COLOUR = (25, 25, 25)
MOUTH_COLOUR = (70, 15, 25)  # the dark inside of an open mouth
LIP_COLOUR = (200, 40, 50)


# -- audio -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Syllable:
    start_seconds: float
    end_seconds: float
    amplitude: float  # peak of its envelope, relative
    vowel: int  # index into VOWELS_HZ


def syllables(seconds: float, seed: int) -> list[Syllable]:
    """The syllable plan of `speech(seconds, seed)`: phrases of syllables separated by silent pauses."""
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    rng = np.random.default_rng([seed, 1])
    rate_hz = float(rng.uniform(3.6, 5.0))  # this speaker's mean syllable rate
    t = float(rng.uniform(*LEAD_SECONDS))
    out: list[Syllable] = []
    while True:
        for _ in range(int(rng.integers(PHRASE_SYLLABLES[0], PHRASE_SYLLABLES[1] + 1))):
            # Durations jitter by at most 15%: every syllable stays inside SYLLABLE_RATE_HZ (3.1-5.9 Hz).
            duration = float(rng.uniform(0.85, 1.15)) / rate_hz
            if t + duration > seconds:
                return out
            out.append(Syllable(t, t + duration, float(rng.uniform(0.55, 1.0)), int(rng.integers(3))))
            t += duration
        t += float(rng.uniform(*PAUSE_SECONDS))


def envelope(plan: list[Syllable], num_samples: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """float64 [S]: sum of sin^2 bumps, one per syllable, exactly 0 outside the syllables."""
    env = np.zeros(num_samples)
    for s in plan:
        a = int(math.ceil(s.start_seconds * sample_rate))
        b = min(num_samples, int(math.floor(s.end_seconds * sample_rate)))
        phase = (np.arange(a, b) / sample_rate - s.start_seconds) / (s.end_seconds - s.start_seconds)
        env[a:b] += s.amplitude * np.sin(np.pi * phase) ** 2
    return env


def _resonator(x: np.ndarray, freq_hz: float, bandwidth_hz: float, sample_rate: int) -> np.ndarray:
    """A two-pole resonance at `freq_hz` with unit gain at DC (a crude formant)."""
    r = math.exp(-math.pi * bandwidth_hz / sample_rate)
    a = [1.0, -2.0 * r * math.cos(2 * math.pi * freq_hz / sample_rate), r * r]
    return signal.lfilter([sum(a)], a, x)


def voiced_source(num_samples: int, seed: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """float64 [S]: glottal pulses at a slowly varying f0 in F0_RANGE_HZ, plus breath noise."""
    rng = np.random.default_rng([seed, 2])
    t = np.arange(num_samples) / sample_rate
    base_hz = rng.uniform(120.0, 190.0)
    wobble = 0.12 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t + rng.uniform(0, 2 * np.pi))
    wobble += 0.05 * np.sin(2 * np.pi * rng.uniform(1.0, 2.0) * t + rng.uniform(0, 2 * np.pi))
    f0_hz = np.clip(base_hz * (1.0 + wobble), *F0_RANGE_HZ)
    phase = np.cumsum(f0_hz) / sample_rate % 1.0  # cycles
    open_quotient = 0.6
    pulse = np.where(phase < open_quotient, np.sin(np.pi * phase / open_quotient) ** 2, 0.0)
    source = np.diff(pulse, prepend=0.0) * (sample_rate / base_hz)  # lip radiation ~ derivative
    return source / (np.abs(source).max() + 1e-12) + 0.08 * rng.standard_normal(num_samples)


def speech(seconds: float, seed: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """float32 [round(seconds * sample_rate)]: speech-like audio in [-PEAK, PEAK], silent in pauses."""
    num_samples = int(round(seconds * sample_rate))
    plan = syllables(seconds, seed)
    source = voiced_source(num_samples, seed, sample_rate)
    # One filtered copy per vowel, chosen per syllable; each syllable's bump is 0 at its ends, so
    # switching vowels between syllables is click-free.
    vowel_of = np.zeros(num_samples, dtype=np.int64)
    for s in plan:
        a, b = int(s.start_seconds * sample_rate), int(math.ceil(s.end_seconds * sample_rate))
        vowel_of[a:b] = s.vowel
    voiced = np.zeros(num_samples)
    for v, formants in enumerate(VOWELS_HZ):
        where = vowel_of == v
        if not where.any():
            continue
        y = source
        for freq, bw in zip(formants, FORMANT_BANDWIDTHS_HZ):
            y = _resonator(y, freq, bw, sample_rate)
        voiced[where] = (y / (np.abs(y).max() + 1e-12))[where]
    out = voiced * envelope(plan, num_samples, sample_rate)
    peak = np.abs(out).max()
    return (out * (PEAK / peak) if peak > 0 else out).astype(np.float32)


def modulation_peak_hz(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, low_hz: float = 1.0) -> float:
    """The strongest modulation frequency (>= low_hz) of the audio's amplitude envelope.

    Envelope = RMS over 10 ms hops (100 Hz), mean removed; the peak of its power spectrum. Below
    ~1 Hz sits the phrase / pause rhythm, which is not what a syllable rate is about.
    """
    hop = sample_rate // 100
    n = len(audio) // hop
    if n < 200:
        raise ValueError(
            f"need at least 2 s of audio for a modulation spectrum, got {len(audio) / sample_rate:.2f} s"
        )
    rms = np.sqrt((np.asarray(audio[: n * hop], dtype=np.float64).reshape(n, hop) ** 2).mean(axis=1))
    spectrum = np.abs(np.fft.rfft((rms - rms.mean()) * np.hanning(n))) ** 2
    freqs = np.fft.rfftfreq(n, d=1.0 / 100)
    keep = freqs >= low_hz
    return float(freqs[keep][np.argmax(spectrum[keep])])


# -- mouth -----------------------------------------------------------------------------------------


def frame_bounds(num_frames: int, fps: float = FPS, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """int64 [num_frames + 1]: sample index where each frame starts (and where the last one ends)."""
    return np.round(np.arange(num_frames + 1) * (sample_rate / fps)).astype(np.int64)


def mouth_opening(
    audio: np.ndarray, fps: float = FPS, sample_rate: int = SAMPLE_RATE, num_frames: int | None = None
) -> np.ndarray:
    """float32 [num_frames] in [0, 1]: the mouth opening per video frame, from the audio's loudness.

    RMS over each frame's samples (frame i spans [i, i + 1) / fps seconds; past the audio's end is
    silence), smoothed over neighbouring frames with weights (1, 2, 1) / 4, divided by the clip's
    maximum. Silence gives exactly 0; num_frames defaults to the whole frames the audio covers.
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono [S], got shape {audio.shape}; average the channels first")
    if num_frames is None:
        num_frames = int(len(audio) * fps // sample_rate)
    bounds = frame_bounds(num_frames, fps, sample_rate)
    padded = np.zeros(bounds[-1])
    padded[: min(len(audio), bounds[-1])] = audio[: bounds[-1]]
    energy = np.add.reduceat(padded**2, bounds[:-1]) if num_frames else np.zeros(0)
    rms = np.sqrt(energy / np.diff(bounds))  # [F]
    smooth = np.convolve(np.pad(rms, 1), [0.25, 0.5, 0.25], mode="valid")  # [F]
    peak = smooth.max(initial=0.0)
    return (smooth / peak if peak > 0 else smooth).astype(np.float32)


# -- face ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceLook:
    """What a toy talking head looks like and how it sways; its mouth comes from the openings."""

    background: world.Background
    head_colour: str  # a world.COLOURS name
    sway_hz: tuple[float, float]  # (y, x)
    sway_phase: tuple[float, float]  # radians
    blink_seconds: tuple[float, ...]  # blink starts in the first 60 s, repeated every 60 s


def sample_look(seed: int) -> FaceLook:
    rng = np.random.default_rng([seed, 3])
    head = world.pick(rng, HEAD_COLOURS)
    background = world.sample_background(rng, exclude_colours=(head, "red"))
    blinks, t = [], float(rng.uniform(*BLINK_EVERY_SECONDS))
    while t < 60.0:
        blinks.append(round(t, 3))
        t += float(rng.uniform(*BLINK_EVERY_SECONDS))
    return FaceLook(
        background=background,
        head_colour=head,
        sway_hz=(float(rng.uniform(*SWAY_HZ)), float(rng.uniform(*SWAY_HZ))),
        sway_phase=(float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0, 2 * math.pi))),
        blink_seconds=tuple(blinks),
    )


def _ellipse_alpha(dy: np.ndarray, dx: np.ndarray, ry: np.ndarray, rx: float, px: float) -> np.ndarray:
    """Coverage [f, H, W] of axis-aligned ellipses (radii ry [f, 1, 1], rx) at offsets dy [f, H, 1], dx [f, 1, W].

    Signed distance ~ (normalised radius - 1) * the smaller radius: exact along the minor axis,
    which is what matters for a thin mouth.
    """
    norm = np.sqrt((dy / ry) ** 2 + (dx / np.float32(rx)) ** 2)
    dist = (norm - 1.0) * np.minimum(ry, np.float32(rx))
    return np.clip(np.float32(0.5) - dist * np.float32(px), 0.0, 1.0)[..., None]


def _blinking(look: FaceLook, t_seconds: float) -> bool:
    period = 60.0
    local = t_seconds % period
    return any(0.0 <= local - b < BLINK_FRAMES / FPS for b in look.blink_seconds)


def render_face(
    openings: np.ndarray,
    height: int = 64,
    width: int = 64,
    *,
    seed: int = 0,
    look: FaceLook | None = None,
    start_frame: int = 0,
) -> np.ndarray:
    """uint8 [F, H, W, 3]: the talking head at 25 fps with mouth openings [F] in [0, 1].

    Appearance, sway and blinks come from `look` (default `sample_look(seed)`) and the absolute
    frame index (`start_frame` + i), so a clip rendered in parts equals one rendered whole.
    """
    size = world.check_size((height, width))
    openings = np.clip(np.asarray(openings, dtype=np.float32), 0.0, 1.0)
    if openings.ndim != 1:
        raise ValueError(f"openings must be [F], got shape {openings.shape}")
    look = look or sample_look(seed)
    ys, xs, px = world._grid(size)
    ey, ex = world.extent(size)
    background = world.render_background(look.background, size)  # [H, W, 3]
    head_rgb = np.asarray(world.COLOURS[look.head_colour], dtype=np.float32)
    num = len(openings)
    out = np.empty((num, *size, 3), dtype=np.uint8)
    chunk = max(1, world.CHUNK_PIXELS // (height * width))
    for begin in range(0, num, chunk):
        idx = range(begin, min(num, begin + chunk))
        t_seconds = [(start_frame + i) / FPS for i in idx]
        cy = _column([ey / 2 + _sway(look, 0, t) for t in t_seconds])  # [f, 1, 1]
        cx = _column([ex / 2 + _sway(look, 1, t) for t in t_seconds])
        frames = np.repeat(background[None], len(idx), axis=0)  # [f, H, W, 3]
        dy = ys[None, :, None] - cy  # [f, H, 1]
        dx = xs[None, None, :] - cx  # [f, 1, W]
        _paint(frames, _ellipse_alpha(dy, dx, np.full_like(cy, HEAD_RADII[0]), HEAD_RADII[1], px), head_rgb)
        eye_ry = _column([EYE_RADIUS * (0.15 if _blinking(look, t) else 1.0) for t in t_seconds])
        for side in (-1, 1):
            alpha = _ellipse_alpha(dy - EYE_OFFSET[0], dx - side * EYE_OFFSET[1], eye_ry, EYE_RADIUS, px)
            _paint(frames, alpha, EYE_COLOUR)
        low, high = MOUTH_HALF_HEIGHT
        mouth_ry = (low + (high - low) * openings[list(idx)])[:, None, None]  # [f, 1, 1]
        my = dy - MOUTH_OFFSET
        _paint(frames, _ellipse_alpha(my, dx, mouth_ry + LIP, MOUTH_HALF_WIDTH + LIP, px), LIP_COLOUR)
        _paint(frames, _ellipse_alpha(my, dx, mouth_ry, MOUTH_HALF_WIDTH, px), MOUTH_COLOUR)
        out[begin : begin + len(idx)] = np.rint(np.clip(frames, 0, 255))
    return out


def _column(values: list[float]) -> np.ndarray:
    """Per-frame scalars -> float32 [f, 1, 1], to broadcast over [f, H, W]."""
    return np.asarray(values, dtype=np.float32)[:, None, None]


def _sway(look: FaceLook, axis: int, t_seconds: float) -> float:
    """The head's offset from the frame centre along `axis` (0: y, 1: x), frame sides."""
    return SWAY * math.sin(2 * math.pi * look.sway_hz[axis] * t_seconds + look.sway_phase[axis])


def _paint(frames: np.ndarray, alpha: np.ndarray, rgb) -> None:
    """Composites a colour with coverage alpha [f, H, W, 1] over frames [f, H, W, 3], in place."""
    frames += alpha * (np.asarray(rgb, dtype=np.float32) - frames)


def talk_sample(
    seconds: float, seed: int, height: int = 64, width: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """A toy talking-head clip: frames uint8 [round(seconds * 25), H, W, 3] and audio float32 [S] at 16 kHz."""
    audio = speech(seconds, seed)
    num_frames = int(round(seconds * FPS))
    frames = render_face(mouth_opening(audio, num_frames=num_frames), height, width, seed=seed)
    return frames, audio


# -- files -----------------------------------------------------------------------------------------

TALK_FORMAT = "toyworld-talk"
FORMAT_VERSION = 1  # bump when the same parameters would now give other files


def talk_seed(split: str, seed: int, index: int) -> int:
    """Seed of item `index`: benchmark heads get seeds >= 2**62, training heads below (never the same)."""
    value = world.scene_seed(f"talk-{split}", seed, index)
    return value | (1 << 62) if split == "benchmark" else value


def write_talk_benchmark(
    root: str | Path,
    num_samples: int = 4,
    *,
    seconds: float = 20.0,
    size: tuple[int, int] = (64, 64),
    seed: int = 1000,
    progress: bool = True,
) -> Path:
    """Writes `<root>/toy_NNN/{image.png, audio.wav, gt.mp4, world.json}`; returns `root`.

    image.png is frame 0 of the true video (lossless), audio.wav the speech (16 kHz 16-bit PCM),
    gt.mp4 the true video at 25 fps, world.json what re-renders it exactly (`load_talk_sample`).
    Idempotent like the toy world's other writers: the same parameters keep the files.
    """
    from svi.conditions.audio import write_wav
    from toyworld.stamps import write_conditional_benchmark

    size = world.check_size(size)
    if num_samples < 1 or seconds <= 0:
        raise ValueError(f"need num_samples >= 1 and seconds > 0, got {num_samples} and {seconds}")
    params = {"format": f"{TALK_FORMAT}-benchmark", "version": FORMAT_VERSION, "num_samples": num_samples}
    params |= {"seconds": seconds, "size": list(size), "seed": seed}

    def make_item(i: int):
        item_seed = talk_seed("benchmark", seed, i)
        frames, audio = talk_sample(seconds, item_seed, *size)
        spec = {"format": TALK_FORMAT, "version": FORMAT_VERSION, "seed": item_seed, "seconds": seconds}
        spec |= {"size": list(size), "fps": FPS, "sample_rate": SAMPLE_RATE}
        return frames, lambda folder: write_wav(folder / "audio.wav", audio, SAMPLE_RATE), spec

    return write_conditional_benchmark(
        Path(root), TALK_FORMAT, params, num_samples, make_item, fps=FPS, progress=progress
    )


def load_talk_sample(sample_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The exact (frames uint8 [F, H, W, 3], audio float32 [S]) of a toy talk benchmark sample."""
    path = Path(sample_dir) / "world.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: exact true videos exist only for toy talk samples "
            "(toyworld.talking_heads.write_talk_benchmark)"
        )
    spec = json.loads(path.read_text())
    if spec.get("format") != TALK_FORMAT:
        raise ValueError(f"{path} is not a toy talk sample (format {spec.get('format')!r})")
    return talk_sample(spec["seconds"], spec["seed"], *spec["size"])


def write_talk_training_set(
    root: str | Path,
    num_clips: int,
    *,
    seconds: float = 4.0,
    size: tuple[int, int] = (64, 64),
    seed: int = 0,
    encoder=None,
    progress: bool = True,
) -> Path:
    """Writes `num_clips` talking heads in the official SVI-Talk layout under `root`; returns `root`.

    Per clip `toy_NNNNN`: raw/videos/<id>.mp4 (25 fps) and raw/audios/<id>.wav, the inputs of the
    official preprocessing, and preprocessed/<id>/frame_data.pkl (+ audio_embedding.pkl when a
    `svi.conditions.audio.Wav2Vec2Features` encoder is given; without one, compute it later with
    `svi.training.talk_data.write_audio_embedding`). Clips are `seconds` long; a loader crops its windows.
    """
    from svi.video_io import write_segment
    from toyworld.stamps import write_stamped

    size = world.check_size(size)
    if num_clips < 1 or seconds <= 0:
        raise ValueError(f"need num_clips >= 1 and seconds > 0, got {num_clips} and {seconds}")
    root = Path(root)
    params = {"format": f"{TALK_FORMAT}-training-set", "version": FORMAT_VERSION, "num_clips": num_clips}
    params |= {"seconds": seconds, "size": list(size), "seed": seed, "encoder": encoder is not None}

    def write_item(i: int) -> None:
        sample_id = f"toy_{i:05d}"
        frames, audio = talk_sample(seconds, talk_seed("train", seed, i), *size)
        (root / "raw" / "videos").mkdir(parents=True, exist_ok=True)
        write_segment(root / "raw" / "videos" / f"{sample_id}.mp4", frames, FPS)
        write_talk_preprocessed(root, sample_id, frames, audio, encoder)

    write_stamped(root, params, num_clips, write_item, desc=f"toy talk clips -> {root}", unit="clip",
                  progress=progress)  # fmt: skip
    return root


def write_talk_preprocessed(
    root: str | Path, sample_id: str, frames: np.ndarray, audio: np.ndarray, encoder=None
) -> Path:
    """The official preprocessed files of one clip (see `svi.training.talk_data`): frame_data.pkl (JPEG per
    frame), raw/audios/<id>.wav and, with a wav2vec2 `encoder`, audio_embedding.pkl. Returns its folder."""
    from svi.training.talk_data import write_talk_sample

    return write_talk_sample(root, sample_id, frames, audio, encoder=encoder, sample_rate=SAMPLE_RATE)


def face_box(height: int = 64, width: int = 64) -> tuple[float, float, float, float]:
    """The head's box (x1, y1, x2, y2) in pixels at rest (it sways by SWAY around it): a fixed box for
    the face crop of Sync-C / Sync-D (`scoring.faces.FixedBox`)."""
    side = min(height, width)
    cy, cx = height / 2, width / 2
    ry, rx = HEAD_RADII[0] * side, HEAD_RADII[1] * side
    return cx - rx, cy - ry, cx + rx, cy + ry


@functools.cache
def _toy_backbone():
    from svi.config import ModelConfig
    from svi.model.backbone import load_backbone

    return load_backbone(ModelConfig(preset="toy"))


TOY_CLIP_FRAMES = TOY_DEFAULTS["generate"]["num_frames"]  # frames of a toy model's generated clip


def vae_round_trip(frames: np.ndarray, clip: int = TOY_CLIP_FRAMES) -> np.ndarray:
    """uint8 [F, H, W, 3] -> the same frames through the toy base model's VAE, one clip at a time as
    generated clips are decoded (`scoring.references.chained_round_trip`: frames 0-16, 16-32, ...; the
    last clip padded): what a toy model's talking head can at best look like."""
    return chained_round_trip(frames, backbone_roundtrip(_toy_backbone()), clip)
