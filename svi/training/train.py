"""ERFT training entry: `python -m svi.training.train --config FILE [key=value ...]`.

One step per micro batch (`forward_loss`): with forcing.kind=self the condition frames come from the
model's rollout of the clip before (svi/training/forcing.py) -> frozen encoders -> `recycler.prepare` (ERFT's
injection; Diffusion Forcing's per-frame levels) -> forward -> `recycler.loss`; then backward, the
optimizer step and `recycler.bank`.

Runs under `deepspeed`, `torchrun` or plain `python` (one process), on CPU (gloo) or GPU (nccl).
The transformer with its LoRA is wrapped in a DeepSpeed ZeRO-2 engine with a client AdamW (no fused
ops to compile); the frozen encoders (VAE, umT5, CLIP) run beside it. The replay memory lives in host
RAM: a full copy per rank (memory.scope=process, official) or one store per node shared by its ranks
(memory.scope=node, svi/training/node_memory.py).

Layout of `train.output_dir`:
    config.yaml                   the resolved configuration
    backbone.json                 Backbone.settings(): preset, dtype, attention (rank 0), to compare
                                  with the generation sidecars' `backbone`
    metrics.jsonl                 one JSON line per logged step (rank 0), for the harness to forward
    checkpoints/latest            the tag of the newest complete checkpoint
    checkpoints/step_00000100/    DeepSpeed state (LoRA weights and optimizer shards),
                                  replay_rank{r}.pt and rng_rank{r}.pt per rank, lora.safetensors;
                                  with memory.scope=node replay_node{n}.pt per node holds the store
                                  and replay_rank{r}.pt only the rank's sampling generators
    lora.safetensors              the final adapter (diffusers format)
    probes/                       with train.probe_every: rollouts of the model during training
                                  (svi/training/probes.py: step_00000100.mp4, its sidecar, reference.png)
A run resumes from `checkpoints/latest` by default (train.resume). A checkpoint becomes `latest`
only after every rank has written its part, so a run killed mid-save resumes from the previous one.
Probes of steps up to the resumed one stay; later ones are redone with the steps after it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist

from svi.conditions.attach import training_inputs
from svi.conditions.pose import drop_image_rows
from svi.config import ConfigError, SVIConfig, TrainConfig, load_config, save_config
from svi.files import append_jsonl, atomic_write_text, truncate_jsonl
from svi.model.adapters import adapters_of, conditioning
from svi.model.backbone import WeightsNotFoundError, load_backbone
from svi.model.lora import add_lora, export_lora
from svi.training.batch import encode_batch
from svi.training.clips import BadVideoError
from svi.training.data import collate, training_clips
from svi.training.erft import Prepared, Recycler, image_error_start
from svi.training.forcing import SelfForcing, memory_layout
from svi.training.memory import ReplayMemory
from svi.training.node_memory import store_name
from svi.training.probes import PROBE_DIR, Prober, probe_due, truncate_probes

log = logging.getLogger("svi.training.train")

MetricsCallback = Callable[[int, dict[str, float]], None]


class NonFiniteLossError(RuntimeError):
    pass


# -- distributed set-up ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_distributed() -> tuple[int, int, torch.device]:
    """Join the process group the launcher describes (or make a one-process one). -> rank, world, device."""
    import deepspeed

    if "RANK" not in os.environ:  # plain `python -m svi.training.train`: a group of one
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1")
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    deepspeed.init_distributed(dist_backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def deepspeed_config(cfg: SVIConfig, world: int, bf16: bool) -> dict:
    t = cfg.train
    return {
        "train_micro_batch_size_per_gpu": t.micro_batch,
        "gradient_accumulation_steps": t.grad_accum,
        "train_batch_size": t.micro_batch * t.grad_accum * world,
        "gradient_clipping": t.grad_clip,
        "bf16": {"enabled": bf16},
        "zero_optimization": {"stage": t.zero_stage},
        "zero_allow_untested_optimizer": True,  # the client torch AdamW
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


# -- data order ---------------------------------------------------------------------------------


class ClipStream(torch.utils.data.Dataset):
    """Position p of the global sample stream -> (epoch, index) -> a clip, deterministic from the seed.

    Rank r reads positions m*W*B + r*B + j (micro step m, world W, micro batch B), so resuming at
    micro step m reads exactly what an uninterrupted run would have.
    """

    def __init__(self, clips: torch.utils.data.Dataset, seed: int):
        self.clips, self.seed = clips, seed
        self._perm_epoch, self._perm = -1, None

    def locate(self, position: int) -> tuple[int, int]:
        n = len(self.clips)
        epoch = position // n
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._perm_epoch = torch.randperm(n, generator=g), epoch
        return epoch, int(self._perm[position % n])

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, position: int) -> dict:
        epoch, index = self.locate(position)
        self.clips.set_epoch(epoch)
        return self.clips[index]


def micro_batches(stream: ClipStream, cfg: SVIConfig, rank: int, world: int, start_micro: int):
    b = cfg.train.micro_batch

    def positions():
        m = start_micro
        while True:
            base = m * world * b + rank * b
            yield from range(base, base + b)
            m += 1

    loader = torch.utils.data.DataLoader(
        stream,
        batch_size=b,
        sampler=positions(),
        collate_fn=collate,
        num_workers=cfg.data.num_workers,
        persistent_workers=cfg.data.num_workers > 0,
    )
    return iter(loader)


# -- checkpoints ---------------------------------------------------------------------------------


def latest_checkpoint(ckpt_dir: Path) -> str | None:
    f = ckpt_dir / "latest"
    if not f.is_file():
        return None
    tag = f.read_text().strip()
    return tag if (ckpt_dir / tag).is_dir() else None


def save_checkpoint(engine, ckpt_dir: Path, step: int, memory, recycler, cfg: SVIConfig, rank: int) -> str:
    tag = f"step_{step:08d}"
    engine.save_checkpoint(
        str(ckpt_dir), tag=tag, client_state={"step": step}, save_latest=False, exclude_frozen_parameters=True
    )
    d = ckpt_dir / tag
    if memory is not None:
        memory.save_checkpoint(d, rank)  # scope node: the store once per node, by its local rank 0
    torch.save(recycler.state_dict(), d / f"rng_rank{rank}.pt")
    if rank == 0:
        export_lora(engine.module, d / "lora.safetensors")
    dist.barrier()  # every rank's part is on disk before `latest` moves
    if rank == 0:
        atomic_write_text(ckpt_dir / "latest", tag)
        old = sorted(p for p in ckpt_dir.glob("step_*") if p.is_dir() and p.name != tag)
        for p in old[: max(0, len(old) - (cfg.train.keep_checkpoints - 1))]:
            shutil.rmtree(p, ignore_errors=True)
    dist.barrier()
    return tag


def resume_candidates(ckpt_dir: Path) -> list[str]:
    """The checkpoints a run may resume from, newest first: `latest` and the complete ones before it
    (one newer than `latest` was cut short while saving)."""
    latest = latest_checkpoint(ckpt_dir)
    if latest is None:
        return []
    tags = sorted(p.name for p in ckpt_dir.glob("step_*") if p.is_dir() and p.name <= latest)
    return tags[::-1]


def resume(
    engine, ckpt_dir: Path, memory, recycler, rank: int, device: torch.device
) -> tuple[int, str | None]:
    """Load the newest checkpoint that every rank can read. -> (its step, its tag), or (0, None) with
    none to resume from. One that cannot be read (truncated by a crash or a full disk) is named in
    the log, set aside as `unloadable_<tag>` and the one before it is tried; if none loads, a
    RuntimeError says how to start over."""
    tried = []
    for tag in resume_candidates(ckpt_dir):
        error = None
        try:
            step = load_checkpoint(engine, ckpt_dir, tag, memory, recycler, rank)
        except FileNotFoundError as e:
            if "replay_rank" in str(e):  # another launch's checkpoint: a configuration matter, not a crash
                raise
            error = e
        except Exception as e:  # noqa: BLE001 - torch, DeepSpeed and safetensors raise many kinds
            error = e
        failed = torch.tensor([error is not None], dtype=torch.float32, device=device)
        dist.all_reduce(failed)  # every rank resumes from the same step, or none does
        if failed.item() == 0:
            for bad in tried:  # out of the way: later saves and resumes never meet it again
                if rank == 0 and (ckpt_dir / bad).is_dir():
                    (ckpt_dir / bad).rename(ckpt_dir / f"unloadable_{bad}")
            dist.barrier()
            return step, tag
        reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}" if error else "on another rank"
        log.warning("checkpoint %s cannot be loaded (%s); trying the one before it", ckpt_dir / tag, reason)
        tried.append(tag)
    if tried:
        raise RuntimeError(
            f"no checkpoint in {ckpt_dir} can be loaded ({', '.join(tried)}: see the warnings above). "
            "Start the training over: `harness run ... --force train` (or train.resume=false)"
        )
    return 0, None


def load_checkpoint(engine, ckpt_dir: Path, tag: str, memory, recycler, rank: int) -> int:
    _, client = engine.load_checkpoint(
        str(ckpt_dir), tag=tag, load_module_strict=False, load_optimizer_states=True
    )
    d = ckpt_dir / tag
    if memory is not None:
        mem_file = d / f"replay_rank{rank}.pt"
        if not mem_file.is_file():
            raise FileNotFoundError(
                f"{mem_file} is missing: checkpoint {tag} was written by a run with a different number of "
                "processes or without ERFT. Resume with the same launch, or set train.resume=false."
            )
        # Memory-mapped reads; with memory.scope=node local rank 0 restores the store for its node.
        memory.load_checkpoint(d, rank)
    recycler.load_state_dict(torch.load(d / f"rng_rank{rank}.pt", map_location="cpu", weights_only=False))
    return int(client["step"])


# -- one micro batch -------------------------------------------------------------------------------


def forward_loss(
    model: torch.nn.Module,
    backbone,
    batch: dict,
    cfg: SVIConfig,
    recycler: Recycler,
    device: torch.device,
    self_forcing: SelfForcing | None = None,
) -> tuple[torch.Tensor, torch.Tensor, Prepared, int]:
    """A micro batch up to its loss. model: the DeepSpeed engine or the bare transformer (with its LoRA).
    -> (loss, v^ [B, 16, F, h, w], the prepared step, samples that fell back to a clean condition
    under Self-Forcing). Every draw comes from recycler.generator, in a fixed order."""
    compute_dtype = backbone.dtype
    module = getattr(model, "module", model)  # the transformer inside a DeepSpeed engine
    cond, fallbacks = None, 0
    if self_forcing is not None:  # before the encoders: the rollout's frames are the condition
        cond, fell_back = self_forcing.condition_frames(
            module, backbone, batch, recycler.generator, device, compute_dtype
        )
        fallbacks = sum(fell_back)
    enc = encode_batch(
        backbone,
        batch["video"].to(device),
        batch["prompt"],
        cfg.data,
        reference=batch["reference"].to(device),
        generator=recycler.generator,  # checkpointed: a resumed run draws the same layouts
        cond=cond,
        motion=batch.get("motion"),  # data.window=pro
        anchor=batch.get("anchor"),
    ).to(compute_dtype)
    # Talk / dance: the adapter's input with the official dropouts (none for Shot / Film)
    inputs, image_dropped = training_inputs(batch, cfg.condition, recycler.generator)
    if any(image_dropped):
        enc.y, enc.image_context = drop_image_rows(enc.y, enc.image_context, image_dropped)
    prep = recycler.prepare(enc.x0, enc.y, skip_image=image_dropped)
    with conditioning(module, **{k: x.to(device, compute_dtype) for k, x in inputs.items()}):
        v = model(
            prep.model_input(),
            # [B], or per token [B, F h' w'] under Diffusion Forcing
            prep.model_timestep(module.config.patch_size).to(device),
            enc.context,
            enc.image_context,
            return_dict=False,
        )[0]
    return recycler.loss(v, prep), v, prep, fallbacks


# -- the run -------------------------------------------------------------------------------------


def _finite_everywhere(value: torch.Tensor) -> bool:
    bad = torch.tensor([0.0 if torch.isfinite(value).all() else 1.0])
    if dist.get_backend() == "nccl":
        bad = bad.cuda()
    dist.all_reduce(bad, op=dist.ReduceOp.MAX)
    return bad.item() == 0.0


def _mean_across_ranks(values: list[float], device: torch.device) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64, device=device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t)
    return (t / dist.get_world_size()).tolist()


def param_groups(transformer: torch.nn.Module, cfg: TrainConfig) -> list[dict]:
    """The optimizer's parameter groups: every trainable parameter at train.lr, except the attached
    conditioning adapters' at train.adapter_lr when it is set (one group, as officially, when not)."""
    trainable = [p for p in transformer.parameters() if p.requires_grad]
    if cfg.adapter_lr is None:
        return [{"params": trainable}]
    in_adapters = {id(p) for a in adapters_of(transformer).values() for p in a.parameters()}
    groups = [
        {"params": [p for p in trainable if id(p) not in in_adapters]},
        {"params": [p for p in trainable if id(p) in in_adapters], "lr": cfg.adapter_lr},
    ]
    return [g for g in groups if g["params"]]


def trained_expert(backbone, cfg: SVIConfig) -> torch.nn.Module:
    """The transformer a run trains: the only one, or the two-expert model's `train.expert` (high: the
    transformer, low: transformer_2; each expert in its own run, #79). A two-expert model without
    train.expert, or train.expert on a one-transformer model, is an error saying what to set."""
    expert = cfg.train.expert
    if backbone.transformer_2 is None:
        if expert is not None:
            raise ConfigError(
                f"train.expert={expert} is for a two-expert model; {cfg.model.preset} has one transformer: "
                "leave train.expert unset"
            )
        return backbone.transformer
    if expert is None:
        raise ConfigError(
            f"{cfg.model.preset} has two experts, each trained in its own run: set train.expert=high "
            "(t >= train.expert_boundary x 1000) or train.expert=low"
        )
    return backbone.transformer if expert == "high" else backbone.transformer_2


def train(cfg: SVIConfig, on_metrics: MetricsCallback | None = None) -> Path:
    """Train (or resume) the run described by `cfg`; returns the path of the final LoRA file."""
    import deepspeed
    from tqdm import tqdm

    rank, world, device = init_distributed()
    out = Path(cfg.train.output_dir)
    ckpt_dir = out / "checkpoints"
    if rank == 0:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
    dist.barrier()

    if not cfg.data.root:
        raise ConfigError(
            "data.root is not set: point it at a folder in the official layout <root>/<cat>/<cat>.csv"
        )
    # The clip set is checked (missing or unreadable videos) before any weights are loaded.
    clips = training_clips(cfg)

    torch.manual_seed(cfg.train.seed)  # LoRA init identical on every rank (and overwritten on resume)
    # The same builder as generation: dtype (resolve_dtype(model.precision, device)), attention and the
    # conditioning adapter (svi.conditions.attach) match.
    backbone = load_backbone(cfg.model, device=device, seed=cfg.train.seed, condition=cfg.condition)
    compute_dtype = backbone.dtype
    bf16 = compute_dtype == torch.bfloat16  # DeepSpeed's bf16 mode follows the model's precision
    if rank == 0:
        atomic_write_text(out / "backbone.json", json.dumps(backbone.settings(), indent=2))
    trained = trained_expert(backbone, cfg)  # the transformer, or the two-expert model's train.expert
    frozen = [tf for tf in backbone.experts() if tf is not trained]
    # only probe rollouts run the other expert: without them it waits in host memory, off the GPU
    if frozen and cfg.train.probe_every is None:
        for tf in frozen:
            tf.to("cpu")
    n_trainable = add_lora(trained, cfg.lora)
    if cfg.model.gradient_checkpointing:
        trained.enable_gradient_checkpointing()
    trained.train()

    memory = None
    if cfg.erft.mode == "erft":
        # entries of [C, F_lat, h, w]; single latent frames under Diffusion Forcing
        entry_shape, mem_cfg = memory_layout(
            cfg.forcing,
            cfg.memory,
            backbone.latent_shape(cfg.data.num_frames, cfg.data.height, cfg.data.width),
        )
        memory = ReplayMemory.from_config(
            mem_cfg,
            entry_shape,
            shift=cfg.train.timestep_shift,
            seed=cfg.train.seed * 7919 + rank,
            store_name=store_name(out),  # scope node: one store per node and run, in /dev/shm
        )
    recycler = Recycler(
        cfg.erft,
        memory,
        num_train_timesteps=cfg.train.num_train_timesteps,
        shift=cfg.train.timestep_shift,
        seed=cfg.train.seed * 104_729 + rank,
        forcing=cfg.forcing,
        expert=cfg.train.expert,
        boundary=cfg.train.expert_boundary,
        image_error_at=image_error_start(cfg.erft.y_error_slot, cfg.data.window),
        first_latent=backbone.first_latent,  # TI2V: y is the image latent in place of latent 0
    )
    self_forcing = None
    if cfg.forcing.kind == "self":
        self_forcing = SelfForcing(
            cfg.forcing,
            cfg.data,
            shift=cfg.train.timestep_shift,
            num_train_timesteps=cfg.train.num_train_timesteps,
        )

    optimizer = torch.optim.AdamW(
        param_groups(trained, cfg.train), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay
    )
    engine, _, _, _ = deepspeed.initialize(
        model=trained, optimizer=optimizer, config=deepspeed_config(cfg, world, bf16)
    )

    step, tag = resume(engine, ckpt_dir, memory, recycler, rank, device) if cfg.train.resume else (0, None)
    if tag:
        if rank == 0:
            log.info("resumed from %s at step %d", ckpt_dir / tag, step)
            torn = truncate_jsonl(out / "metrics.jsonl", lambda r: r.get("step", 0) > step)  # to be redone
            if torn:
                log.warning(
                    "dropped %d torn line(s) of %s (cut short by a crash)", torn, out / "metrics.jsonl"
                )
            truncate_probes(out / PROBE_DIR, step)
    elif rank == 0:
        (out / "metrics.jsonl").unlink(missing_ok=True)
        shutil.rmtree(out / PROBE_DIR, ignore_errors=True)

    # Rank 0 makes the probe rollouts; the other ranks wait for it at a barrier.
    prober = None
    if cfg.train.probe_every is not None and rank == 0:
        prober = Prober(backbone, cfg, clips, out / PROBE_DIR, device)

    def probe(at: int) -> None:
        if prober is not None and not prober.done(at):
            prober(at)
        dist.barrier()

    if probe_due(cfg, step):  # resumed at a probe step whose probe a kill may have cut short
        probe(step)

    accum = cfg.train.grad_accum
    batches = micro_batches(ClipStream(clips, cfg.train.seed), cfg, rank, world, start_micro=step * accum)
    bar = tqdm(total=cfg.train.steps, initial=step, desc="train", unit="step", disable=rank != 0)
    last_good = tag
    while step < cfg.train.steps:
        t0 = time.perf_counter()
        losses, injected, fallbacks = [], {"noi": 0, "vid": 0, "img": 0}, 0
        for micro in range(accum):
            loss, v, prep, fell_back = forward_loss(
                engine, backbone, next(batches), cfg, recycler, device, self_forcing
            )
            fallbacks += fell_back
            if not _finite_everywhere(loss.detach()):
                where = f"checkpoint {ckpt_dir / last_good}" if last_good else "no checkpoint yet"
                raise NonFiniteLossError(
                    f"loss became {loss.item()} at step {step + 1} (micro batch {micro}); stopped without saving. "
                    f"Last good state: {where}. Try a lower train.lr, a smaller train.grad_clip, or "
                    "model.precision=fp32; the run resumes from the last checkpoint."
                )
            engine.backward(loss)
            engine.step()
            recycler.bank(v, prep, gather=step < cfg.memory.warmup_steps)
            losses.append(loss.item())
            for g in prep.injected:
                injected["noi"] += g.noi
                injected["vid"] += g.vid
                injected["img"] += g.img
        step += 1
        bar.update(1)

        if step % cfg.train.log_every == 0 or step == cfg.train.steps:
            samples = accum * cfg.train.micro_batch
            loss_mean, fallback_rate, *rates = _mean_across_ranks(
                [sum(losses) / len(losses), fallbacks / samples] + [v / samples for v in injected.values()],
                device,
            )
            grad_norm = engine.get_global_grad_norm()
            metrics = {
                "train/loss": loss_mean,
                "train/grad_norm": float(grad_norm) if grad_norm is not None else math.nan,
                "train/lr": optimizer.param_groups[0]["lr"],
                "train/seconds_per_step": time.perf_counter() - t0,
                **{f"train/injected_{k}": r for k, r in zip(injected, rates)},
            }
            if self_forcing is not None:  # samples whose video has no clip before theirs: clean condition
                metrics["train/self_forcing_fallback"] = fallback_rate
            if memory is not None:
                metrics.update({f"memory/{k}": v for k, v in memory.stats().items()})
            if rank == 0:
                bar.set_postfix(loss=f"{loss_mean:.4f}")
                append_jsonl(out / "metrics.jsonl", {"step": step, **metrics})
                if on_metrics is not None:
                    on_metrics(step, metrics)

        if step % cfg.train.checkpoint_every == 0 or step == cfg.train.steps:
            last_good = save_checkpoint(engine, ckpt_dir, step, memory, recycler, cfg, rank)
        if probe_due(cfg, step):  # after the checkpoint: a probe cut short is redone on resume
            probe(step)
    bar.close()

    final = out / "lora.safetensors"
    if rank == 0:
        export_lora(engine.module, final)
        log.info("trained %d LoRA parameters for %d steps; adapter: %s", n_trainable, step, final)
    dist.barrier()
    return final


# -- command line --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m svi.training.train",
        description="Error-recycling fine-tuning (ERFT) of the Wan I2V transformer with LoRA and DeepSpeed. "
        "Launch with `deepspeed --num_gpus N -m svi.training.train ...`, `torchrun --nproc-per-node N -m svi.training.train ...` "
        "or plain python for one process.",
    )
    p.add_argument("--config", help="YAML config (svi/config.py schema; example: configs/recipes/demo.yaml)")
    p.add_argument("--weights", help="local Wan weights folder (real presets); also SVI_WEIGHTS")
    p.add_argument("--local_rank", "--local-rank", type=int, help=argparse.SUPPRESS)  # set by `deepspeed`
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. erft.p_img=0 train.steps=200")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = load_config(args.config, args.overrides)
        if args.weights:
            cfg.model.weights = args.weights
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        train(cfg)
    except (ConfigError, NonFiniteLossError, WeightsNotFoundError, BadVideoError, FileNotFoundError) as e:
        # Problems the user can act on: the message says what to do, no traceback needed.
        log.error("%s: %s", type(e).__name__, e)
        return 2 if isinstance(e, ConfigError) else 1
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
