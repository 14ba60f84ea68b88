"""benchmarks/toyworld/dance_ceiling.py: the reference videos it builds, scored by the dance track's PSNR /
SSIM. Over 0.2 s the dancer barely moves, so frame 0 held still is close to the truth, and the empty
stage (the true background, no dancer) is further from it."""

import json
import math

from benchmarks.toyworld.dance_ceiling import main


def test_reference_points_on_a_short_dance(tmp_path):
    out = tmp_path / "points.json"
    main(["--samples", "1", "--seconds", "0.2", "--out", str(out)])
    result = json.loads(out.read_text())["result"]
    assert set(result) == {"vae_round_trip", "still_reference", "empty_stage"}
    for name, scores in result.items():
        assert math.isfinite(scores["psnr"]) and 0.0 < scores["ssim"] <= 1.0, name
    assert result["still_reference"]["psnr"] > 25.0  # 5 frames of a barely moving dancer (29.7 dB)
    assert result["empty_stage"]["psnr"] < result["still_reference"]["psnr"]
    assert result["empty_stage"]["ssim"] < result["still_reference"]["ssim"]
