"""The panned frame's known answers: no velocity holds the frame, a whole-pixel pan slides it with the
edge pixel coming into view, a half-pixel pan averages two neighbours, and its velocities follow the
world's camera convention."""

import math

import numpy as np
import pytest
import torch

from scoring.energy import pixel_energy_score
from scoring.pan import SPEED_RANGE, draw_velocities, pan, velocity
from scoring.references import frozen


def _image(h: int = 8, w: int = 8) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_no_velocity_is_the_held_frame():
    image = _image()
    assert np.array_equal(pan(image, 5, (0.0, 0.0)), frozen(image, 5))


def test_a_whole_pixel_pan_slides_the_picture_and_brings_in_the_edge():
    image = _image()
    video = pan(image, 4, (0.0, 1 / 8))  # one pixel a frame to the right, on a side of 8
    assert np.array_equal(video[0], image)
    for t in range(4):
        # the camera moves right, so pixel x shows the image's x + t, the last column beyond the edge
        expected = image[:, np.minimum(np.arange(8) + t, 7)]
        assert np.array_equal(video[t], expected), t
    down = pan(image, 3, (-2 / 8, 0.0))  # two pixels a frame upward: the top row repeats
    assert np.array_equal(down[2][4:], image[:4]) and all(np.array_equal(r, image[0]) for r in down[2][:4])


def test_a_half_pixel_pan_averages_neighbours():
    image = np.zeros((2, 4, 3), dtype=np.uint8)
    image[:, 1] = 200  # one lit column
    video = pan(image, 2, (0.0, 0.5 / 4))  # half a pixel a frame
    assert video[1][0, :, 0].tolist() == [100, 100, 0, 0]  # x shows x + 0.5: half of the lit column


def test_velocities_follow_the_cameras_convention():
    vy, vx = velocity(math.pi / 2, 0.01)  # heading down
    assert vy == pytest.approx(0.01) and vx == pytest.approx(0.0, abs=1e-15)
    worlds = draw_velocities(np.random.default_rng(0), 6, {"right": 0.0}, {"slowly": 0.25})
    assert worlds == [(0.0, 0.25)] * 6
    free = draw_velocities(np.random.default_rng(0), 50)
    speeds = [math.hypot(*v) for v in free]
    assert SPEED_RANGE[0] <= min(speeds) and max(speeds) <= SPEED_RANGE[1]
    assert draw_velocities(np.random.default_rng(0), 50) == free  # a seed repeats its draws
    assert len(set(free)) == 50
    with pytest.raises(ValueError, match="finite"):
        pan(_image(), 2, (float("nan"), 0.0))


def test_a_pan_that_moves_with_the_truth_beats_the_held_frame():
    """A world that pans right: the pan drawn with the truth's velocity is the truth itself (energy
    score 0 against the held frame's distance); pans drawn in four directions, one of them the truth's,
    still beat holding the frame on the energy score."""
    image = _image(16, 16)
    truth = pan(image, 8, (0.0, 1 / 16))
    held = frozen(image, 8)

    def as_float(v):
        return torch.from_numpy(v.astype(np.float64) / 255)

    still = pixel_energy_score(as_float(held)[None], as_float(truth), deterministic=True).score
    exact = pixel_energy_score(as_float(truth)[None], as_float(truth), deterministic=True).score
    four = np.stack([pan(image, 8, velocity(a, 1 / 16)) for a in (0, math.pi / 2, math.pi, 3 * math.pi / 2)])
    drawn = pixel_energy_score(as_float(four), as_float(truth)).score
    assert exact == 0.0 and drawn < still
