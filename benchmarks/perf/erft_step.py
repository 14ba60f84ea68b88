"""ERFT step vs plain flow-matching step on the same model and batch (JSON on stdout).

Both arms run the same loop body: Recycler.prepare -> transformer forward -> weighted MSE ->
backward -> AdamW step -> Recycler.bank. The plain arm (erft.mode=plain) injects and banks nothing;
the ERFT arm uses the SVI-Shot probabilities with a replay memory whose slots are already full, so
every bank() goes through nearest-entry replacement (the steady state of a long run).
Arms are interleaved in blocks so drift of the machine affects both alike; medians are reported.

    python benchmarks/perf/erft_step.py [--size tiny|small] [--steps 30] [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from diffusers import WanTransformer3DModel

from benchmarks.perf.report import emit
from svi import flow
from svi.config import ERFTConfig, LoraConfig
from svi.model.lora import add_lora
from svi.training.erft import Recycler
from svi.training.memory import ReplayMemory

SIZES = {
    # latent [C, F, h, w] and transformer width/depth
    "tiny": dict(latent=(16, 3, 4, 4), heads=2, head_dim=12, ffn=32, layers=2, text_dim=32),
    "small": dict(latent=(16, 5, 16, 16), heads=4, head_dim=32, ffn=512, layers=4, text_dim=64),
}


def build(size: str, seed: int = 0):
    s = SIZES[size]
    torch.manual_seed(seed)
    model = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=s["heads"],
        attention_head_dim=s["head_dim"],
        in_channels=36,
        out_channels=16,
        text_dim=s["text_dim"],
        ffn_dim=s["ffn"],
        num_layers=s["layers"],
        image_dim=32,
        added_kv_proj_dim=s["heads"] * s["head_dim"],
        rope_max_seq_len=32,
    )
    add_lora(model, LoraConfig(rank=16, alpha=16))
    g = torch.Generator().manual_seed(seed)
    latent = s["latent"]
    batch = {
        "x0": torch.randn(1, *latent, generator=g),
        "y": torch.randn(1, 20, *latent[1:], generator=g),
        "context": torch.randn(1, 32, s["text_dim"], generator=g),
        "image": torch.randn(1, 17, 32, generator=g),
    }
    return model, batch


def full_memory(entry_shape, capacity: int, seed: int = 0) -> ReplayMemory:
    mem = ReplayMemory(
        entry_shape, flow.shifted_sigmas(50), capacity=capacity, budget_bytes=1 << 31, seed=seed
    )
    g = torch.Generator().manual_seed(seed)
    for s in flow.shifted_sigmas(50).tolist():
        for _ in range(capacity):
            mem.bank(
                s, torch.randn(entry_shape, generator=g) * 0.1, torch.randn(entry_shape, generator=g) * 0.1
            )
    return mem


def make_step(model, batch, recycler):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        prep = recycler.prepare(batch["x0"], batch["y"])
        v = model(prep.model_input(), prep.timestep, batch["context"], batch["image"], return_dict=False)[0]
        loss = recycler.loss(v, prep)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        recycler.bank(v, prep)

    return step


def time_block(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=SIZES, default="small")
    p.add_argument("--steps", type=int, default=20, help="steps per timed block")
    p.add_argument("--repeats", type=int, default=5, help="timed blocks per arm (interleaved)")
    p.add_argument("--capacity", type=int, default=20, help="entries per slot in the pre-filled memory")
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args()

    model, batch = build(args.size)
    latent = SIZES[args.size]["latent"]
    arms = {
        "plain": make_step(model, batch, Recycler(ERFTConfig(mode="plain"), None, seed=0)),
        "erft": make_step(model, batch, Recycler(ERFTConfig(), full_memory(latent, args.capacity), seed=0)),
    }
    for fn in arms.values():  # warm-up
        time_block(fn, 3)
    times = {k: [] for k in arms}
    for _ in range(args.repeats):
        for name, fn in arms.items():
            times[name].append(time_block(fn, args.steps))
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "benchmark": "erft_step",
        "size": args.size,
        "latent_shape": list(latent),
        "lora_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "steps_per_block": args.steps,
        "repeats": args.repeats,
        "median_seconds_per_step": med,
        "all_block_seconds_per_step": times,
        "ratio_erft_over_plain": med["erft"] / med["plain"],
        "target_ratio": 1.05,
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
