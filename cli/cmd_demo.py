"""`harness demo`: the smallest end-to-end training run."""

from __future__ import annotations

import argparse
import json

from harness.base.configs import RECIPES_DIR
from harness.run import launch

NAME = "demo"
HELP = "smallest end-to-end run on this machine (minutes on CPU)"
DESCRIPTION = None


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=40, help="training steps (default 40)")
    p.add_argument("--nproc", type=int, default=1, help="CPU processes (default 1; 2 runs DeepSpeed on gloo)")


def cmd_demo(args: argparse.Namespace) -> int:
    from harness.base import workspace
    from svi.config import load_config, save_config
    from toyworld.synthetic import write_dataset

    home = workspace.home()
    data = home / "data" / "synthetic"
    if not (data / "moving" / "moving.csv").is_file():
        print(f"writing synthetic clips to {data}", flush=True)
        write_dataset(data, categories=("moving",), videos_per_category=4, num_frames=24, height=64, width=64)
    out = home / "runs" / "demo" / "train"
    cfg = load_config(
        RECIPES_DIR / "demo.yaml",
        [f"data.root={data}", f"train.output_dir={out}", f"train.steps={args.steps}"],
    )
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.resolved.yaml")
    cmd = launch.train_command(out / "config.resolved.yaml", nproc=args.nproc, launcher="auto")
    print("launching:", " ".join(cmd), flush=True)
    rc = launch.run(cmd, env=launch.child_env(ranks=args.nproc))
    if rc != 0:
        return rc
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x]
    first, last = lines[0], lines[-1]
    print(
        f"\ndemo finished: {last['step']} ERFT steps on the tiny preset, {args.nproc} process(es)\n"
        f"  loss            {first['train/loss']:.4f} (step {first['step']}) -> {last['train/loss']:.4f}\n"
        f"  replay memory   {int(last.get('memory/noise/fill', 0))} noise-end + "
        f"{int(last.get('memory/clean/fill', 0))} clean-end errors (rank 0)\n"
        f"  LoRA (diffusers format)  {out / 'lora.safetensors'}\n"
        f"  metrics         {out / 'metrics.jsonl'}\n"
        f"  checkpoints     {out / 'checkpoints'}"
    )
    return 0
