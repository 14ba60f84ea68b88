"""Where one arm's training time goes, against what this machine can do (JSON on stdout).

One trained arm of an experiment (default `ablation_eimg`'s `full`: the toy SVI-Shot recipe) trains
for `--steps` steps in this process, as one rank of `svi.training.train.train` (the same function the
DeepSpeed launcher runs), on the harness's own toy training set (written into a fresh workspace first;
its time is `provision`). Each step is split into its parts:

    data          reading and cropping the training clips (the data set's __getitem__)
    vae_encode    the clip's latents and the conditioning's, by the frozen VAE
    text_image    the frozen umT5 and CLIP encoders
    forward       the transformer's forward (with its LoRA)
    backward      DeepSpeed's backward
    optimizer     DeepSpeed's step (AdamW on the LoRA)
    recycler      error injection (prepare) and curation into the replay memory (bank)
    checkpoint    saving the engine, the memory and the recycler
    other         the rest of the loop (loss, gates, logging, Python)

and the transformer's achieved GFLOP/s (its forward and backward FLOPs counted by FlopCounterMode on
one step's shapes) and the VAE encode's, against the peaks measured in the same process
(benchmarks/perf/track_profile.py `peaks`). `setup` is the time train() takes before its first step
(imports excluded: loading the backbone, the LoRA, DeepSpeed's engine).

    python benchmarks/perf/train_profile.py [--experiment ablation_eimg] [--arm full] [--steps 40]
        [--threads 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.perf.batched_generation import Timer
from benchmarks.perf.report import emit
from benchmarks.perf.track_profile import counted_flops, peaks

PARTS = (
    "data",
    "vae_encode",
    "text_image",
    "forward",
    "backward",
    "optimizer",
    "recycler",
    "checkpoint",
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experiment", default="ablation_eimg")
    p.add_argument("--arm", default="full", help="a trained arm of the experiment")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out")
    args = p.parse_args()

    home = Path(tempfile.mkdtemp(prefix="train_profile_"))
    os.environ["HARNESS_HOME"] = str(home)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    import deepspeed.runtime.engine as ds_engine
    import torch

    torch.set_num_threads(args.threads)
    machine_peaks = peaks(args.threads)

    import svi.training.train as train_mod
    from harness.declare.experiment import load_experiment
    from harness.declare.plan import make_plan
    from harness.run import provision
    from svi.model.backbone import Backbone
    from svi.training.erft import Recycler

    exp, source = load_experiment(args.experiment, [f"train.steps={args.steps}"])
    plan = make_plan(exp, source)
    unit = next(u for u in plan.units if u.arm == args.arm)
    if not unit.train:
        raise SystemExit(f"arm {args.arm!r} of {exp.name} does not train; pick a trained arm")
    cfg = unit.cfg.model_copy(deep=True)
    t0 = time.perf_counter()
    cfg.data.root = provision.training_data(cfg)
    provision_seconds = time.perf_counter() - t0
    cfg.train.output_dir = str(home / "train")
    cfg.train.probe_every = None  # probes are generation; track_profile.py measures that

    timer = Timer()
    for cls, name, part in (
        (Backbone, "encode_video", "vae_encode"),
        (Backbone, "encode_text", "text_image"),
        (Backbone, "encode_image", "text_image"),
        (ds_engine.DeepSpeedEngine, "backward", "backward"),
        (ds_engine.DeepSpeedEngine, "step", "optimizer"),
        (Recycler, "prepare", "recycler"),
        (Recycler, "bank", "recycler"),
    ):
        setattr(cls, name, timer.wrap(part, getattr(cls, name)))
    train_mod.save_checkpoint = timer.wrap("checkpoint", train_mod.save_checkpoint)
    train_mod.ClipStream.__getitem__ = timer.wrap("data", train_mod.ClipStream.__getitem__)

    # The transformer's forward, timed by hooks on the backbone load_backbone returns; its first call's
    # inputs are kept for counting FLOPs afterwards; the VAE encode's likewise.
    examples: dict[str, tuple] = {}
    calls = {"forward": 0, "vae_encode": 0}
    built: list[Backbone] = []
    load = train_mod.load_backbone

    def instrumented_load(*a, **k):
        bb = load(*a, **k)
        built.append(bb)
        start: list[float] = []

        def pre(m, a, kw):
            calls["forward"] += 1
            examples.setdefault("forward", (a, dict(kw)))
            start.append(time.perf_counter())

        def post(m, a, kw, out):
            timer.seconds["forward"] += time.perf_counter() - start.pop()

        bb.transformer.register_forward_pre_hook(pre, with_kwargs=True)
        bb.transformer.register_forward_hook(post, with_kwargs=True)
        return bb

    train_mod.load_backbone = instrumented_load
    encode = Backbone.encode_video

    def counting_encode(self, video):
        calls["vae_encode"] += 1
        examples.setdefault("vae_encode", (self, video))
        return encode(self, video)

    Backbone.encode_video = counting_encode

    first_step: list[float] = []  # when the loop reads its first clip: the end of setup
    timed_getitem = train_mod.ClipStream.__getitem__

    def mark_first(*a, **k):
        if not first_step:
            first_step.append(time.perf_counter())
        return timed_getitem(*a, **k)

    train_mod.ClipStream.__getitem__ = mark_first
    t0 = time.perf_counter()
    train_mod.train(cfg)
    total_seconds = time.perf_counter() - t0
    setup_seconds = first_step[0] - t0
    loop_seconds = total_seconds - setup_seconds
    parts = {k: timer.seconds.get(k, 0.0) for k in PARTS}
    parts["other"] = loop_seconds - sum(parts.values())

    # FLOPs of one step's transformer forward + backward (the LoRA's gradients), and of one VAE encode
    bb = built[0]
    a, kw = examples["forward"]
    model = bb.transformer

    def forward_backward():
        out = model(*a, **kw)[0]
        out.float().square().mean().backward()

    step_flops = counted_flops(forward_backward)
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        forward_flops = counted_flops(lambda: model(*a, **kw))
        encode_flops = counted_flops(lambda: encode(*examples["vae_encode"]))
    n = calls["forward"]
    achieved = {
        "transformer_forward_backward": step_flops * n / (parts["forward"] + parts["backward"]) / 1e9,
        "transformer_forward": forward_flops * n / parts["forward"] / 1e9,
        "vae_encode": encode_flops * calls["vae_encode"] / parts["vae_encode"] / 1e9,
    }
    emit(
        {
            "benchmark": "train_profile",
            "experiment": exp.name,
            "arm": unit.arm,
            "steps": args.steps,
            "micro_batch": cfg.train.micro_batch,
            "grad_accum": cfg.train.grad_accum,
            "clip": {"frames": cfg.data.num_frames, "height": cfg.data.height, "width": cfg.data.width},
            "threads": args.threads,
            "seconds": {
                "provision": provision_seconds,
                "setup": setup_seconds,
                "loop": loop_seconds,
                "total_train": total_seconds,
            },
            "seconds_per_step": loop_seconds / args.steps,
            "loop_parts": parts,
            "loop_shares": {k: v / loop_seconds for k, v in parts.items()},
            "calls": calls,
            "flops": {
                "transformer_forward_backward": step_flops,
                "transformer_forward": forward_flops,
                "vae_encode": encode_flops,
            },
            "achieved_gflops": achieved,
            "peak_gflops": machine_peaks,
            "fraction_of_peak": {
                "transformer_forward_backward": achieved["transformer_forward_backward"]
                / machine_peaks["matmul_gflops"],
                "transformer_of_its_shape": achieved["transformer_forward_backward"]
                / machine_peaks["matmul_dit_shape_gflops"],
                "vae_encode": achieved["vae_encode"] / machine_peaks["conv3d_gflops"],
            },
            "workspace": str(home),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
