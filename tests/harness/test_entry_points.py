"""One configuration, one backbone: `run`, `generate`, `train` and a sweep trial build the same thing.

Every generated video's sidecar records the backbone it came from (`backbone`: preset, dtype,
attention, LoRA scale) and training writes the same record to `backbone.json`. Before the builders
were shared, `harness run` loaded the LoRA at scale 1 whatever `generate.lora_scale` said, and on a
GPU it generated in fp32 while `harness generate` and training used bf16.
"""

import json

import pytest

from cli import main

pytestmark = pytest.mark.slow

EXPERIMENT = """
name: entry
config:
  model: {preset: tiny}
  lora: {rank: 4, alpha: 4}
  memory: {capacity: 4, budget_bytes: 16777216, warmup_steps: 2}
  train: {steps: 2, lr: 0.001, checkpoint_every: 2}
  generate: {steps: 1, lora_scale: 0.5}
arms:
  base: {train: false, role: baseline, overrides: {model.precision: bf16}}
  full: {}
seeds: [0]
suites: [{suite: consistent, length: 1s, limit: 1}]
metrics: colour_shift
metrics_backend: random
"""

SWEEP = """
name: entry_sweep
experiment: {experiment}
arm: full
grid: {{erft.p_img: [0.9]}}
sampler: grid
objective: [{{metric: consistent_1s/colour_shift, direction: minimize}}]
trials: 1
"""


def _backbone(video_folder):
    sidecar = next(p for p in sorted(video_folder.glob("*.json")) if p.name != "manifest.json")
    return json.loads(sidecar.read_text())["backbone"]


def test_every_entry_point_builds_the_same_backbone(home, capsys):
    (home / "entry.yaml").write_text(EXPERIMENT)
    (home / "sweep.yaml").write_text(SWEEP.format(experiment=home / "entry.yaml"))
    assert main(["run", str(home / "entry.yaml")]) == 0
    runs = home / "ws" / "runs" / "entry"
    base_run = _backbone(runs / "base" / "seed0" / "videos" / "consistent_1s")
    full_run = _backbone(runs / "full" / "seed0" / "videos" / "consistent_1s")
    trained = json.loads((runs / "full" / "seed0" / "train" / "backbone.json").read_text())
    lora = runs / "full" / "seed0" / "train" / "lora.safetensors"

    bench = home / "ws" / "data" / "synthetic_benchmark"
    common = ["--suite", "consistent", "--length", "1s", "--limit", "1", "--benchmark-root", str(bench)]
    common += ["model.preset=tiny", "generate.steps=1"]
    out_base, out_full = home / "gen_base", home / "gen_full"
    assert main(["generate", *common, "--out", str(out_base), "--no-lora", "model.precision=bf16"]) == 0
    assert (
        main(["generate", *common, "--out", str(out_full), "--lora", str(lora), "generate.lora_scale=0.5"])
        == 0
    )

    assert main(["sweep", str(home / "sweep.yaml")]) == 0
    trial = _backbone(home / "ws" / "runs" / "entry_sweep" / "trial000" / "videos" / "consistent_1s")

    assert base_run == _backbone(out_base) == {
        "preset": "tiny", "dtype": "bfloat16", "attention": "sdpa", "lora_scale": None
    }  # fmt: skip
    assert full_run == _backbone(out_full) == trial == {
        "preset": "tiny", "dtype": "float32", "attention": "sdpa", "lora_scale": 0.5
    }  # fmt: skip
    assert {k: trained[k] for k in ("preset", "dtype", "attention")} == {
        k: full_run[k] for k in ("preset", "dtype", "attention")
    }
