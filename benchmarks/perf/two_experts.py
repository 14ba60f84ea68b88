"""Both experts of Wan 2.2 I2V A14B at real size (random weights): each expert's training step, then one
clip sampled by the two together, with time and peak memory against `harness plan`'s estimate (JSON).

`real_scale.py --preset wan2.2-i2v-a14b` measures one expert, since the experts share the architecture and
a step runs one of them. What it cannot show is the generation process, which keeps both experts on
the device and switches between them at the boundary. This script runs the project's code for that:

- training: for the high-noise expert, then the low-noise one, a process's worth of work in turn (the
  expert built alone with the official LoRA and gradient checkpointing, one warm-up step and one timed
  step of svi/training/train.py's loop, through real_scale.py's `build` / `make_train_step`), then the
  expert freed, as each expert trains in its own run. The timestep range does not change the cost;
- generation: both experts built on the device in the compute dtype without LoRA layers (generation
  merges the LoRAs into the weights, so a step costs the base model's), and one clip of `--steps`
  Euler steps through `svi.generation.sampling.sample_latents(..., transformer_2=)`, which picks the
  expert per step at the boundary (default 8 steps at shift 5: 4 above t = 875, 4 below). The per-step
  time per expert comes from timing each expert's forwards, and a 50-step clip's time from those.

Peak memory is the allocator's peak above what was allocated before the build (CUDA only). The frozen
encoders' outputs are random tensors of the real shapes (real_scale.py's `random_batch`); umT5 and
the VAE are not run and not counted, as in the plan.

On CPU the defaults are a liveness check of the same path on `toy-a14b` (seconds), not a measurement.

    python benchmarks/perf/two_experts.py [--preset wan2.2-i2v-a14b] [--blocks N] [--steps 8]
        [--no-train] [--frames 81 --height 480 --width 832] [--gpu H100] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import time
from collections import Counter

import torch

from benchmarks.perf.real_scale import (
    Setup,
    allocated,
    arch_for,
    build,
    check_built,
    make_train_step,
    param_bytes,
    random_batch,
    sync,
    timed,
)
from benchmarks.perf.report import emit
from svi import flow
from svi.model.cost import preset_transformer_config
from svi.model.presets import PRESET_NAMES

DEFAULTS = {
    "cuda": {"preset": "wan2.2-i2v-a14b", "frames": 81, "height": 480, "width": 832, "dtype": "bf16"},
    "cpu": {"preset": "toy-a14b", "frames": 9, "height": 64, "width": 64, "dtype": "fp32"},
}
EXPERT_NAMES = ("high-noise", "low-noise")


def steps_per_expert(steps: int, shift: float, boundary: float) -> list[int]:
    """How many of a clip's Euler steps each expert runs: [high, low] (svi.generation.sampling.expert_for)."""
    from svi.generation.sampling import expert_for

    sigmas = flow.shifted_sigmas(steps, shift).tolist()
    counts = Counter(expert_for(s, boundary) for s in sigmas)
    return [counts[0], counts[1]]


class TimedExpert(torch.nn.Module):
    """A transformer whose forwards are timed (synchronised), to split a clip's time by expert."""

    def __init__(self, model: torch.nn.Module, device: torch.device):
        super().__init__()
        self.model, self.device, self.seconds = model, device, []

    def __getattr__(self, name):  # config, dtype, ... of the wrapped model
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.model, name)

    def forward(self, *args, **kwargs):
        sync(self.device)
        t0 = time.perf_counter()
        out = self.model(*args, **kwargs)
        sync(self.device)
        self.seconds.append(time.perf_counter() - t0)
        return out


def train_expert(setup: Setup, blocks: int, expert: int) -> dict:
    """One expert built alone with its LoRA: one warm-up and one timed training step, then freed."""
    sync(setup.device)
    before = allocated(setup.device)
    bb, lora_params = build(setup, blocks)
    batch = random_batch(bb, setup, seed=expert)
    step, engine = make_train_step(bb, batch, setup)
    out = timed(step, setup.device, warmup=1, repeats=1, baseline=lambda: before)
    out.update(expert=EXPERT_NAMES[expert], lora_params=lora_params, engine=engine)
    del bb, batch, step
    gc.collect()
    if setup.device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def generate_clip(setup: Setup, blocks: int, steps: int) -> dict:
    """Both experts on the device, no LoRA layers: one clip of `steps` Euler steps, timed per expert."""
    from svi.config import GenerateConfig
    from svi.generation.sampling import sample_latents
    from svi.model.backbone import build_small

    sync(setup.device)
    before = allocated(setup.device)
    if setup.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(setup.device)
    t0 = time.perf_counter()
    with setup.device, default_dtype(setup.dtype):  # two 14B experts in fp32 would not fit an 80 GB GPU
        bb = build_small(
            arch_for(setup.preset, setup.config, blocks),
            setup.preset,
            seed=0,
            with_image_encoder=False,
            experts=2,
        )
    check_built(bb.transformer, setup.config)
    experts = [bb.transformer, bb.transformer_2]
    for model in experts:
        model.to(dtype=setup.dtype).eval()
    bb.dtype = setup.dtype
    build_seconds = time.perf_counter() - t0
    weights = sum(param_bytes(m) for m in experts)
    batch = random_batch(bb, setup)
    gen = GenerateConfig(num_frames=setup.frames, height=setup.height, width=setup.width, steps=steps)
    high, low = (TimedExpert(m, setup.device) for m in experts)
    sync(setup.device)
    t0 = time.perf_counter()
    sample_latents(
        high, batch["noise"], batch["y"], batch["context"], batch["neg_context"], None, gen, transformer_2=low
    )
    sync(setup.device)
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(setup.device) - before if setup.device.type == "cuda" else None
    planned = steps_per_expert(steps, gen.shift, gen.boundary)
    full = steps_per_expert(GenerateConfig().steps, gen.shift, gen.boundary)  # the official 50 steps
    per_step = [statistics.median(e.seconds) if e.seconds else None for e in (high, low)]
    out = {
        "build_seconds": build_seconds,
        "steps": steps,
        "boundary": gen.boundary,
        "shift": gen.shift,
        "steps_per_expert": {"high-noise": len(high.seconds), "low-noise": len(low.seconds)},
        "steps_per_expert_expected": dict(zip(EXPERT_NAMES, planned)),
        "median_seconds_per_step": dict(zip(EXPERT_NAMES, per_step)),
        "seconds": seconds,
        "weights_bytes": weights,
        "peak_memory_bytes": peak,
        "official_clip": {
            "steps": GenerateConfig().steps,
            "steps_per_expert": dict(zip(EXPERT_NAMES, full)),
            "seconds": None if None in per_step else sum(n * s for n, s in zip(full, per_step)),
        },
    }
    del bb, batch, high, low, experts
    gc.collect()
    if setup.device.type == "cuda":
        torch.cuda.empty_cache()
    return out


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """Parameters created inside are created in `dtype` (random init, straight in the compute dtype)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def planned(setup: Setup, gpu: str) -> dict:
    """What `harness plan` estimates for this run, from the plan's own code (harness.declare.preview's
    `meta_model` and `unit_cost`, at the plan's default 35% MFU on `gpu`): one expert's training process
    and a clip of the generation process (both experts' weights; the plan counts their LoRA layers, which
    generation merges away)."""
    from harness.declare.preview import meta_model, unit_cost

    cfg = setup.svi_config()
    model = meta_model(cfg)
    clip_seconds = cfg.generate.num_frames / cfg.generate.fps  # one clip's worth of video
    cost = unit_cost(cfg, model, samples=1, tracks=[clip_seconds], world=1, gpu=gpu, mfu=0.35)
    clip = cost["generate_gpu_hours"] * 3600 / cost["clips"]
    return {
        "gpu": gpu,
        "mfu": 0.35,
        "params_per_expert": model.expert_params,
        "trainable_per_expert": model.trainable,
        "train_seconds_per_step": cost["train_gpu_hours"] * 3600 / cfg.train.steps,
        "train_memory_bytes": cost["memory"],
        "generate_seconds_per_clip": clip,
        "generate_seconds_per_step": clip / cfg.generate.steps,
        "generate_weights_bytes": cost["generate_weights"],
    }


def plan_or_why(setup: Setup, gpu: str) -> dict:
    """The plan's estimate, or why it is missing: a GPU node may lack the harness' own packages (MLflow,
    ...); `--plan-only --gpu NAME` then gives it on a machine that has them."""
    try:
        return planned(setup, gpu)
    except ImportError as e:
        return {
            "error": f"{e}; run this script with --plan-only --gpu {gpu!r} where the harness is installed"
        }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--preset", choices=PRESET_NAMES, help="a two-expert preset (default: wan2.2-i2v-a14b on CUDA)"
    )
    p.add_argument("--blocks", type=int, help="DiT blocks per expert (default: all of them)")
    p.add_argument(
        "--steps", type=int, default=8, help="Euler steps of the sampled clip (default 8: 4 per expert)"
    )
    p.add_argument("--no-train", action="store_true", help="skip the two training steps")
    p.add_argument(
        "--plan-only",
        action="store_true",
        help="only the plan's estimate for --gpu (no build; needs the harness' packages)",
    )
    p.add_argument("--frames", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--width", type=int)
    p.add_argument("--engine", choices=["auto", "deepspeed", "torch"], default="torch")
    p.add_argument("--device", help="default: cuda when available, else cpu")
    p.add_argument("--gpu", help="the GPU the plan's estimate is for (default: this device; H100 on CPU)")
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args(argv)

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    default = DEFAULTS["cuda" if device.type == "cuda" else "cpu"]
    preset = args.preset or default["preset"]
    from svi.model.presets import get_preset

    if get_preset(preset).experts != 2:
        raise SystemExit(
            f"{preset} has one transformer; pick a two-expert preset (tiny-a14b, toy-a14b, wan2.2-i2v-a14b)"
        )
    config, source = preset_transformer_config(preset, None)
    layers = config["num_layers"]
    blocks = min(args.blocks or layers, layers)
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[default["dtype"]]
    setup = Setup.from_args(
        args, default, preset, config, device, dtype, loss="erft", gen_steps=args.steps, warmup=1, repeats=1
    )
    setup.svi_config()  # validates the sizes before any build
    if setup.engine == "deepspeed":
        from svi.training.train import init_distributed

        init_distributed()
    measure = not args.plan_only
    train = [train_expert(setup, blocks, e) for e in (0, 1)] if measure and not args.no_train else []
    clip = generate_clip(setup, blocks, args.steps) if measure else None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    result = {
        "benchmark": "two_experts",
        "device": name,
        "dtype": str(dtype).removeprefix("torch."),
        "model": {"preset": preset, "config_source": source, "layers": layers, "blocks_built": blocks},
        "sizes": {"frames": setup.frames, "height": setup.height, "width": setup.width, "batch": 1},
        "train": train,
        "generate": clip,
        "planned": plan_or_why(setup, args.gpu or (name if device.type == "cuda" else "H100")),
    }
    if device.type != "cuda":
        result["note"] = "CPU figures are a liveness check of the code path, not a measurement of real scale"
    emit(result, args.out)


if __name__ == "__main__":
    main()
