"""Is the toy world's drift the kind of error ERFT banks? A diagnostic for the E_img question.

E_img corrupts the conditioning latent of a training step with an error from the clean-end bank. It
can only teach the model to undo what happens at inference if the banked errors resemble the real
conditioning error of a rollout: the VAE latent of the re-encoded last generated frame minus the
latent of the true frame at that time. This script measures both, in the same latent units:

- banked: every entry of a trained arm's clean-end bank (`replay_rank0.pt` of a checkpoint);
- inference: a base-model rollout (no LoRA) on toy-world consistent samples; at every clip boundary
  k >= 1 the condition frame the generator actually re-encodes (captured from the VAE call, not read
  back from the mp4) against the world's true frame at that time.
For each: RMS, per-channel mean and RMS (16 latent channels), and for the rollout the RMS per clip.

A third population separates the VAE's share of the rollout's error from the model's: the VAE alone,
no DiT, taking the same true condition frames through k = 1 .. clips round trips (encode as a
condition frame, decode, encode again: the frame-0 path a chained clip's condition takes), against
the true frame's latent. Where the k-trip error is close to the rollout's error at clip k, the
rollout's drift is the VAE's, not the model's; `vae_share_per_clip` is the ratio of the two RMS.
Without --memory the banked population and the comparison are left out (a base model alone).

With --chaining latent (SVI 2.0 Pro's mode: y = [VAE(anchor), last latent(s) of clip k-1, zeros]) the
rollout has no VAE round trip between clips, and its conditioning error is the carried latent itself
against the true latent at that time: the last M latent frames of the world's true F-frame window
that ends where clip k-1 ends (the VAE is causal, so the window's last latents see the same frames the
carried ones stand for). These sit in the latent frames of y that E_img corrupts in training, so the
two populations compare like for like; the VAE-alone population does not apply and is left out.

Printed as JSON; with --out also written there.

    python -m benchmarks.toyworld eimg_diagnostic \
        --memory workspace/runs/ablation_eimg/full/seed0/train/checkpoints/step_00000150/replay_rank0.pt
    python -m benchmarks.toyworld eimg_diagnostic --weights DIR    # another toy base (model.weights)
    python -m benchmarks.toyworld eimg_diagnostic --chaining latent --memory ...
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import torch


def error_stats(errors: torch.Tensor) -> dict:
    """errors: [N, C, ...] -> {n, rms, channel_mean [C], channel_rms [C]} over all but the channel axis."""
    per_channel = errors.float().transpose(0, 1).flatten(1)  # [C, N * ...]
    return {
        "n": int(errors.shape[0]),
        "rms": float(per_channel.pow(2).mean().sqrt()),
        "channel_mean": per_channel.mean(1).tolist(),
        "channel_rms": per_channel.pow(2).mean(1).sqrt().tolist(),
    }


def compare(banked: dict, inference: dict) -> dict:
    """How alike two error populations are: RMS ratio, and the cosine between their channel means
    (a shared direction, such as a colour shift, shows as a cosine near 1)."""
    a, b = torch.tensor(banked["channel_mean"]), torch.tensor(inference["channel_mean"])
    cos = float(torch.nn.functional.cosine_similarity(a, b, dim=0)) if a.norm() * b.norm() > 0 else math.nan
    return {
        "rms_ratio_banked_over_inference": banked["rms"] / inference["rms"] if inference["rms"] else math.nan,
        "channel_mean_cosine": cos,
        "channel_mean_norm": {"banked": float(a.norm()), "inference": float(b.norm())},
    }


def banked_errors(memory_file: Path) -> torch.Tensor:
    """All entries of the clean-end bank (E_vid and E_img come from it), [N, C, F_lat, h, w]."""
    from svi.training.memory import ReplayMemory

    mem = ReplayMemory.load(memory_file)
    bank = mem.clean
    parts = [bank.entries(s) for s in range(mem.num_slots) if int(bank.counts[s])]
    if not parts:
        raise SystemExit(
            f"{memory_file}: the clean-end bank is empty; pick a checkpoint of a trained ERFT arm"
        )
    return torch.cat(parts)


def round_trip_errors(bb, frames: torch.Tensor, trips: int) -> dict[int, torch.Tensor]:
    """The VAE alone: frames [N, 3, H, W] in [-1, 1] through k = 1 .. trips round trips (encode as a
    one-frame video, decode); -> {k: latent error [N, C, 1, h, w] of the k-trip frame against the frame's}."""
    with torch.no_grad():
        true = bb.encode_video(frames[:, :, None])  # [N, C, 1, h, w]
        x, out = frames, {}
        for k in range(1, trips + 1):
            x = bb.decode_latents(bb.encode_video(x[:, :, None]))[:, :, 0]
            out[k] = bb.encode_video(x[:, :, None]) - true
    return out


def rollout_errors(
    samples: int, clips: int, seed: int, weights: str | None = None, chaining: str = "pixel"
) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """The conditioning error of a base-model rollout at each clip boundary, and the true condition
    frames: -> ([N, C, M, h, w], clip of each, true frames [N, 3, H, W] in [-1, 1]). Pixel chaining:
    the re-encoded condition frame (M = 1); latent chaining: the carried latents (see the docstring)."""
    from svi.config import build_config
    from svi.generation.generator import LongVideoGenerator
    from svi.generation.sampling import total_frames
    from svi.generation.video import fixed_prompts
    from toyworld.writers import true_video, write_benchmark

    model = {"preset": "toy", **({"weights": weights} if weights else {})}
    cfg = build_config(
        {"variant": "shot", "model": model, "train": {"seed": seed}, "generate": {"chaining": chaining}}
    )
    g = cfg.generate
    gen = LongVideoGenerator.from_config(cfg, None, "cpu")
    bb = gen.bb
    captured: list[torch.Tensor] = []
    encode, next_chain = bb.encode_video, gen._next_chain

    def spy(video: torch.Tensor) -> torch.Tensor:  # [B, 3, F, H, W]
        if video.shape[2] == g.num_frames:  # a condition video: frame 0 is the condition frame
            captured.append(video[:, :, 0].detach().clone())
        return encode(video)

    def spy_chain(video: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        chain = next_chain(video, latent)  # [1, 16, M, h, w]: what the next clip is conditioned on
        captured.append(chain.detach().clone())
        return chain

    latent = chaining == "latent"
    lead = g.lead_frames(bb.temporal_ratio)  # latent: the anchor's and the carried latents' 1 + r M frames

    def clip_end(j: int) -> int:  # the long video's frame index of clip j's last frame
        return total_frames(j + 1, g.num_frames, lead) - 1

    truth_frames = clip_end(clips - 1) + 1 if latent else clips * (g.num_frames - g.motion_frames) + 1

    errors, clip_of, trues = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = write_benchmark(
            Path(tmp) / "bench", num_consistent=samples, num_creative=0, size=(g.height, g.width),
            story_clips=clips, clip_frames=g.num_frames, overlap=g.motion_frames, progress=False,
        )  # fmt: skip
        from scoring import suites

        for sample in suites.load_samples(suites.suite_folder(root, "consistent", "50s"))[0][:samples]:
            image = suites.load_image(sample.image, g.height, g.width)
            captured.clear()
            if latent:
                gen._next_chain = spy_chain
            else:
                bb.encode_video = spy
            try:
                gen.generate(image, fixed_prompts(sample.prompts * clips), Path(tmp) / f"{sample.name}.mp4",
                             num_clips=clips, progress=False)  # fmt: skip
            finally:
                bb.encode_video, gen._next_chain = encode, next_chain
            truth = true_video(sample.image.parent, truth_frames)
            if latent:  # captured[j]: the latents clip j hands to clip j + 1 (the last one is unused)
                for k, chain in enumerate(captured[:-1], start=1):
                    end = clip_end(k - 1)
                    window = torch.from_numpy(truth[end - g.num_frames + 1 : end + 1]).float() / 127.5 - 1
                    with torch.no_grad():  # window [F, H, W, 3] -> [1, 3, F, H, W] -> its last M latents
                        true_latent = encode(window.permute(3, 0, 1, 2)[None])[:, :, -chain.shape[2] :]
                    errors.append(chain - true_latent)
                    clip_of.append(k)
                    trues.append(window[-1].permute(2, 0, 1)[None])
                continue
            for k, frame in enumerate(captured[1:], start=1):  # captured[0]: clip 0's reference image
                t = k * (g.num_frames - g.motion_frames)  # the frame clip k is conditioned on
                true = torch.from_numpy(truth[t]).permute(2, 0, 1).float()[None] / 127.5 - 1  # [1, 3, H, W]
                with torch.no_grad():
                    e = encode(frame[:, :, None]) - encode(true[:, :, None])  # [1, C, 1, h, w]
                errors.append(e)
                clip_of.append(k)
                trues.append(true)
    return torch.cat(errors), clip_of, torch.cat(trues)


def rms_per_clip(errors: torch.Tensor, clip_of: list[int]) -> dict[int, float]:
    """errors [N, ...] with the clip of each -> {clip: RMS over that clip's errors}."""
    return {
        k: float(errors[[i for i, c in enumerate(clip_of) if c == k]].pow(2).mean().sqrt())
        for k in sorted(set(clip_of))
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--memory", type=Path, help="replay_rank0.pt of a trained ERFT arm's checkpoint (optional)"
    )
    p.add_argument("--weights", help="a toy base model folder (default: the committed svi/weights/toy)")
    p.add_argument("--samples", type=int, default=4, help="toy-world consistent samples to roll out")
    p.add_argument("--clips", type=int, default=10, help="clips per rollout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--chaining", choices=("pixel", "latent"), default="pixel",
        help="how the rollout carries one clip into the next (generate.chaining; default pixel, SVI 1.0's)",
    )  # fmt: skip
    p.add_argument("--out", type=Path, help="also write the JSON here")
    args = p.parse_args(argv)
    if args.memory is not None and not args.memory.is_file():
        print(
            f"{args.memory} does not exist: train an ERFT arm first (harness run ablation_eimg)",
            file=sys.stderr,
        )
        return 2
    from svi.config import ModelConfig
    from svi.model.backbone import load_backbone

    errors, clip_of, trues = rollout_errors(args.samples, args.clips, args.seed, args.weights, args.chaining)
    inference = error_stats(errors)
    per_clip = rms_per_clip(errors, clip_of)
    report = {
        "weights": args.weights or "svi/weights/toy",
        "chaining": args.chaining,
        "samples": args.samples,
        "clips": args.clips,
        "inference": {**inference, "rms_per_clip": per_clip},
    }
    if args.chaining == "pixel":  # latent chaining makes no round trip between clips
        model = ModelConfig(preset="toy", **({"weights": args.weights} if args.weights else {}))
        trips = round_trip_errors(load_backbone(model), trues, args.clips - 1)
        round_trips = {k: error_stats(e) for k, e in trips.items()}
        # the rollout's condition at clip k has been through k round trips; the same frames through k alone
        vae_at_clip = {k: float(trips[k][[i for i, c in enumerate(clip_of) if c == k]].pow(2).mean().sqrt())
                       for k in per_clip}  # fmt: skip
        # channel_mean_cosine: with the rollout's channel mean (near 1: the rollout's shift is the VAE's)
        report["vae_round_trips"] = {
            k: {
                "rms": r["rms"],
                "channel_mean_norm": float(torch.tensor(r["channel_mean"]).norm()),
                "channel_mean_cosine": compare(r, inference)["channel_mean_cosine"],
            }
            for k, r in round_trips.items()
        }
        report["vae_share_per_clip"] = {k: vae_at_clip[k] / per_clip[k] for k in per_clip}
    if args.memory is not None:
        banked = error_stats(banked_errors(args.memory))
        report.update(memory=str(args.memory), banked=banked, comparison=compare(banked, inference))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0
