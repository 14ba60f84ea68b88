"""Inputs the harness can make itself when none are configured, and the ground truth for scoring.

Without `data.root` an arm trains on clips the harness writes into the workspace: toy-world clips
for a toy-world preset (toy, toy-a14b), a few synthetic moving-square clips otherwise. Without `benchmark_root` /
`SVI_BENCHMARK` it writes a benchmark in the svi-benchmark layout: toy-world samples (with their true
continuations) for a toy-world preset, synthetic ones otherwise. Each is keyed by what it depends on, so
it is written once and shared by every arm and run that asks for the same.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.base import workspace
from harness.base.console import say
from harness.base.hashing import digest
from harness.declare.experiment import TOY_BENCHMARK_SEED, Experiment
from harness.declare.plan import benchmark_folder
from svi.config import SVIConfig
from svi.model.presets import get_preset, preset_weights, toy_world_of

# ERFT clips of the toy world: fewer than pretraining used, another seed (fine-tuning data is not the
# base model's pretraining data), three clips long (3 (F - 1) + 1 frames), so windows start anywhere and
# a clip-level Self-Forcing window, which needs a whole clip before it in its video, can start anywhere
# in the last two thirds (with two clips it always trained on the second half).
TOY_TRAIN_CLIPS = 200
TOY_TRAIN_SEED = 1
TOY_TRAIN_VIDEO_CLIPS = 3


def toy_world(cfg: SVIConfig) -> int:
    """The toy world of a toy-world preset's weights (their toy_world.json): the world its training
    clips and benchmark scenes are written in, so a world-3 model meets world-3 scenes."""
    return toy_world_of(preset_weights(cfg.model.preset, cfg.model.weights))


def toy_training_frames(clip_frames: int) -> int:
    """Frames of a toy training video: TOY_TRAIN_VIDEO_CLIPS chained clips sharing their boundary frames."""
    return TOY_TRAIN_VIDEO_CLIPS * (clip_frames - 1) + 1


def training_data(cfg: SVIConfig) -> str:
    """The configured clip folder, or one the harness writes into the workspace."""
    if cfg.data.root:
        return cfg.data.root
    toy = get_preset(cfg.model.preset).toy_world
    if toy and cfg.condition.kind != "none":
        return _toy_conditional_training_data(cfg)
    if toy:
        from toyworld.writers import write_training_set

        size = (cfg.data.height, cfg.data.width)
        frames = toy_training_frames(cfg.data.num_frames)
        world = toy_world(cfg)
        key = digest(size, frames, TOY_TRAIN_CLIPS, TOY_TRAIN_SEED, *([world] if world == 3 else []))
        root = workspace.home() / "data" / f"toyworld_erft_{key}"
        say(f"data.root is not set: toy-world training clips in {root}")
        with workspace.stage_lock(root):
            write_training_set(
                root, TOY_TRAIN_CLIPS, num_frames=frames, size=size, seed=TOY_TRAIN_SEED, world=world
            )
        return str(root)
    root = workspace.home() / "data" / "synthetic_clips"
    with workspace.stage_lock(root):
        if not (root / "moving" / "moving.csv").is_file():
            from toyworld.synthetic import write_dataset

            say(f"data.root is not set: writing synthetic training clips to {root}")
            write_dataset(
                root, categories=("moving",), videos_per_category=4, num_frames=24, height=64, width=64
            )
    return str(root)


def _toy_conditional_training_data(cfg: SVIConfig) -> str:
    """Toy talking heads (with their wav2vec2 features, from the model's own audio encoder) or toy
    dancers, in the official preprocessed layouts, written once into the workspace."""
    size = (cfg.data.height, cfg.data.width)
    seconds = toy_training_frames(cfg.data.num_frames) / 25  # at 25 fps
    kind = cfg.condition.kind
    key = digest(kind, size, seconds, TOY_TRAIN_CLIPS, TOY_TRAIN_SEED, cfg.condition.audio_encoder)
    root = workspace.home() / "data" / f"toyworld_{'talk' if kind == 'audio' else 'dance'}_{key}"
    say(f"data.root is not set: toy-world {'talking heads' if kind == 'audio' else 'dancers'} in {root}")
    with workspace.stage_lock(root):
        done = root / ".complete"
        if not done.is_file():
            if kind == "audio":
                from svi.conditions.attach import audio_encoder
                from toyworld.talking_heads import write_talk_training_set

                enc = audio_encoder(cfg.condition, cfg.model.preset, seed=0)
                write_talk_training_set(
                    root, TOY_TRAIN_CLIPS, seconds=seconds, size=size, seed=TOY_TRAIN_SEED, encoder=enc
                )
            else:
                from toyworld.dancers import write_dance_training_set

                write_dance_training_set(
                    root, TOY_TRAIN_CLIPS, seconds=seconds, size=size, seed=TOY_TRAIN_SEED
                )
            done.touch()
    return str(root)


def _toy_conditional_benchmark(root: Path, exp: Experiment, cfg: SVIConfig) -> None:
    """The conditional tracks of the toy benchmark: talking heads with their speech, dancers with their
    pose videos, ground truth a few clips longer than the longest requested video."""
    from toyworld.dancers import write_dance_benchmark
    from toyworld.talking_heads import write_talk_benchmark

    g = cfg.generate
    spare = 3 * g.num_frames / 25  # the last clip may run past the length; the truth must cover it
    for spec in exp.suites:
        if spec.suite not in ("conditional_talk", "conditional_dance"):
            continue
        seconds = spec.seconds + spare
        write = write_talk_benchmark if spec.suite == "conditional_talk" else write_dance_benchmark
        write(root / spec.suite, exp.toy_samples, seconds=seconds, size=(g.height, g.width), progress=False)


def benchmark_root(exp: Experiment, cfg: SVIConfig) -> Path:
    """The configured benchmark, else one written into the workspace. `cfg` is an arm's
    configuration: the toy storylines change scene on its clip grid (clip length and lead frames)."""
    configured = benchmark_folder(exp)
    if configured is not None:
        return configured
    if get_preset(cfg.model.preset).toy_world:
        from toyworld.writers import write_benchmark

        g = cfg.generate
        lead = g.lead_frames()
        general = [s for s in exp.suites if s.suite in ("consistent", "creative")]
        conditional = [(s.suite, s.length) for s in exp.suites if s not in general]
        clips = max((g.clips_for(s.seconds) for s in general), default=0)
        spec = {"n": exp.toy_samples, "size": (g.height, g.width), "clip": g.num_frames, "lead": lead}
        if exp.toy_benchmark_seed != TOY_BENCHMARK_SEED:  # other scenes (the default's keys hold)
            spec["seed"] = exp.toy_benchmark_seed
        world = toy_world(cfg)
        if world == 3:  # world 2's keys hold
            spec["world"] = world
        key = digest(spec, clips, conditional) if conditional else digest(spec, clips)  # older keys hold
        root = workspace.home() / "data" / f"toyworld_benchmark_{key}"
        with workspace.stage_lock(root):
            if general:
                write_benchmark(
                    root, num_consistent=exp.toy_samples, num_creative=exp.toy_samples, size=(g.height, g.width),
                    story_clips=clips, clip_frames=g.num_frames, overlap=lead, progress=False,
                    seed=exp.toy_benchmark_seed, world=world,
                )  # fmt: skip
            _toy_conditional_benchmark(root, exp, cfg)
        return root
    root = workspace.home() / "data" / "synthetic_benchmark"
    with workspace.stage_lock(root):
        if not root.is_dir() or not any(root.iterdir()):
            from toyworld.synthetic import write_benchmark

            say(f"no benchmark_root / SVI_BENCHMARK: writing a synthetic benchmark to {root}")
            write_benchmark(root, samples=2)
    return root


def references(
    bench: Path, suite: str, length: str, videos: Path
) -> tuple[dict[str, Path], dict, dict[str, Path]]:
    """What scoring compares with: (sample -> true video at least as long as the generated one,
    sample -> input image [3, H, W] float 0-255, sample -> its speech for Sync-C/D). True videos are a
    conditional sample's gt.mp4, or a toy-world sample's rendered once into `<bench>/truth/` (world.json)."""
    from scoring import suites
    from scoring.score import input_images
    from toyworld.synthetic import write_video

    folder = suites.suite_folder(bench, suite, length)
    mp4s = sorted(videos.glob("*.mp4"))
    truth, images, audio = {}, input_images(mp4s), {}  # an unreadable video is named when scored
    for mp4 in mp4s:
        sample = folder / mp4.stem
        meta = json.loads(mp4.with_suffix(".json").read_text())
        if meta["metadata"].get("audio"):  # the speech that drove it, as the generator recorded it
            audio[mp4.stem] = Path(meta["metadata"]["audio"])
        if (sample / suites.TRUTH_FILE).is_file():
            truth[mp4.stem] = sample / suites.TRUTH_FILE
        elif (sample / "world.json").is_file():
            from toyworld.writers import true_video

            out = bench / "truth" / folder.name / f"{mp4.stem}_{meta['num_frames']}.mp4"
            with workspace.stage_lock(out.parent):
                if not out.is_file():
                    out.parent.mkdir(parents=True, exist_ok=True)
                    tmp = out.with_suffix(".tmp.mp4")
                    write_video(tmp, true_video(sample, meta["num_frames"]), meta["fps"])
                    # The truth is on the generated video's clip grid: the same windows (FVD scores it).
                    clips = {"clips": meta["clips"], "num_frames": meta["num_frames"], "fps": meta["fps"]}
                    out.with_suffix(".json").write_text(json.dumps(clips))
                    tmp.replace(out)
            truth[mp4.stem] = out
    return truth, images, audio
