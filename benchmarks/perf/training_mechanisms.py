"""Training step cost of each training mechanism over plain flow matching (JSON on stdout).

Every arm runs svi.training.train's micro-batch body on the same backbone and the same batch: `forward_loss`
(Self-Forcing's no-grad rollout of the previous clip, the frozen encoders, `Recycler.prepare`, the
transformer forward, the loss) -> backward -> AdamW step -> `Recycler.bank`. Arms:
- plain: clean flow matching (erft.mode=plain), the reference;
- erft: SVI-Shot's ERFT with a replay memory already full (every bank() replaces an entry);
- diffusion: Diffusion Forcing (a level per latent frame, per-token timesteps), no memory;
- diffusion_erft: Diffusion Forcing + ERFT, its memory of single latent frames already full;
- self: clip-level Self-Forcing (rollout_steps Euler passes + a VAE decode and an extra encode).
At the toy size the frozen VAE's encodes are most of such a step on CPU, so the four arms without a
rollout are also timed on the transformer alone ("transformer_step": the batch encoded once, then
prepare -> forward -> loss -> backward -> AdamW -> bank), the part that dominates at real scale.
The backbone is the toy preset's architecture at random initialisation (timing does not depend on
the weights), without DeepSpeed. Arms are interleaved in blocks so drift of the machine affects all
alike. Reported, by wall clock and by this process's CPU time (which other jobs on a shared machine
barely move; run with --threads 1 for it to count work alone): medians of the blocks' seconds per
step, and each arm's ratio over plain as the median over repeats of (its block / plain's block of the
same repeat); all measured in the same process.

    python benchmarks/perf/training_mechanisms.py [--frames 17] [--size 64] [--batch 2] [--steps 2]
        [--repeats 9] [--rollout-steps 4] [--threads N] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.perf.report import emit
from svi import flow
from svi.config import load_config
from svi.model.backbone import build_toy
from svi.model.lora import add_lora
from svi.training.batch import encode_batch
from svi.training.data import collate, training_clips
from svi.training.erft import Recycler
from svi.training.forcing import SelfForcing, memory_layout
from svi.training.memory import ReplayMemory
from svi.training.train import forward_loss
from toyworld.synthetic import write_dataset

ARMS = {
    "plain": ["erft.mode=plain"],
    "erft": [],
    "diffusion": ["forcing.kind=diffusion", "erft.mode=plain"],
    "diffusion_erft": ["forcing.kind=diffusion"],
    "self": ["forcing.kind=self", "erft.mode=plain"],
}


def full_memory(cfg, latent_shape, seed: int = 0) -> ReplayMemory:
    """The arm's replay memory with every slot at capacity (the steady state of a long run)."""
    shape, mem_cfg = memory_layout(cfg.forcing, cfg.memory, latent_shape)
    mem = ReplayMemory.from_config(mem_cfg, shape, shift=cfg.train.timestep_shift, seed=seed)
    g = torch.Generator().manual_seed(seed)
    for s in flow.shifted_sigmas(mem_cfg.num_slots, cfg.train.timestep_shift).tolist():
        for _ in range(mem_cfg.capacity):
            mem.bank(s, torch.randn(shape, generator=g) * 0.1, torch.randn(shape, generator=g) * 0.1)
    return mem


def make_step(cfg, backbone, batch, encoded=None):
    """One training step of the arm `cfg`; with `encoded` (an EncodedBatch) the transformer's part alone."""
    latent_shape = backbone.latent_shape(cfg.data.num_frames, cfg.data.height, cfg.data.width)
    memory = full_memory(cfg, latent_shape) if cfg.erft.mode == "erft" else None
    recycler = Recycler(cfg.erft, memory, seed=0, forcing=cfg.forcing, shift=cfg.train.timestep_shift)
    self_forcing = SelfForcing(cfg.forcing, cfg.data) if cfg.forcing.kind == "self" else None
    model = backbone.transformer
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def forward():
        if encoded is None:
            loss, v, prep, _ = forward_loss(model, backbone, batch, cfg, recycler, "cpu", self_forcing)
            return loss, v, prep
        prep = recycler.prepare(encoded.x0, encoded.y)
        t = prep.model_timestep(model.config.patch_size)  # [B], or [B, tokens] under Diffusion Forcing
        v = model(prep.model_input(), t, encoded.context, encoded.image_context, return_dict=False)[0]
        return recycler.loss(v, prep), v, prep

    def step():
        loss, v, prep = forward()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        recycler.bank(v, prep)

    return step


def time_block(fn, n: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) per call of fn, over n calls."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n, (time.process_time() - c0) / n


def paired_ratios(times: dict[str, list[float]], reference: str = "plain") -> dict[str, float]:
    """Each arm's median over repeats of its block time / the reference's block time of that repeat."""
    ref = times[reference]
    return {k: statistics.median(a / b for a, b in zip(v, ref)) for k, v in times.items()}


def split(times: dict[str, list[float]], prefix: str = "transformer_step/") -> tuple[dict, dict]:
    """(whole-step arms, transformer-only arms without the prefix)."""
    inner = {k.removeprefix(prefix): v for k, v in times.items() if k.startswith(prefix)}
    return {k: v for k, v in times.items() if not k.startswith(prefix)}, inner


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=17, help="pixel frames per clip (4k+1)")
    p.add_argument("--size", type=int, default=64, help="height = width in pixels (multiple of 16)")
    p.add_argument("--batch", type=int, default=2, help="clips per step")
    p.add_argument("--steps", type=int, default=2, help="steps per timed block")
    p.add_argument("--repeats", type=int, default=9, help="timed blocks per arm (interleaved)")
    p.add_argument("--rollout-steps", type=int, default=4, help="Self-Forcing's Euler steps")
    p.add_argument("--capacity", type=int, default=4, help="entries per slot of the pre-filled memories")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    root = Path(tempfile.mkdtemp(prefix="mechanisms_"))
    # long enough that every clip has a clip before it (Self-Forcing rolls that one out)
    write_dataset(root, categories=("toy",), videos_per_category=args.batch, num_frames=3 * args.frames,
                  height=args.size, width=args.size)  # fmt: skip
    common = [
        "model.preset=toy",
        f"data.root={root}",
        f"data.num_frames={args.frames}",
        f"data.height={args.size}",
        f"data.width={args.size}",
        "lora.rank=32",
        "lora.alpha=32",
        f"memory.capacity={args.capacity}",
        "memory.budget_bytes=1073741824",
        f"forcing.rollout_steps={args.rollout_steps}",
    ]
    configs = {name: load_config(None, common + extra) for name, extra in ARMS.items()}
    clips = training_clips(configs["self"])  # items with the previous clip's frames; the others ignore them
    batch = collate([clips[i] for i in range(args.batch)])
    assert batch["has_previous"].all(), "every clip of the timed batch has a clip before it"

    backbone = build_toy(seed=0)  # the toy architecture, random init: the same cost as its weights
    torch.manual_seed(0)
    add_lora(backbone.transformer, configs["plain"].lora)
    backbone.transformer.train()
    arms = {name: make_step(cfg, backbone, batch) for name, cfg in configs.items()}
    encoded = encode_batch(
        backbone, batch["video"], batch["prompt"], configs["plain"].data, batch["reference"]
    )
    for name, cfg in configs.items():
        if cfg.forcing.kind != "self":  # its rollout needs the VAE within the step
            arms[f"transformer_step/{name}"] = make_step(cfg, backbone, batch, encoded)
    for fn in arms.values():  # warm-up
        time_block(fn, 1)
    wall, cpu = {k: [] for k in arms}, {k: [] for k in arms}
    for _ in range(args.repeats):
        for name, fn in arms.items():
            w, c = time_block(fn, args.steps)
            wall[name].append(w)
            cpu[name].append(c)
    lat = backbone.latent_shape(args.frames, args.size, args.size)
    result = {
        "benchmark": "training_mechanisms",
        "clip": {"frames": args.frames, "height": args.size, "width": args.size, "latent_shape": list(lat)},
        "batch": args.batch,
        "rollout_steps": args.rollout_steps,
        "memory_capacity_per_slot": args.capacity,
        "lora_params": sum(p.numel() for p in backbone.transformer.parameters() if p.requires_grad),
        "steps_per_block": args.steps,
        "repeats": args.repeats,
        "median_seconds_per_step": {k: statistics.median(v) for k, v in wall.items()},
        "median_cpu_seconds_per_step": {k: statistics.median(v) for k, v in cpu.items()},
        "ratio_over_plain": paired_ratios(split(wall)[0]),
        "cpu_ratio_over_plain": paired_ratios(split(cpu)[0]),
        "transformer_step_ratio_over_plain": paired_ratios(split(wall)[1]),
        "transformer_step_cpu_ratio_over_plain": paired_ratios(split(cpu)[1]),
        "all_block_seconds_per_step": wall,
        "all_block_cpu_seconds_per_step": cpu,
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
