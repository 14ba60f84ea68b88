"""benchmarks/perf/real_scale.py: the FLOP count's known answers, the 14B config through the project's
builder, and the script's JSON from a run at its tiniest size on CPU (a liveness check, no timing)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.perf import real_scale as rs

REPO = Path(__file__).resolve().parents[2]


def test_forward_flops_known_answer():
    # D = 2, F = 3, L = 2 video, T = 1 text, I = 1 image tokens, LoRA rank 1, 2 blocks; every linear
    # n tokens x (d_in -> d_out) costs 2 n d_in d_out.
    dims = rs.DiTDims(
        layers=2, dim=2, ffn_dim=3, text_dim=1, image_dim=1, in_channels=1, out_channels=1,
        patch=(1, 1, 1), freq_dim=1,
    )  # fmt: skip
    f = rs.forward_flops(dims, video=2, text=1, image=1, lora_rank=1)
    assert f["per_block_self_attn_proj"] == 4 * (2 * 2 * 2 * 2)  # q, k, v, o: 2 tokens, 2 -> 2
    assert f["per_block_self_attn"] == 2 * (2 * 2 * 2 * 2)  # QK^T [2x2]@[2x2], then @V
    assert f["per_block_cross_attn_proj"] == 2 * 16 + 2 * 8 + 2 * 8  # q, o on 2 tokens; text k, v; image k, v
    assert f["per_block_cross_attn"] == 2 * (2 * 2 * 1 * 2) * 2  # text and image: QK^T [2x2]@[2x1], @V
    assert f["per_block_ffn"] == 2 * 2 * 3 * 2 + 2 * 2 * 3 * 2  # 2 -> 3, 3 -> 2 on 2 tokens
    # LoRA: A (d_in -> 1) and B (1 -> d_out) beside 8 attention linears (6 on 2 tokens, attn2's k, v on
    # 1 text token) and the 2 FFN linears: 6 x 2*2*(2+2) + 2 x 2*1*(2+2) + 2 x 2*2*(2+3)
    assert f["per_block_lora"] == 96 + 16 + 40
    assert f["per_block"] == 64 + 32 + 64 + 32 + 48 + 152 == 392
    # patch 2*2*1*2 + text 2*1*(1*2 + 2*2) + image 2*1*(1*1 + 1*2) + time 2*(1*2 + 2*2 + 2*12) + head 2*2*2*1
    assert f["embed_head"] == 8 + 12 + 6 + 60 + 8
    assert f["total"] == 2 * 392 + 94 == 878
    assert rs.forward_flops(dims, 2, 1, 1, blocks=5)["total"] == 5 * (392 - 152) + 94  # rank 0: no LoRA


def test_forward_flops_match_torch_flop_counter():
    """The formula counts exactly the matmuls torch runs in the tiny preset's transformer with a LoRA
    (attention through SDPA's math path, so the counter sees its matmuls)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from svi.config import LoraConfig
    from svi.model.backbone import build_tiny
    from svi.model.lora import add_lora

    model = build_tiny().transformer
    add_lora(model, LoraConfig(rank=4, alpha=4))
    latent = (16, 3, 4, 4)
    image_tokens = rs.image_tokens_for("tiny")
    inputs = (
        torch.randn(1, 36, *latent[1:]),
        torch.tensor([500.0]),
        torch.randn(1, rs.TEXT_TOKENS, model.config.text_dim),
        torch.randn(1, image_tokens, model.config.image_dim),
    )
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(*inputs, return_dict=False)
    dims = rs.DiTDims.from_config(model.config)
    ours = rs.forward_flops(dims, rs.video_tokens(latent, dims.patch), rs.TEXT_TOKENS, image_tokens, 4)
    assert ours["total"] == counter.get_total_flops()


def test_fourteen_b_config_through_the_builder(tmp_path):
    config, source = rs.preset_transformer_config("wan2.1-i2v-14b", None)
    assert "diffusers" in source
    with torch.device("meta"):  # the real builder at full depth, no memory
        from svi.config import LoraConfig
        from svi.model.backbone import build_small
        from svi.model.lora import add_lora

        model = build_small(rs.arch_for("wan2.1-i2v-14b", config, 40), "wan2.1-i2v-14b").transformer
    rs.check_built(model, config)  # the builder's fixed fields are the config's
    outside, per_block = rs.params_of(model)
    assert outside + 40 * per_block == sum(p.numel() for p in model.parameters())
    assert round((outside + 40 * per_block) / 1e9, 1) == 16.4  # Wan 2.1 I2V 14B: 16.4B with its image branch
    with torch.device("meta"):  # peft takes seconds per 10 blocks: count the LoRA on one
        block = build_small(rs.arch_for("wan2.1-i2v-14b", config, 1), "wan2.1-i2v-14b").transformer
    assert 40 * add_lora(block, LoraConfig()) == 613_416_960  # the official LoRA (docs/method.md §5: ~613M)
    dims = rs.DiTDims.from_config(model.config)
    assert rs.video_tokens((16, 21, 60, 104), dims.patch) == 32760  # 480 x 832 x 81
    # a weights folder's config.json is read instead (and nothing else of the folder)
    model.save_config(tmp_path / "transformer")
    from_folder, source = rs.preset_transformer_config("wan2.1-i2v-14b", str(tmp_path))
    assert source.endswith("transformer/config.json")
    rs.check_built(model, from_folder)


def test_a14b_expert_config_through_the_builder(tmp_path):
    """One expert of Wan 2.2 I2V A14B (both share the architecture): no image branch, 14.29 B; the
    builder makes it from the config, as `real_scale.py --preset wan2.2-i2v-a14b` does on a GPU."""
    from svi.model.backbone import build_small

    config, source = rs.preset_transformer_config("wan2.2-i2v-a14b", None)
    with torch.device("meta"):
        bb = build_small(
            rs.arch_for("wan2.2-i2v-a14b", config, 40), "wan2.2-i2v-a14b", with_image_encoder=False
        )
    rs.check_built(bb.transformer, config)
    assert bb.image_encoder is None and rs.image_tokens_for("wan2.2-i2v-a14b") == 0
    outside, per_block = rs.params_of(bb.transformer)
    assert round((outside + 40 * per_block) / 1e9, 2) == 14.29


def test_linear_fit_and_peak():
    fit = rs.linear_fit({4: 9.0, 2: 5.0}, 40)
    assert fit == {"per_block": 2.0, "intercept": 1.0, "value": 81.0}
    assert rs.peak_flops(torch.device("cpu"), torch.bfloat16, None)[0] is None
    assert rs.peak_flops(torch.device("cpu"), torch.float32, 2.5)[0] == 2.5e12


def check_json(result: dict) -> None:
    assert result["benchmark"] == "real_scale"
    assert (
        result["device"] == "cpu"
        and result["dtype"] == "float32"
        and result["host"]["torch"] == torch.__version__
    )
    assert result["model"]["preset"] == "toy" and result["model"]["layers"] == 6
    assert result["sizes"] == {
        "frames": 5, "height": 32, "width": 32, "latent_shape": [16, 2, 4, 4], "video_tokens": 8,
        "text_tokens": 512, "image_tokens": 65, "batch": 1,
    }  # fmt: skip
    assert result["block_counts"] == [1, 2] and "linear fit" in result["extrapolation"]
    assert result["train"]["lora_rank"] == 128 and result["train"]["gradient_checkpointing"]
    assert result["generate"]["steps_per_clip"] == 50 and result["generate"]["forwards_per_step"] == 2
    assert result["attention"]["sdpa"] == "available"
    if result["attention"]["flash"] == "not available":
        assert "ratios_flash_over_sdpa" not in result
    assert [r["blocks"] for r in result["runs"]] == [1, 2]
    for run in result["runs"]:
        assert run["params"] == run["params_outside_blocks"] + run["blocks"] * run["params_per_block"]
        train, gen = run["backends"]["sdpa"]["train"], run["backends"]["sdpa"]["generate"]
        assert train["median_seconds"] > 0 and len(train["all_seconds"]) == 1
        assert gen["median_seconds_per_step"] == gen["median_seconds"]  # one timed step
        assert train["peak_memory_bytes"] is None  # CPU: no allocator peak
        assert train["mfu"] > 0 and gen["mfu"] > 0  # --peak-tflops given
    whole = result["whole_model"]["sdpa"]
    assert whole["generate_seconds_per_clip"] == pytest.approx(50 * whole["generate_seconds_per_step"])
    assert set(whole["train_seconds_per_step_fit"]) >= {"per_block", "intercept"}
    assert result["flops"]["peak_flops_per_device"] == 1e12
    assert result["flops"]["forward_per_sample"]["blocks"] == 6
    assert "liveness" in result["note"]


TINIEST = ["--frames", "5", "--height", "32", "--width", "32", "--warmup", "1", "--repeats", "1"]
TINIEST += ["--gen-steps", "1", "--peak-tflops", "1", "--threads", "1"]  # 1 thread: 10x faster on busy cores


def test_cpu_run_at_its_tiniest_size(tmp_path, capsys):
    out = tmp_path / "real_scale.json"
    threads = torch.get_num_threads()
    try:
        rs.main([*TINIEST, "--device", "cpu", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)  # the rest of the session keeps its own
    result = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == result  # the same JSON on stdout
    check_json(result)
    assert result["train"]["engine"] == "torch" and result["train"]["loss"] == "erft"


@pytest.mark.slow
def test_cpu_run_through_deepspeed(tmp_path):
    """The engine svi/training/train.py uses (and the CUDA default), in its own process: it makes a process group."""
    out = tmp_path / "real_scale.json"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DS_ACCELERATOR": "cpu"}
    cmd = [
        sys.executable,
        "benchmarks/perf/real_scale.py",
        *TINIEST,
        "--device",
        "cpu",
        "--engine",
        "deepspeed",
    ]
    subprocess.run([*cmd, "--out", str(out)], cwd=REPO, env=env, check=True, capture_output=True)
    result = json.loads(out.read_text())
    check_json(result)
    assert result["train"]["engine"] == "deepspeed"
    assert result["runs"][0]["engine"].startswith("DeepSpeed ZeRO-2")
