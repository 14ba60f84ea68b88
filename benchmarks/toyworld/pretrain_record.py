"""What a toy pretraining cost and reached, read from its run folder: the record a base model's page quotes.

`harness run pretrain_toy_w3` leaves `metrics.jsonl` (one line per training step: stage, step, losses,
seconds) and `eval/eval.json` (one generated clip per held-out scene against the truth, beside the VAE
round trip and the first frame held still) in `<workspace>/runs/<name>/pretrain/`. This reads them and
writes `record.json` (per stage and VAE phase: steps, median seconds a step, minutes; final losses, the
mean of the last 200 steps; the evaluation's means) and, with `--markdown`, the tables of the page.

A run that moved between machines (a GPU's state files resumed on the CPU: `pretrain.device`) says so
with `--moved STAGE=STEPS:WHERE`, e.g. `--moved vae=2750:H200`: that stage's first STEPS steps ran
there, the rest here; the two parts are timed apart.

    python -m benchmarks.toyworld pretrain_record RUN/pretrain --out results/pretrain_toy_w3 \
        --moved vae=2750:H200 --markdown
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

LAST = 200  # steps averaged for a final loss
LOSSES = {"vae": ("vae/l1", "vae/l1_image", "vae/latent_cycle"), "dit": ("dit/loss",)}


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stage_of(name: str) -> str:
    """dit, dit_high and dit_low share their losses' names."""
    return "dit" if name.startswith("dit") else name


def parts(rows: list[dict], stage: str, moved: dict[str, tuple[int, str]], here: str) -> list[dict]:
    """The stage's steps split by phase (the VAE's window length and side: crops or whole frames, where
    the run logged `vae/side`) and by where they ran."""
    out: dict[tuple, list[float]] = {}
    split = moved.get(stage)
    for r in rows:
        where = split[1] if split and r["step"] <= split[0] else here
        key = (r.get("vae/num_frames"), r.get("vae/side"), bool(r.get("vae/latent_cycle") is not None), where)
        out.setdefault(key, []).append(r[f"{stage_of(stage)}/seconds_per_step"])
    return [
        {
            "frames": frames,
            "side": side,
            "cycle": cycle,
            "where": where,
            "steps": len(sec),
            "median_seconds": statistics.median(sec),
            "minutes": sum(sec) / 60,
        }
        for (frames, side, cycle, where), sec in out.items()
    ]


def record(folder: Path, moved: dict[str, tuple[int, str]], here: str) -> dict:
    rows = read_metrics(folder / "metrics.jsonl")
    stages: dict[str, dict] = {}
    for name in dict.fromkeys(r["stage"] for r in rows):
        mine = sorted((r for r in rows if r["stage"] == name), key=lambda r: r["step"])
        final = {}
        for key in LOSSES[stage_of(name)]:
            values = [r[key] for r in mine[-LAST:] if key in r]
            if values:
                final[key] = statistics.fmean(values)
        stages[name] = {"steps": mine[-1]["step"], "parts": parts(mine, name, moved, here), "final": final}
    result = {"stages": stages}
    evaluation = folder / "eval" / "eval.json"
    if evaluation.is_file():
        result["eval"] = json.loads(evaluation.read_text())["mean"]
    return result


def markdown(rec: dict) -> str:
    lines = ["| stage | part | where | steps | median s/step | minutes |", "|---|---|---|---|---|---|"]
    for name, stage in rec["stages"].items():
        for p in stage["parts"]:
            part = "" if p["frames"] is None else f"{p['frames']}-frame windows" + " + cycle" * p["cycle"]
            part += f" at {p['side']} px" if p.get("side") else ""
            lines.append(
                f"| {name} | {part} | {p['where']} | {p['steps']} | {p['median_seconds']:.3f} | {p['minutes']:.1f} |"
            )
    lines += ["", f"| stage | final losses (mean of the last {LAST} steps) |", "|---|---|"]
    for name, stage in rec["stages"].items():
        lines.append(f"| {name} | " + ", ".join(f"{k} {v:.4f}" for k, v in stage["final"].items()) + " |")
    if "eval" in rec:
        e = rec["eval"]
        lines += [
            "",
            "| one clip, 16 frames after the given one | PSNR (dB) | SSIM |",
            "|---|---|---|",
            f"| generated clip | {e['psnr']:.2f} | {e['ssim']:.3f} |",
            f"| VAE round trip of the true clip | {e['psnr_vae_roundtrip']:.2f} | {e['ssim_vae_roundtrip']:.3f} |",
            f"| first frame held still | {e['psnr_still_frame']:.2f} | {e['ssim_still_frame']:.3f} |",
        ]
    return "\n".join(lines) + "\n"


def parse_moved(items: list[str]) -> dict[str, tuple[int, str]]:
    moved = {}
    for item in items:
        try:
            stage, rest = item.split("=", 1)
            steps, where = rest.split(":", 1)
            moved[stage] = (int(steps), where)
        except ValueError:
            raise SystemExit(f"--moved {item!r}: write STAGE=STEPS:WHERE, e.g. vae=2750:H200") from None
    return moved


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.toyworld pretrain_record", description=__doc__.split("\n")[0]
    )
    p.add_argument("folder", type=Path, help="the pretraining's run folder (holds metrics.jsonl)")
    p.add_argument("--out", type=Path, help="write record.json here")
    p.add_argument("--moved", action="append", default=[], help="STAGE=STEPS:WHERE (see above)")
    p.add_argument("--here", default="this machine's CPU", help="where the other steps ran")
    p.add_argument("--markdown", action="store_true", help="print the page's tables")
    args = p.parse_args(argv)
    if not (args.folder / "metrics.jsonl").is_file():
        print(f"{args.folder}: no metrics.jsonl; give the pretraining's run folder", file=sys.stderr)
        return 2
    try:
        moved = parse_moved(args.moved)
    except SystemExit as e:  # a bad --moved: one line, exit 2, before anything is read
        print(e, file=sys.stderr)
        return 2
    rec = record(args.folder, moved, args.here)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "record.json").write_text(json.dumps(rec, indent=1) + "\n")
    print(markdown(rec) if args.markdown else json.dumps(rec, indent=1))
    return 0
