"""Writing long videos without holding them in memory.

A long video is written as one H.264 segment per finished clip (`<name>.parts/seg_00003.mp4`);
when the video is complete the segments are joined into `<name>.mp4` by copying their packets
(no re-encoding; memory stays flat however long the video is). A killed run leaves only whole
segments behind, so generation resumes from the last finished clip.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

CODEC = "libx264"
# Near-lossless and deterministic: the same frames always encode to the same bytes.
# mbtree=0: x264's macroblock-tree lookahead read uninitialised memory at small sizes (32 x 32), so the
# same frames could encode to different bytes run to run; without it the encoder is deterministic.
CODEC_OPTIONS = {"crf": "12", "preset": "medium", "threads": "1", "x264-params": "mbtree=0"}
# Every frame a keyframe: a frame then decodes from its own bytes alone, so equal frames decode to equal
# pixels (inter-coded, a repeated frame comes back a little different each time). For videos built by
# repeating frames (scoring's degenerate references): a held frame stays held, and scoring, which keys
# its caches by a frame's pixels, computes each distinct frame once. Same quality at crf 12.
INTRA_ONLY_OPTIONS = {**CODEC_OPTIONS, "x264-params": "mbtree=0:keyint=1"}


def to_uint8_frames(video: torch.Tensor) -> np.ndarray:
    """[3, F, H, W] in [-1, 1] -> uint8 [F, H, W, 3]."""
    x = ((video.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).contiguous().cpu().numpy()


def write_segment(path: str | Path, frames: np.ndarray, fps: int, intra_only: bool = False) -> Path:
    """Encode uint8 frames [N, H, W, 3] to an mp4 at `path` (atomically: a reader never sees half a file).
    `intra_only`: every frame a keyframe (INTRA_ONLY_OPTIONS), for videos that repeat frames."""
    path = Path(path)
    n, h, w, c = frames.shape
    if c != 3 or h % 2 or w % 2:
        raise ValueError(f"frames must be [N, H, W, 3] with even H and W (yuv420p), got {frames.shape}")
    tmp = path.with_name(path.name + ".tmp.mp4")
    with av.open(str(tmp), mode="w") as out:
        options = INTRA_ONLY_OPTIONS if intra_only else CODEC_OPTIONS
        stream = out.add_stream(CODEC, rate=fps, options=dict(options))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(tmp, path)
    return path


def concat_segments(segments: Sequence[str | Path], path: str | Path) -> Path:
    """Join mp4 segments of the same encoding into one mp4 by copying packets with shifted timestamps."""
    if not segments:
        raise ValueError("no segments to join")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.mp4")
    with av.open(str(tmp), mode="w") as out:
        out_stream = None
        offset = 0  # in the output stream's time base
        for seg in segments:
            with av.open(str(seg)) as src:
                in_stream = src.streams.video[0]
                if out_stream is None:
                    out_stream = out.add_stream_from_template(in_stream)
                tb = in_stream.time_base
                frame_ticks = int(round(1 / (nominal_fps(in_stream) * tb)))
                last = offset
                for packet in src.demux(in_stream):
                    if packet.dts is None:  # the demuxer's flush packet
                        continue
                    packet.pts = (packet.pts or 0) + offset
                    packet.dts = packet.dts + offset
                    last = max(last, packet.pts + frame_ticks)
                    packet.stream = out_stream
                    out.mux(packet)
                offset = last
    os.replace(tmp, path)
    return path


class RGB:
    """Decoded frames -> uint8 [H, W, 3] RGB arrays, with one swscale context for the whole stream.
    PyAV's `frame.to_ndarray(format="rgb24")` builds a new context for every frame, which cost 12 to 20
    times the decoding itself on toy-size frames (64 px: 2 ms a frame against 0.15); a kept
    `VideoReformatter` reuses its context while the frame size stays the same. Same pixels."""

    def __init__(self) -> None:
        from av.video.reformatter import VideoReformatter

        self._reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        return self._reformatter.reformat(frame, format="rgb24").to_ndarray()


def read_frames(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """The frames of a (short) video, or its first `max_frames`, as uint8 [N, H, W, 3]: for tests, small
    checks and a long video's first clip (decoding stops there)."""
    rgb = RGB()
    with av.open(str(path)) as src:
        frames = src.decode(video=0)
        if max_frames is not None:
            frames = itertools.islice(frames, max_frames)
        return np.stack([rgb(f) for f in frames])


def count_frames(path: str | Path) -> int:
    with av.open(str(path)) as src:
        return sum(1 for _ in src.decode(video=0))


def nominal_fps(stream: av.video.stream.VideoStream) -> Fraction:
    """The rate a video stream was written at (25/1), not FFmpeg's average (6425/259).

    FFmpeg averages over the decode timestamps; in a video joined from segments those jump where one
    segment's B-frame delay differs from the next (a one-frame last clip has none), so the average of a
    25 fps video read 24.8 while every frame sits exactly 1/25 s after the one before.
    """
    return Fraction(stream.guessed_rate or stream.average_rate or 16)


def video_fps(path: str | Path) -> Fraction:
    with av.open(str(path)) as src:
        return nominal_fps(src.streams.video[0])
