"""The benchmark suites of the paper: what to generate (docs/method.md §7).

The official svi-benchmark data set is a folder per track with one folder per sample holding an
image and `prompt.txt` (one prompt per line, or a list `prompts = ["...", ...]`):

    <root>/consisent_video_gen/<sample>/{<image>.png|jpg, prompt.txt}     (sic, the official name)
    <root>/creative_video_gen/<sample>/...
    <root>/creative_video_gen_longer/<sample>/...                       (longer storylines, 250 s)

Suites: `consistent` (first prompt only, SVI-Shot settings) and `creative` (the prompt stream, one
prompt per clip, SVI-Film settings), each at `50s` and `250s`.

The conditional benchmark (docs/method.md §7) has two tracks, the suites `conditional_talk` (300 s, SVI-Talk)
and `conditional_dance` (50 s, SVI-Dance). The paper's data set ships no folder for them, so the layout
is ours, one folder per sample beside the others:

    <root>/conditional_talk/<sample>/{<image>, audio.wav|mp3|flac, [prompt.txt], [gt.mp4]}
    <root>/conditional_dance/<sample>/{<image>, pose.mp4, [prompt.txt], [gt.mp4]}

The audio (talk) or the pose video (dance) drives the video and sets its length; without prompt.txt a
talk sample takes the official fixed prompt; gt.mp4 is the ground truth that PSNR, SSIM and FVD compare
with (the dance rows of the paper). A manifest with a sha256 digest of the images, prompts and driving
files is recorded with every generated video, so a result is tied to its exact inputs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

BENCHMARK_ENV = "SVI_BENCHMARK"
BENCHMARK_REPO = "vita-video-gen/svi-benchmark"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
AUDIO_SUFFIXES = (".wav", ".mp3", ".flac")
POSE_FILE, TRUTH_FILE = "pose.mp4", "gt.mp4"


@dataclass(frozen=True)
class Suite:
    name: str
    folders: tuple[str, ...]  # candidate folder names, first found wins
    prompt_mode: str  # "first" or "stream"
    variant: str  # the SVI variant whose settings the track uses
    drive: str | None = None  # the stream that drives each video: "audio" (talk) or "pose" (dance)
    default_prompt: str | None = None  # when a sample has no prompt.txt (None: prompt.txt is required)
    length: str = "50s"  # the paper's length of the track


SUITES = {
    "consistent": Suite("consistent", ("consisent_video_gen", "consistent_video_gen"), "first", "shot"),
    "creative": Suite("creative", ("creative_video_gen",), "stream", "film"),
    # the official test prompts are fixed (test_svi_talk.py; dance: the training prompt of train_svi_dance.py)
    "conditional_talk": Suite(
        "conditional_talk", ("conditional_talk",), "first", "talk", "audio", "a person is talking", "300s"
    ),
    "conditional_dance": Suite(
        "conditional_dance", ("conditional_dance",), "first", "dance", "pose", "the person is dancing", "50s"
    ),
}
# The 250 s creative track uses the longer storylines when the data set has them.
LONGER = {("creative", "250s"): ("creative_video_gen_longer",)}


@dataclass(frozen=True)
class Sample:
    name: str
    image: Path
    prompts: tuple[str, ...]
    audio: Path | None = None  # conditional_talk: the speech that drives the video
    pose: Path | None = None  # conditional_dance: the pose video that drives it
    truth: Path | None = None  # gt.mp4: the ground-truth video (PSNR, SSIM, FVD)


class BadSampleError(ValueError):
    """Benchmark samples that cannot be used; `bad` lists (sample folder, reason)."""

    def __init__(self, message: str, bad: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.bad = bad or []


def benchmark_root(root: str | os.PathLike | None) -> Path:
    folder = root or os.environ.get(BENCHMARK_ENV)
    if not folder:
        raise FileNotFoundError(
            f"no benchmark folder: pass --benchmark-root DIR or set {BENCHMARK_ENV}=DIR. "
            + _how_to_get("DIR")
        )
    return Path(folder).expanduser()


def _how_to_get(folder: str) -> str:
    return (
        f"On a machine with internet: hf download {BENCHMARK_REPO} --repo-type dataset --local-dir {folder}, "
        "then copy the folder here."
    )


def suite_folder(root: Path, suite: str, length: str) -> Path:
    """The track folder of `suite` at `length` under the benchmark root, or an error naming the candidates."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")
    candidates = LONGER.get((suite, length), ()) + SUITES[suite].folders
    for name in candidates:
        if (root / name).is_dir():
            return root / name
    raise FileNotFoundError(
        f"benchmark folder for suite {suite!r} not found: looked for {', '.join(str(root / c) for c in candidates)}. "
        + _how_to_get(str(root))
    )


# Where the official reader (test_svi.py, load_prompts_from_file) finds a prompt list: anywhere in the file
PROMPT_LIST_MARKER = "prompts = ["


def read_prompt_file(path: Path) -> tuple[str, ...]:
    """The prompts of a `prompt.txt` as the official reader (test_svi.py) reads them, or a ValueError
    naming the file where it would read something else or nothing.

    - List form: from the first `prompts = [` anywhere in the file, the rest is Python that assigns
      `prompts` a list of strings, over one or many lines (the official samples' form). Whatever comes
      before is ignored (a `#` heading, a title). The official reader executes the rest; here it is
      parsed and only literal assignments are read (never run), the last one to `prompts` wins, and
      the items are kept as they are (not stripped; an empty string is a prompt).
    - Line form (no `prompts = [`): one prompt per line, stripped; blank lines and lines starting with
      `#` are skipped.
    Where the official reader would quietly read garbage or fall back to its placeholder prompt, this is
    an error: a list assigned with other spacing (`prompts=[`) or a bare `[...]` (it would take each line,
    brackets and quotes included, as a prompt), an unreadable list, a file without a prompt.
    """
    import ast

    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    at = text.find(PROMPT_LIST_MARKER)
    if at >= 0:
        try:
            statements = ast.parse(text[at:]).body
            assigned = [
                ast.literal_eval(st.value)
                for st in statements
                if isinstance(st, ast.Assign) and [getattr(t, "id", None) for t in st.targets] == ["prompts"]
            ]
            if len(assigned) != len(statements):
                raise ValueError("only assignments of literals to `prompts` are read")
        except (ValueError, SyntaxError) as e:
            raise ValueError(
                f"{path}: looks like a prompt list (prompts = [...]) but cannot be read: {e}; write one "
                "prompt per line or a list of quoted strings"
            ) from None
        items = assigned[-1]
        if not isinstance(items, (list, tuple)) or not all(isinstance(p, str) for p in items):
            raise ValueError(f"{path}: the prompt list must hold quoted strings only")
        prompts = tuple(items)
    else:
        lines = [line.strip() for line in text.split("\n")]
        prompts = tuple(line for line in lines if line and not line.startswith("#"))
        if _bare_list(text.strip()) or any(re.match(r"prompts\s*=\s*\[", line) for line in prompts):
            raise ValueError(
                f"{path}: a prompt list must start with `{PROMPT_LIST_MARKER}` exactly (the official reader "
                "looks for it and would otherwise take every line as a prompt); write that, or one prompt "
                "per line"
            )
    if not prompts:
        raise ValueError(f"{path}: holds no prompt")
    return prompts


def _bare_list(body: str) -> bool:
    """Whether the whole text is a list literal without `prompts = ` (`["a", "b"]`)."""
    import ast

    if not (body.startswith("[") and body.endswith("]")):
        return False
    try:
        return isinstance(ast.literal_eval(body), list)
    except (ValueError, SyntaxError):
        return False


def _check_sample(folder: Path, suite: Suite | None = None) -> tuple[Sample | None, str | None]:
    from PIL import Image

    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        return None, f"no image ({', '.join(IMAGE_SUFFIXES)})"
    from PIL import ImageFile

    lenient, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False  # VBench's AMT sets it
    try:
        with Image.open(images[0]) as im:
            im.load()  # decode it all: a truncated file passes a header check
    except Exception as e:  # PIL raises many types for broken files
        return None, f"unreadable image {images[0].name}: {e}"
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient
    drive = suite.drive if suite else None
    audio = next((p for p in sorted(folder.iterdir()) if p.suffix.lower() in AUDIO_SUFFIXES), None)
    pose = folder / POSE_FILE if (folder / POSE_FILE).is_file() else None
    truth = folder / TRUTH_FILE if (folder / TRUTH_FILE).is_file() else None
    if drive == "audio" and audio is None:
        return None, f"no audio file ({', '.join(AUDIO_SUFFIXES)}) to drive the talking head"
    if drive == "pose" and pose is None:
        return None, f"no {POSE_FILE} to drive the dance"
    prompt_file = folder / "prompt.txt"
    if not prompt_file.is_file():
        if suite is None or suite.default_prompt is None:
            return None, "no prompt.txt"
        prompts = (suite.default_prompt,)
    else:
        try:
            prompts = read_prompt_file(prompt_file)
        except ValueError as e:
            return None, str(e).removeprefix(f"{prompt_file}: ").replace(
                "holds no prompt", "prompt.txt is empty"
            )
    return Sample(folder.name, images[0], prompts, audio=audio, pose=pose, truth=truth), None


def load_samples(
    folder: str | os.PathLike, *, skip_bad: bool = False, suite: str | None = None
) -> tuple[list[Sample], list[tuple[str, str]]]:
    """Every sample folder under `folder`, sorted by name. Bad samples raise (named) or are skipped.
    `suite` names what a sample must hold (a conditional track: its audio or pose video)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"benchmark folder not found: {folder}")
    kind = SUITES[suite] if suite else None
    samples, bad = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        sample, reason = _check_sample(sub, kind)
        if sample is None:
            bad.append((str(sub), reason))
        else:
            samples.append(sample)
    if bad and not skip_bad:
        listing = "\n".join(f"  {path}: {reason}" for path, reason in bad)
        raise BadSampleError(
            f"{len(bad)} bad benchmark sample(s) in {folder}:\n{listing}\nFix them or pass --skip-bad.", bad
        )
    if bad:
        log.warning("skipped %d bad benchmark sample(s) in %s", len(bad), folder)
    if not samples:
        raise BadSampleError(f"no usable sample folder (an image and prompt.txt) in {folder}", bad)
    return samples, bad


def select(
    samples: Sequence[Sample], *, limit: int | None = None, names: Sequence[str] | None = None
) -> list[Sample]:
    """The named samples (in the given order) and/or the first `limit` ones."""
    chosen = list(samples)
    if names:
        by_name = {s.name: s for s in samples}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(f"unknown sample(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
        chosen = [by_name[n] for n in names]
    if limit is not None:
        if limit < 1:
            raise ValueError(f"--limit must be >= 1, got {limit}")
        chosen = chosen[:limit]
    return chosen


def shard(items: Sequence, rank: int, world: int) -> list:
    """Rank r's share: items r, r + world, ... Together the ranks cover every item exactly once."""
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} outside a world of {world}")
    return list(items[rank::world])


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest(suite: str, length: str, samples: Sequence[Sample]) -> dict:
    """Per-sample digests of image bytes and prompts, and one digest of the whole prompt set."""
    entries = []
    for s in samples:
        entry = {
            "name": s.name,
            "image": s.image.name,
            "image_sha256": _sha256(s.image.read_bytes()),
            "prompts_sha256": _sha256("\n".join(s.prompts).encode()),
            "num_prompts": len(s.prompts),
        }
        for field_name in ("audio", "pose"):  # the driving file decides the frames too
            path = getattr(s, field_name)
            if path is not None:
                entry[f"{field_name}_sha256"] = _sha256(path.read_bytes())
        entries.append(entry)
    blob = "\n".join(
        ":".join(
            [e["name"], e["image_sha256"], e["prompts_sha256"]]
            + [e[k] for k in ("audio_sha256", "pose_sha256") if k in e]
        )
        for e in entries
    )
    return {
        "suite": suite,
        "length": length,
        "num_samples": len(entries),
        "digest": _sha256(blob.encode()),
        "samples": entries,
    }


def load_image(path: str | os.PathLike, height: int, width: int):
    """An RGB image resized to cover (height, width) and centre-cropped: [3, H, W] in [-1, 1]."""
    import numpy as np
    import torch
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        scale = max(height / im.height, width / im.width)
        size = (max(width, round(im.width * scale)), max(height, round(im.height * scale)))
        im = im.resize(size, Image.Resampling.BICUBIC)
        left, top = (im.width - width) // 2, (im.height - height) // 2
        im = im.crop((left, top, left + width, top + height))
        x = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float()
    return x / 127.5 - 1
