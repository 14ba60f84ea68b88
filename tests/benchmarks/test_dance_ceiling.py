"""benchmarks/toyworld/dance_ceiling.py: its scores on known answers, and the reference videos it builds."""

import math

import numpy as np
import pytest

from benchmarks.toyworld.dance_ceiling import _scores


def test_scores_known_answers():
    rng = np.random.default_rng(0)
    truth = rng.integers(20, 200, size=(3, 16, 16, 3), dtype=np.uint8)
    same = _scores(truth, truth)
    assert math.isnan(same["psnr"])  # every frame identical: no finite frame to average
    assert same["ssim"] == pytest.approx(1.0)
    shifted = _scores(truth + np.uint8(10), truth)  # MSE (10 / 255)^2 in every frame
    assert shifted["psnr"] == pytest.approx(20 * math.log10(25.5), abs=1e-9)
    assert shifted["ssim"] < 1.0
