"""How far a toy VAE's ceiling sits above a held frame, measured with a short trial training.

Toy world 3's first gate (G1) asks that the true continuation taken through the VAE clip by clip (the
`truth_vae` ceiling) beats the first frame held still by at least 6 dB of PSNR over a whole benchmark
video. This trains a VAE of the toy preset's class (AutoencoderKLWan, optionally wider) with
svi/training/pretrain.py's own VAE stage on toy-world training clips rendered in memory, then renders
consistent-track benchmark scenes for `--seconds`, takes them through the VAE clip by clip as
generation does and as the `truth_vae` reference does (`scoring.references.chained_round_trip`: the toy
preset's clips, the boundary frame shared, back to uint8 pixels), and prints the round trip's PSNR and the held
first frame's over the video's frames after the first, with the gap and the seconds per step.

    python -m benchmarks.toyworld vae_ceiling --world 3 --steps 300,200 --base-dim 16
    python -m benchmarks.toyworld vae_ceiling --world 3 --steps 300,200 --base-dim 32 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from scoring.fidelity import psnr
from scoring.references import chained_round_trip
from svi.model.backbone import small_vae
from svi.model.presets import TOY, TOY_DEFAULTS
from svi.training.pretrain import PretrainConfig, VAEPhase, train_vae
from toyworld.world import WORLDS, render, sample_scene, scene_seed
from toyworld.writers import training_clip

CLIP = TOY_DEFAULTS["generate"]["num_frames"]  # frames per generated toy clip
FPS = TOY_DEFAULTS["generate"]["fps"]


def training_videos(clips: int, world: int, frames: int = 33, seed: int = 0) -> torch.Tensor:
    """uint8 [N, 3, F, H, W]: toy-world training clips (scenes, 30% with a storyline event), in memory."""
    out = []
    for i in range(clips):
        video, _ = training_clip(seed, i, num_frames=frames, size=(64, 64), story=i % 10 < 3, world=world)
        out.append(torch.from_numpy(video).permute(3, 0, 1, 2))  # [3, F, H, W]
    return torch.stack(out)


@torch.no_grad()
def ceiling(vae, world: int, samples: int, seconds: float, seed: int = 1000) -> dict:
    """Mean over `samples` consistent-track scenes of the PSNR (dB, per frame, frames after the first)
    of the clip-by-clip VAE round trip and of the first frame held still, against the truth."""
    frames = int(seconds * FPS) + 1
    clips = -(-(frames - 1) // (CLIP - 1))
    spent, trips = 0.0, 0

    def roundtrip(batch: np.ndarray) -> np.ndarray:  # uint8 [B, F, H, W, 3] -> uint8, timed
        nonlocal spent, trips
        start = time.perf_counter()
        x = torch.from_numpy(batch).permute(0, 4, 1, 2, 3).float() / 127.5 - 1  # [B, 3, F, H, W]
        back = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)
        spent, trips = spent + time.perf_counter() - start, trips + len(batch)
        return ((back.permute(0, 2, 3, 4, 1).numpy() + 1) * 127.5).round().astype(np.uint8)

    def pixels(video: np.ndarray) -> torch.Tensor:  # uint8 [F, H, W, 3] -> [F, 3, H, W] in [0, 1]
        return torch.from_numpy(video).permute(0, 3, 1, 2).float() / 255

    rows = []
    for i in range(samples):
        scene = sample_scene(scene_seed("consistent", seed, i), (64, 64), world)
        truth = render(scene, 0, clips * (CLIP - 1) + 1)  # whole clips, cut to `frames` after the round trip
        made = pixels(chained_round_trip(truth, roundtrip, CLIP)[1:frames])
        real = pixels(truth[1:frames])
        still = pixels(truth[:1]).expand_as(real)
        rows.append((float(psnr(made, real).mean()), float(psnr(still, real).mean())))
    vae_db, still_db = (sum(r[j] for r in rows) / len(rows) for j in (0, 1))
    return {
        "psnr_truth_vae": vae_db,
        "psnr_still": still_db,
        "gap_db": vae_db - still_db,
        "seconds_per_round_trip": spent / trips,  # one 17-frame clip encoded and decoded
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.toyworld vae_ceiling", description=__doc__.split("\n")[0]
    )
    p.add_argument("--world", type=int, default=3, choices=WORLDS)
    p.add_argument("--clips", type=int, default=300, help="training clips of 33 frames (default 300)")
    p.add_argument(
        "--steps",
        default="300,200",
        help="steps on 5-frame windows, then on 17-frame windows (default 300,200)",
    )
    p.add_argument("--cycle-steps", type=int, default=0, help="a last phase with the latent cycle term")
    p.add_argument("--base-dim", type=int, default=TOY.vae_base, help=f"VAE base width (toy: {TOY.vae_base})")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--samples", type=int, default=4, help="benchmark scenes measured (default 4)")
    p.add_argument("--seconds", type=float, default=100.0, help="benchmark video length (default 100)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--weights", help="measure this toy model folder's VAE instead of training one (e.g. svi/weights/toy)"
    )
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    try:
        short, long = (int(s) for s in args.steps.split(","))
    except ValueError:
        print("error: --steps takes two counts, e.g. 300,200", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    phases = [VAEPhase(steps=short, num_frames=5, batch=8), VAEPhase(steps=long, num_frames=17, batch=4)]
    if args.cycle_steps:
        phases.append(VAEPhase(steps=args.cycle_steps, num_frames=17, batch=4, cycle_weight=10.0))
    cfg = PretrainConfig(vae={"phases": phases, "lr": args.lr})
    if args.weights:
        from diffusers import AutoencoderKLWan

        vae = AutoencoderKLWan.from_pretrained(Path(args.weights) / "vae", torch_dtype=torch.float32).eval()
        result = {"weights": args.weights, "vae_parameters": sum(p.numel() for p in vae.parameters())}
        return _report({**result, **ceiling(vae, args.world, args.samples, args.seconds)}, args.json)
    torch.manual_seed(0)
    vae = small_vae(replace(TOY, vae_base=args.base_dim))

    class Holder:  # train_vae reads the backbone's VAE only
        pass

    holder = Holder()
    holder.vae = vae
    start = time.perf_counter()
    videos = training_videos(args.clips, args.world)
    rendered = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        train_vae(holder, cfg, Path(out), videos)
        trained = time.perf_counter() - start
        last = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()][-50:]
    result = {
        **vars(args),
        "vae_parameters": sum(p.numel() for p in vae.parameters()),
        "seconds_per_step": trained / cfg.vae.steps,
        "render_seconds": rendered,
        "final_l1": float(np.mean([r["vae/l1"] for r in last])),
        **ceiling(vae, args.world, args.samples, args.seconds),
    }
    return _report(result, args.json)


def _report(result: dict, path: str | None) -> int:
    print(json.dumps(result, indent=1))
    if path:
        Path(path).write_text(json.dumps(result, indent=1) + "\n")
    return 0
