"""`harness`: the command line researchers use.

Subcommands so far:
    harness train [--config FILE] [--nproc N] [--launcher ...] [key=value ...]
        ERFT training of one configuration, launched with deepspeed / torchrun / one process.
    harness demo
        The smallest end-to-end run: writes a small synthetic clip set in the official layout under
        the workspace, trains an ERFT LoRA on the tiny preset, and prints where everything is.
Later issues add run, generate, score, sweep, report and ui.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from harness import launch

EXIT_USAGE = 2


def workspace() -> Path:
    return Path(os.environ.get("HARNESS_HOME", "workspace")).resolve()


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return EXIT_USAGE


def cmd_train(args: argparse.Namespace) -> int:
    from svi.config import ConfigError, load_config, save_config

    try:
        cfg = load_config(args.config, args.overrides)  # validate before anything starts
    except ConfigError as e:
        return _fail(str(e))
    out = Path(cfg.train.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    resolved = out / "config.resolved.yaml"
    save_config(cfg, resolved)
    nproc = args.nproc or launch.default_nproc()
    cmd = launch.train_command(resolved, nproc=nproc, launcher=args.launcher, hostfile=args.hostfile)
    print("launching:", " ".join(cmd), flush=True)
    return launch.run(cmd, env=launch.child_env())


def cmd_demo(args: argparse.Namespace) -> int:
    from benchmarks.synthetic import write_dataset
    from svi.config import load_config, save_config

    home = workspace()
    data = home / "data" / "synthetic"
    if not (data / "moving" / "moving.csv").is_file():
        print(f"writing synthetic clips to {data}", flush=True)
        write_dataset(data, categories=("moving",), videos_per_category=4, num_frames=24, height=64, width=64)
    out = home / "runs" / "demo" / "train"
    cfg = load_config(
        Path(__file__).parent / "configs" / "demo.yaml",
        [f"data.root={data}", f"train.output_dir={out}", f"train.steps={args.steps}"],
    )
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.resolved.yaml")
    cmd = launch.train_command(out / "config.resolved.yaml", nproc=args.nproc, launcher="auto")
    print("launching:", " ".join(cmd), flush=True)
    rc = launch.run(cmd, env=launch.child_env())
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="harness",
        description="svi-harness: train, generate, score and compare Stable Video Infinity experiments.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser(
        "train",
        help="ERFT training of one configuration",
        description="Train an ERFT LoRA. The config is validated first; the training processes are started "
        "with torchrun (one host), deepspeed (--hostfile for several hosts) or as one plain process.",
    )
    t.add_argument("--config", help="YAML config (svi.config schema); omitted: the defaults")
    t.add_argument("--nproc", type=int, help="processes on this host (default: one per GPU, or 1 on CPU)")
    t.add_argument("--launcher", choices=launch.LAUNCHERS, default="auto")
    t.add_argument("--hostfile", help="DeepSpeed hostfile for multi-node runs")
    t.add_argument("overrides", nargs="*", help="dotted overrides such as erft.p_img=0 train.steps=200")
    t.set_defaults(func=cmd_train)

    d = sub.add_parser("demo", help="smallest end-to-end run on this machine (minutes on CPU)")
    d.add_argument("--steps", type=int, default=40, help="training steps (default 40)")
    d.add_argument("--nproc", type=int, default=1, help="CPU processes (default 1; 2 runs DeepSpeed on gloo)")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
