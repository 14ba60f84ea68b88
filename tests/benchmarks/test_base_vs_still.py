"""benchmarks/toyworld/base_vs_still.py: its per-clip distance, its arguments, and one real clip."""

import json

import pytest
import torch

from benchmarks.toyworld import camera_following
from benchmarks.toyworld.base_vs_still import frame_distance, main, per_clip_distance


def test_per_clip_distance_reads_each_assembled_clip_against_its_own_frames():
    truth = torch.zeros(5, 3, 2, 2)
    parts = [torch.full((3, 3, 2, 2), 0.25), torch.full((2, 3, 2, 2), 0.5)]  # frames 0-2, then 3-4
    assert per_clip_distance(parts, truth) == [0.25, 0.5]
    truth[3:] = 0.5  # the second clip is exact
    assert per_clip_distance(parts, truth) == [0.25, 0.0]


def test_frame_distance_is_per_frame():
    truth = torch.zeros(3, 3, 2, 2)
    frames = torch.stack([torch.zeros(3, 2, 2), torch.full((3, 2, 2), 0.5)])  # two frames against three
    frames[1, 0] = 1.0  # one channel of frame 1 further off: (1 + 0.5 + 0.5) / 3
    assert frame_distance(frames, truth).tolist() == pytest.approx([0.0, 2 / 3])


@pytest.mark.parametrize("command", [main, camera_following.main], ids=["base_vs_still", "camera_following"])
def test_bad_arguments_stop_before_any_work(command, capsys):
    """Both read the demo's recipe through `recipe`, which refuses a weights folder that is not there."""
    with pytest.raises(SystemExit):
        command(["--samples", "0"])
    with pytest.raises(SystemExit):
        command(["--weights", "/no/such/folder"])
    assert "no such folder" in capsys.readouterr().err


def test_settings_it_cannot_chain_stop_before_any_work(capsys):
    with pytest.raises(SystemExit):
        main(["--set", "generate.chaining=latent"])  # not chained as this check chains
    assert "chaining=latent" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--set", "generate.guidance_scale=0.5"])  # refused by the schema, before any work


def test_one_clip_of_the_committed_base(capsys):
    assert main(["--samples", "1", "--seconds", "2", "--threads", "1", "--per-frame"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["clips"] == 1 and out["toy_world"] == 3
    base, frozen = out["per_clip"]["base"][0], out["per_clip"]["frozen"][0]
    assert 0 < frozen < 1 and 0 < base < 1  # the camera moves within the clip; the base is not exact
    frames = out["clip0_per_frame"]
    assert all(len(v) == 17 for v in frames.values())
    assert frames["frozen"][0] == 0 and frames["frozen"][-1] > 0  # frame 0 held is exact, then falls behind
    assert frames["truth_vae"][0] > 0 and frames["base"][0] > 0  # the VAE loses detail even at frame 0
    # one clip, kept whole: its per-clip figure is the mean of its frames (up to the rounding to 4 places)
    assert abs(sum(frames["base"]) / 17 - base) < 1e-3
