"""The training mechanisms through the real entry point (`python -m svi.training.train`, DeepSpeed on one CPU
process): Diffusion Forcing, Diffusion Forcing + ERFT and Self-Forcing train, log finite losses and
their own metrics, checkpoint and resume."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from harness.run.launch import child_env, train_command
from toyworld.synthetic import write_dataset

pytestmark = pytest.mark.slow

MECHANISMS = {
    "diffusion": "forcing: {kind: diffusion}\nerft: {mode: plain}\n",
    "diffusion_erft": "forcing: {kind: diffusion}\nerft: {p_noi: 0.5, p_clean: 0.0}\n",
    "self": "forcing: {kind: self, rollout_steps: 2}\nerft: {mode: plain}\n",
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    # 24 frames: a 9-frame clip has a clip before it from start frame 8 on (Self-Forcing)
    write_dataset(root, categories=("moving",), videos_per_category=2, num_frames=24, height=32, width=32)
    return root


def _run(cfg: Path, steps: int) -> subprocess.CompletedProcess:
    env = child_env(
        {"OMP_NUM_THREADS": "1", "TORCH_EXTENSIONS_DIR": str(Path.cwd() / ".cache" / "torch_extensions")}
    )
    cmd = train_command(cfg, [f"train.steps={steps}"], nproc=1, launcher="none")
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    return res


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_each_mechanism_trains_checkpoints_and_resumes(tmp_path, dataset, mechanism):
    out = tmp_path / mechanism
    cfg = tmp_path / f"{mechanism}.yaml"
    cfg.write_text(
        f"""
variant: shot
model: {{preset: tiny}}
lora: {{rank: 4, alpha: 4}}
memory: {{capacity: 2, budget_bytes: 16777216, warmup_steps: 1}}
data: {{root: {dataset}, num_frames: 9, height: 32, width: 32}}
train: {{micro_batch: 2, lr: 0.002, checkpoint_every: 2, seed: 1, output_dir: {out}}}
{MECHANISMS[mechanism]}"""
    )
    _run(cfg, 2)
    res = _run(cfg, 3)  # resumes from the step-2 checkpoint (the frame memory too)
    assert f"resumed from {out / 'checkpoints' / 'step_00000002'}" in res.stderr
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3]
    assert all(math.isfinite(r["train/loss"]) for r in lines)
    assert ("train/self_forcing_fallback" in lines[-1]) == (mechanism == "self")
    if mechanism == "self":
        assert all(r["train/self_forcing_fallback"] == 0.0 for r in lines)  # every clip had one before it
    memory_files = list((out / "checkpoints" / "step_00000003").glob("replay_rank*.pt"))
    assert bool(memory_files) == (mechanism == "diffusion_erft")
    if mechanism == "diffusion_erft":
        assert lines[-1]["memory/noise/fill"] > 0  # frames banked (3 steps x 2 clips x 3 latent frames)
    assert (out / "lora.safetensors").is_file()
