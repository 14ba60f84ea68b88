"""`harness generate`: suites, data parallel ranks, single videos, interactive prompts, LoRA switch."""

import json
import subprocess
import sys

import numpy as np
import pytest

from cli import main
from harness.run.launch import child_env, free_port
from svi.video_io import read_frames
from toyworld.synthetic import write_benchmark

FAST = ["generate.steps=2"]
# Byte-identical comparisons need the same floating-point summation order in every process: one
# thread everywhere (MKL may otherwise change its thread count between calls).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MKL_DYNAMIC": "FALSE"}


@pytest.fixture()
def one_thread(monkeypatch):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    for k, v in ONE_THREAD.items():
        monkeypatch.setenv(k, v)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return write_benchmark(tmp_path_factory.mktemp("bench"), samples=3)


def test_suite_generation_writes_videos_sidecars_and_manifest(tmp_path, bench):
    rc = main(
        [
            "generate",
            "--suite",
            "consistent",
            "--length",
            "1s",
            "--benchmark-root",
            str(bench),
            "--out",
            str(tmp_path),
            "--limit",
            "2",
            *FAST,
        ]
    )
    assert rc == 0
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert [s["name"] for s in man["samples"]] == ["sample_00", "sample_01"]
    meta = json.loads((tmp_path / "sample_00.json").read_text())
    assert meta["metadata"]["suite_digest"] == man["digest"]
    assert meta["generate"]["padding"] == "reference"  # consistent track: SVI-Shot settings
    assert {c["prompt"] for c in meta["clips"]} == {meta["clips"][0]["prompt"]}  # first prompt only
    assert len(read_frames(tmp_path / "sample_00.mp4")) == meta["num_frames"] >= 16
    assert not (tmp_path / "sample_02.mp4").exists()


def test_two_ranks_generate_every_sample_exactly_once(tmp_path, bench):
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
        "-m", "cli", "generate", "--suite", "creative", "--length", "1s",
        "--benchmark-root", str(bench), "--out", str(tmp_path), *FAST,
    ]  # fmt: skip
    res = subprocess.run(
        cmd, env=child_env({"OMP_NUM_THREADS": "1"}), capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    ranks = {}
    for side in sorted(tmp_path.glob("sample_*.json")):
        ranks[side.stem] = json.loads(side.read_text())["metadata"]["rank"]
    assert ranks == {"sample_00": 0, "sample_01": 1, "sample_02": 0}
    assert len(list(tmp_path.glob("sample_*.mp4"))) == 3


def test_single_video_and_the_lora_switch(tmp_path, bench, one_thread):
    image = bench / "creative_video_gen" / "sample_00" / "image.png"
    prompts = tmp_path / "story.txt"
    prompts.write_text("one\ntwo\n")
    base = tmp_path / "base.mp4"
    assert (
        main(["generate", "--image", str(image), "--prompts", str(prompts), "--out", str(base), *FAST]) == 0
    )
    assert json.loads(base.with_suffix(".json").read_text())["clips"][1]["prompt"] == "two"
    # --no-lora never opens the LoRA file (it does not even exist here) and gives the base video
    off = tmp_path / "off.mp4"
    args = ["--lora", str(tmp_path / "missing.safetensors"), "--no-lora"]
    assert (
        main(["generate", "--image", str(image), "--prompts", str(prompts), "--out", str(off), *args, *FAST])
        == 0
    )
    # Same video up to H.264 rounding: one CI run saw a difference of a few levels in single pixels.
    assert np.abs(read_frames(base).astype(int) - read_frames(off).astype(int)).max() <= 4
    assert (
        main(
            [
                "generate",
                "--image",
                str(image),
                "--prompts",
                str(prompts),
                "--out",
                str(tmp_path / "x.mp4"),
                "--lora",
                str(tmp_path / "missing.safetensors"),
                *FAST,
            ]
        )
        == 2
    )


def test_interactive_reads_prompts_from_stdin(tmp_path, bench):
    image = bench / "creative_video_gen" / "sample_00" / "image.png"
    out = tmp_path / "live.mp4"
    cmd = [
        sys.executable,
        "-m",
        "cli",
        "generate",
        "--image",
        str(image),
        "--interactive",
        "--out",
        str(out),
        *FAST,
    ]
    res = subprocess.run(
        cmd, input="a cat\n\na dog\n", env=child_env(), capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    clips = json.loads(out.with_suffix(".json").read_text())["clips"]
    assert [c["prompt"] for c in clips] == ["a cat", "a cat", "a dog"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["--suite", "creative", "--length", "50s", "--benchmark-root", "/nonexistent"],
            "creative_video_gen",
        ),
        (["--image", "x.png"], "--prompts FILE"),
        ([], "say what to generate"),
        (["--suite", "creative", "--length", "forever"], "seconds"),
        (["--suite", "creative", "--length", "50s", "generate.steps=0"], "generate.steps"),
        # a strategy that plans the whole video needs its length before the model loads
        (["--image", "x.png", "--interactive", "generate.strategy=freenoise"], "give --length"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, monkeypatch, args, needle):
    monkeypatch.delenv("SVI_BENCHMARK", raising=False)
    assert main(["generate", "--out", str(tmp_path), *args]) == 2
    assert needle in capsys.readouterr().err


def test_generation_killed_mid_video_resumes_to_the_same_file(tmp_path, bench, one_thread):
    import os
    import signal
    import time

    image = bench / "creative_video_gen" / "sample_00" / "image.png"
    prompts = tmp_path / "story.txt"
    prompts.write_text("one\ntwo\nthree\n")
    args = ["generate", "--image", str(image), "--prompts", str(prompts), "--length", "4s", *FAST]
    full = tmp_path / "full.mp4"
    assert main([*args, "--out", str(full)]) == 0

    cut = tmp_path / "cut.mp4"
    cmd = [sys.executable, "-m", "cli", *args, "--out", str(cut)]
    proc = subprocess.Popen(cmd, env=child_env(ONE_THREAD), start_new_session=True, stderr=subprocess.DEVNULL)
    seg = tmp_path / "cut.parts" / "seg_00002.mp4"
    deadline = time.monotonic() + 120
    while not seg.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert seg.exists() and not cut.exists(), "the run finished before it could be killed"
    assert main([*args, "--out", str(cut)]) == 0
    assert cut.read_bytes() == full.read_bytes()


def test_a_retrained_lora_at_the_same_path_is_not_mistaken_for_a_finished_video(tmp_path, bench, capsys):
    import torch
    from safetensors.torch import save_file

    from svi.model.backbone import build_tiny

    block = build_tiny().transformer.blocks[0].attn1.to_q.weight
    lora = tmp_path / "svi.safetensors"
    image = bench / "creative_video_gen" / "sample_00" / "image.png"
    prompts = tmp_path / "p.txt"
    prompts.write_text("a\n")
    args = ["generate", "--image", str(image), "--prompts", str(prompts), "--out", str(tmp_path / "v.mp4")]
    for seed, expected in [(0, "generated"), (0, "existed"), (1, "generated")]:
        g = torch.Generator().manual_seed(seed)
        sd = {
            "blocks.0.self_attn.q.lora_A.weight": torch.randn(2, block.shape[1], generator=g),
            "blocks.0.self_attn.q.lora_B.weight": torch.randn(block.shape[0], 2, generator=g),
        }
        save_file(sd, str(lora))
        assert main([*args, "--lora", str(lora), *FAST]) == 0
        assert f"({expected})" in capsys.readouterr().out


def test_image_with_audio_or_pose_generates_a_talk_or_dance_video(tmp_path):
    """The official test inputs: an image plus a speech file, an image plus a pose video."""
    from PIL import Image

    from svi.conditions.audio import write_wav
    from toyworld.synthetic import write_video

    image = tmp_path / "face.png"
    Image.fromarray(np.full((32, 32, 3), 120, dtype=np.uint8)).save(image)
    small = ["generate.num_frames=9", "generate.height=32", "generate.width=32", *FAST]
    wav = write_wav(
        tmp_path / "speech.wav", np.random.default_rng(0).normal(0, 0.1, 12800).astype(np.float32)
    )
    rc = main(
        ["generate", "--image", str(image), "--audio", str(wav), "--out", str(tmp_path / "talk.mp4"), *small]
    )
    assert rc == 0
    meta = json.loads((tmp_path / "talk.json").read_text())
    # 0.8 s of speech at 25 fps = 20 frames; clips keep all 9 frames (official): clip 2 starts at row 17
    assert meta["fps"] == 25 and len(meta["clips"]) == 3 and meta["metadata"]["audio"] == str(wav)
    assert meta["clips"][0]["prompt"] == "a person is talking"

    pose = tmp_path / "pose.mp4"
    write_video(pose, np.zeros((20, 32, 32, 3), dtype=np.uint8), 16)
    rc = main(
        ["generate", "--image", str(image), "--pose", str(pose), "--out", str(tmp_path / "dance.mp4"), *small]
    )
    assert rc == 0
    meta = json.loads((tmp_path / "dance.json").read_text())
    assert meta["num_frames"] >= 20 and meta["generate"]["guidance_scale"] == 2.0  # dance: text CFG 2

    assert (
        main(
            [
                "generate",
                "--image",
                str(image),
                "--audio",
                str(wav),
                "--pose",
                str(pose),
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
