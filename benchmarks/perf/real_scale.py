"""Real-scale benchmark: the Wan 2.1 I2V 14B DiT's training step and per-clip denoising (JSON on stdout).

What it runs is the project's own code path at the real architecture, with random weights:
- the transformer of the `wan2.1-i2v-14b` preset, built by `svi.model.backbone.build_small` (the builder of
  the random-init presets) from the preset's transformer config: the weights folder's
  `transformer/config.json` when `--weights` or SVI_WEIGHTS names one (only the config is read),
  else diffusers' `WanTransformer3DModel` defaults (they are the Wan 2.1 14B DiT) with the I2V fields.
  Only its first N blocks are built when one device cannot hold them all (`--blocks N`);
- the training step of svi/training/train.py: the official LoRA (`svi.model.lora.add_lora`, rank 128 on the attention
  and FFN linears), `svi.training.erft.Recycler` (prepare, the weighted flow-matching loss on the recycled
  target, banking into a `svi.training.memory.ReplayMemory`; `--loss plain` is clean flow matching), gradient
  checkpointing, backward, AdamW with gradient clipping, in a DeepSpeed ZeRO-2 engine built with
  `svi.training.train.deepspeed_config` (`--engine deepspeed`, the default on CUDA) or in plain torch;
- the generator's per-clip denoising, `svi.generation.sampling.sample_latents` (Euler, text CFG: both passes in
  one batched forward per step), timed over `--gen-steps` steps; seconds per clip = seconds per step
  x the configured steps (GenerateConfig's 50);
each with the attention kernel `sdpa` and, when flash-attn imports, `flash` (`svi.model.backbone.set_attention`,
the switch `model.attention` uses). The frozen encoders (VAE, umT5, CLIP) are not run: their outputs
are random tensors of the real shapes (at real scale they are separate, frozen, forward-only work).

Whole-model figures with `--blocks N` below the model's depth: time and peak memory are measured at two
block counts and fitted with a line, value = intercept + per_block x blocks, evaluated at the full depth.
Model FLOPs utilisation counts the transformer's FLOPs analytically (`forward_flops`), 3x the forward
for a training step, against the device's peak dense bf16 FLOP/s (`--peak-tflops` overrides).

On CPU the defaults are a liveness check of the same code path, not a measurement: the toy preset's
transformer (same classes, width 128, 6 blocks) built with 2 blocks and fitted at 1 and 2, 9 frames of
64 x 64, fp32, seconds in all. `--preset wan2.1-i2v-14b` runs the real width on CPU too, in minutes.

    python benchmarks/perf/real_scale.py [--blocks N] [--fit-blocks M] [--height 480 --width 832 --frames 81]
        [--loss erft|plain] [--engine deepspeed|torch] [--repeats 3] [--gen-steps 2] [--peak-tflops T]
        [--weights DIR] [--preset wan2.1-i2v-14b] [--threads N] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import resource
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import torch

from benchmarks.perf.report import emit
from svi.model.cost import (
    PEAK_BF16_FLOPS,
    TEXT_TOKENS,
    TRAIN_FORWARD_MULTIPLE,
    DiTDims,
    forward_flops,
    image_tokens_for,
    preset_transformer_config,
    video_tokens,
)
from svi.model.presets import PRESET_NAMES

PRESET = "wan2.1-i2v-14b"
# Defaults per device: on CUDA the real thing; on CPU a liveness check that runs in seconds. (The 14B
# config's blocks at real width cost minutes on 2 CPU cores even at 32 x 32: 400M parameters per block
# and umT5's 512 text tokens through the text embedder and every block's cross-attention.)
DEFAULTS = {
    "cuda": {"preset": PRESET, "blocks": 8, "frames": 81, "height": 480, "width": 832, "dtype": "bf16"},
    "cpu": {"preset": "toy", "blocks": 2, "frames": 9, "height": 64, "width": 64, "dtype": "fp32"},
}


def peak_flops(
    device: torch.device, dtype: torch.dtype, override_tflops: float | None
) -> tuple[float | None, str]:
    """The peak FLOP/s that MFU divides by, and where it comes from."""
    if override_tflops is not None:
        return override_tflops * 1e12, "--peak-tflops"
    if device.type != "cuda":
        return None, "no peak known for a CPU: pass --peak-tflops for an MFU"
    name = torch.cuda.get_device_name(device)
    if dtype != torch.bfloat16:
        return None, f"the table holds dense bf16 peaks and the dtype is {dtype}: pass --peak-tflops"
    for key, flops in PEAK_BF16_FLOPS:
        if key in name:
            return flops, f"dense bf16 peak of {key} (table in real_scale.py) for {name!r}"
    return None, f"{name!r} is not in the table: pass --peak-tflops"


def linear_fit(points: Mapping[int, float], at: int) -> dict:
    """value = intercept + per_block x blocks through two (blocks, value) points, evaluated at `at`."""
    (n1, y1), (n2, y2) = sorted(points.items())
    per_block = (y2 - y1) / (n2 - n1)
    intercept = y1 - per_block * n1
    return {"per_block": per_block, "intercept": intercept, "value": intercept + per_block * at}


# -- the preset's transformer -----------------------------------------------------------------------


def arch_for(preset: str, config: Mapping, blocks: int):
    """The `SmallArch` that makes `build_small` build this transformer config with `blocks` blocks. The
    frozen encoders it also builds stay at the tiny preset's size: only their widths (umT5 text_dim,
    CLIP image_dim) must match the transformer, and the benchmark does not run them."""
    from svi.model.presets import TINY, get_preset

    p = get_preset(preset)
    if p.arch is not None:
        return dataclasses.replace(p.arch, layers=blocks)
    return dataclasses.replace(
        TINY,
        heads=config["num_attention_heads"],
        head_dim=config["attention_head_dim"],
        ffn_dim=config["ffn_dim"],
        layers=blocks,
        image_kv_dim=config["added_kv_proj_dim"],
        rope_len=config["rope_max_seq_len"],
        text_dim=config["text_dim"],
        clip_dim=config["image_dim"],
    )


def check_built(model, config: Mapping) -> None:
    """The builder's fixed choices (patch, channels, norms) must be the config's: else it is another model."""
    skip = {"num_layers"}
    diff = {
        k: (model.config.get(k), v)
        for k, v in config.items()
        if not k.startswith("_") and k not in skip and _norm(model.config.get(k)) != _norm(v)
    }
    if diff:
        raise ValueError(
            f"svi.model.backbone.build_small builds a different transformer than the config: {diff} (built, config). "
            "Extend build_small (svi/model/backbone.py) to take these fields."
        )


def _norm(v):
    return list(v) if isinstance(v, tuple) else v


# -- measuring ---------------------------------------------------------------------------------------


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(
    fn: Callable[[], None], device: torch.device, warmup: int, repeats: int, baseline: Callable[[], int]
) -> dict:
    """Median seconds of `repeats` calls after `warmup` calls, and the peak device memory of the timed
    calls above `baseline()` bytes, read after the warm-up (CUDA only; None on CPU)."""
    for _ in range(warmup):  # kernels chosen, optimizer state and replay banks allocated
        fn()
    sync(device)
    base = baseline()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        seconds.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) - base if device.type == "cuda" else None
    return {"median_seconds": statistics.median(seconds), "all_seconds": seconds, "peak_memory_bytes": peak}


def guarded(fn: Callable[[], dict]) -> dict:
    """Run a measurement; an out-of-memory becomes a recorded error instead of the end of the run."""
    try:
        return fn()
    except torch.cuda.OutOfMemoryError as e:
        gc.collect()
        torch.cuda.empty_cache()
        return {"error": f"out of memory: {str(e).splitlines()[0]}"}


@dataclass
class Setup:
    """Everything fixed for the whole run (sizes, recipe, device)."""

    preset: str
    config: dict
    device: torch.device
    dtype: torch.dtype
    frames: int
    height: int
    width: int
    image_tokens: int
    loss: str
    engine: str
    gen_steps: int
    warmup: int
    repeats: int

    @classmethod
    def from_args(cls, args, default: dict, preset: str, config: dict, device, dtype, **fields) -> Setup:
        """The sizes from --frames / --height / --width (else the device's defaults), the engine from --engine."""
        return cls(
            preset=preset,
            config=config,
            device=device,
            dtype=dtype,
            frames=args.frames or default["frames"],
            height=args.height or default["height"],
            width=args.width or default["width"],
            image_tokens=image_tokens_for(preset),
            engine=engine_for(args.engine, device),
            **fields,
        )

    def svi_config(self):
        """The run's SVIConfig: the official recipe's sections (LoRA, ERFT, memory, train, generate)."""
        from svi.config import SVIConfig

        return SVIConfig.model_validate(
            {
                "model": {"preset": self.preset, "gradient_checkpointing": True},
                "erft": {"mode": self.loss},
                "data": {"num_frames": self.frames, "height": self.height, "width": self.width},
                "generate": {"num_frames": self.frames, "height": self.height, "width": self.width},
            }
        )


def build(setup: Setup, blocks: int):
    """The backbone with `blocks` DiT blocks on the device, in the run's dtype, with the official LoRA
    and gradient checkpointing, as svi/training/train.py prepares it."""
    from svi.model.backbone import build_small
    from svi.model.lora import add_lora

    cfg = setup.svi_config()
    from svi.model.presets import get_preset

    # one expert of a two-expert preset (Wan 2.2 A14B): its experts share the architecture, and a step
    # runs one of them; no image encoder there
    image = get_preset(setup.preset).image_encoder
    with setup.device:  # built where it runs: 14B parameters do not fit a host's RAM twice over
        bb = build_small(
            arch_for(setup.preset, setup.config, blocks), setup.preset, seed=0, with_image_encoder=image
        )
    check_built(bb.transformer, setup.config)
    bb.transformer.to(dtype=setup.dtype)  # as load_backbone: the whole transformer in the compute dtype
    bb.dtype = setup.dtype
    lora_params = add_lora(bb.transformer, cfg.lora)
    bb.transformer.enable_gradient_checkpointing()
    return bb, lora_params


def random_batch(bb, setup: Setup, seed: int = 0) -> dict[str, torch.Tensor]:
    """What encode_batch gives for one clip of the run's size (and the negative prompt's context and the
    sampler's noise), as random tensors of the real shapes, on the device in the compute dtype."""
    g = torch.Generator().manual_seed(seed)
    c, f, h, w = bb.latent_shape(setup.frames, setup.height, setup.width)  # [16, 21, 60, 104] at real size
    tf = bb.transformer.config
    y = torch.randn(1, 20, f, h, w, generator=g)  # [B, 4 mask + 16 VAE, F, h, w]
    y[:, :4] = 0
    y[:, :4, 0] = 1  # the mask: 1 on latent frame 0 only
    batch = {
        "x0": torch.randn(1, c, f, h, w, generator=g),
        "y": y,
        "context": torch.randn(1, TEXT_TOKENS, tf.text_dim, generator=g),  # umT5 [B, 512, 4096]
        "neg_context": torch.randn(1, TEXT_TOKENS, tf.text_dim, generator=g),
        # CLIP [B, 257, 1280]; none for Wan 2.2 A14B, which has no image encoder
        "image": torch.randn(1, setup.image_tokens, tf.image_dim, generator=g) if tf.image_dim else None,
        "noise": torch.randn(1, c, f, h, w, generator=g),
    }
    return {
        k: None if v is None else v.to(setup.device, setup.dtype if k != "noise" else torch.float32)
        for k, v in batch.items()
    }


def make_train_step(bb, batch: dict, setup: Setup) -> tuple[Callable[[], None], str]:
    """One step of svi/training/train.py's loop on a ready batch: prepare -> forward -> loss -> backward ->
    optimizer step (with clipping) -> bank. Returns the step and a description of the engine."""
    from svi.training.erft import Recycler
    from svi.training.memory import ReplayMemory

    cfg = setup.svi_config()
    memory = None
    if cfg.erft.mode == "erft":
        memory = ReplayMemory.from_config(
            cfg.memory,
            bb.latent_shape(setup.frames, setup.height, setup.width),  # [C, F_lat, h, w]
            shift=cfg.train.timestep_shift,
            seed=0,
        )
    recycler = Recycler(
        cfg.erft, memory, num_train_timesteps=cfg.train.num_train_timesteps, shift=cfg.train.timestep_shift
    )
    model = bb.transformer
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    if setup.engine == "deepspeed":
        import deepspeed

        from svi.training.train import deepspeed_config

        bf16 = (
            setup.dtype == torch.bfloat16
        )  # DeepSpeed's bf16 mode follows the model, as in svi/training/train.py
        engine, _, _, _ = deepspeed.initialize(
            model=model, optimizer=optimizer, config=deepspeed_config(cfg, 1, bf16)
        )
        forward, backward, update = engine, engine.backward, engine.step
        what = f"DeepSpeed ZeRO-{cfg.train.zero_stage} engine (svi.training.train.deepspeed_config), torch AdamW, "
        what += f"clip {cfg.train.grad_clip}" + (", bf16 mode: fp32 master LoRA weights" if bf16 else "")
    else:

        def backward(loss: torch.Tensor) -> None:
            loss.backward()

        def update() -> None:
            torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)  # DeepSpeed's gradient_clipping
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        forward = model
        dtype = str(setup.dtype).removeprefix("torch.")
        what = f"torch AdamW on the LoRA parameters in {dtype}, clip {cfg.train.grad_clip} (no DeepSpeed)"

    def step() -> None:
        model.train()
        prep = recycler.prepare(batch["x0"], batch["y"])
        v = forward(
            prep.model_input(),  # [1, 36, F, h, w]
            prep.timestep.to(setup.device),
            batch["context"],
            batch["image"],
            return_dict=False,
        )[0]
        loss = recycler.loss(v, prep)
        backward(loss)
        update()
        recycler.bank(v, prep)

    return step, what


def make_generate(bb, batch: dict, setup: Setup):
    """The generator's per-clip denoising over `gen_steps` steps (one batched CFG forward per step)."""
    from svi.config import GenerateConfig
    from svi.generation.sampling import sample_latents

    gen = GenerateConfig(
        num_frames=setup.frames, height=setup.height, width=setup.width, steps=setup.gen_steps
    )

    def run() -> None:
        bb.transformer.eval()
        sample_latents(
            bb.transformer,
            batch["noise"],
            batch["y"],
            batch["context"],
            batch["neg_context"],
            batch["image"],
            gen,
        )

    return run, gen


def params_of(model) -> tuple[int, int]:
    """(parameters outside the blocks, parameters of one block) of the base model, LoRA excluded."""
    base = {n: p.numel() for n, p in model.named_parameters() if ".lora_" not in n}
    block = sum(v for n, v in base.items() if n.startswith("blocks.0."))
    outside = sum(v for n, v in base.items() if not n.startswith("blocks."))
    return outside, block


def allocated(device: torch.device) -> int:
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else 0


def param_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def measure_blocks(setup: Setup, blocks: int, backends: list[str], progress) -> dict:
    """Build the n-block model once, then for each attention backend: the training step and generation.

    Peak memory of a training step: everything allocated since before the build (weights, LoRA, its
    gradients and optimizer state, activations). Of generation: the transformer's weights (LoRA
    included) plus what sampling allocates, leaving out the training state that stays allocated
    beside it here but not in a generation process."""
    from svi.model.backbone import set_attention

    sync(setup.device)
    before_build = allocated(setup.device)
    t0 = time.perf_counter()
    bb, lora_params = build(setup, blocks)
    build_seconds = time.perf_counter() - t0
    batch = random_batch(bb, setup)
    train_step, engine = make_train_step(bb, batch, setup)
    generate, _ = make_generate(bb, batch, setup)
    outside, per_block = params_of(bb.transformer)
    out = {
        "blocks": blocks,
        "latent_shape": list(bb.latent_shape(setup.frames, setup.height, setup.width)),
        "build_seconds": build_seconds,
        "params": outside + blocks * per_block,
        "params_outside_blocks": outside,
        "params_per_block": per_block,
        "lora_params": lora_params,
        "memory_allocated_before_build_bytes": before_build if setup.device.type == "cuda" else None,
        "engine": engine,
        "backends": {},
    }
    # sdpa first: set_attention("sdpa") keeps a backend set earlier, so flash must come last.
    for backend in backends:
        try:
            set_attention(bb, backend)
        except (ImportError, RuntimeError) as e:  # e.g. a flash-attn older than diffusers takes
            failed = f"set_attention({backend!r}) failed: {e}"
            out["backends"][backend] = {"train": {"error": failed}, "generate": {"error": failed}}
            progress.update(2)
            continue
        progress.set_postfix(blocks=blocks, attention=backend, part="train")
        train = guarded(
            partial(timed, train_step, setup.device, setup.warmup, setup.repeats, lambda: before_build)
        )
        progress.update(1)
        progress.set_postfix(blocks=blocks, attention=backend, part="generate")
        weights = param_bytes(bb.transformer)
        gen = guarded(
            partial(
                timed,
                generate,
                setup.device,
                setup.warmup,
                setup.repeats,
                lambda: allocated(setup.device) - weights,  # noqa: B023 - called within this iteration
            )
        )
        if "median_seconds" in gen:
            gen["median_seconds_per_step"] = gen["median_seconds"] / setup.gen_steps
        progress.update(1)
        out["backends"][backend] = {"train": train, "generate": gen}
    del bb, batch, train_step, generate
    gc.collect()
    if setup.device.type == "cuda":
        torch.cuda.empty_cache()
    return out


# -- putting the figures together ------------------------------------------------------------------


def whole_model(runs: dict[int, dict], backend: str, layers: int, clip_steps: int) -> dict:
    """Whole-model seconds and memory for one backend: measured when a run has every block, else the
    line through the two block counts. None where a measurement failed."""

    def series(part: str, key: str) -> dict[int, float] | None:
        pts = {n: r["backends"][backend][part].get(key) for n, r in runs.items()}
        return None if any(v is None for v in pts.values()) else pts

    out = {}
    for part, key, name in (
        ("train", "median_seconds", "train_seconds_per_step"),
        ("train", "peak_memory_bytes", "train_peak_memory_bytes"),
        ("generate", "median_seconds_per_step", "generate_seconds_per_step"),
        ("generate", "peak_memory_bytes", "generate_peak_memory_bytes"),
    ):
        pts = series(part, key)
        if pts is None:
            out[name] = None
        elif layers in pts:
            out[name] = pts[layers]
        else:
            fit = linear_fit(pts, layers)
            out[name] = fit["value"]
            out[f"{name}_fit"] = {"per_block": fit["per_block"], "intercept": fit["intercept"]}
            if fit["per_block"] <= 0:  # more blocks measured no dearer: the difference is noise
                out[f"{name}_fit"]["warning"] = (
                    "per-block slope <= 0: the block counts differ by less than the measurement noise; "
                    "use more blocks apart or more repeats"
                )
    step = out["generate_seconds_per_step"]
    out["generate_seconds_per_clip"] = None if step is None else step * clip_steps
    return out


def add_mfu(result: dict, flops_fn: Callable[[int], dict], peak: float | None, passes: int) -> None:
    """MFU of every run and of the whole model: model FLOPs per second / peak FLOP/s."""

    def mfu(flops: float, seconds: float | None) -> float | None:
        return None if peak is None or not seconds else flops / seconds / peak

    layers = result["model"]["layers"]
    fwd = flops_fn(layers)["total"]
    for fig in result["whole_model"].values():
        fig["train_mfu"] = mfu(TRAIN_FORWARD_MULTIPLE * fwd, fig["train_seconds_per_step"])
        fig["generate_mfu"] = mfu(passes * fwd, fig["generate_seconds_per_step"])
    for run in result["runs"]:
        fwd = flops_fn(run["blocks"])["total"]
        for fig in run["backends"].values():
            fig["train"]["mfu"] = mfu(TRAIN_FORWARD_MULTIPLE * fwd, fig["train"].get("median_seconds"))
            fig["generate"]["mfu"] = mfu(passes * fwd, fig["generate"].get("median_seconds_per_step"))


WHOLE_KEYS = ("train_seconds_per_step", "train_peak_memory_bytes", "generate_seconds_per_step")
RUN_KEYS = ("median_seconds", "peak_memory_bytes")


def ratios(num: dict, den: dict, keys: tuple[str, ...]) -> dict[str, float | None]:
    """num[k] / den[k] for each key; None where either is missing (a failed or CPU measurement)."""
    return {k: num[k] / den[k] if num.get(k) and den.get(k) else None for k in keys}


def flash_available(dtype: torch.dtype) -> tuple[bool, str]:
    """Whether the flash backend can run here (flash-attn imports, and the dtype is one it takes)."""
    try:
        import flash_attn
    except ImportError as e:
        return False, f"flash_attn does not import ({e}): only sdpa was measured"
    if dtype not in (torch.bfloat16, torch.float16):
        return False, f"flash-attn takes bf16 / fp16, not {dtype}: only sdpa was measured"
    return True, f"flash_attn {getattr(flash_attn, '__version__', '?')}"


def engine_for(choice: str, device: torch.device) -> str:
    """auto: DeepSpeed (what svi/training/train.py runs) on CUDA when it imports, plain torch on CPU (the
    engine's set-up costs more than the tiny CPU run it would time)."""
    if choice != "auto":
        return choice
    if device.type != "cuda":
        return "torch"
    try:
        import deepspeed  # noqa: F401
    except ImportError:
        return "torch"
    return "deepspeed"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--preset", choices=PRESET_NAMES, help=f"whose transformer (default: {PRESET} on CUDA, toy on CPU)"
    )
    p.add_argument(
        "--weights", help="a weights folder whose transformer/config.json to use (no weights read)"
    )
    p.add_argument("--blocks", type=int, help="DiT blocks built (default: 8 on CUDA, 2 on CPU; all: no fit)")
    p.add_argument("--fit-blocks", type=int, help="the fit's other block count (default: blocks / 2, or 2)")
    p.add_argument("--height", type=int, help="pixels, a multiple of 16 (default 480 on CUDA, 64 on CPU)")
    p.add_argument("--width", type=int, help="pixels, a multiple of 16 (default 832 on CUDA, 64 on CPU)")
    p.add_argument("--frames", type=int, help="frames per clip, 4k+1 (default 81 on CUDA, 9 on CPU)")
    p.add_argument("--dtype", choices=["bf16", "fp32"], help="default: bf16 on CUDA, fp32 on CPU")
    p.add_argument("--loss", choices=["erft", "plain"], default="erft")
    p.add_argument("--engine", choices=["auto", "deepspeed", "torch"], default="auto")
    p.add_argument("--gen-steps", type=int, default=2, help="denoising steps timed per generation call")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--peak-tflops", type=float, help="peak FLOP/s per device for MFU, in TFLOP/s")
    p.add_argument("--device", help="default: cuda when available, else cpu")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args(argv)
    if args.threads:  # on a shared CPU one thread avoids OpenMP threads waiting on each other
        torch.set_num_threads(args.threads)

    from tqdm import tqdm

    from svi.generation.sampling import guidance_passes

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = device.type == "cuda"
    default = DEFAULTS["cuda" if gpu else "cpu"]
    preset = args.preset or default["preset"]
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype or default["dtype"]]
    config, source = preset_transformer_config(preset, args.weights)
    layers = config["num_layers"]
    blocks = min(args.blocks or default["blocks"], layers)
    if blocks == layers and args.fit_blocks is None:
        counts = [layers]  # the whole model: measured, nothing to extrapolate
    else:
        fit = args.fit_blocks or (blocks // 2 if blocks >= 2 else 2)
        if fit == blocks or not 1 <= fit <= layers:
            raise SystemExit(f"--fit-blocks must differ from --blocks ({blocks}) and lie in 1..{layers}")
        counts = sorted({fit, blocks})
    setup = Setup.from_args(
        args, default, preset, config, device, dtype, loss=args.loss, gen_steps=args.gen_steps,
        warmup=args.warmup, repeats=args.repeats,
    )  # fmt: skip
    cfg = setup.svi_config()  # validates the sizes (4k+1 frames, multiples of 16) before any build
    if setup.engine == "deepspeed":
        from svi.training.train import init_distributed

        init_distributed()  # a process group of one, as `python -m svi.training.train` makes
    flash_ok, flash_note = flash_available(dtype)
    backends = ["sdpa"] + (["flash"] if flash_ok else [])
    dims = DiTDims.from_config(config)
    clip_steps = cfg.generate.steps  # the official 50
    passes = len(guidance_passes(cfg.generate))  # forwards per denoising step (text CFG: 2)

    runs = []
    with tqdm(total=len(counts) * len(backends) * 2, desc="real_scale", unit="part") as progress:
        for n in counts:
            runs.append(measure_blocks(setup, n, backends, progress))
    latent = tuple(runs[0]["latent_shape"])  # [16, 21, 60, 104] at 480 x 832 x 81
    tokens = video_tokens(latent, dims.patch)  # 32760 at 480 x 832 x 81

    def flops_fn(n: int) -> dict:
        return forward_flops(dims, tokens, TEXT_TOKENS, setup.image_tokens, cfg.lora.rank, blocks=n)

    by_blocks = {r["blocks"]: r for r in runs}
    whole = {b: whole_model(by_blocks, b, layers, clip_steps) for b in backends}
    peak, peak_source = peak_flops(device, dtype, args.peak_tflops)
    outside, per_block = runs[0]["params_outside_blocks"], runs[0]["params_per_block"]
    result = {
        "benchmark": "real_scale",
        "device": torch.cuda.get_device_name(device) if gpu else "cpu",
        "device_count_used": 1,
        "dtype": str(dtype).removeprefix("torch."),
        "model": {
            "preset": preset,
            "config_source": source,
            "config": {k: _norm(v) for k, v in config.items() if not k.startswith("_")},
            "layers": layers,
            "params_whole": outside + layers * per_block,
            "params_per_block": per_block,
        },
        "sizes": {
            "frames": setup.frames,
            "height": setup.height,
            "width": setup.width,
            "latent_shape": list(latent),
            "video_tokens": tokens,
            "text_tokens": TEXT_TOKENS,
            "image_tokens": setup.image_tokens,
            "batch": 1,
        },
        "train": {
            "loss": setup.loss,
            "lora_rank": cfg.lora.rank,
            "lora_alpha": cfg.lora.alpha,
            "lora_targets": list(cfg.lora.target_modules),
            "gradient_checkpointing": True,
            "lr": cfg.train.lr,
            "grad_clip": cfg.train.grad_clip,
            "engine": setup.engine,
            "not_timed": "encode_batch (VAE, umT5, CLIP: frozen, inputs are random tensors), data loading",
        },
        "generate": {
            "steps_per_clip": clip_steps,
            "timed_steps": setup.gen_steps,
            "guidance_scale": cfg.generate.guidance_scale,
            "forwards_per_step": passes,
            "per_clip_method": "seconds per step (svi.generation.sampling.sample_latents over timed_steps) x steps_per_clip; "
            "the LoRA stays attached, unfused; VAE encode/decode and text/CLIP encoding not included",
        },
        "attention": {
            "sdpa": "available",
            "flash": "available" if flash_ok else "not available",
            "flash_note": flash_note,
        },
        "flops": {
            "forward_per_sample": flops_fn(layers),
            "convention": f"matmul FLOPs (2 per multiply-add) of forward_flops(); a training step counts "
            f"{TRAIN_FORWARD_MULTIPLE}x the forward (backward = 2 forwards; with frozen base weights the "
            "backward skips their weight gradients but checkpointing recomputes the forward, so the "
            "hardware does about as much); a denoising step counts forwards_per_step forwards",
            "peak_flops_per_device": peak,
            "peak_source": peak_source,
        },
        "block_counts": counts,
        "extrapolation": (
            "none: the whole model was built and measured"
            if layers in counts
            else f"linear fit through the block counts {counts}: whole = intercept + per_block x {layers}. "
            "Assumes every block costs the same time and memory (true of the Wan DiT's identical blocks) "
            "and that what does not grow with depth (embeddings, head, loss, optimizer launch overheads, the "
            "one block recomputed under checkpointing, the replay bank copies) is the intercept."
        ),
        "warmup": setup.warmup,
        "repeats": setup.repeats,
        "runs": runs,
        "whole_model": whole,
    }
    add_mfu(result, flops_fn, peak, passes)
    if flash_ok:  # the reference is sdpa, measured in the same process on the same model
        largest = runs[-1]["backends"]
        result["ratios_flash_over_sdpa"] = {
            "whole_model": ratios(whole["flash"], whole["sdpa"], WHOLE_KEYS),
            f"measured_{runs[-1]['blocks']}_blocks": {
                part: ratios(largest["flash"][part], largest["sdpa"][part], RUN_KEYS)
                for part in largest["sdpa"]
            },
        }
    if not gpu:
        result["memory_note"] = (
            "CPU: no allocator peak per measurement; process_max_rss_bytes is the whole run's"
        )
        result["process_max_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        result["note"] = "CPU figures are a liveness check of the code path, not a measurement of real scale"
    emit(result, args.out)


if __name__ == "__main__":
    main()
