"""VBench's RAFT and AMT-S, imported without VBench's pins: random init, weight files, the metrics."""

import pytest
import torch

from scoring.base import VideoInfo
from scoring.motion import DynamicDegree, MotionSmoothness
from scoring.vbench_models import AMT_FILE, RAFT_FILE, AmtInterpolator, RaftFlow, vbench_module

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


def _frames(n=6, h=130, w=150, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, h, w, generator=g) * 255).round()


def test_importing_vbench_models_skips_its_package_init():
    raft = vbench_module("third_party.RAFT.core.raft")
    assert hasattr(raft, "RAFT")
    import sys

    assert not hasattr(sys.modules["vbench"], "init_submodules")  # vbench/__init__.py did not run


def test_raft_weight_file_round_trip(tmp_path):
    net = RaftFlow.build(random=True, seed=1)
    f = tmp_path / RAFT_FILE
    f.parent.mkdir(parents=True)
    # the official file was saved from DataParallel: keys carry a "module." prefix
    torch.save({f"module.{k}": v for k, v in net.model.state_dict().items()}, f)
    loaded = RaftFlow.build(tmp_path)
    a, b = _frames(1), _frames(1, seed=1)
    flow = net(a, b)
    assert flow.shape == (1, 2, 136, 152)  # padded to multiples of 8, as VBench scores it
    torch.testing.assert_close(loaded(a, b), flow)


def test_amt_weight_file_round_trip(tmp_path):
    net = AmtInterpolator.build(random=True, seed=2)
    f = tmp_path / AMT_FILE
    f.parent.mkdir(parents=True)
    torch.save({"state_dict": net.model.state_dict()}, f)
    loaded = AmtInterpolator.build(tmp_path)
    a, b = _frames(2), _frames(2, seed=3)
    mid = net(a, b)
    assert mid.shape == a.shape
    torch.testing.assert_close(loaded(a, b), mid)


def test_too_small_frames_are_refused():
    with pytest.raises(ValueError, match="at least 128 px"):
        RaftFlow.build(random=True)(_frames(1, 64, 64), _frames(1, 64, 64))


def test_missing_weights_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="raft-things.pth"):
        RaftFlow.build(tmp_path)
    with pytest.raises(FileNotFoundError, match="amt-s.pth"):
        AmtInterpolator.build(tmp_path)


def test_metrics_run_with_random_networks():
    video = _frames(8)
    info = VideoInfo("v", 16.0, 8, 130, 150)
    dd = DynamicDegree(RaftFlow.build(random=True), backend="random-init")
    acc = dd.new_video(info)
    acc.update(video[:5])
    acc.update(video[5:])
    res = acc.finish()
    assert res.extra["pairs"] == 3 and res.value in (0.0, 1.0)  # 4 sampled frames at 16 fps
    ms = MotionSmoothness(AmtInterpolator.build(random=True), backend="random-init")
    acc = ms.new_video(info)
    acc.update(video)
    assert 0.0 <= acc.finish().value <= 1.0
