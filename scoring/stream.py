"""Scoring videos as streams of frame windows (the loop under `scoring.score_suite`).

A video is read in chunks of consecutive frames (never whole) and every metric's accumulator sees
each chunk once. Windows end at generated-clip boundaries (`clip`, read from the generator's
sidecar JSON), every N seconds (`Ns`) or only at the end (`video`: one window); each window closes
with a value per metric, which is the drift curve along the video. The VBench-Long protocol
(`long=True`) instead cuts the video into 2-second clips scored independently (a fresh accumulator
per clip) and averages them per video.

Metrics that need the video's audio (Sync-C / Sync-D) get it in `VideoInfo.audio`, read once per video
from the audio file given for it (16 kHz mono, `svi.conditions.audio.read_audio`); under the VBench-Long protocol
each 2-second clip gets its stretch of the audio.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scoring.base import Metric, VideoInfo, VideoResult
from scoring.specs import parse_window  # torch-free, so the CLI checks --window early
from svi.video_io import RGB, nominal_fps

log = logging.getLogger(__name__)
LONG_CLIP_SECONDS = 2.0
AUDIO_RATE = 16000  # Hz: what the audio metrics take (SyncNet's MFCCs)


@dataclass
class VideoScores:
    video: str
    num_frames: int
    fps: float
    windows: list[tuple[int, int]]  # [start, end) frame range of each window
    results: dict[str, VideoResult] = field(default_factory=dict)


def window_bounds(
    num_frames: int, fps: float, window: str, sidecar: dict | None = None
) -> list[tuple[int, int]]:
    """The [start, end) frame ranges of the windows of a video."""
    kind, seconds = parse_window(window)
    if kind == "video":
        return [(0, num_frames)]
    if kind == "clip":
        if not sidecar or not sidecar.get("clips"):
            raise ValueError(
                "--window clip needs the sidecar JSON the generator writes beside each video "
                "(<video>.json); for other videos use --window Ns"
            )
        bounds = [tuple(c["video_frames"]) for c in sidecar["clips"]]
        bounds = [(a, min(b, num_frames)) for a, b in bounds if a < num_frames]
        if bounds and bounds[-1][1] < num_frames:  # frames past the recorded clips form one more window
            bounds.append((bounds[-1][1], num_frames))
        return bounds
    size = max(1, round(seconds * fps))
    return [(s, min(s + size, num_frames)) for s in range(0, num_frames, size)]


class FrameReader:
    """Sequential decoding with PyAV: frames come out in order and nothing is kept behind.

    (decord, used for random access in training, grew with video length when two readers were
    interleaved here - a video and its ground truth - so streaming uses PyAV's decoder.)
    """

    def __init__(self, path: str | Path):
        import av

        self.path = str(path)
        self.container = av.open(self.path)
        stream = self.container.streams.video[0]
        stream.thread_type = "AUTO"
        self.fps = float(nominal_fps(stream))
        self.height, self.width = stream.codec_context.height, stream.codec_context.width
        self.num_frames = stream.frames or self._count_packets()
        self._frames = self.container.decode(stream)
        self._rgb = RGB()
        self.position = 0

    def _count_packets(self) -> int:
        import av

        with av.open(self.path) as c:
            return sum(1 for p in c.demux(c.streams.video[0]) if p.size)

    def read(self, start: int, end: int) -> torch.Tensor:
        """Frames [start, end) as [T, 3, H, W] float32 in [0, 255]; reads must be consecutive."""
        if start != self.position:
            raise ValueError(f"{self.path}: frames must be read in order (at {self.position}, asked {start})")
        out = []
        for frame in self._frames:
            out.append(torch.from_numpy(self._rgb(frame)))
            if len(out) == end - start:
                break
        if len(out) < end - start:
            raise ValueError(
                f"{self.path}: ended after {start + len(out)} frames, {self.num_frames} expected"
            )
        self.position = end
        return torch.stack(out).permute(0, 3, 1, 2).float()

    def close(self) -> None:
        self.container.close()


def input_image(video: str | Path) -> torch.Tensor | None:
    """The input image of a generated video (its sidecar's `metadata.image`), at the video's size:
    [3, H, W] float 0-255, as the I2V dimensions take it; None without a sidecar or an image file."""
    from scoring.suites import load_image

    side = Path(video).with_suffix(".json")
    image = json.loads(side.read_text()).get("metadata", {}).get("image") if side.is_file() else None
    if not image or not Path(image).is_file():
        return None
    reader = FrameReader(video)
    try:
        return (load_image(image, reader.height, reader.width) + 1) * 127.5
    finally:
        reader.close()


def score_video(
    path: str | Path,
    metrics: list[Metric],
    *,
    window: str = "clip",
    long: bool = False,
    chunk_frames: int = 16,
    reference_video: str | Path | None = None,
    reference_image: torch.Tensor | None = None,
    audio: str | Path | None = None,
    progress: bool = False,
) -> VideoScores:
    """Stream one video through every metric. Raises on an unreadable video (the caller names it).

    audio: the video's audio file (or a video with an audio track), for metrics that need audio.
    """
    from tqdm.auto import tqdm

    path = Path(path)
    samples = None
    if any(m.needs_audio for m in metrics):
        if audio is None:
            raise ValueError(
                f"{path}: {', '.join(m.name for m in metrics if m.needs_audio)} need the video's audio"
            )
        from svi.conditions.audio import read_audio

        samples = read_audio(audio, sample_rate=AUDIO_RATE)  # [S] float32
    reader = FrameReader(path)
    n, fps, h, w = reader.num_frames, reader.fps, reader.height, reader.width
    sidecar_file = path.with_suffix(".json")
    sidecar = json.loads(sidecar_file.read_text()) if sidecar_file.is_file() else None
    if long:
        bounds = window_bounds(n, fps, f"{LONG_CLIP_SECONDS}s")
    elif window == "clip" and sidecar is None:
        raise ValueError(
            f"{path}: --window clip needs the generator's sidecar {sidecar_file.name}; use --window Ns"
        )
    else:
        bounds = window_bounds(n, fps, window, sidecar)
    ref_reader = None
    if any(m.needs_reference_video for m in metrics):
        if reference_video is None:
            raise ValueError(
                f"{path}: {', '.join(m.name for m in metrics if m.needs_reference_video)} need a ground-truth video"
            )
        ref_reader = FrameReader(reference_video)
        if ref_reader.num_frames < n:
            raise ValueError(
                f"ground truth {reference_video} has {ref_reader.num_frames} frames, fewer than the video's {n}"
            )
    info = VideoInfo(path.stem, fps, n, h, w, reference_image, samples, AUDIO_RATE, path)

    bar = tqdm(total=n, desc=path.stem, unit="frame", leave=False, disable=not progress)
    accs = {m.name: m.new_video(info) for m in metrics}
    window_values: dict[str, list] = {m.name: [] for m in metrics}
    long_results: dict[str, list[VideoResult]] = {m.name: [] for m in metrics}
    for start, end in bounds:
        if long:  # VBench-Long: each 2 s clip is a video of its own
            clip = VideoInfo(
                f"{path.stem}@{start}",
                fps,
                end - start,
                h,
                w,
                reference_image,
                _audio_of(samples, start, end, fps),
            )
            accs = {m.name: m.new_video(clip) for m in metrics}
        for s in range(start, end, chunk_frames):
            e = min(s + chunk_frames, end)
            frames = reader.read(s, e)
            ref = ref_reader.read(s, e) if ref_reader is not None else None
            for m in metrics:
                accs[m.name].update(frames, reference=ref if m.needs_reference_video else None)
            bar.update(e - s)
        for m in metrics:
            window_values[m.name].append(accs[m.name].end_window())
            if long:
                long_results[m.name].append(accs[m.name].finish())

    bar.close()
    reader.close()
    if ref_reader is not None:
        ref_reader.close()
    out = VideoScores(path.stem, n, fps, bounds)
    for m in metrics:
        if long:
            clip_values = [r.value for r in long_results[m.name] if r.value is not None]
            value = sum(clip_values) / len(clip_values) if clip_values else None
            extra = {"clips": [r.extra for r in long_results[m.name]]}
            out.results[m.name] = VideoResult(value, 1.0, [r.value for r in long_results[m.name]], extra)
        else:
            res = accs[m.name].finish()
            if not accs[m.name].windows_at_finish:
                res.windows = window_values[m.name]
            out.results[m.name] = res
    return out


def _audio_of(samples: torch.Tensor | None, start: int, end: int, fps: float) -> torch.Tensor | None:
    """The stretch of the audio [S] under frames [start, end) of a video at `fps`."""
    if samples is None:
        return None
    return samples[round(start * AUDIO_RATE / fps) : round(end * AUDIO_RATE / fps)]


@dataclass
class SuiteScores:
    videos: list[VideoScores]
    failed: list[tuple[str, str]]  # (video, reason)
    aggregate: dict[str, float | None]
    backends: dict[str, str]
    protocol: str

    def rows(self) -> list[dict]:
        """Flat rows: one per window, one per video, one for the suite (column `level`)."""
        return report_rows(self.to_json())

    def to_json(self) -> dict:
        return {
            "protocol": self.protocol,
            "backends": self.backends,
            "aggregate": self.aggregate,
            "num_videos": len(self.videos),
            "failed": [{"video": v, "error": e} for v, e in self.failed],
            "videos": [
                {
                    "video": v.video,
                    "num_frames": v.num_frames,
                    "fps": v.fps,
                    "windows": v.windows,
                    "scores": {k: r.value for k, r in v.results.items()},
                    "window_scores": {k: r.windows for k, r in v.results.items()},
                }
                for v in self.videos
            ],
        }


def report_rows(report: dict) -> list[dict]:
    """The flat rows of a scores report (`SuiteScores.to_json()`, as in scores.json): one per window,
    one per video, one for the suite (column `level`), a column per metric."""
    names = list(report["aggregate"])
    rows = []
    for v in report["videos"]:
        windows = v["window_scores"]
        for i, (a, b) in enumerate(v["windows"]):
            row = {"level": "window", "video": v["video"], "window": i, "start_frame": a, "end_frame": b}
            row.update({k: _window_value(windows.get(k), i) for k in names})
            rows.append(row)
        row = {
            "level": "video",
            "video": v["video"],
            "window": None,
            "start_frame": 0,
            "end_frame": v["num_frames"],
        }
        row.update({k: v["scores"].get(k) for k in names})
        rows.append(row)
    row = {"level": "suite", "video": None, "window": None, "start_frame": None, "end_frame": None}
    row.update(report["aggregate"])
    rows.append(row)
    return rows


def _window_value(windows: list | None, i: int):
    return windows[i] if windows is not None and i < len(windows) else None


def score_videos(
    paths: list[Path],
    metrics: list[Metric],
    *,
    window: str = "clip",
    long: bool = False,
    reference_videos: dict[str, Path] | None = None,
    reference_images: dict[str, torch.Tensor] | None = None,
    audio: dict[str, Path] | None = None,
    progress: bool = True,
    chunk_frames: int = 16,
    aggregate: bool = True,
) -> SuiteScores:
    """Score every video; a video that cannot be read is named in `failed` and the rest go on.

    audio: video stem -> its audio file (metrics that need audio).
    aggregate=False skips the suite values (e.g. when scoring FVD's reference set for its features).
    """
    from tqdm.auto import tqdm

    videos, failed = [], []
    for path in tqdm(paths, desc="score", unit="video", disable=not progress):
        try:
            ref_video = (reference_videos or {}).get(path.stem)
            ref_image = (reference_images or {}).get(path.stem)
            videos.append(
                score_video(
                    path,
                    metrics,
                    window=window,
                    long=long,
                    chunk_frames=chunk_frames,
                    reference_video=ref_video,
                    reference_image=ref_image,
                    audio=(audio or {}).get(path.stem),
                    progress=progress,
                )
            )
        except Exception as e:  # PyAV and the metrics raise many types; name the video and go on
            log.warning("could not score %s: %s", path, e)
            failed.append((str(path), f"{type(e).__name__}: {e}"))
    values = {}
    for m in metrics:
        value = m.aggregate([v.results[m.name] for v in videos]) if videos and aggregate else None
        values[m.name] = None if value is None or (isinstance(value, float) and math.isnan(value)) else value
    return SuiteScores(
        videos, failed, values, {m.name: m.backend for m in metrics}, "vbench-long" if long else "vbench"
    )
