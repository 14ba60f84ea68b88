"""`harness train`: ERFT training of one configuration."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.common import fail
from harness.run import launch

NAME = "train"
HELP = "ERFT training of one configuration"
DESCRIPTION = (
    "Train an ERFT LoRA. The config is validated first; the training processes are started "
    "with torchrun (one host), deepspeed (--hostfile for several hosts) or as one plain process."
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config (svi.config schema); omitted: the defaults")
    p.add_argument("--nproc", type=int, help="processes on this host (default: one per GPU, or 1 on CPU)")
    p.add_argument("--launcher", choices=launch.LAUNCHERS, default="auto")
    p.add_argument("--hostfile", help="DeepSpeed hostfile for multi-node runs")
    p.add_argument("overrides", nargs="*", help="dotted overrides such as erft.p_img=0 train.steps=200")


def cmd_train(args: argparse.Namespace) -> int:
    from svi.config import ConfigError, load_config, save_config

    try:
        cfg = load_config(args.config, args.overrides)  # validate before anything starts
    except ConfigError as e:
        return fail(str(e))
    out = Path(cfg.train.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    resolved = out / "config.resolved.yaml"
    save_config(cfg, resolved)
    nproc = args.nproc or launch.default_nproc()
    cmd = launch.train_command(resolved, nproc=nproc, launcher=args.launcher, hostfile=args.hostfile)
    print("launching:", " ".join(cmd), flush=True)
    return launch.run(cmd, env=launch.child_env(ranks=nproc))
