"""`harness run pretrain_toy`: build the toy base model from nothing, tracked like any experiment.

A pretraining experiment file has `kind: pretrain` (its schema: harness/declare/pretrain_experiment.py):

    name: pretrain_toy
    kind: pretrain
    description: ...
    world: {clips: 1000, clip_frames: 33}   # the toy-world training set (benchmarks/toyworld)
    pretrain: {vae: {...}, dit: {...}}      # svi/training/pretrain.py's PretrainConfig
    evaluate: {samples: 8}                  # single-clip quality against the world's ground truth

Stages, each keyed by a hash of what it depends on (re-running skips finished ones, a killed run
resumes): `data` writes the clips; `pretrain` runs `python -m svi.training.pretrain` as a child process (VAE,
then DiT, both resumable); `evaluate` generates one clip per held-out benchmark scene and compares it
with the scene's true continuation (PSNR / SSIM over the 16 generated frames), beside two references
measured the same way: the VAE round trip of the true clip (the ceiling the DiT can reach) and the
first frame held still (what a model that learned no motion would score).
The MLflow run gets the losses per step, the evaluation, and the model folder as an artifact.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from harness import tracking
from harness.base import workspace
from harness.base.console import say
from harness.base.hashing import digest, flatten
from harness.base.redact import scrub
from harness.declare.pretrain_experiment import PretrainExperiment
from harness.run import launch
from harness.run.launch import run_child
from svi.config import save_config

# -- evaluation -------------------------------------------------------------------------------------


def evaluate_single_clip(
    model_dir: Path, bench: Path, num_samples: int, preset: str = "toy"
) -> dict[str, Any]:
    """Mean PSNR / SSIM of one generated clip per consistent-track scene against its true frames. A
    two-expert model (toy-a14b) makes it as SVI 2.0 Pro's clip 1, from [VAE(image), zero latents]."""
    import torch

    from scoring import suites
    from scoring.fidelity import psnr, ssim
    from svi.config import build_config
    from svi.generation.generator import LongVideoGenerator
    from svi.model.presets import get_preset
    from toyworld.writers import true_video

    two = get_preset(preset).experts == 2
    raw = {"model": {"preset": preset, "weights": str(model_dir)}}  # the toy clip defaults
    cfg = build_config({**raw, "generate": {"chaining": "latent"}} if two else raw)
    gen = LongVideoGenerator.from_config(cfg, lora=None, device="cpu")  # fp32 on CPU, as pretrained
    bb = gen.bb
    samples, _ = suites.load_samples(suites.suite_folder(bench, "consistent", "50s"))
    rows = []
    for sample in samples[:num_samples]:
        truth = torch.from_numpy(true_video(sample.image.parent, cfg.generate.num_frames))  # [F, H, W, 3]
        truth = truth.permute(0, 3, 1, 2).float() / 255  # [F, 3, H, W] in [0, 1]
        reference = (truth[0] * 2 - 1)[None]  # [1, 3, H, W]
        with torch.no_grad():
            anchor = bb.encode_video(reference[:, :, None]) if two else None  # [1, 16, 1, h, w]
            video, _ = gen.generate_clip(
                0, sample.prompts[0], reference, None, anchor, bb.encode_image(reference), None
            )
            roundtrip = bb.decode_latents(bb.encode_video((truth * 2 - 1).permute(1, 0, 2, 3)[None]))
        made = ((video[0].permute(1, 0, 2, 3) + 1) / 2).clamp(0, 1)  # [F, 3, H, W]
        vae = ((roundtrip[0].permute(1, 0, 2, 3) + 1) / 2).clamp(0, 1)
        still = truth[:1].expand_as(truth)
        new = slice(1, None)  # frame 0 is the given image
        rows.append(
            {
                "sample": sample.name,
                "psnr": float(psnr(made[new], truth[new]).mean()),
                "ssim": float(ssim(made[new].double(), truth[new].double()).mean()),
                "psnr_vae_roundtrip": float(psnr(vae[new], truth[new]).mean()),
                "ssim_vae_roundtrip": float(ssim(vae[new].double(), truth[new].double()).mean()),
                # The ends of the round trip: frame 0 is encoded alone, the last frame from the deepest
                # cache state; a VAE trained on too short windows shows it here first.
                "psnr_vae_frame0": float(psnr(vae[:1], truth[:1]).mean()),
                "psnr_vae_last_frame": float(psnr(vae[-1:], truth[-1:]).mean()),
                "psnr_still_frame": float(psnr(still[new], truth[new]).mean()),
                "ssim_still_frame": float(ssim(still[new].double(), truth[new].double()).mean()),
            }
        )
    keys = [k for k in rows[0] if k != "sample"]
    return {"mean": {k: sum(r[k] for r in rows) / len(rows) for k in keys}, "samples": rows}


# -- the run -----------------------------------------------------------------------------------------


def run_pretrain(exp: PretrainExperiment, force: tuple[str, ...] = ()) -> Path:
    """All stages; returns the model folder."""
    from toyworld.writers import write_benchmark, write_training_set

    c = tracking.client()
    exp_id = tracking.ensure_experiment(c, exp.name)
    run_id = tracking.start_parent(c, exp_id, exp.name, {"kind": "pretrain", "preset": exp.pretrain.preset})
    base = workspace.path("runs", exp.name)
    try:
        cfg = exp.pretrain.model_copy(deep=True)
        tracking.log_params(
            c, run_id, flatten({"world": exp.world.model_dump(), **cfg.model_dump(mode="json")})
        )
        size = (cfg.data.height, cfg.data.width)
        data_root = workspace.home() / "data" / f"toyworld_train_{digest(exp.world_key(), size)}"
        say(f"data: {exp.world.clips} toy-world clips -> {data_root}")
        write_training_set(
            data_root,
            exp.world.clips,
            num_frames=exp.world.clip_frames,
            size=size,
            seed=exp.world.seed,
            story_fraction=exp.world.story_fraction,
            faces_fraction=exp.world.faces_fraction,
            dancers_fraction=exp.world.dancers_fraction,
            world=exp.world.version,
        )
        cfg.data.root = str(data_root)

        folder = base / "pretrain"
        body = cfg.model_dump(mode="json")
        body.pop("output_dir")
        body.pop("threads")
        body.pop("device")  # where it trains is not what it is: a GPU's state files resume here
        for phase in body["vae"]["phases"]:  # crops, as before the setting existed: the same key
            if not phase["whole_frames"]:
                phase.pop("whole_frames")
        if cfg.toy_world == 2 and cfg.vae.base_dim is None:  # world 2's stages keep their keys
            body.pop("toy_world")
            body["vae"].pop("base_dim")
        h = digest("pretrain", body)
        model_dir = folder / "model"
        # (a changed configuration never resumes from this one's state files: open_stage claims them)
        if (
            workspace.open_stage(folder, h, "pretrain" in force, claim=True)
            and (model_dir / "transformer" / "config.json").is_file()
        ):
            say("pretrain: skipped (done)")
        else:
            cfg.output_dir = str(folder)
            save_config(cfg, folder / "config.resolved.yaml")
            vae = "the VAE of " + cfg.init if cfg.init else f"VAE {cfg.vae.steps} steps"
            text = f", umT5 {cfg.text.steps} steps" if cfg.text.steps else ""
            dits = f"{len(cfg.experts())} x " if len(cfg.experts()) > 1 else ""
            say(f"pretrain: {vae}{text}, DiT {dits}{cfg.dit.steps} steps (log: {folder / 'pretrain.log'})")
            cmd = [
                sys.executable,
                "-m",
                "svi.training.pretrain",
                "--config",
                str(folder / "config.resolved.yaml"),
            ]
            env = launch.child_env(ranks=1)  # one process: every core
            run_child(cmd, folder / "pretrain.log", "pretraining", env=env)
            workspace.mark_stage(folder, h)
        tracking.log_training_metrics(c, run_id, folder / "metrics.jsonl")

        eval_dir, eh = folder / "eval", digest("evaluate", h, exp.evaluate.model_dump())
        if workspace.open_stage(eval_dir, eh):
            say("evaluate: skipped (done)")
            result = json.loads((eval_dir / "eval.json").read_text())
        else:
            world = exp.world.version
            bench = workspace.home() / "data" / f"toyworld_bench_{exp.evaluate.seed}{'_w3' * (world == 3)}"
            write_benchmark(bench, num_consistent=exp.evaluate.samples, num_creative=1, size=size,
                            seed=exp.evaluate.seed, world=world)  # fmt: skip
            say(f"evaluate: one clip per scene, {exp.evaluate.samples} scenes")
            result = evaluate_single_clip(model_dir, bench, exp.evaluate.samples, cfg.preset)
            eval_dir.mkdir(parents=True, exist_ok=True)
            (eval_dir / "eval.json").write_text(json.dumps(result, indent=2))
            workspace.mark_stage(eval_dir, eh)
        tracking.log_metrics(c, run_id, [(f"eval/{k}", v, 0) for k, v in result["mean"].items()])
        c.log_artifact(run_id, str(eval_dir / "eval.json"))
        c.log_artifacts(run_id, str(model_dir), "model")
        tracking.finish(c, run_id, "FINISHED")
    except KeyboardInterrupt:
        tracking.finish(c, run_id, "KILLED")
        raise
    except Exception as e:
        tracking.set_tags(c, run_id, {"error": scrub(f"{type(e).__name__}: {e}")[:5000]})
        tracking.finish(c, run_id, "FAILED")
        raise
    return model_dir
