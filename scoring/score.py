"""Scoring a set of generated videos: the one path behind `harness score` and `harness run`'s score stage.

    report = score_suite(videos, "vbench,fvd", backend="toy", window="clip", reference_set=real_videos)
    write_scores(report, out_dir)        # scores.json (the report) and scores.csv (one row per window,
                                         # per video and for the suite)

`score_suite` expands the names (an unknown name is a ValueError before any work), builds the metrics
once per (names, backend, options) and reuses them (`build_metrics`), lists in `unavailable` with a
reason every metric that cannot be built here (`registry.MetricUnavailable`) or whose needs (its row in
`specs.py`) are not met (the audio metrics: unless every video has an audio file), computes FVD's
reference features from the reference set, and streams every video through the rest
(`stream.score_videos`). A missing weight file is a FileNotFoundError that names
it: the caller reports it, since every metric of that backend will need the same cache.

FVD's reference set is read with the same window as the generated videos (what `harness run` always
did; `harness score` used 5-second windows). The window cannot change FVD: its 16-frame clips start at
frames 0, 16, 32, ... whatever the windows are, and a window only records where each clip started (for
the generated videos' `fvd_per_window`). Reading both sets one way keeps it that way if windows ever do
matter. Under window="clip" a reference set with a video lacking the generator's sidecar (real videos)
is read with one window per video ("video"), which gives the same features.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from scoring.base import Metric
from scoring.specs import BACKENDS, expand, parse_window, spec
from scoring.stream import input_image, report_rows, score_videos

BUILD_OPTIONS = ("cache_dir", "device", "batch_size", "i3d", "toy_weights", "face_detector")
INTEGER_COLUMNS = ("window", "start_frame", "end_frame")


def build_metrics(
    names: str | list[str], backend: str = "vbench", **options
) -> tuple[list[Metric], dict[str, str]]:
    """-> (the metrics that could be built, {name: why not} for the others), in the order of `names`.

    Built once per (names, backend, options) and shared by later calls (the runner's arms and suites,
    the probes): the same metric objects come back, so the networks load once. A drift protocol gets
    its dimension's metric as `base` (`specs.MetricSpec.base`): the one in `names` when it is there,
    else one built for the protocols that read it (not scored itself), so each frame goes through the
    network once however many of them are asked for. options: any of
    BUILD_OPTIONS (see `registry.build`); None means the default. `build_metrics.cache_clear()` drops them.
    Raises ValueError for an unknown name, backend or option.
    """
    names = tuple(expand(names))
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    unknown = sorted(set(options) - set(BUILD_OPTIONS))
    if unknown:
        raise ValueError(f"unknown build option(s) {', '.join(unknown)}; known: {', '.join(BUILD_OPTIONS)}")
    key = tuple(
        sorted(
            (k, os.fspath(v) if isinstance(v, os.PathLike) else v)
            for k, v in options.items()
            if v is not None
        )
    )
    metrics, unavailable = _build(names, backend, key)
    return list(metrics), dict(unavailable)


@functools.lru_cache(maxsize=2)
def _build(names: tuple[str, ...], backend: str, options: tuple) -> tuple[tuple[Metric, ...], dict[str, str]]:
    from scoring import registry

    built: dict[str, Metric] = {}
    bases: dict[str, Metric] = {}  # dimensions built only for the protocols that read them
    unavailable: dict[str, str] = {}
    for name in sorted(names, key=lambda n: spec(n).base is not None):  # dimensions before their protocols
        base_name = spec(name).base
        try:
            base = None
            if base_name is not None:
                base = built[base_name] if base_name in built else bases.get(base_name)
                if base is None:
                    base = bases[base_name] = registry.build(base_name, backend=backend, **dict(options))
            built[name] = registry.build(name, backend=backend, base=base, **dict(options))
        except registry.MetricUnavailable as e:
            unavailable[name] = str(e)
    unavailable = {n: unavailable[n] for n in names if n in unavailable}
    return tuple(built[n] for n in names if n in built), unavailable


build_metrics.cache_clear = _build.cache_clear


def input_images(videos: list[Path]) -> dict:
    """The input image of each generated video that has one (its sidecar's `metadata.image`), at the
    video's size, [3, H, W] float 0-255; an unreadable video is left out (scoring names it)."""
    images = {}
    for v in videos:
        try:
            image = input_image(v)
        except Exception:  # PyAV raises many types; the video fails by name when it is scored
            image = None
        if image is not None:
            images[Path(v).stem] = image
    return images


def reference_window(reference_set: list[Path], window: str) -> str:
    """The window the reference set is read with: the videos' own, or one per video ("video") under
    "clip" when some reference video has no generator sidecar (see the module doc)."""
    if parse_window(window)[0] == "clip" and not all(
        Path(p).with_suffix(".json").is_file() for p in reference_set
    ):
        return "video"
    return window


def score_suite(
    videos: list[Path],
    names: str | list[str],
    *,
    backend: str = "vbench",
    window: str = "clip",
    long: bool = False,
    reference_videos: dict[str, Path] | None = None,
    reference_set: list[Path] | None = None,
    reference_images: dict | None = None,
    audio: dict[str, Path] | None = None,
    build_options: dict | None = None,
    progress: bool = True,
) -> dict:
    """Score `videos` on the metrics `names` (names and groups, "vbench,fvd") -> the report (scores.json).

    window: "clip" (the generator's clips, from each video's sidecar), "video" or seconds ("5s").
    long: the VBench-Long protocol (2-second clips scored on their own, averaged per video).
    reference_videos: video stem -> its ground-truth video (psnr, ssim, truth_distance).
    reference_set: real videos, FVD's reference (read with `reference_window(reference_set, window)`).
    reference_images: video stem -> input image [3, H, W] float 0-255 (i2v_*); None reads them from
      the videos' sidecars.
    audio: video stem -> its audio file (sync_c, sync_d; read at 16 kHz mono by svi.conditions.audio.read_audio).
    build_options: options of `registry.build` (cache_dir, device, batch_size, i3d, toy_weights,
      face_detector).

    The report is `SuiteScores.to_json()` plus `unavailable` ({name: reason}) and, when FVD is asked
    for and has a reference set, `fvd_reference_failed` (reference videos that could not be read) and
    `fvd_per_window` (FVD of the clips that started in each window, the drift curve).
    Raises ValueError for an unknown metric, backend, window or build option, before any work.
    """
    names = expand(names)
    parse_window(window)
    videos = [Path(v) for v in videos]
    reference_set = [Path(p) for p in reference_set or []]
    built, unavailable = build_metrics(names, backend, **(build_options or {}))

    needs_images = any(m.needs_reference_image for m in built)
    if needs_images and reference_images is None:
        reference_images = input_images(videos)
    no_audio = [v.stem for v in videos if v.stem not in (audio or {})]
    metrics = []
    for m in built:
        reason = _unmet_need(
            m, bool(reference_videos), bool(reference_set), bool(reference_images), long, no_audio
        )
        if reason:
            unavailable[m.name] = reason
        else:
            metrics.append(m)

    extra: dict = {}
    for m in [m for m in metrics if m.needs_reference_set]:  # FVD
        m.reference_features = None  # the cached metric may hold the last suite's reference
        features, failed = reference_features(
            m, reference_set, reference_window(reference_set, window), progress
        )
        extra[f"{m.name}_reference_failed"] = failed
        if isinstance(features, ValueError):  # every reference video failed or was shorter than one clip
            unavailable[m.name] = (
                f"no reference features from the {len(reference_set)} reference videos: {features}"
            )
            metrics.remove(m)
        else:
            m.reference_features = features

    suite = score_videos(
        videos,
        metrics,
        window=window,
        long=long,
        reference_videos=reference_videos or None,
        reference_images=reference_images,
        audio=audio,
        progress=progress,
    )
    report = suite.to_json()
    report["unavailable"] = unavailable
    for m in metrics:
        if m.needs_reference_set:
            extra[f"{m.name}_per_window"] = m.per_window([v.results[m.name] for v in suite.videos])
    report.update(extra)
    return report


_REFERENCE_CACHE: dict[tuple, tuple] = {}  # reference_features' results, newest last
REFERENCE_CACHE_SIZE = 4  # reference sets kept: a run's tracks (every arm scores against the same)


def reference_features(m: Metric, videos: list[Path], window: str, progress: bool = False) -> tuple:
    """-> (the reference set's features [N, D], or the ValueError saying why there are none; the videos
    that failed as [{"video", "error"}]). Kept for the process, keyed by the metric's extractor and
    the files' size and modification time: every arm of a run is scored against the same true videos
    of a track, which are read and encoded once, not once per arm."""
    key = (id(m), m.backend, window, tuple(_file_key(v) for v in videos))
    if key in _REFERENCE_CACHE:
        return _REFERENCE_CACHE[key]
    ref = score_videos(videos, [m], window=window, progress=progress, aggregate=False)
    failed = [{"video": v, "error": e} for v, e in ref.failed]
    try:
        features = m.features_of([v.results[m.name] for v in ref.videos])
    except ValueError as e:
        features = e
    _REFERENCE_CACHE[key] = (features, failed)
    while len(_REFERENCE_CACHE) > REFERENCE_CACHE_SIZE:
        _REFERENCE_CACHE.pop(next(iter(_REFERENCE_CACHE)))
    return features, failed


def _file_key(path: Path) -> tuple:
    try:
        st = path.stat()
        return str(path), st.st_size, st.st_mtime_ns
    except OSError:  # missing: it fails by name when read
        return str(path), None, None


def _unmet_need(
    m: Metric, truth: bool, reference_set: bool, images: bool, long: bool, no_audio: list[str]
) -> str | None:
    """Why metric m cannot be scored with what was given, or None. no_audio: videos without audio."""
    if m.needs_reference_video and not truth:
        return "needs a ground-truth video for each generated video (reference videos); none were given"
    if m.needs_reference_set and not reference_set:
        return "needs a reference set of real videos; none was given"
    if m.needs_reference_set and long:
        return (
            "a statistic of 16-frame clips over the whole set, which the VBench-Long protocol (2-second clips "
            "scored on their own) does not give: score it without long"
        )
    if m.spec.base is not None and long:
        return (
            "scores fixed spans of the whole video (the first and last 5 s, or 10 chunks), which the "
            "VBench-Long protocol (2-second clips scored on their own) does not keep: score it without long"
        )
    if m.needs_reference_image and not images:
        return "needs each video's input image (the generator's sidecar metadata.image); none was found"
    if m.needs_audio and no_audio:
        shown = ", ".join(no_audio[:3]) + (" ..." if len(no_audio) > 3 else "")
        return f"needs each video's audio (audio={{video stem: file}}); {len(no_audio)} video(s) have none: {shown}"
    return None


def write_scores(report: dict, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write the report as out_dir/scores.json and its rows (`stream.report_rows`: one per window, per
    video and for the suite) as out_dir/scores.csv -> (json path, csv path)."""
    import pandas as pd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out / "scores.json", out / "scores.csv"
    json_path.write_text(json.dumps(report, indent=2, default=float))
    table = pd.DataFrame(report_rows(report))
    for col in INTEGER_COLUMNS:
        table[col] = table[col].astype("Int64")  # integers with blanks, not 3.0
    table.to_csv(csv_path, index=False)
    return json_path, csv_path
