"""Degenerate references: videos made with no model, which a long-video score must be seen against.

VBench's consistency dimensions (and the toy world's colour shift) reward standing still: a held frame
or a replayed clip holds its subject perfectly. So every generated video gets three companions of its
own length and frame rate, built from what the video itself starts from, and scored with the same
metrics and windows:

    frozen     the sample's input image, held for the whole video
    loop       the video's first clip, repeated
    pingpong   that clip forward, then backward (its end frames not doubled), repeated
    truth      where the benchmark has ground truth, the true continuation (read, not built)
    truth_vae  the ceiling: that truth through the arm's VAE, clip by clip as generation chains its
               clips (`through_vae`); no model scores better on fidelity with that VAE (on request)
    pan        the input image panned at a random heading and speed (scoring/pan.py): a trivial video
               that moves, K draws a sample (on request)
    truth_alt  K other true futures where the benchmark's world can draw them (the toy world:
               toyworld/futures.py); what a perfect sampler makes (on request)

The drawn references (DRAWN: pan, truth_alt) are K videos a sample, laid out as scoring/energy.py's
`draw_path` says: draw 0 is `<kind>/<name>.mp4`, which every metric scores as it scores any video; draws
1 .. K-1 lie under `<kind>/draws/<name>/`, read by the energy score alone. Their randomness comes from
the sample's name (`sample_seed`), so a sample's draws are the same on every run.

They cost no training and no generation: a video's first clip is part of the video. Where a score of a
real arm is beaten by one of these, the score cannot tell holding a subject from holding still; the
report says so (reports/tables.py).

Motion collapse (`collapse_start`): a window is *still* when its motion is at most STILL_FRACTION of
the reference motion (the truth's, or else the looped first clip's, which moves as the model moved
before it could drift); a video has *collapsed* from the first window after which every window is
still, provided at least MIN_STILL_WINDOWS windows are. A frozen video is collapsed from its first
window; a video that keeps moving never is. A video with no motion at all (every window at most
STATIC_MOTION) is collapsed from its first window whatever its references: its own looped first clip,
frozen too, gives no motion to fall below.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Every reference's name, stated here once; the reports, the gates, the declarations and the CLI import
# them from here.
FROZEN, LOOP, PINGPONG, TRUTH, TRUTH_VAE = "frozen", "loop", "pingpong", "truth", "truth_vae"
BUILT = (FROZEN, LOOP, PINGPONG)  # made from the video itself
REFERENCES = (*BUILT, TRUTH)  # truth: the benchmark's own continuation, where it has one
# The ceiling: the truth taken through the arm's VAE clip by clip (`through_vae`), the best any model
# with that VAE can score on fidelity to the truth. Built on request (an experiment's `references`).
CEILINGS = (TRUTH_VAE,)
# A trivial video that moves: the first frame panned at a random heading and speed, K draws (scoring/pan.py).
PAN = "pan"
TRIVIAL = (*BUILT, PAN)  # every video made with no model, which a valid metric must rank below reality
# Another true future: the same first frame and prompt, with what the prompt leaves open drawn again; what
# a perfect sampler makes, where a world can draw it (the toy world). A metric anchored to the truth is
# valid only where it beats every trivial reference (reports/verdicts.py).
TRUTH_ALT = "truth_alt"
# In a bundle, every row that is no arm's.
REFERENCE_ROWS = (*TRIVIAL, TRUTH, TRUTH_ALT, *CEILINGS)
# References of K draws a sample (the draws layout: scoring/energy.py `draw_path`), built on request.
DRAWN = (PAN, TRUTH_ALT)
# What an experiment's `references:` may name.
DECLARABLE = (*REFERENCES, *CEILINGS, *DRAWN)
REFERENCE_DRAWS = 4  # draws a sample of each drawn reference, unless an experiment declares otherwise
PAN_STREAM = 71  # the random stream of a sample's pan velocities, beside its seed (`sample_seed`)
# Not a reference: one video of `loop` scored a second time, in a separate pass. Its difference from the
# first scoring is the evaluator's own run-to-run noise (0 on CPU; GPU kernels may differ).
RESCORE = "rescore"
DESCRIPTIONS = {
    FROZEN: "a degenerate reference (no model): the sample's input image held for the whole video",
    LOOP: "a degenerate reference (no model): the baseline's first clip of the sample, repeated",
    PINGPONG: "a degenerate reference (no model): the baseline's first clip, played forward and backward",
    TRUTH: "a reference: the sample's true continuation",
    TRUTH_VAE: "a ceiling: the true continuation through the arm's VAE, clip by clip as generation chains them",
    PAN: "a trivial video that moves (no model): the first frame panned at a random heading and speed",
    TRUTH_ALT: "an oracle: another true future of the sample, what a perfect sampler makes",
    RESCORE: "the evaluator's noise floor: the first loop video scored again in a pass of its own",
}
MOTION = "dynamic_degree"  # its per-window value is the window's flow magnitude: the motion
STILL_FRACTION = 0.1  # a window moving at most a tenth of the reference's motion is still
MIN_STILL_WINDOWS = 2  # one still window is a pause, not a collapse
# Motion (dynamic degree's top-5% flow, px per frame) at or below which a window does not move at all:
# a held frame re-encoded as H.264 flows 0.01-0.03 px in its first window (the codec refining the
# picture) and under 0.001 px after; a toy-world square moving flows ~7 px, real motion more than 1 px.
STATIC_MOTION = 0.1


def frozen(image: np.ndarray, frames: int) -> np.ndarray:
    """`image` [H, W, 3] held for `frames` frames -> [frames, H, W, 3]."""
    if frames < 1:
        raise ValueError(f"a video has at least one frame, not {frames}")
    return np.repeat(image[None], frames, axis=0)


def loop(clip: np.ndarray, frames: int) -> np.ndarray:
    """`clip` [F, H, W, 3] repeated to `frames` frames (the last repeat cut short)."""
    if len(clip) == 0 or frames < 1:
        raise ValueError("a loop needs a clip of at least one frame and at least one frame out")
    return clip[np.arange(frames) % len(clip)]


def pingpong_order(clip_frames: int, frames: int) -> np.ndarray:
    """Frame indices of a clip of `clip_frames` played forward then backward, repeated, `frames` long:
    0, 1, ..., F-1, F-2, ..., 1, 0, 1, ... (each turn frame once, so the playback never stalls)."""
    if clip_frames < 1 or frames < 1:
        raise ValueError("a ping-pong needs a clip of at least one frame and at least one frame out")
    if clip_frames == 1:
        return np.zeros(frames, dtype=int)
    cycle = np.concatenate([np.arange(clip_frames), np.arange(clip_frames - 2, 0, -1)])  # [2F - 2]
    return cycle[np.arange(frames) % len(cycle)]


def pingpong(clip: np.ndarray, frames: int) -> np.ndarray:
    """`clip` [F, H, W, 3] forward then backward, repeated to `frames` frames."""
    return clip[pingpong_order(len(clip), frames)]


@dataclass(frozen=True)
class VaeRoundTrip:
    """A VAE's encode-decode of one generated clip, and how generation lays its clips over the video.

    roundtrip: uint8 [B, F, H, W, 3] -> uint8 [B, F, H, W, 3]: B clips, each encoded and decoded on its
      own (a clip's round trip does not depend on the others in its batch), back to pixels.
    clip_frames: the frames of one generated clip (generate.num_frames).
    batch: clips per roundtrip call (the VAE's kernels run several times faster on a batch than on
      one clip at this size; the values agree to float32 summation order).
    align: "start": clip k covers the F frames from its window's start (pixel chaining: a clip's last
      frames are carried into the next, which restates them); "end": the F frames up to its window's end
      (latent chaining: a later clip's first `lead` frames restate the previous clip's end, and only its
      window is kept)."""

    roundtrip: Callable[[np.ndarray], np.ndarray]
    clip_frames: int
    align: str = "start"
    batch: int = 8

    def __post_init__(self) -> None:
        if self.align not in ("start", "end") or self.clip_frames < 1 or self.batch < 1:
            raise ValueError(
                f"align is 'start' or 'end', clip_frames >= 1 and batch >= 1, got {self.align!r}, "
                f"{self.clip_frames}, {self.batch}"
            )


def clip_span(window: tuple[int, int], vae: VaeRoundTrip, total: int) -> tuple[int, int]:
    """The [start, end) frames of the truth that the clip of `window` is made from: clip_frames frames
    aligned on the window's start or end (`vae.align`), shifted to lie inside the `total` frames (a
    clip is always whole, as generation makes it), the whole truth when it is shorter than a clip."""
    a, b = window
    f = min(vae.clip_frames, total)
    start = a if vae.align == "start" else b - f
    start = min(max(start, 0), total - f)
    return start, start + f


def through_vae(truth: np.ndarray, windows: Sequence[tuple[int, int]], vae: VaeRoundTrip) -> np.ndarray:
    """The `truth_vae` ceiling: truth [T, H, W, 3] uint8 taken through the VAE clip by clip -> [T', H,
    W, 3] uint8, T' = the last window's end (at most T). Window k's frames come from the round trip of
    its clip's frames (`clip_span`), as the generator assembles its clips' decoded frames: no model
    error, only the VAE's. With an identity round trip it is the truth."""
    total = min(int(windows[-1][1]), len(truth)) if windows else 0
    out = np.empty((total, *truth.shape[1:]), dtype=np.uint8)
    kept = [(a, min(b, total)) for a, b in windows if a < min(b, total)]
    spans = [clip_span(w, vae, len(truth)) for w in kept]  # every span has the same length
    for first in range(0, len(kept), vae.batch):
        part = slice(first, first + vae.batch)
        clips = np.stack([truth[s:e] for s, e in spans[part]])  # [B, F, H, W, 3]
        decoded = np.asarray(vae.roundtrip(clips))
        if decoded.shape != clips.shape:
            raise ValueError(f"the VAE round trip gave {decoded.shape} for clips of {clips.shape}")
        for (a, b), (s, _), clip in zip(kept[part], spans[part], decoded):
            out[a:b] = clip[a - s : b - s]
    return out


def chained_windows(clips: int, clip_frames: int, lead: int = 1) -> list[tuple[int, int]]:
    """The [start, end) frames each of `clips` chained clips of `clip_frames` adds to a video: the first
    clip all its frames, each later one those after the `lead` frames it restates (the assembled video of
    svi.generation.sampling `total_frames`)."""
    ends = [clip_frames + k * (clip_frames - lead) for k in range(clips)]
    return [(0 if k == 0 else ends[k - 1], end) for k, end in enumerate(ends)]


def chained_round_trip(
    frames: np.ndarray, roundtrip: Callable, clip_frames: int, batch: int = 1
) -> np.ndarray:
    """uint8 [T, H, W, 3] -> the same frames through a VAE (`VaeRoundTrip.roundtrip`) one clip at a time
    as chained clips restating one frame are decoded (frames 0 .. F-1, F-1 .. 2F-2, ...; each later clip's
    first frame is the previous clip's last, and only the frames after it are kept): `through_vae` over
    `chained_windows`, the last clip padded with the last frame to a whole clip."""
    if not len(frames):
        return frames.copy()
    clips = max(1, -(-(len(frames) - 1) // (clip_frames - 1)))
    windows = chained_windows(clips, clip_frames)
    padded = np.concatenate([frames, np.repeat(frames[-1:], windows[-1][1] - len(frames), axis=0)])
    return through_vae(padded, windows, VaeRoundTrip(roundtrip, clip_frames, "end", batch))[: len(frames)]


def backbone_roundtrip(bb) -> Callable[[np.ndarray], np.ndarray]:
    """A backbone's VAE as `VaeRoundTrip.roundtrip` takes it: uint8 [B, F, H, W, 3] clips encoded
    (`bb.encode_video`) and decoded (`bb.decode_latents`), back to uint8 [B, F, H, W, 3]."""
    import torch  # only here: this module is read without torch (reports/)

    def roundtrip(clips: np.ndarray) -> np.ndarray:
        pixels = torch.from_numpy(clips).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0  # [B, 3, F, H, W]
        with torch.no_grad():
            decoded = bb.decode_latents(bb.encode_video(pixels)).float().cpu()  # [B, 3, F, H, W] in [-1, 1]
        return ((decoded.permute(0, 2, 3, 4, 1).numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)

    return roundtrip


def build(
    kind: str, *, image: np.ndarray | None, clip: np.ndarray, frames: int, truth: np.ndarray | None = None
) -> np.ndarray:
    """The `kind` reference (one of REFERENCES) of a video of `frames` frames whose first clip is `clip`
    [F, H, W, 3] and input image `image` [H, W, 3] (frozen without an image holds the first frame);
    `truth` [T, H, W, 3]: the true continuation, cut to `frames` (truth only)."""
    if kind == "truth":
        if truth is None:
            raise ValueError("the truth reference needs the sample's true video")
        return truth[:frames]
    if kind == "frozen":
        return frozen(clip[0] if image is None else image, frames)
    if kind == "loop":
        return loop(clip, frames)
    if kind == "pingpong":
        return pingpong(clip, frames)
    raise ValueError(f"unknown reference {kind!r}; the references are {', '.join(REFERENCES)}")


def sample_seed(name: str) -> int:
    """The seed of a sample's drawn references, from its name (a video's stem): the same on every run and
    every machine, and another for every sample."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") >> 1  # below 2**63


def pans(
    image: np.ndarray,
    frames: int,
    draws: int,
    seed: int,
    headings: dict[str, float] | None = None,
    speeds: dict[str, float] | None = None,
) -> list[np.ndarray]:
    """The `pan` reference of one sample: `image` uint8 [H, W, 3] panned for `frames` frames at each of
    `draws` velocities drawn from random stream [seed, PAN_STREAM] (scoring/pan.py `draw_velocities`:
    the world's cameras `headings` and `speeds` where it states them, else SPEED_RANGE at a uniform
    heading) -> `draws` videos uint8 [frames, H, W, 3], each starting at `image`."""
    from scoring.pan import draw_velocities, pan

    rng = np.random.default_rng([seed, PAN_STREAM])
    return [pan(image, frames, v) for v in draw_velocities(rng, draws, headings, speeds)]


@dataclass(frozen=True)
class Drawn:
    """How one sample's drawn references (DRAWN) are made.

    draws: K, the videos a sample (2 or more: one draw has no spread for the energy score to read).
    headings, speeds: the cameras the sample's world draws from, as scoring/pan.py `draw_velocities`
      takes them (name -> angle, name -> frame sides per frame); None: SPEED_RANGE at a uniform heading.
    futures: (frames, draws, seed) -> `draws` other true futures uint8 [frames, H, W, 3] of the sample
      (truth_alt), given by a benchmark whose world can draw them (toyworld/futures.py); None: it cannot."""

    draws: int = REFERENCE_DRAWS
    headings: dict[str, float] | None = None
    speeds: dict[str, float] | None = None
    futures: Callable[[int, int, int], Sequence[np.ndarray]] | None = None

    def __post_init__(self) -> None:
        if self.draws < 2:
            raise ValueError(f"a drawn reference has at least 2 draws a sample, not {self.draws}")


def drawn_videos(kind: str, drawn: Drawn, *, image: np.ndarray, frames: int, name: str) -> list[np.ndarray]:
    """The `drawn.draws` videos of the `kind` reference (one of DRAWN) of sample `name` whose first frame
    is `image` [H, W, 3], `frames` frames each."""
    seed = sample_seed(name)
    if kind == PAN:
        return pans(image, frames, drawn.draws, seed, drawn.headings, drawn.speeds)
    if kind == TRUTH_ALT:
        if drawn.futures is None:
            raise ValueError(
                f"{TRUTH_ALT} of {name} needs its world to draw other true futures (a toy-world sample); "
                "a benchmark that cannot draw them has no truth_alt: leave it out of the references"
            )
        videos = [np.asarray(v) for v in drawn.futures(frames, drawn.draws, seed)]
        if len(videos) != drawn.draws or any(v.shape[0] != frames for v in videos):
            raise ValueError(f"{TRUTH_ALT} of {name}: the world drew {len(videos)} futures, not {drawn.draws} "
                             f"of {frames} frames")  # fmt: skip
        return videos
    raise ValueError(f"{kind!r} is not a drawn reference; they are {', '.join(DRAWN)}")


def first_clip_frames(sidecar: dict | None, default: int) -> int:
    """How many frames the video's first clip has: from the generator's sidecar (its first clip's
    `video_frames` range), else `default`."""
    clips = (sidecar or {}).get("clips") or []
    if clips and clips[0].get("video_frames"):
        start, end = clips[0]["video_frames"]
        return int(end) - int(start)
    return default


def write_references(
    out_dir: Path,
    name: str,
    *,
    clip: np.ndarray,
    windows: Sequence[tuple[int, int]],
    fps,
    sidecar: dict,
    kinds: Sequence[str] = BUILT,
    truth: Path | None = None,
    vae: VaeRoundTrip | None = None,
    drawn: Drawn | None = None,
) -> dict[str, Path]:
    """Write each of `kinds` as `out_dir/<kind>/<name>.mp4` with a sidecar giving the whole video's clip
    `windows` ([start, end) frames; the video is windows[-1][1] frames), so they are scored with the
    same windows as the video. `sidecar`: the source video's generator sidecar (fps, metadata with its
    input image), whose clips and length the reference's replace. `clip` [F, H, W, 3]: the video's
    first window (loop and pingpong repeat it); `truth`: the sample's true video (truth), copied as the
    benchmark holds it when it is no longer than the video (not decoded and encoded again), else cut;
    `truth_vae`: that truth through `vae` (`through_vae`), encoded as a generated video is; `pan` and
    `truth_alt` (DRAWN): `drawn.draws` videos each (`drawn_videos`; default Drawn(): REFERENCE_DRAWS pans
    at SPEED_RANGE), draw 0 at `out_dir/<kind>/<name>.mp4`, the others under `out_dir/<kind>/draws/<name>/`.
    The built references are encoded intra-only (svi.video_io.INTRA_ONLY_OPTIONS): their repeated
    frames decode to equal pixels, so a held frame is held exactly and is scored once.
    -> kind -> file."""
    import shutil

    from svi.video_io import read_frames, write_segment

    frames = int(windows[-1][1])
    image = _input_image(sidecar.get("metadata") or {}, clip.shape[1:3])
    sidecar = {
        **sidecar,
        "clips": [{"index": k, "video_frames": [int(a), int(b)]} for k, (a, b) in enumerate(windows)],
        "complete": True,
        "num_frames": frames,
        "seconds": frames / float(fps),
    }
    out = {}
    for kind in kinds:
        path = Path(out_dir) / kind / f"{name}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        true_frames = None
        if kind in (TRUTH, *CEILINGS) and truth is not None:
            true_frames = read_frames(truth, max_frames=frames + 1)  # one more tells a longer truth
        if kind in DRAWN:  # K videos: draw 0 at `path`, the others where draw_path puts them
            first = clip[0] if image is None else image
            videos = drawn_videos(kind, drawn or Drawn(), image=first, frames=frames, name=name)
            _write_draws(path, videos, fps, {**sidecar, "reference": kind})
            out[kind] = path
            continue
        if kind in CEILINGS:
            if true_frames is None or vae is None:
                raise ValueError(f"{kind} needs the sample's true video and the arm's VAE round trip")
            video = through_vae(true_frames[:frames], windows, vae)
        else:
            video = build(kind, image=image, clip=clip, frames=frames, truth=true_frames)
        side = {**sidecar, "reference": kind}
        if len(video) < frames:  # a truth shorter than the video: its windows end with it
            side["clips"] = [dict(c) for c in side["clips"] if c["video_frames"][0] < len(video)]
            side["clips"][-1]["video_frames"] = [side["clips"][-1]["video_frames"][0], len(video)]
            side["num_frames"], side["seconds"] = len(video), len(video) / float(fps)
        if kind == "truth" and true_frames is not None and len(true_frames) <= frames:  # copied, bit for bit
            shutil.copyfile(truth, path)
        else:
            write_segment(path, video, fps, intra_only=kind in BUILT)
        path.with_suffix(".json").write_text(json.dumps(side, indent=1, sort_keys=True))
        out[kind] = path
    return out


def _write_draws(path: Path, videos: Sequence[np.ndarray], fps, sidecar: dict) -> None:
    """`videos` (uint8 [F, H, W, 3] each) as the draws of `path` (scoring/energy.py `draw_path`: draw 0
    is `path`), each with its sidecar (`draw`: its index); draws an earlier build left beyond them are
    removed, so `draw_paths` finds these alone."""
    import shutil

    from scoring.energy import draw_path
    from svi.video_io import write_segment

    shutil.rmtree(draw_path(path, 1).parent, ignore_errors=True)
    for k in [*range(1, len(videos)), 0]:  # draw 0's sidecar last: a build cut short is built again
        video, target = videos[k], draw_path(path, k)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_segment(target, np.ascontiguousarray(video), fps)
        target.with_suffix(".json").write_text(json.dumps({**sidecar, "draw": k}, indent=1, sort_keys=True))


def references_of_video(
    video: Path,
    out_dir: Path,
    kinds: Sequence[str] = BUILT,
    *,
    default_clip_seconds: float = 2.0,
    truth: Path | None = None,
    vae: VaeRoundTrip | None = None,
    drawn: Drawn | None = None,
) -> dict[str, Path]:
    """`write_references` for a generated `video`: its windows and first clip from its sidecar (else
    windows of `default_clip_seconds`)."""
    from svi.video_io import count_frames, read_frames, video_fps

    video = Path(video)
    fps = video_fps(video)
    side = video.with_suffix(".json")
    sidecar = json.loads(side.read_text()) if side.is_file() else {}
    windows = [tuple(c["video_frames"]) for c in sidecar.get("clips") or [] if c.get("video_frames")]
    if not windows:
        step = max(1, math.ceil(default_clip_seconds * float(fps)))
        total = count_frames(video)
        windows = [(a, min(a + step, total)) for a in range(0, total, step)]
    start, end = windows[0]
    frames = read_frames(video, max_frames=end)  # [end, H, W, 3] uint8: the first clip, not the video
    return write_references(
        out_dir, video.stem, clip=frames[start:end], windows=windows, fps=fps,
        sidecar={"fps": float(fps), **sidecar}, kinds=kinds, truth=truth, vae=vae, drawn=drawn,
    )  # fmt: skip


def references_of_first_clip(
    video: Path,
    windows: Sequence[tuple[int, int]],
    out_dir: Path,
    kinds: Sequence[str] = BUILT,
    truth: Path | None = None,
    vae: VaeRoundTrip | None = None,
    drawn: Drawn | None = None,
) -> dict[str, Path]:
    """`write_references` from a video of the sample's first clip alone (`video`: the baseline arm's
    clip 0, generated by itself), laid out over the long video's `windows` (svi.generation.sampling
    `assembled_windows`): the first window is the long video's, bit for bit, so no arm is generated
    again to build its references."""
    from svi.video_io import read_frames, video_fps

    video = Path(video)
    frames = read_frames(video)
    side = video.with_suffix(".json")
    fps = video_fps(video)
    sidecar = {"fps": float(fps), **(json.loads(side.read_text()) if side.is_file() else {})}
    start, end = windows[0]
    return write_references(
        out_dir, video.stem, clip=frames[start:end], windows=windows, fps=fps, sidecar=sidecar, kinds=kinds,
        truth=truth, vae=vae, drawn=drawn,
    )  # fmt: skip


def _input_image(metadata: dict, size: tuple[int, int]) -> np.ndarray | None:
    """The sample's input image (a sidecar's `metadata.image`) at the video's size [H, W, 3] uint8."""
    from scoring.suites import load_image

    image = (metadata or {}).get("image")
    if not image or not Path(image).is_file():
        return None
    pixels = load_image(image, *size)  # [3, H, W] in [-1, 1]
    return ((pixels.permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)


def collapse_start(motion: Sequence[float], reference_motion: float | None) -> int | None:
    """The first window of `motion` (one value per window) from which every window is still (motion
    at most STILL_FRACTION x `reference_motion`), provided at least MIN_STILL_WINDOWS are; None when
    the video never collapses. A video with no motion in any window (at most STATIC_MOTION) is
    collapsed from window 0 whatever `reference_motion` (static from the start); otherwise a
    `reference_motion` of 0 or None (a reference that does not move, or none) collapses nothing: there
    is nothing to fall below."""
    if len(motion) and all(m <= STATIC_MOTION for m in motion):
        return 0
    if reference_motion is None or not reference_motion > 0:
        return None
    still = [m <= STILL_FRACTION * reference_motion for m in motion]
    start = len(still)
    while start > 0 and still[start - 1]:
        start -= 1
    return start if len(still) - start >= MIN_STILL_WINDOWS else None


def collapsed(
    motion: dict[str, Sequence[float]], reference_motion: dict[str, float | None]
) -> dict[str, int | None]:
    """The collapsed videos of `motion` (video name -> its per-window motion), each against its own
    reference motion (name -> the looped first clip's mean window motion, or None where not built):
    name -> the window its collapse starts at, None for a video with no motion in any window."""
    out = {}
    for name, windows in motion.items():
        start = collapse_start(windows, reference_motion.get(name))
        if start is not None:
            out[name] = None if all(m <= STATIC_MOTION for m in windows) else start
    return out


def coherence_at_gaps(features: np.ndarray, fps: float, gaps_seconds: Sequence[float]) -> dict[float, float]:
    """Long-horizon coherence (VBench issue #206): the mean cosine similarity of per-frame features
    [N, D] between frames `gap` seconds apart, for each gap (NaN where the video is shorter than
    the gap). Neighbouring-frame and first-frame consistency miss a slow drift; this curve shows it."""
    feats = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(feats, axis=1, keepdims=True)
    unit = feats / np.where(norms == 0, 1.0, norms)
    out = {}
    for gap in gaps_seconds:
        k = int(round(gap * fps))
        if k < 1 or k >= len(unit):
            out[gap] = math.nan
            continue
        out[gap] = float(np.mean(np.sum(unit[:-k] * unit[k:], axis=1)))
    return out
