"""The parameter stamp every toy-world writer leaves beside a finished set.

A writer records its parameters in `PARAMS_FILE` last, after every file of the set is written, so a
set whose stamp matches the parameters asked for is complete and kept, and an interrupted one (no
stamp, or another's) is written again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

PARAMS_FILE = "toyworld.json"


def params_match(path: Path, params: dict) -> bool:
    """Whether the stamp at `path` records exactly `params` (False when missing or unreadable)."""
    try:
        return json.loads(path.read_text()) == params
    except (FileNotFoundError, json.JSONDecodeError):
        return False


def write_stamped(
    root: Path,
    params: dict,
    count: int,
    write_item: Callable[[int], None],
    *,
    desc: str,
    unit: str,
    progress: bool = True,
    replaces: str | None = None,
) -> None:
    """The skeleton of a toy-world set writer: unless `root`'s stamp already records `params`, remove
    the stamp (the set is incomplete until it is back), delete the samples of format `replaces` written
    earlier (their world.json says so; nothing else is touched), run `write_item(i)` for i < `count`
    under a progress bar, and stamp the set with `params` last."""
    from tqdm.auto import tqdm

    if params_match(root / PARAMS_FILE, params):
        return
    root.mkdir(parents=True, exist_ok=True)
    (root / PARAMS_FILE).unlink(missing_ok=True)
    if replaces is not None:
        _remove_samples(root, replaces)
    for i in tqdm(range(count), desc=desc, unit=unit, disable=not progress):
        write_item(i)
    (root / PARAMS_FILE).write_text(json.dumps(params, indent=2) + "\n")


def write_conditional_benchmark(
    root: Path,
    fmt: str,
    params: dict,
    count: int,
    make_item: Callable[[int], tuple],
    *,
    fps: int,
    progress: bool = True,
) -> Path:
    """The skeleton the toy talk and dance benchmarks share: `<root>/toy_NNN/` per sample, holding
    image.png (frame 0 of the true video, lossless), gt.mp4 (the true video at `fps`), world.json (what
    re-renders it) and the sample's condition. `make_item(i)` -> (true video [T, H, W, 3] uint8,
    write_condition(folder), world spec); stamped with `params` (`write_stamped`) -> `root`."""
    from PIL import Image

    from svi.video_io import write_segment

    root = Path(root)

    def write_item(i: int) -> None:
        folder = root / f"toy_{i:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        video, write_condition, spec = make_item(i)
        Image.fromarray(video[0]).save(folder / "image.png")
        write_condition(folder)
        write_segment(folder / "gt.mp4", video, fps)
        (folder / "world.json").write_text(json.dumps(spec, indent=1) + "\n")

    kind = fmt.removeprefix("toyworld-")  # talk, dance
    write_stamped(root, params, count, write_item, desc=f"toy {kind} -> {root}", unit="sample",
                  progress=progress, replaces=fmt)  # fmt: skip
    return root


def _remove_samples(root: Path, fmt: str) -> None:
    """Deletes toy samples of format `fmt` written earlier (recognised by their world.json), nothing else."""
    import shutil

    for sub in sorted(root.glob("toy_*")):
        spec = sub / "world.json"
        if sub.is_dir() and spec.is_file() and json.loads(spec.read_text()).get("format") == fmt:
            shutil.rmtree(sub)
