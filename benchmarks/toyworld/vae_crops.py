"""Does a toy VAE trained on crops reconstruct whole frames? Round-trip PSNR on crops against whole frames.

The toy pretraining trains its VAE on random `vae.crop` x `vae.crop` squares (32 of 64 px) and runs it
on whole frames: the VAE is convolutional, but its middle block attends over every latent position,
so a VAE may learn to reconstruct crops (4 x 4 latents) and not whole frames (8 x 8). This takes
`--clips` toy-world training clips of the given world, 17 frames each, through each VAE given
(`--weights`, toy model folders) and prints, per folder: the round trip's PSNR on whole frames, on the
central crop of the trial's size, on frame 0 encoded alone, and on whole frames at frame 0, 4, 8 and 16
of the clip (the causal VAE encodes later frames from its cache of earlier ones), and the L1 on whole
frames (pixels in [-1, 1], as the pretraining logs it on crops).

    python -m benchmarks.toyworld.vae_crops --world 3 --weights svi/weights/toy --weights RUN/pretrain/model

With `--finetune N`, each VAE is first trained N more steps on whole frames (the pretraining's own VAE
stage, `svi.training.pretrain.train_vae`, one phase of 17-frame windows with `whole_frames`, batch 4
and 8 single frames, lr 3e-4, on `--train-clips` clips of 33 frames) and then measured: how fast a
crop-trained VAE learns whole frames.

    python -m benchmarks.toyworld.vae_crops --world 3 --weights RUN/pretrain/model --finetune 100 --threads 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from benchmarks.toyworld.vae_ceiling import training_videos
from svi.model.backbone import load_wan_i2v

FRAMES = 17


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of pixels in [-1, 1] (peak-to-peak 2)."""
    return float(10 * torch.log10(4 / (a - b).pow(2).mean()))


def finetuned(folder: Path, steps: int, clips: int, world: int, out: Path):
    """The VAE of `folder` after `steps` steps on whole frames (the pretraining's VAE stage)."""
    from svi.training.pretrain import PretrainConfig, train_vae

    bb = load_wan_i2v(folder, torch.float32, preset="toy")
    phase = {"steps": steps, "num_frames": FRAMES, "batch": 4, "whole_frames": True}
    cfg = PretrainConfig(vae={"phases": [phase], "lr": 3e-4, "image_batch": 8}, output_dir=str(out))
    out.mkdir(parents=True, exist_ok=True)
    train_vae(bb, cfg, out, training_videos(clips, world))
    return bb.vae


@torch.no_grad()
def measure(vae, clips: torch.Tensor, crop: int) -> dict:
    """clips [N, 3, F, H, W] in [-1, 1] through `vae`."""
    vae = vae.eval()

    def roundtrip(x: torch.Tensor) -> torch.Tensor:
        return vae.decode(vae.encode(x).latent_dist.mode()).sample

    h, w = clips.shape[-2:]
    top, left = (h - crop) // 2, (w - crop) // 2
    cropped = clips[..., top : top + crop, left : left + crop]
    whole = roundtrip(clips)
    return {
        "psnr_whole": psnr(whole, clips),
        "psnr_crop": psnr(roundtrip(cropped), cropped),
        "psnr_frame0_alone": psnr(roundtrip(clips[:, :, :1]), clips[:, :, :1]),
        "psnr_whole_at_frame": {t: psnr(whole[:, :, t], clips[:, :, t]) for t in (0, 4, 8, 16)},
        "l1_whole": float((whole - clips).abs().mean()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.toyworld.vae_crops", description=__doc__.split("\n")[0]
    )
    p.add_argument("--world", type=int, choices=(2, 3), default=3)
    p.add_argument("--weights", type=Path, action="append", required=True, help="a toy model folder (repeat)")
    p.add_argument("--clips", type=int, default=6)
    p.add_argument("--crop", type=int, default=32, help="the crop side the pretraining used")
    p.add_argument("--threads", type=int)
    p.add_argument("--finetune", type=int, default=0, help="steps on whole frames before measuring")
    p.add_argument("--train-clips", type=int, default=300)
    args = p.parse_args(argv)
    if args.clips < 1 or args.finetune < 0 or args.train_clips < 1 or not 8 <= args.crop <= 64:
        p.error("--clips and --train-clips are at least 1, --finetune at least 0, --crop 8 to 64")
    if args.threads:
        torch.set_num_threads(args.threads)
    clips = training_videos(args.clips, args.world)[:, :, :FRAMES].float() / 127.5 - 1  # [N, 3, 17, H, W]
    out = {}
    for folder in args.weights:
        if args.finetune:
            with tempfile.TemporaryDirectory() as tmp:
                vae = finetuned(folder, args.finetune, args.train_clips, args.world, Path(tmp))
        else:
            vae = load_wan_i2v(folder, torch.float32, preset="toy").vae
        out[str(folder)] = measure(vae, clips, args.crop)
    result = {"world": args.world, "clips": args.clips, "crop": args.crop, "finetune": args.finetune}
    print(json.dumps({**result, "vaes": out}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
