"""`harness score`: streamed scores per window, per video and per suite; bad input and bad videos."""

import json
import shutil

import pandas as pd
import pytest
import torch

from cli import main
from svi.config import GenerateConfig
from svi.generation.generator import LongVideoGenerator
from svi.generation.video import fixed_prompts
from svi.model.backbone import build_tiny

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # FVD warns about tiny sets, rightly


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two generated videos (with sidecars) and a reference folder of 'real' videos of the same names."""
    root = tmp_path_factory.mktemp("score")
    gen = LongVideoGenerator(build_tiny(), GenerateConfig(num_frames=9, height=32, width=32, steps=1))
    for i in range(2):
        image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(i)) * 2 - 1
        gen.generate(image, fixed_prompts(["a", "b"]), root / "gen" / f"v{i}.mp4", progress=False)
    (root / "ref").mkdir()
    for i, src in enumerate(["v1", "v0"]):  # swapped: PSNR compares different videos
        shutil.copy(root / "gen" / f"{src}.mp4", root / "ref" / f"v{i}.mp4")
    return root


def test_scores_per_window_video_and_suite(videos, tmp_path):
    args = [
        "score",
        str(videos / "gen"),
        "--metrics",
        "psnr_ssim,fvd,subject_consistency",
        "--references",
        "none",
    ]
    rc = main([*args, "--reference", str(videos / "ref"), "--backend", "random", "--out", str(tmp_path)])
    assert rc == 0
    report = json.loads((tmp_path / "scores.json").read_text())
    agg = report["aggregate"]
    assert set(agg) == {"psnr", "ssim", "subject_consistency", "fvd"}
    assert 0 < agg["ssim"] < 1 and agg["psnr"] > 0 and agg["fvd"] >= 0
    assert report["backends"]["subject_consistency"] == "random-init"
    video = report["videos"][0]
    assert len(video["windows"]) == 2  # one window per generated clip, from the sidecar
    assert len(video["window_scores"]["ssim"]) == 2
    table = pd.read_csv(tmp_path / "scores.csv")
    assert list(table["level"]).count("window") == 4 and list(table["level"]).count("suite") == 1
    assert table[table.level == "suite"]["ssim"].item() == pytest.approx(agg["ssim"])


def test_a_broken_video_is_named_and_the_rest_scored(videos, tmp_path):
    folder = tmp_path / "gen"
    shutil.copytree(videos / "gen", folder)
    (folder / "zz_broken.mp4").write_bytes(b"garbage")
    args = [
        "--metrics",
        "ssim",
        "--reference",
        str(videos / "ref"),
        "--window",
        "0.25s",
        "--references",
        "loop",
    ]
    rc = main(["score", str(folder), *args])
    assert rc == 0
    report = json.loads((folder / "scores.json").read_text())
    assert report["num_videos"] == 2 and report["failed"][0]["video"].endswith("zz_broken.mp4")
    video = report["videos"][0]
    assert video["num_frames"] == 17  # 2 clips of 9 frames, K = 1: 2 * 8 + 1
    assert len(video["windows"]) == 5  # windows of 0.25 s = 4 frames at 16 fps


def test_unavailable_metrics_are_reported_not_fatal(videos, tmp_path, capsys, monkeypatch):
    from scoring import registry

    build = registry.build

    def build_without_musiq(name, **kw):
        if name == "imaging_quality":
            raise registry.MetricUnavailable("no MUSIQ on this machine")
        return build(name, **kw)

    monkeypatch.setattr(registry, "build", build_without_musiq)
    rc = main(
        [
            "score",
            str(videos / "gen"),
            "--metrics",
            "imaging_quality,ssim",
            "--reference",
            str(videos / "ref"),
            "--backend",
            "random",
            "--out",
            str(tmp_path),
            "--references",
            "none",
        ]
    )
    assert rc == 0
    assert "skipping imaging_quality" in capsys.readouterr().err
    assert "imaging_quality" in json.loads((tmp_path / "scores.json").read_text())["unavailable"]


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--metrics", "sharpness"], "unknown metric 'sharpness'"),
        (["--metrics", "psnr_ssim"], "need --reference DIR"),
        (["--metrics", "subject_consistency", "--window", "often"], "--window"),
        (
            ["--metrics", "subject_consistency", "--vbench-cache", "/nonexistent"],
            "dino_vitbase16_pretrain.pth",
        ),
    ],
)
def test_bad_input_exits_2(videos, capsys, extra, needle):
    assert main(["score", str(videos / "gen"), *extra]) == 2
    assert needle in capsys.readouterr().err


def test_degenerate_references_are_built_scored_and_compared(videos, tmp_path, capsys):
    args = [
        "score",
        str(videos / "gen"),
        "--metrics",
        "subject_consistency,colour_shift",
        "--backend",
        "toy",  # the toy encoder: the random-init ViT path is test_scores_per_window_video_and_suite's
    ]
    assert main([*args, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    refs = json.loads((tmp_path / "references.json").read_text())
    assert set(refs["references"]) == {"frozen", "loop", "pingpong"}
    for kind in refs["references"]:
        assert sorted(p.name for p in (tmp_path / "references" / kind).glob("*.mp4")) == ["v0.mp4", "v1.mp4"]
    frozen = refs["references"]["frozen"]
    assert frozen["subject_consistency"] == pytest.approx(1.0, abs=1e-3)  # a held image holds its subject
    assert frozen["colour_shift"] == pytest.approx(0.0, abs=0.01)  # ... and its colours
    assert refs["videos"]["subject_consistency"] < frozen["subject_consistency"]
    # consistency rewards standing still; without a truth its validity is unknown here, with the prior
    table = out.split("degenerate references (no model)", 1)[1]
    line = next(ln for ln in table.splitlines() if ln.startswith("subject_consistency "))
    assert "validity unknown here" in line and "no (frozen wins)" in line
    assert "the toy world's verdicts, the prior evidence:" in out
    # without references (a direct metric alone: no network to build again)
    cheap = ["score", str(videos / "gen"), "--metrics", "colour_shift", "--backend", "random"]
    assert main([*cheap, "--out", str(tmp_path / "none"), "--references", "none"]) == 0
    assert not (tmp_path / "none" / "references.json").exists()
    assert main([*args, "--references", "still"]) == 2
    assert "--references: unknown still" in capsys.readouterr().err


def test_pan_is_built_with_its_draws_and_scored_beside_the_videos(videos, tmp_path, capsys):
    """`--references pan`: K panned first frames a video, draw 0 scored like any video, the others in
    the draws layout (scoring/energy.py); fewer than 2 draws is refused."""
    from scoring.energy import draw_paths

    cheap = ["score", str(videos / "gen"), "--metrics", "colour_shift", "--backend", "random"]
    assert main([*cheap, "--out", str(tmp_path), "--references", "pan", "--reference-draws", "3"]) == 0
    refs = json.loads((tmp_path / "references.json").read_text())
    assert set(refs["references"]) == {"pan"} and "colour_shift" in refs["references"]["pan"]
    pans = tmp_path / "references" / "pan"
    assert sorted(p.name for p in pans.glob("*.mp4")) == ["v0.mp4", "v1.mp4"]
    assert all(len(draw_paths(pans / f"v{i}.mp4")) == 3 for i in range(2))
    assert (
        main([*cheap, "--out", str(tmp_path / "one"), "--references", "pan", "--reference-draws", "1"]) == 2
    )
    assert "--reference-draws: a drawn reference has at least 2 draws" in capsys.readouterr().err


def test_missing_folder_exits_2(tmp_path, capsys):
    assert main(["score", str(tmp_path / "nothing")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_videos_frozen_from_their_first_frame_are_flagged_collapsed(tmp_path, capsys):
    """`harness score DIR --backend toy` on toy-world videos frozen from their first frame: each one's
    looped first clip is frozen too, so only the no-motion rule can flag them; a moving video beside
    them is not flagged."""
    from scoring.references import frozen
    from toyworld.synthetic import moving_square_frames, write_video

    clips = [{"index": i, "video_frames": [s, s + 16]} for i, s in enumerate(range(0, 48, 16))]
    for i, direction in enumerate(["right", "down"]):
        frames = moving_square_frames(48, 64, 64, (230, 40, 40), direction, seed=i)  # uint8 [48, 64, 64, 3]
        for name, video in {f"frozen{i}": frozen(frames[0], 48), f"moving{i}": frames}.items():
            write_video(tmp_path / "gen" / f"{name}.mp4", video)
            (tmp_path / "gen" / f"{name}.json").write_text(json.dumps({"clips": clips, "metadata": {}}))
    args = [
        "--metrics",
        "dynamic_degree",
        "--backend",
        "toy",
        "--references",
        "loop",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(["score", str(tmp_path / "gen"), *args]) == 0
    out = capsys.readouterr().out
    assert "motion collapse: 2 of 4 video(s)" in out
    assert "frozen0: static from the start (no motion in any of its 3 window(s))" in out
    assert "frozen1: static from the start" in out and "moving" not in out.split("motion collapse")[1]
