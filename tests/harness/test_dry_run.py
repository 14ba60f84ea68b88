"""`harness plan`: the dry run of a real-scale experiment on the meta device (no weights, nothing
written), its cost arithmetic, and the power answer from an earlier run's variance components."""

import re

import pytest

from cli import main
from svi.model.cost import PEAK_BF16_FLOPS
from tests.reports.conftest import store  # noqa: F401 - the reports' MLflow store, as a fixture here

REAL = """
name: real_shot
config:
  variant: shot
  model: {preset: wan2.1-i2v-14b, weights: /nonexistent/wan, gradient_checkpointing: true}
  train: {steps: 2000}
arms:
  base: {train: false, role: baseline}
  shot: {}
seeds: [0, 1]
suites: [{suite: consistent, length: 50s, limit: 8}]
metrics: vbench
"""


def test_a_real_scale_experiment_is_planned_on_the_meta_device(home, capsys):
    (home / "real.yaml").write_text(REAL)
    assert main(["plan", str(home / "real.yaml"), "--gpu", "H100", "--gpus", "8", "--mfu", "0.4"]) == 0
    out = capsys.readouterr().out
    assert "real_shot: 4 unit(s)" in out and "shot           seed 1  train 2000 steps" in out
    # the input checks run and say what would stop the real run, without stopping the plan
    assert "would stop before any work" in out and "transformer/config.json" in out
    # the official LoRA: rank 128 on q, k, v, o of both attentions and both FFN linears of 40 blocks:
    # per block 8 x 128 x (5120 + 5120) + 2 x 128 x (5120 + 13824) = 15,335,424; x 40 = 613.4 M (~613M)
    assert "613.4 M trainable, LoRA rank 128 on 400 linears" in out
    # GPU-hours are the counted FLOPs at the given utilisation of the GPU's peak
    flops = float(re.search(r"train ([\d.]+) GPU-h \(([\d.e+]+) FLOPs\)", out)[2])
    hours = float(re.search(r"train ([\d.]+) GPU-h", out)[1])
    peak = dict(PEAK_BF16_FLOPS)["H100"]
    assert hours == pytest.approx(flops / (peak * 0.4) / 3600, rel=0.01)
    assert "model FLOPs utilisation 40% (measured or given (--mfu))" in out
    assert re.search(r"shot seed 0: train .* (\d+\.\d) GB per GPU", out)
    assert not (home / "ws" / "mlflow.db").exists() and not (home / "ws" / "runs").exists()  # nothing run


def test_an_arm_that_would_not_fit_says_what_to_set(home, capsys):
    (home / "real.yaml").write_text(
        REAL.replace("gradient_checkpointing: true", "gradient_checkpointing: false")
    )
    assert main(["plan", str(home / "real.yaml")]) == 2  # refused, not costed (harness/declare/bounds.py)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "more than an 80 GB GPU (preset wan2.1-i2v-14b) holds" in err, err
    assert (
        "set model.gradient_checkpointing=true" in err and "arm shot: train of 81 frames of 480 x 832" in err
    )


def test_bad_plan_options_exit_2(home, capsys):
    (home / "real.yaml").write_text(REAL)
    assert main(["plan", str(home / "real.yaml"), "--gpu", "Voodoo3"]) == 2
    assert "no peak FLOP/s known" in capsys.readouterr().err
    assert main(["plan", str(home / "real.yaml"), "--detect", "colour_shft=0.01"]) == 2
    assert "unknown metric 'colour_shft'" in capsys.readouterr().err
    assert main(["plan", str(home / "real.yaml"), "--detect", "colour_shift=big"]) == 2


def test_detect_answers_from_the_earlier_run(home, capsys, monkeypatch, store):  # noqa: F811
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    assert main(["plan", "ablation_eimg", "--detect", "psnr=0.5"]) == 0
    out = capsys.readouterr().out
    assert "power: from the earlier run" in out and "unit-hours from the earlier run's durations" in out
    # full ran seeds 0 and 1 like base: its components are estimated and designs are proposed
    line = next(ln for ln in out.splitlines() if "PSNR (dB), full - base" in ln)
    assert "now 10×2" in line and "to detect 0.5:" in line and "unit-hours" in line
    # no_eimg ran one finished seed: its training variance is unknown, so nothing is proposed from it
    line = next(ln for ln in out.splitlines() if "PSNR (dB), no_eimg - base" in ln)
    assert "seed component is unknown (one seed)" in line


def test_detect_without_an_earlier_run_says_how_to_get_one(home, capsys):
    assert main(["plan", "ablation_eimg", "--detect", "colour_shift=0.01"]) == 0
    assert "no earlier run of ablation_eimg" in capsys.readouterr().out


def test_a_two_expert_experiment_is_planned_per_expert(home, capsys):
    """Wan 2.2 A14B: both experts built on the meta device, LoRA per expert, one training run per unit
    (its expert), the missing low-noise expert named by the checks."""
    arms = "  high: {overrides: {train.expert: high}}\n  low: {overrides: {train.expert: low}}\n"
    text = (
        REAL.replace("wan2.1-i2v-14b", "wan2.2-i2v-a14b")
        .replace("variant: shot", "generate: {chaining: latent}")
        .replace("  shot: {}\n", arms)
    )
    (home / "pro.yaml").write_text(text)
    assert main(["plan", str(home / "pro.yaml"), "--gpu", "H100", "--gpus", "8", "--mfu", "0.4"]) == 0
    out = capsys.readouterr().out
    assert "transformer_2/config.json (the low-noise expert)" in out
    # per expert 14.29 B base + 0.61 B LoRA (no image branch: Wan 2.1 I2V's 16.39 B has one)
    assert "2 experts (high-noise, low-noise: 14.90 B and 14.90 B parameters)" in out
    assert "per expert: 14.90 B parameters, 613.4 M trainable, LoRA rank 128 on 400 linears" in out
    high = float(re.search(r"high seed 0: train the high-noise expert ([\d.]+) GPU-h", out)[1])
    low = float(re.search(r"low seed 0: train the low-noise expert ([\d.]+) GPU-h", out)[1])
    assert high == low  # the experts share the architecture
    assert "both experts' weights 59.6 GB bf16 per GPU" in out
    # two seeds of high and low: 4 training runs, and 6 units generate
    gen = [float(h) for h in re.findall(r"generate \d+ clips ([\d.]+) GPU-h", out)]
    total = float(re.search(r"total about (\d+) GPU-hours", out)[1])
    assert len(gen) == 6 and total == pytest.approx(4 * high + sum(gen), abs=1.5)
    # 50 s at 16 fps with Pro's 5-frame drop: 11 clips = 81 + 10 x 76 = 841 frames, 8 samples per track
    hours = float(re.search(r"base seed 0: generate 88 clips ([\d.]+) GPU-h", out)[1])
    per_minute = float(re.search(r"base seed 0: generate .*\(([\d.]+) GPU-h per generated minute\)", out)[1])
    assert per_minute == pytest.approx(hours / (841 * 8 / 16 / 60), abs=0.01)


def test_a_trained_two_expert_arm_must_name_its_expert(home, capsys):
    text = REAL.replace("wan2.1-i2v-14b", "wan2.2-i2v-a14b").replace(
        "variant: shot", "generate: {chaining: latent}"
    )
    (home / "pro.yaml").write_text(text)  # arm shot trains without train.expert
    assert main(["plan", str(home / "pro.yaml")]) == 2
    assert "arm 'shot' trains wan2.2-i2v-a14b, which has two experts" in capsys.readouterr().err
    (home / "one.yaml").write_text(REAL.replace("  shot: {}", "  shot: {overrides: {train.expert: low}}"))
    assert main(["plan", str(home / "one.yaml")]) == 2
    assert "has one transformer: leave train.expert out" in capsys.readouterr().err


def test_a_pretraining_is_not_planned_but_named(home, capsys):
    """`harness plan pretrain_toy` says what the file is and how to run it, not that it lacks arms."""
    assert main(["plan", "pretrain_toy"]) == 2
    err = capsys.readouterr().err
    assert (
        "is a pretraining (kind: pretrain)" in err
        and "harness run pretrain_toy" in err
        and "arms:" not in err
    )
