"""Sync-C and Sync-D: lip-sync confidence and distance of a talking video and its audio (docs/method.md §8).

The reference is joonson/syncnet_python (`SyncNetInstance.evaluate`, `run_pipeline.py`); its facts:
- Video at 25 fps, audio at 16 kHz, read as int16 samples; MFCCs by python_speech_features'
  `mfcc(signal, samplerate)` with its defaults: 25 ms frames every 10 ms (100 per second), 13
  coefficients (the first replaced by the log frame energy), 26 mel filters, NFFT 512, pre-emphasis
  0.97, lifter 22. So one video frame spans 4 MFCC steps.
- Window i pairs video frames i .. i+4 (face crops, see faces.py) with MFCC steps 4i .. 4i+19. A clip of
  m frames (m = min(video frames, audio samples // 640)) gives m - 5 windows, i = 0 .. m - 6: the window
  starting at m - 5 would need MFCC step 4m - 1, which m frames of audio do not have.
- Each window is embedded by SyncNet (a `SyncModel`): video [N, D] and audio [N, D]. The audio
  embeddings are padded with vshift = 15 zero rows at both ends, and row i of the distance matrix
  holds the Euclidean distances (torch's pairwise_distance, eps 1e-6) between video window i and
  audio windows i - 15 .. i + 15 (zeros beyond the ends).
- mdist = the mean of each of the 31 columns over the windows; Sync-D = min(mdist); Sync-C =
  median(mdist) - min(mdist) (torch.median: the lower middle value of an even count); the AV offset =
  15 - argmin(mdist) in frames (means taken in float64 here). A positive offset means the audio leads
  the video: what the video shows at frame t + offset is heard at frame t (audio embeddings
  audio_i = video_(i + k) give offset +k).

Face tracks (faces.py, `FaceTracker`): the reference's `track_shot` links detections into tracks, splits
a track after 25 missed frames, and scores only tracks of more than 100 detections with faces above
100 px (`TrackRules`; the toy backend scales them, toy_sync.TOY_TRACK_RULES). `run_syncnet.py` scores
each track's crop video on its own, against the audio under that track's frames; so does this. A
video's value is the mean over its scored tracks, and a suite's the mean over all scored tracks of its
videos (each video weighs its tracks), as the common evaluation (`run_compute_syncnet_score_videos.py`)
averages run_syncnet.py's per-track lines. A talking-head video normally has one track: its value is
that track's. A video without a scored track has no value (the reference writes no line for it).

Scoring streams (base.py): each frame is run through the face detector and the tracker as it arrives,
every finished 5-frame window of a track is embedded at once (in batches), and only the embeddings
[N, D] and the last few crops and frames are kept. At each `end_window()` the window's frames of every
track the reference would score if the video ended there (an open track judged on its detections so
far, and ending at its last one) are scored as the reference scores a track's crop video of those
frames (its own zero padding, its own m - 5 windows) and averaged over the tracks: the drift curve of
the lips' sync along the video. A window shorter than 6 tracked frames, or before any track is long
enough (100 detections at the reference's rules, 4 s), has no value. `finish()` scores the whole video.
The last 6 frames of an open track are cropped with the box filter cut at its last detection, as if the
track ended there (the filter looks 6 frames ahead); the video's value uses the crops of the uncut
filter, so it does not depend on the windows.

The audio comes in `VideoInfo.audio` (mono float32 [S] in [-1, 1] at `VideoInfo.audio_rate` = 16 kHz).
The MFCCs of the whole audio are computed once per video (the reference computes them per face-track
clip; the two differ only in the pre-emphasis of a clip's first sample). Per-video results keep each
scored track's frames, detections, face size and scores in `extra["tracks"]`, the number of tracks the
rules dropped, the rules, and for a video of one scored track its AV offset in `extra["av_offset"]` (per
window in `extra["window_av_offset"]`) and the 31 mean distances in `extra["mdist"]`; when the video has
no value, why in `extra["reason"]`.

`SyncC` and `SyncD` built on the same model and detector share one `SyncScorer`: scored together, each
video is detected and embedded once.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from scoring.base import Accumulator, Metric, VideoInfo, VideoResult, weighted_mean
from scoring.faces import (
    REFERENCE_TRACK_RULES,
    FaceDetector,
    FaceTracker,
    TrackRules,
    frames_to_uint8,
)

VIDEO_FPS = 25
AUDIO_RATE = 16000
SAMPLES_PER_FRAME = AUDIO_RATE // VIDEO_FPS  # 640
MFCC_STEPS_PER_FRAME = 4  # 100 MFCC steps per second / 25 frames per second
WINDOW_FRAMES = 5
WINDOW_MFCC_STEPS = 20
VSHIFT_FRAMES = 15
MIN_SPAN_FRAMES = WINDOW_FRAMES + 1  # a clip of m frames gives m - 5 windows
BATCH_WINDOWS = 20  # the reference's batch size


# ---------------------------------------------------------------------------------------------------
# The math (pure functions)
# ---------------------------------------------------------------------------------------------------


def mfcc_features(audio: torch.Tensor | np.ndarray, sample_rate: int = AUDIO_RATE) -> np.ndarray:
    """audio [S] float in [-1, 1] at 16 kHz -> MFCC [T, 13] float32, T = 1 + ceil((S - 400) / 160).

    The samples are first quantised to int16 as the reference's WAV file holds them (float * 32768,
    rounded, clipped), which sets the scale of the log energies.
    """
    import python_speech_features

    if sample_rate != AUDIO_RATE:
        raise ValueError(
            f"SyncNet's MFCCs are taken at {AUDIO_RATE} Hz; resample the audio (got {sample_rate} Hz)"
        )
    samples = np.asarray(audio.detach().cpu() if isinstance(audio, torch.Tensor) else audio, dtype=np.float64)
    if samples.ndim != 1:
        raise ValueError(f"expected mono audio [S], got shape {samples.shape}: mix the channels down first")
    pcm = np.clip(np.rint(samples * 32768.0), -32768, 32767).astype(np.int16)
    return python_speech_features.mfcc(pcm, AUDIO_RATE).astype(np.float32)


def window_starts(first_frame: int, end_frame: int, audio_frames: int) -> range:
    """The start frames of the 5-frame windows of the clip [first_frame, end_frame), as the reference
    windows a clip whose audio holds `audio_frames` frames of the whole video (samples // 640):
    m = min(end_frame, audio_frames) - first_frame frames give m - 5 windows."""
    return range(first_frame, max(first_frame, min(end_frame, audio_frames) - WINDOW_FRAMES))


def audio_windows(mfcc: np.ndarray, starts: list[int] | range) -> torch.Tensor:
    """MFCC [T, 13] -> [N, 1, 13, 20]: steps 4 s .. 4 s + 19 of each start frame s."""
    steps = np.asarray(starts, dtype=np.int64)[:, None] * MFCC_STEPS_PER_FRAME + np.arange(WINDOW_MFCC_STEPS)
    if steps.size and steps.max() >= len(mfcc):
        raise ValueError(
            f"window at frame {starts[-1]} needs MFCC step {steps.max()}, the audio has {len(mfcc)}"
        )
    return torch.from_numpy(np.ascontiguousarray(mfcc[steps].transpose(0, 2, 1))).unsqueeze(1)


def video_windows(crops: np.ndarray) -> torch.Tensor:
    """Face crops uint8 [M, S, S, 3] RGB (consecutive frames) -> [M - 4, 3, 5, S, S] float32 BGR 0-255,
    the reference's SyncNet input (frames as OpenCV reads them, no normalisation)."""
    bgr = np.ascontiguousarray(crops[..., ::-1])
    clip = torch.from_numpy(bgr).permute(3, 0, 1, 2).float()  # [3, M, S, S]
    windows = clip.unfold(1, WINDOW_FRAMES, 1)  # [3, M - 4, S, S, 5]
    return windows.permute(1, 0, 4, 2, 3).contiguous()


def offset_distances(
    video_emb: torch.Tensor, audio_emb: torch.Tensor, vshift: int = VSHIFT_FRAMES
) -> torch.Tensor:
    """[N, D] and [N, D] -> [N, 2 vshift + 1]: entry (i, j) = |video_i - audio_(i + j - vshift)| with the
    audio zero beyond its ends (the reference's padding), via pairwise_distance (eps 1e-6)."""
    if video_emb.shape != audio_emb.shape or video_emb.ndim != 2:
        raise ValueError(
            f"expected two [N, D] embeddings, got {tuple(video_emb.shape)} and {tuple(audio_emb.shape)}"
        )
    n = video_emb.shape[0]
    padded = F.pad(audio_emb, (0, 0, vshift, vshift))  # [N + 2 vshift, D]
    columns = [F.pairwise_distance(video_emb, padded[j : j + n], eps=1e-6) for j in range(2 * vshift + 1)]
    return torch.stack(columns, dim=1)


@dataclass(frozen=True)
class SyncScores:
    """offset: AV offset in frames (positive: the audio leads); sync_c: confidence (median - min of
    mdist); sync_d: min distance; mdist: the mean distance per offset [2 vshift + 1], offsets +vshift
    (first) down to -vshift (last)."""

    offset: int
    sync_c: float
    sync_d: float
    mdist: tuple[float, ...]


def sync_scores(dists: torch.Tensor) -> SyncScores:
    """Distances [N, 2 vshift + 1] (`offset_distances`) -> the reference's offset, confidence, distance."""
    if dists.ndim != 2 or dists.shape[0] == 0 or dists.shape[1] % 2 != 1:
        raise ValueError(f"expected distances [N >= 1, 2 vshift + 1], got {tuple(dists.shape)}")
    vshift = dists.shape[1] // 2
    mdist = dists.double().mean(dim=0)  # [2 vshift + 1]
    best = int(torch.argmin(mdist))  # the first of equal minima, as torch.min
    low = float(mdist[best])
    return SyncScores(
        offset=vshift - best,
        sync_c=float(torch.median(mdist)) - low,
        sync_d=low,
        mdist=tuple(mdist.tolist()),
    )


# ---------------------------------------------------------------------------------------------------
# The model interface
# ---------------------------------------------------------------------------------------------------


@runtime_checkable
class SyncModel(Protocol):
    """What Sync-C / Sync-D need from a lip-sync network (SyncNet v2, `syncnet.py`; toy-world models).

    crop_size: the side of the square face crops `embed_video` takes (224 for SyncNet).
    backend: names the network and its weights in the scores ("syncnet_v2", "random-init", ...).
    Both embeddings of a window must be comparable by Euclidean distance (small = in sync).
    """

    crop_size: int
    backend: str

    def embed_video(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [N, 3, 5, crop_size, crop_size]: five consecutive face crops, BGR float 0-255 -> [N, D]."""
        ...

    def embed_audio(self, mfcc: torch.Tensor) -> torch.Tensor:
        """mfcc [N, 1, 13, 20]: the window's 20 MFCC steps (`mfcc_features`) -> [N, D]."""
        ...


def _device_of(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


# ---------------------------------------------------------------------------------------------------
# Streaming: one pass per video, shared by Sync-C and Sync-D
# ---------------------------------------------------------------------------------------------------


class SyncScorer:
    """A sync model, a face detector and the track rules; runs each video once for every metric built on
    them."""

    def __init__(
        self,
        model: SyncModel,
        detector: FaceDetector,
        batch_windows: int = BATCH_WINDOWS,
        rules: TrackRules = REFERENCE_TRACK_RULES,
    ):
        if batch_windows < 1:
            raise ValueError(f"batch_windows must be >= 1, got {batch_windows}")
        self.model = model
        self.detector = detector
        self.batch_windows = batch_windows
        self.rules = rules
        self._current: _SyncVideo | None = None

    @property
    def backend(self) -> str:
        return f"{self.model.backend}+{self.detector.backend}"

    def video(self, info: VideoInfo, metric: str) -> _SyncVideo:
        """The pass over video `info` for `metric`: the one already under way for this same VideoInfo
        object when another metric (not this one) started it, else a new pass."""
        current = self._current
        if current is not None and current.info is info and metric not in current.metrics:
            current.metrics.add(metric)
            return current
        self._current = _SyncVideo(self, info)
        self._current.metrics.add(metric)
        return self._current

    @torch.inference_mode()
    def embed(
        self, crops: np.ndarray, mfcc: np.ndarray, starts: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """crops uint8 [len(starts) + 4, S, S, 3] of frames starts[0] .. starts[-1] + 4 -> video and audio
        embeddings [len(starts), D] float32 on the CPU."""
        device = _device_of(self.model)
        video = self.model.embed_video(video_windows(crops).to(device))
        audio = self.model.embed_audio(audio_windows(mfcc, starts).to(device))
        return video.float().cpu(), audio.float().cpu()


_SCORERS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def shared_scorer(
    model: SyncModel,
    detector: FaceDetector,
    batch_windows: int = BATCH_WINDOWS,
    rules: TrackRules = REFERENCE_TRACK_RULES,
) -> SyncScorer:
    """The scorer of (model, detector, batch, rules): the same object for every metric built on them."""
    key = (id(model), id(detector), batch_windows, rules)  # ids are stable while the scorer holds both
    scorer = _SCORERS.get(key)
    if scorer is None:
        scorer = _SCORERS[key] = SyncScorer(model, detector, batch_windows, rules)
    return scorer


@dataclass
class _SpanResult:
    """The scores of a span of a video (a window, or the whole video): one per scored face track."""

    scores: list[SyncScores]
    tracks: list[int]  # the scored tracks' ids (FaceTracker.tracks), as scores
    scored_windows: int  # 5-frame windows, over the tracks
    reason: str | None = None

    def mean(self, name: str) -> float | None:
        """The tracks' mean of one score (each track is scored as the reference scores its crop video)."""
        values = [getattr(s, name) for s in self.scores]
        return float(np.mean(values)) if values else None

    @property
    def offset(self) -> int | None:
        """The AV offset of a span with one scored track (None with none or several)."""
        return self.scores[0].offset if len(self.scores) == 1 else None


class _TrackEmbeddings:
    """One face track's final crops not yet embedded past (the last 4 stay for the next windows) and
    the embeddings of its windows, which start at the track's first frame."""

    def __init__(self, first_frame: int):
        self.first = first_frame
        self.crops: list[np.ndarray] = []  # frames crop_start, crop_start + 1, ...
        self.crop_start = first_frame
        self.video: list[torch.Tensor] = []  # [k, D] batches: windows first, first + 1, ...
        self.audio: list[torch.Tensor] = []
        self.embedded = 0

    def windows(self, starts: range) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Embedded windows `starts` -> video, audio [len(starts), D]; None, None for no windows."""
        if not starts:
            return None, None
        if len(self.video) > 1:  # join the batches into one tensor each
            self.video, self.audio = [torch.cat(self.video)], [torch.cat(self.audio)]
        i, j = starts.start - self.first, starts.stop - self.first
        return self.video[0][i:j], self.audio[0][i:j]


class _SyncVideo:
    """One video's pass: face tracks, the embeddings of every track's 5-frame windows, window and video
    results."""

    def __init__(self, scorer: SyncScorer, info: VideoInfo):
        if abs(info.fps - VIDEO_FPS) > 1e-3:
            raise ValueError(
                f"Sync-C / Sync-D score videos at {VIDEO_FPS} fps (SyncNet's windows are 5 frames against 20 "
                f"MFCC steps of 10 ms); {info.name!r} is at {info.fps:g} fps. Re-encode it at {VIDEO_FPS} fps "
                f"first, as the reference pipeline does: ffmpeg -i in.mp4 -r {VIDEO_FPS} out.mp4"
            )
        if info.audio is None:
            raise ValueError(
                f"Sync-C / Sync-D need the audio of {info.name!r} (VideoInfo.audio); score_suite takes it as "
                "audio={video stem: audio file}"
            )
        self.scorer = scorer
        self.info = info
        self.metrics: set[str] = set()
        self.mfcc = mfcc_features(info.audio, info.audio_rate)  # [T, 13]
        self.audio_frames = int(info.audio.shape[-1]) // SAMPLES_PER_FRAME
        self.tracker = FaceTracker(scorer.rules, size=scorer.model.crop_size)
        self.embeddings: dict[int, _TrackEmbeddings] = {}  # track id -> its windows (dropped tracks freed)
        self.frames_seen = 0
        self.window_ends: list[int] = []
        self.window_results: list[_SpanResult] = []
        self.result: _SpanResult | None = None

    # frames -------------------------------------------------------------------------------------
    def feed(self, frames: torch.Tensor, start: int) -> None:
        """Frames [T, 3, H, W] float 0-255 that start at frame `start`; frames already seen are skipped."""
        if start > self.frames_seen:
            raise ValueError(
                f"{self.info.name}: frames must arrive in order (at {self.frames_seen}, got {start})"
            )
        new = frames[self.frames_seen - start :]
        if not len(new):
            return
        if self.result is not None:
            raise RuntimeError(f"{self.info.name}: frames after finish()")
        for frame in frames_to_uint8(new):
            self.frames_seen += 1
            self._take(self.tracker.push(frame, self.scorer.detector.detect(frame)))

    def _take(self, crops: list[tuple[int, int, np.ndarray]]) -> None:
        for tid, index, crop in crops:
            emb = self.embeddings.setdefault(tid, _TrackEmbeddings(index))
            if not emb.crops:
                emb.crop_start = index
            emb.crops.append(crop)
        rules, tracks = self.scorer.rules, self.tracker.tracks
        for tid in list(self.embeddings):
            if tracks[tid].ended and not tracks[tid].kept(rules):  # a track the reference drops
                del self.embeddings[tid]
            elif len(self.embeddings[tid].crops) >= self.scorer.batch_windows + WINDOW_FRAMES - 1:
                self._embed_ready(self.embeddings[tid])

    def _last_start(self) -> int:
        """The last window start any clip of this video can score (its audio ends there)."""
        return self.audio_frames - MIN_SPAN_FRAMES

    def _embed_ready(self, emb: _TrackEmbeddings) -> None:
        """Embed every window of a track whose 5 crops are final, in batches; keep the last 4 crops."""
        while len(emb.crops) >= WINDOW_FRAMES:
            count = min(len(emb.crops) - WINDOW_FRAMES + 1, self.scorer.batch_windows)
            starts = list(range(emb.crop_start, emb.crop_start + count))
            starts = [s for s in starts if s <= self._last_start()]
            if starts:
                v, a = self.scorer.embed(np.stack(emb.crops[: len(starts) + 4]), self.mfcc, starts)
                emb.video.append(v)
                emb.audio.append(a)
                emb.embedded += len(starts)
            del emb.crops[:count]
            emb.crop_start += count

    # windows --------------------------------------------------------------------------------------
    def window(self, k: int) -> _SpanResult:
        """The result of the runner's k-th window, which ends at the frames seen so far."""
        while len(self.window_results) <= k:
            start = self.window_ends[-1] if self.window_ends else 0
            self.window_ends.append(self.frames_seen)
            self.window_results.append(self._score_span(start, self.frames_seen))
        return self.window_results[k]

    def _score_span(self, start: int, end: int) -> _SpanResult:
        """Frames [start, end) of every track the reference scores as of now (an open track judged as if
        the video ended here), each track's part scored as the reference scores a track's crop video."""
        for emb in self.embeddings.values():
            self._embed_ready(emb)
        scores, tracks, windows = [], [], 0
        for tid, track in enumerate(self.tracker.tracks):
            if not track.kept(self.scorer.rules):
                continue
            stop = min(end, track.last_frame + 1)
            starts = window_starts(max(start, track.first_frame), stop, self.audio_frames)
            if not starts:
                continue
            video, audio = self._track_windows(tid, starts)
            scores.append(sync_scores(offset_distances(video, audio)))
            tracks.append(tid)
            windows += len(starts)
        return _SpanResult(scores, tracks, windows, None if scores else self._why_none())

    def _track_windows(self, tid: int, starts: range) -> tuple[torch.Tensor, torch.Tensor]:
        """Track `tid`'s windows `starts` -> video, audio embeddings [len(starts), D]: the embedded ones,
        then those over the track's last frames, cropped as if it ended at its last detection."""
        track = self.tracker.tracks[tid]
        emb = self.embeddings.get(tid) or _TrackEmbeddings(track.first_frame)
        done = emb.first + emb.embedded  # windows first .. done - 1 are embedded
        video, audio = emb.windows(range(starts.start, min(starts.stop, done)))
        if starts.stop > done:
            provisional = self.tracker.peek(tid)
            base = emb.crop_start if emb.crops else provisional[0][0]  # frame of the first crop below
            crops = np.stack(emb.crops + [c for _, c in provisional])
            todo = list(range(max(done, starts.start), starts.stop))
            at = todo[0] - base
            v, a = self.scorer.embed(crops[at : at + len(todo) + WINDOW_FRAMES - 1], self.mfcc, todo)
            video, audio = (v, a) if video is None else (torch.cat([video, v]), torch.cat([audio, a]))
        return video, audio

    def _why_none(self) -> str:
        rules, tracks = self.scorer.rules, self.tracker.tracks
        if not tracks:
            return "no face found"
        if not any(t.kept(rules) for t in tracks):
            return (
                f"no face track the reference scores: {len(tracks)} found, none with more than {rules.min_track} "
                f"detections and faces above {rules.min_face_size:g} px (run_pipeline.py's min_track, "
                "min_face_size)"
            )
        return f"fewer than {MIN_SPAN_FRAMES} frames with a tracked face and audio"

    def finish(self) -> _SpanResult:
        if self.result is None:
            self._take(self.tracker.flush())
            self.result = self._score_span(0, self.frames_seen)
            self.embeddings = {}  # the result is all that is needed now
        return self.result

    def track_records(self) -> list[dict]:
        """The scored tracks of the whole video (frames, detections, face size, scores); after `finish`."""
        records = []
        for tid, score in zip(self.result.tracks, self.result.scores):
            track = self.tracker.tracks[tid]
            records.append(
                {
                    "frames": [track.first_frame, track.last_frame + 1],
                    "detections": track.detections,
                    "face_size_px": track.face_size(),
                    "sync_c": score.sync_c,
                    "sync_d": score.sync_d,
                    "av_offset": score.offset,
                }
            )
        return records


class _SyncAccumulator(Accumulator):
    def __init__(self, metric: _SyncMetric, video: _SyncVideo):
        self.metric = metric
        self.video = video
        self.position = 0  # frames given to this accumulator
        self.closed = 0  # windows closed by this accumulator
        self.window_ends: list[int] = []

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"expected frames [T, 3, H, W], got {tuple(frames.shape)}")
        self.video.feed(frames, self.position)
        self.position += frames.shape[0]

    def end_window(self) -> float | None:
        if self.video.frames_seen != self.position:
            raise RuntimeError("Sync-C and Sync-D sharing a video must be given the same frames")
        result = self.video.window(self.closed)
        self.closed += 1
        self.window_ends.append(self.position)
        return self.metric.value_of(result)

    def finish(self) -> VideoResult:
        if self.position > (self.window_ends[-1] if self.window_ends else 0):
            self.end_window()  # close a window the runner left open
        windows = [self.video.window(k) for k in range(self.closed)]
        result = self.video.finish()
        one = result.scores[0] if len(result.scores) == 1 else None
        tracks = self.video.tracker.tracks
        return VideoResult(
            value=self.metric.value_of(result),
            # the common evaluation averages its per-track lines: a video counts once per scored track
            weight=float(max(1, len(result.scores))),
            windows=[self.metric.value_of(w) for w in windows],
            extra={
                "av_offset": result.offset,  # with one scored track; each track's in "tracks"
                "window_av_offset": [w.offset for w in windows],
                "sync_c": result.mean("sync_c"),
                "sync_d": result.mean("sync_d"),
                "mdist": list(one.mdist) if one else None,
                "scored_windows": result.scored_windows,  # 5-frame windows
                "first_face_frame": tracks[result.tracks[0]].first_frame if result.tracks else None,
                "tracks": self.video.track_records(),
                "dropped_tracks": sum(not t.kept(self.video.scorer.rules) for t in tracks),
                "track_rules": self.video.scorer.rules.as_dict(),
                "reason": result.reason,
                "backend": self.metric.backend,
            },
        )


class _SyncMetric(Metric):
    def __init__(self, scorer: SyncScorer):
        self.scorer = scorer
        self.backend = scorer.backend

    def new_video(self, info: VideoInfo) -> Accumulator:
        return _SyncAccumulator(self, self.scorer.video(info, self.name))

    def value_of(self, result: _SpanResult) -> float | None:
        raise NotImplementedError

    def aggregate(self, results: list[VideoResult]) -> float | None:
        """The mean over every scored face track of the suite's videos (a video weighs its tracks), as
        the common evaluation averages run_syncnet.py's per-track lines; one track a video: the mean
        of the videos."""
        return weighted_mean(results)


class SyncC(_SyncMetric):
    """Sync-C: SyncNet confidence, median minus min of the mean distance per offset (higher is better)."""

    name = "sync_c"

    def value_of(self, result: _SpanResult) -> float | None:
        return result.mean("sync_c")


class SyncD(_SyncMetric):
    """Sync-D: SyncNet distance, min over offsets of the mean distance (lower is better)."""

    name = "sync_d"

    def value_of(self, result: _SpanResult) -> float | None:
        return result.mean("sync_d")


METRICS = {"sync_c": SyncC, "sync_d": SyncD}


def sync_metric(
    name: str,
    model: SyncModel,
    detector: FaceDetector,
    batch_windows: int = BATCH_WINDOWS,
    rules: TrackRules = REFERENCE_TRACK_RULES,
) -> Metric:
    """sync_c or sync_d on `model` and `detector` with the track `rules` (the reference's by default);
    metrics built on the same model, detector, batch and rules share their pass."""
    return METRICS[name](shared_scorer(model, detector, batch_windows, rules))
