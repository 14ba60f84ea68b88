"""Real multi-process training: DeepSpeed ZeRO-2 on 2 CPU ranks (gloo), killed and resumed.

The resumed run must end with the same LoRA weights and the same replay memory on every rank as an
uninterrupted run with the same seed, with per-process banks (memory.scope=process) and with one
store shared by the node's ranks (memory.scope=node). Everything random (data order, crops,
timesteps, noise, gates, memory sampling and replacement) is drawn from generators that are
checkpointed, and the gloo reduction of two ranks is deterministic on CPU, so the equality is exact.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from harness.run.launch import child_env, train_command
from toyworld.synthetic import write_dataset

pytestmark = pytest.mark.slow

STEPS = 12


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    write_dataset(
        root, categories=("moving", "still"), videos_per_category=3, num_frames=16, height=64, width=64
    )
    return root


def _config(tmp: Path, data: Path, name: str, scope: str = "process", **train) -> Path:
    out = tmp / name
    extra = "".join(f"  {k}: {v}\n" for k, v in train.items())
    text = f"""
variant: shot
model: {{preset: tiny}}
lora: {{rank: 4, alpha: 4}}
erft: {{p_noi: 0.5, p_vid: 0.9, p_img: 0.9, p_clean: 0.2}}
memory: {{capacity: 2, budget_bytes: 16777216, warmup_steps: 4, scope: {scope}}}
data: {{root: {data}, num_frames: 9, height: 32, width: 32}}
train:
  steps: {STEPS}
  lr: 0.002
  checkpoint_every: 2
  keep_checkpoints: 10
  seed: 3
  output_dir: {out}
{extra}"""
    f = tmp / f"{name}.yaml"
    f.write_text(text)
    return f


def _env() -> dict[str, str]:
    return child_env(
        {"OMP_NUM_THREADS": "1", "TORCH_EXTENSIONS_DIR": str(Path.cwd() / ".cache" / "torch_extensions")}
    )


def _run(cfg: Path, launcher: str, timeout: float = 400) -> subprocess.CompletedProcess:
    cmd = train_command(cfg, nproc=2, launcher=launcher)
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    return res


def _final_state(out: Path) -> tuple[dict, dict[str, dict]]:
    """The final LoRA and the memory files of the last checkpoint: replay_rank{r} (and replay_node0)."""
    lora = load_file(str(out / "lora.safetensors"))
    tag = (out / "checkpoints" / "latest").read_text().strip()
    assert tag == f"step_{STEPS:08d}"
    files = sorted((out / "checkpoints" / tag).glob("replay_*.pt"))
    return lora, {f.stem: torch.load(f, weights_only=False) for f in files}


def _assert_same(a, b, path="state"):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype, path
        assert torch.equal(a, b), f"{path} differs (max abs diff {(a.float() - b.float()).abs().max()})"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.mark.parametrize("scope", ["process", "node"])
@pytest.mark.bitwise(
    "the same two ranks, the same micro-batches and the same gloo all-reduce order in both runs; the resumed run restores the optimiser, the generators and the replay memory"
)
def test_two_rank_deepspeed_run_killed_and_resumed_matches_uninterrupted(tmp_path, dataset, scope):
    from svi.training.node_memory import SHM_DIR, store_name

    # 1. uninterrupted, under torchrun
    full_cfg = _config(tmp_path, dataset, "full", scope)
    _run(full_cfg, "torchrun")
    full_lora, full_mems = _final_state(tmp_path / "full")
    stores = ["replay_node0"] if scope == "node" else ["replay_rank0", "replay_rank1"]
    assert sorted(full_mems) == sorted({*stores, "replay_rank0", "replay_rank1"})
    assert any(full_mems[s]["noise"]["count"].sum() > 0 for s in stores)  # the memory was used

    # 2. the same run under the deepspeed launcher, killed (SIGKILL, whole group) after its first checkpoint
    cut_cfg = _config(tmp_path, dataset, "cut", scope)
    latest = tmp_path / "cut" / "checkpoints" / "latest"
    proc = subprocess.Popen(
        train_command(cut_cfg, nproc=2, launcher="deepspeed"),
        env=_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while not latest.is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert latest.is_file(), proc.stderr.read().decode()[-5000:]
    killed_at = latest.read_text().strip()
    assert killed_at < f"step_{STEPS:08d}", "the run finished before it could be killed"
    # killed, yet nothing is left in /dev/shm: the store's names were unlinked once mapped
    assert not list(Path(SHM_DIR).glob(store_name(tmp_path / "cut") + "*"))

    # 3. resumed (torchrun this time): ends where the uninterrupted run ended
    res = _run(cut_cfg, "torchrun")
    assert f"resumed from {tmp_path / 'cut' / 'checkpoints' / killed_at}" in res.stderr + res.stdout
    cut_lora, cut_mems = _final_state(tmp_path / "cut")
    _assert_same(full_lora, cut_lora, "lora")
    _assert_same(full_mems, cut_mems, "replay")
    # Metrics of the redone steps replace the lost ones: one line per step.
    steps = [
        int(line.split(",")[0].split(":")[1])
        for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == list(range(1, STEPS + 1))


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(tmp_path, dataset):
    cfg = _config(tmp_path, dataset, "nan")
    # Adam's first step moves every LoRA weight by ~lr: step 1 is finite and checkpointed, step 2 overflows.
    overrides = ["train.lr=1e30", "train.grad_clip=0", "train.steps=40", "train.checkpoint_every=1"]
    cmd = train_command(cfg, overrides, nproc=1, launcher="none")
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert "NonFiniteLossError" in res.stderr and "Last good state" in res.stderr
    latest = (tmp_path / "nan" / "checkpoints" / "latest").read_text().strip()
    assert f"checkpoint {tmp_path / 'nan' / 'checkpoints' / latest}" in res.stderr
    lora = load_file(str(tmp_path / "nan" / "checkpoints" / latest / "lora.safetensors"))
    assert all(torch.isfinite(v).all() for v in lora.values())


def test_missing_data_root_is_a_clear_error(tmp_path):
    cfg = _config(tmp_path, tmp_path / "no_such_folder", "nodata")
    res = subprocess.run(
        train_command(cfg, nproc=1, launcher="none"), env=_env(), capture_output=True, text=True
    )
    assert res.returncode == 1
    assert "no_such_folder" in res.stderr and "<root>/<category>/<category>.csv" in res.stderr
    assert "Traceback" not in res.stderr


def test_micro_batch_accumulation_and_plain_mode(tmp_path, dataset):
    cfg = _config(tmp_path, dataset, "accum")
    overrides = ["erft.mode=plain", "train.micro_batch=2", "train.grad_accum=2", "train.steps=2"]
    res = subprocess.run(
        train_command(cfg, overrides, nproc=1, launcher="none"), env=_env(), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = tmp_path / "accum"
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and '"train/injected_img": 0.0' in lines[-1]
    assert not list((out / "checkpoints" / "step_00000002").glob("replay_rank*.pt"))  # plain: no memory
    assert load_file(str(out / "lora.safetensors"))


def test_probe_rollouts_at_probe_steps_kept_on_resume(tmp_path, dataset):
    import json

    from PIL import Image

    from svi.video_io import count_frames

    cfg = _config(tmp_path, dataset, "probe")
    # probes at multiples of 3 and at the last step, checkpoints or not (the only checkpoint: step 4)
    base = ["train.checkpoint_every=4", "train.probe_every=3", "train.probe_clips=2"]
    res = subprocess.run(
        train_command(cfg, [*base, "train.steps=4"], nproc=1, launcher="none"),
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    probes = tmp_path / "probe" / "probes"
    assert sorted(p.name for p in probes.iterdir()) == [
        "reference.png",
        "step_00000003.json",
        "step_00000003.mp4",
        "step_00000004.json",
        "step_00000004.mp4",
    ]
    with Image.open(probes / "reference.png") as im:
        assert im.size == (32, 32)
    side = json.loads((probes / "step_00000003.json").read_text())
    assert side["complete"] and side["metadata"]["probe"]["step"] == 3
    assert side["metadata"]["image"] == str((probes / "reference.png").resolve())
    assert [c["video_frames"] for c in side["clips"]] == [[0, 8], [8, 17]]  # one window per clip
    assert count_frames(probes / "step_00000003.mp4") == side["num_frames"] == 17  # 2 clips of 9, K = 1
    before = {p.name: p.stat().st_mtime_ns for p in probes.glob("step_*")}

    res = subprocess.run(
        train_command(cfg, [*base, "train.steps=6"], nproc=1, launcher="none"),
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resumed from" in res.stderr and "probe at step 6" in res.stderr
    after = {p.name: p.stat().st_mtime_ns for p in probes.glob("step_*")}
    assert {k: after[k] for k in before} == before  # the probes of done steps stay as they were
    assert sorted(after) == sorted([*before, "step_00000006.json", "step_00000006.mp4"])


def test_one_expert_of_a_two_expert_model_trains_in_its_own_run(tmp_path, dataset):
    """Wan 2.2 A14B's reconstruction at test size: train.expert=low trains the low-noise expert's LoRA
    with ERFT on t < 875 from SVI 2.0 Pro's training window (#75), and the file loads into that expert."""
    from svi.config import load_config
    from svi.model.backbone import load_backbone
    from svi.model.lora import load_expert_loras

    cfg = _config(tmp_path, dataset, "low")
    overrides = ["model.preset=tiny-a14b", "train.expert=low", "train.steps=2", "data.window=pro"]
    res = subprocess.run(
        train_command(cfg, overrides, nproc=1, launcher="none"), env=_env(), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-3000:]
    lora = tmp_path / "low" / "lora.safetensors"
    bb = load_backbone(load_config(str(cfg), overrides).model)
    high = {n: p.clone() for n, p in bb.transformer.named_parameters()}
    low = bb.transformer_2.blocks[0].attn1.to_q.weight.clone()
    load_expert_loras(bb, [None, lora])
    assert all(torch.equal(p, high[n]) for n, p in bb.transformer.named_parameters())
    assert (bb.transformer_2.blocks[0].attn1.to_q.weight - low).abs().max() > 0  # trained, merged
    missing = subprocess.run(
        train_command(cfg, ["model.preset=tiny-a14b", "train.steps=2"], nproc=1, launcher="none"),
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "set train.expert=high" in missing.stderr + missing.stdout


def test_tiny_ti2v_trains_with_its_first_latent_condition(tmp_path, dataset):
    """Wan 2.2 TI2V at test size through the training entry: ERFT steps on the clip's latent 0 as the
    clean condition (the Recycler told so by the backbone), the LoRA written and loadable."""
    from svi.config import load_config
    from svi.model.backbone import load_backbone
    from svi.model.lora import load_expert_loras

    cfg = _config(tmp_path, dataset, "ti2v")
    overrides = ["model.preset=tiny-ti2v", "train.steps=3", "data.height=64", "data.width=64"]
    res = subprocess.run(
        train_command(cfg, overrides, nproc=1, launcher="none"), env=_env(), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-3000:]
    lines = (tmp_path / "ti2v" / "metrics.jsonl").read_text().splitlines()
    assert lines and all("NaN" not in line for line in lines)
    bb = load_backbone(load_config(str(cfg), overrides).model)
    before = bb.transformer.blocks[0].attn1.to_q.weight.clone()
    load_expert_loras(bb, [tmp_path / "ti2v" / "lora.safetensors", None])
    assert (bb.transformer.blocks[0].attn1.to_q.weight - before).abs().max() > 0
