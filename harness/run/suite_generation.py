"""Generating long videos for the harness: a benchmark suite, or one video from an image.

`harness generate` and `harness run` (its generate stage) both come here; the generator itself is
always built by `LongVideoGenerator.from_config`, so the backbone's precision, attention and LoRA
scale are the same whichever command made a video. A suite is generated in batches of
`generate.batch_size` videos (one batched forward per step); a single video is a batch of one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from scoring import suites


def device_for_rank():
    """This process's device: its local GPU under torchrun / deepspeed, else the CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def suite_samples(
    bench: Path,
    suite: str,
    length: str,
    *,
    limit: int | None = None,
    names: list[str] | None = None,
    skip_bad: bool = False,
) -> tuple[list[suites.Sample], dict]:
    """The samples of a track (bad ones refused, or skipped with skip_bad), and their manifest."""
    samples, _ = suites.load_samples(
        suites.suite_folder(bench, suite, length), skip_bad=skip_bad, suite=suite
    )
    samples = suites.select(samples, limit=limit, names=names)
    return samples, suites.manifest(suite, length, samples)


def generate_suite(
    generator,
    samples: list[suites.Sample],
    manifest: dict,
    out: Path,
    *,
    seconds: float,
    model: dict,
    rank: int = 0,
    world: int = 1,
    progress: bool = True,
    on_round=None,
    max_clips: int | None = None,
    draws: int = 1,
) -> list:
    """This rank's share of `samples` as videos at least `seconds` long into out/<sample>.mp4
    (resumable), manifest.json beside them; in batches of `generate.batch_size` videos
    (`LongVideoGenerator.generate_batch`: the frames do not depend on the batch size). Images are
    loaded as their videos enter the batch.

    `model` identifies the weights (preset, folder, LoRA digest) in each video's sidecar and hash.
    `max_clips`: stop each video after that many clips (the degenerate references need the first clip
    alone: it is the long video's, bit for bit). `on_round`: the generator's per-round callback.
    `draws`: videos per sample, the same conditioning with other noise (`draw_seed`): draw 0 is
    out/<sample>.mp4, the others lie beside it (`scoring.energy.draw_path`); a sample's draws are
    consecutive jobs, so they share a batch where generate.batch_size allows.
    -> one VideoResult per sample of the shard and draw, in order (a sample's draws together)."""
    from functools import partial

    from scoring.energy import draw_path
    from svi.conditions.attach import clip_streams
    from svi.generation.sampling import assign_prompts, draw_seed
    from svi.generation.video import VideoJob, fixed_prompts

    cfg = generator.cfg
    suite = manifest["suite"]
    num_clips = cfg.clips_for(seconds, generator.bb.temporal_ratio)
    out.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    jobs = []
    for sample in suites.shard(samples, rank, world):
        # with after_last_prompt=stop a stream shorter than the length ends the video early (official)
        prompts = assign_prompts(
            sample.prompts, num_clips, suites.SUITES[suite].prompt_mode, cfg.after_last_prompt
        )
        prompts = prompts[:max_clips] if max_clips else prompts
        meta = {
            "suite": suite,
            "length": manifest["length"],
            "sample": sample.name,
            "image": str(sample.image),  # the I2V dimensions compare the video with it
            "suite_digest": manifest["digest"],
            "rank": rank,
        }
        meta.update({k: str(getattr(sample, k)) for k in ("audio", "pose") if getattr(sample, k)})
        meta["model"] = model or {}  # part of the video's config hash: other weights, other video
        for k in range(draws):
            jobs.append(
                VideoJob(
                    image=partial(suites.load_image, sample.image, cfg.height, cfg.width),
                    prompts=fixed_prompts(prompts),
                    out_path=draw_path(out / f"{sample.name}.mp4", k),
                    num_clips=len(prompts),
                    metadata=meta if k == 0 else {**meta, "draw": k},
                    # talk / dance: the sample's audio or pose video drives the clips (a length past the
                    # audio's end stops there; a pose video loops)
                    streams=clip_streams(
                        generator.bb, {"audio": sample.audio, "pose": sample.pose}, cfg, generator.condition
                    ),
                    seed=None if k == 0 else draw_seed(cfg.seed, k),
                )
            )
    return generator.generate_batch(jobs, progress=progress, on_round=on_round)


def generate_one(
    generator,
    image: str | Path,
    prompts_file: str | Path | None,
    out: Path,
    *,
    seconds: float | None,
    interactive: bool,
    model: dict,
    audio: str | Path | None = None,
    pose: str | Path | None = None,
):
    """One video from an image and a prompt stream file (one prompt per clip, the last repeated up
    to `seconds`, or the video ends at the last with generate.after_last_prompt=stop), or prompts typed per clip (`interactive`); a talking head driven by `audio` or a
    dance driven by a `pose` video (the official test inputs), with the track's fixed prompt unless a
    prompt file is given. -> the generator's VideoResult."""
    from svi.conditions.attach import clip_streams
    from svi.generation.sampling import assign_prompts
    from svi.generation.video import fixed_prompts, stdin_prompts

    g = generator.cfg
    picture = suites.load_image(image, g.height, g.width)
    if pose and not seconds:  # a pose video loops: it lasts as long as the pose video
        from svi.training.clips import open_video

        seconds = len(open_video(str(pose), 1)) / g.fps
    if audio and not seconds:  # the audio ends the video; a bound for the prompt list
        from svi.conditions.audio import read_audio

        seconds = len(read_audio(audio)) / 16000
    num_clips = g.clips_for(seconds, generator.bb.temporal_ratio) if seconds else None
    if interactive:
        source = stdin_prompts()
    else:
        track = "conditional_talk" if audio else "conditional_dance"
        lines = (
            suites.read_prompt_file(Path(prompts_file))
            if prompts_file
            else (suites.SUITES[track].default_prompt,)
        )
        assigned = assign_prompts(lines, num_clips or len(lines), "stream", g.after_last_prompt)
        num_clips, source = len(assigned), fixed_prompts(assigned)
    target = out if out.suffix == ".mp4" else out / (Path(image).stem + ".mp4")
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = {"image": str(image), "model": model}
    meta.update({k: str(v) for k, v in (("audio", audio), ("pose", pose)) if v})
    streams = clip_streams(generator.bb, {"audio": audio, "pose": pose}, g, generator.condition)
    return generator.generate(picture, source, target, num_clips=num_clips, metadata=meta, streams=streams)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()
