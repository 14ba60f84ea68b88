"""benchmarks/toyworld/dance_seconds.py: per-second PSNR of a dance and of the still reference, and its
colour offset. Known answers: a video that is frame 0 held still scores as the still reference, second
by second; one brightened by 20 grey levels is offset by about +20 in every channel."""

import json

import numpy as np

from benchmarks.toyworld.dance_seconds import main
from svi.video_io import read_frames
from toyworld.dancers import FPS, write_dance_benchmark
from toyworld.synthetic import write_video


def test_still_and_brightened_dances_against_their_known_answers(tmp_path):
    bench = write_dance_benchmark(tmp_path / "bench", 2, seconds=2.2, progress=False)
    videos = tmp_path / "videos"
    truth = read_frames(bench / "toy_000" / "gt.mp4")  # [55, 64, 64, 3]
    write_video(videos / "toy_000.mp4", np.repeat(truth[:1], len(truth), axis=0), FPS)
    brighter = np.clip(read_frames(bench / "toy_001" / "gt.mp4").astype(int) + 20, 0, 255).astype(np.uint8)
    write_video(videos / "toy_001.mp4", brighter, FPS)
    out = tmp_path / "seconds.json"
    main(["--videos", str(videos), "--bench", str(bench), "--out", str(out)])
    result = json.loads(out.read_text())["result"]

    still = result["toy_000"]
    assert len(still["psnr_per_second"]) == 3  # 55 frames: two whole seconds and 5 frames
    assert np.allclose(still["psnr_per_second"], still["still_reference_psnr_per_second"], atol=1.0)
    stage = json.loads((bench / "toy_000" / "world.json").read_text())["look"]["background"]
    assert still["stage"] == {"kind": stage["kind"], "colours": stage["colours"]}
    offset = np.array(result["toy_001"]["colour_offset_first_second"])
    assert np.all(offset > 12.0) and np.all(offset <= 20.5)  # +20, less where a channel clips at 255
