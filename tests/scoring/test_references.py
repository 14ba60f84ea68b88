"""The degenerate references (scoring/references.py): known answers for the builders, the collapse rule
and the coherence curve, and references written beside a real encoded video."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from scoring import references as R


def _clip(n: int = 3) -> np.ndarray:
    """n frames [n, 2, 2, 3] whose value is their index."""
    return np.stack([np.full((2, 2, 3), i, dtype=np.uint8) for i in range(n)])


def test_frozen_holds_the_image():
    image = np.full((2, 2, 3), 7, dtype=np.uint8)
    out = R.frozen(image, 5)
    assert out.shape == (5, 2, 2, 3) and (out == 7).all()


def test_loop_repeats_the_clip_and_cuts_the_last_repeat():
    assert R.loop(_clip(3), 7)[:, 0, 0, 0].tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_pingpong_turns_without_doubling_its_end_frames():
    assert R.pingpong_order(3, 9).tolist() == [0, 1, 2, 1, 0, 1, 2, 1, 0]
    assert R.pingpong_order(1, 3).tolist() == [0, 0, 0]
    assert R.pingpong(_clip(2), 5)[:, 0, 0, 0].tolist() == [0, 1, 0, 1, 0]


def test_build_names_the_kinds_and_frozen_falls_back_to_the_first_frame():
    assert (R.build("frozen", image=None, clip=_clip(3) + 4, frames=3) == 4).all()
    with pytest.raises(ValueError, match="unknown reference 'still'"):
        R.build("still", image=None, clip=_clip(), frames=3)


@pytest.mark.parametrize(
    "motion, start",
    [
        ([5, 5, 0, 0], 2),  # moves, then holds still to the end: collapsed from window 2
        ([0, 0, 0, 0], 0),  # a frozen video: from its first window
        ([5, 0, 5, 0], None),  # one still window at the end is a pause
        ([5, 5, 5], None),  # keeps moving
        ([5, 0.5, 0.4], 1),  # at most a tenth of the reference's 5 is still
        ([5, 0.51, 0.4], None),
    ],
)
def test_collapse_start(motion, start):
    assert R.collapse_start(motion, 5.0) == start


def test_a_reference_that_does_not_move_collapses_nothing_but_a_video_with_no_motion():
    assert R.collapse_start([5, 0, 0], 0.0) is None  # nothing to fall below
    assert R.collapse_start([5, 0, 0], None) is None
    # no motion in any window: static from the start, whatever the reference (its own looped first
    # clip, frozen too, moves no more than it)
    assert R.collapse_start([0, 0, 0], 0.0) == 0
    assert R.collapse_start([0.0, R.STATIC_MOTION], None) == 0
    assert R.collapse_start([0.0], 5.0) == 0  # one window is enough when it never moves
    assert R.collapse_start([0.025, 0.0001, 0.0001], 0.025) == 0  # a held frame as H.264 decodes it
    assert R.collapse_start([0.0, 2 * R.STATIC_MOTION], 0.0) is None
    # a: static from the start; b: collapsed from window 2 against its looped first clip; c: moving
    assert R.collapsed({"a.mp4": [0, 0], "b.mp4": [5, 5, 0, 0], "c.mp4": [5, 5]}, {"b.mp4": 5.0}) == {
        "a.mp4": None,
        "b.mp4": 2,
    }


def test_coherence_at_gaps_known_answers():
    e1, e2 = np.eye(2)
    assert R.coherence_at_gaps(np.tile(e1, (6, 1)), 1.0, [1, 5]) == {1: 1.0, 5: 1.0}
    alternating = np.stack([e1, e2] * 3)  # [6, 2]
    out = R.coherence_at_gaps(alternating, 1.0, [1, 2, 6])
    assert out[1] == 0.0 and out[2] == 1.0 and math.isnan(out[6])
    # as VBench #206 reads it: [e1, e2, e1] at 2 fps and a 1 s gap compares frames 0 and 2
    assert R.coherence_at_gaps(np.stack([e1, e2, e1]), 2.0, [1.0]) == {1.0: 1.0}


def test_references_written_beside_a_video_keep_its_length_clip_and_sidecar(tmp_path):
    from svi.video_io import read_frames, write_segment

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (20, 16, 16, 3), dtype=np.uint8)
    video = write_segment(tmp_path / "s0.mp4", frames, 8)
    sidecar = {"clips": [{"video_frames": [0, 5]}, {"video_frames": [5, 20]}], "metadata": {}}
    video.with_suffix(".json").write_text(json.dumps(sidecar))
    out = R.references_of_video(video, tmp_path / "refs")
    assert set(out) == set(R.BUILT)
    decoded = read_frames(video).astype(float)  # what the references are built from
    for kind, path in out.items():
        got = read_frames(path).astype(float)
        assert got.shape == frames.shape, kind
        written = json.loads(path.with_suffix(".json").read_text())
        assert [c["video_frames"] for c in written["clips"]] == [c["video_frames"] for c in sidecar["clips"]]
        assert written["reference"] == kind
        expected = R.build(kind, image=None, clip=decoded[:5], frames=20)
        assert np.abs(got - expected).mean() < 12, kind  # lossy H.264 of noise: close, not equal
    loop = read_frames(out["loop"]).astype(float)
    assert np.abs(loop[5:10] - loop[0:5]).mean() < np.abs(decoded[5:10] - decoded[0:5]).mean() / 3


def test_a_frozen_video_is_collapsed_and_a_moving_toy_video_is_not(tmp_path):
    """The collapse rule on real scores: a toy-world square moving for 64 frames and that video's frozen
    reference, scored with the toy backend's dynamic degree per 16-frame window (its per-window value
    is the window's flow magnitude); the reference motion is the moving video's first window's."""
    from scoring.score import score_suite
    from toyworld.synthetic import moving_square_frames, write_video

    frames = moving_square_frames(64, 64, 64, (230, 40, 40), "right", seed=0)  # uint8 [64, 64, 64, 3]
    clips = [{"index": i, "video_frames": [s, s + 16]} for i, s in enumerate(range(0, 64, 16))]
    videos = {"moving": frames, "frozen": R.frozen(frames[0], 64)}
    for name, video in videos.items():
        write_video(tmp_path / f"{name}.mp4", video)
        (tmp_path / f"{name}.json").write_text(json.dumps({"clips": clips}))
    report = score_suite(
        [tmp_path / "moving.mp4", tmp_path / "frozen.mp4"], "dynamic_degree", backend="toy", window="clip",
        progress=False,
    )  # fmt: skip
    motion = {Path(v["video"]).stem: v["window_scores"]["dynamic_degree"] for v in report["videos"]}
    level = motion["moving"][0]
    assert level > 0
    assert R.collapse_start(motion["frozen"], level) == 0
    assert R.collapse_start(motion["moving"], level) is None


def _truth_file(path, frames: int):
    from svi.video_io import write_segment

    pixels = np.stack([np.full((8, 8, 3), 9 * k, dtype=np.uint8) for k in range(frames)])
    return write_segment(path, pixels, 8)


def test_a_truth_shorter_than_the_video_ends_its_windows_with_it(tmp_path):
    frames = _clip(4)
    truth = _truth_file(tmp_path / "truth.mp4", 6)  # 6 frames of a 10-frame video
    windows = [(0, 4), (4, 8), (8, 10)]
    out = R.write_references(
        tmp_path, "s0", clip=np.repeat(frames, 4, axis=1).repeat(4, axis=2), windows=windows, fps=8,
        sidecar={"fps": 8, "metadata": {}}, kinds=["truth", "loop"], truth=truth,
    )  # fmt: skip
    side = json.loads(out["truth"].with_suffix(".json").read_text())
    assert side["num_frames"] == 6 and [c["video_frames"] for c in side["clips"]] == [[0, 4], [4, 6]]
    assert json.loads(out["loop"].with_suffix(".json").read_text())["num_frames"] == 10
    assert out["truth"].read_bytes() == truth.read_bytes()  # as the benchmark holds it: not encoded again


def test_a_longer_truth_is_cut_and_the_built_references_repeat_exact_pixels(tmp_path):
    from svi.video_io import read_frames

    truth = _truth_file(tmp_path / "truth.mp4", 14)
    clip = np.stack([np.full((8, 8, 3), 20 * k, dtype=np.uint8) for k in range(4)])
    out = R.write_references(
        tmp_path / "refs", "s0", clip=clip, windows=[(0, 4), (4, 8), (8, 10)], fps=8,
        sidecar={"fps": 8, "metadata": {}}, kinds=["truth", "loop", "frozen"], truth=truth,
    )  # fmt: skip
    assert len(read_frames(out["truth"])) == 10 and out["truth"].read_bytes() != truth.read_bytes()
    loop = read_frames(out["loop"])  # intra-only: each repeat decodes to the same pixels
    assert all((loop[k] == loop[k % 4]).all() for k in range(10))
    frozen = read_frames(out["frozen"])
    assert all((f == frozen[0]).all() for f in frozen)


def _numbered(n: int) -> np.ndarray:
    """n frames [n, 2, 2, 3] whose value is their index (as uint8)."""
    return np.stack([np.full((2, 2, 3), k, dtype=np.uint8) for k in range(n)])


def test_truth_vae_with_an_identity_vae_is_the_truth():
    truth = _numbered(30)
    windows = [(0, 9), (9, 17), (17, 25)]  # latent chaining: a first clip of 9, later clips of 9 - lead 1
    for align in ("start", "end"):
        same = R.through_vae(truth, windows, R.VaeRoundTrip(lambda c: c, 9, align))
        assert same.shape == (25, 2, 2, 3) and (same == truth[:25]).all()


@pytest.mark.parametrize(
    "align, spans",
    [
        ("end", [(0, 9), (8, 17), (16, 25)]),  # a later clip restates the previous clip's last frame
        ("start", [(0, 9), (9, 18), (16, 25)]),  # the last clip is shifted back inside the truth
    ],
)
def test_truth_vae_round_trips_each_clip_as_generation_chains_them(align, spans):
    """A round trip that marks each clip it is given (adds 100 x the call number) shows which truth frames
    each clip was made from and which of its frames the video keeps."""
    truth, windows, seen = _numbered(25), [(0, 9), (9, 17), (17, 25)], []

    def mark(clips: np.ndarray) -> np.ndarray:  # [B, F, H, W, 3]: B clips, each marked on its own
        marked = []
        for clip in clips:
            seen.append((int(clip[0, 0, 0, 0]), int(clip[-1, 0, 0, 0]) + 1))
            marked.append(clip + 100 * (len(seen) - 1))
        calls.append(len(clips))
        return np.stack(marked)

    calls = []
    out = R.through_vae(truth, windows, R.VaeRoundTrip(mark, 9, align, batch=2))
    assert seen == spans and calls == [2, 1]  # clips in batches of 2
    assert out[:, 0, 0, 0].tolist() == [k + 100 * i for i, (a, b) in enumerate(windows) for k in range(a, b)]
    assert R.clip_span((0, 4), R.VaeRoundTrip(mark, 9), 6) == (0, 6)  # a truth shorter than a clip: all of it
    with pytest.raises(ValueError, match="align"):
        R.VaeRoundTrip(mark, 9, "middle")


def test_chained_clips_add_their_frames_after_the_one_they_restate():
    assert R.chained_windows(3, 17) == [(0, 17), (17, 33), (33, 49)]
    assert R.chained_windows(2, 9, lead=5) == [(0, 9), (9, 13)]
    assert R.chained_windows(0, 17) == []


@pytest.mark.parametrize(
    "frames, spans",
    [
        (9, [(0, 9)]),
        (4, [(0, 9)]),  # shorter than a clip: one clip, padded with the last frame
        (13, [(0, 9), (8, 17)]),  # the second clip starts at the first's last frame, padded past frame 12
        (17, [(0, 9), (8, 17)]),
    ],
)
def test_a_chained_round_trip_takes_each_clip_from_the_previous_clips_last_frame(frames, spans):
    """Each clip is made from the frames it covers (a clip starts on the last frame of the one before,
    the last padded with the video's last frame) and the video keeps a later clip's frames after that one;
    with an identity round trip it is the video itself."""
    truth, seen = _numbered(frames), []

    def mark(clips: np.ndarray) -> np.ndarray:  # one clip a call: marked with 100 x its number
        (clip,) = clips
        seen.append((int(clip[0, 0, 0, 0]), int(clip[0, 0, 0, 0]) + len(clip)))
        assert (clip[min(frames, spans[len(seen) - 1][1]) - spans[len(seen) - 1][0] :] == frames - 1).all()
        return (clip + 100 * (len(seen) - 1))[None]

    out = R.chained_round_trip(truth, mark, 9)
    assert seen == spans and out.shape == truth.shape
    clip_of = [0] * min(9, frames) + [1] * max(0, frames - 9)
    assert out[:, 0, 0, 0].tolist() == [k + 100 * c for k, c in zip(range(frames), clip_of)]
    assert (R.chained_round_trip(truth, lambda c: c, 9) == truth).all()


def test_truth_vae_is_written_through_the_vae_and_is_never_a_degenerate_reference(tmp_path):
    from svi.video_io import read_frames

    truth = _truth_file(tmp_path / "truth.mp4", 14)
    darker = R.VaeRoundTrip(lambda c: (c // 2).astype(np.uint8), 4, "start")  # a lossy stand-in VAE
    clip = np.stack([np.full((8, 8, 3), 20 * k, dtype=np.uint8) for k in range(4)])
    out = R.write_references(
        tmp_path / "refs", "s0", clip=clip, windows=[(0, 4), (4, 8), (8, 10)], fps=8,
        sidecar={"fps": 8, "metadata": {}}, kinds=["truth_vae"], truth=truth, vae=darker,
    )  # fmt: skip
    made, true = read_frames(out["truth_vae"]), read_frames(truth)[:10]
    assert made.shape == true.shape and np.abs(made.astype(int) - true.astype(int) // 2).max() <= 2  # codec
    assert json.loads(out["truth_vae"].with_suffix(".json").read_text())["reference"] == "truth_vae"
    with pytest.raises(ValueError, match="VAE round trip"):
        R.write_references(tmp_path / "none", "s0", clip=clip, windows=[(0, 4)], fps=8, sidecar={},
                           kinds=["truth_vae"], truth=truth)  # fmt: skip
    assert "truth_vae" not in R.BUILT  # a ceiling is not a way of standing still (reports/verdicts.py)


def _gradient(h: int = 16, w: int = 16) -> np.ndarray:
    """A picture [h, w, 3] whose pixels all differ, so a pan's shift shows."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([y * 15, x * 15, (y + x) * 7], axis=-1).astype(np.uint8)


def test_pans_start_at_the_image_and_are_drawn_from_the_samples_stream():
    image = _gradient()
    videos = R.pans(image, 12, draws=3, seed=R.sample_seed("s0"))
    assert len(videos) == 3 and all(v.shape == (12, 16, 16, 3) for v in videos)
    assert all(np.array_equal(v[0], image) for v in videos)  # frame 0 is the first frame
    assert not np.array_equal(videos[0][-1], image)  # then it moves
    again = R.pans(image, 12, draws=3, seed=R.sample_seed("s0"))
    assert all(np.array_equal(a, b) for a, b in zip(videos, again))  # seeded by the sample's name
    other = R.pans(image, 12, draws=3, seed=R.sample_seed("s1"))
    assert any(not np.array_equal(a, b) for a, b in zip(videos, other))
    # the world's cameras, where it states them: one heading and one speed leave one velocity
    from scoring.pan import pan

    right = R.pans(image, 12, draws=2, seed=3, headings={"right": 0.0}, speeds={"fast": 1 / 16})
    assert all(np.array_equal(v, pan(image, 12, (0.0, 1 / 16))) for v in right)


def test_a_drawn_reference_writes_its_draws_in_the_energy_scores_layout(tmp_path):
    """pan and truth_alt: K videos a sample, draw 0 at <kind>/<name>.mp4 (scored like any video), the
    others under <kind>/draws/<name>/ (scoring/energy.py draw_paths finds them all, in order)."""
    from scoring.energy import draw_paths
    from svi.video_io import read_frames

    image = _gradient()
    # three "other futures": the first frame, then each its own picture
    futures = [np.concatenate([image[None], np.repeat(image[None] // (k + 2), 9, axis=0)]) for k in range(3)]
    drawn = R.Drawn(draws=3, futures=lambda frames, draws, seed: [f[:frames] for f in futures[:draws]])
    out = R.write_references(
        tmp_path, "s0", clip=image[None], windows=[(0, 4), (4, 8), (8, 10)], fps=8,
        sidecar={"fps": 8, "metadata": {}}, kinds=[R.PAN, R.TRUTH_ALT], drawn=drawn,
    )  # fmt: skip
    assert set(out) == {R.PAN, R.TRUTH_ALT}
    for kind in out:
        paths = draw_paths(out[kind])
        assert paths[0] == tmp_path / kind / "s0.mp4" and len(paths) == 3
        assert paths[1] == tmp_path / kind / "draws" / "s0" / "1.mp4"
        sides = [json.loads(p.with_suffix(".json").read_text()) for p in paths]
        assert [s["draw"] for s in sides] == [0, 1, 2] and {s["reference"] for s in sides} == {kind}
        assert [c["video_frames"] for c in sides[0]["clips"]] == [[0, 4], [4, 8], [8, 10]]
        decoded = [read_frames(p) for p in paths]
        assert all(len(v) == 10 for v in decoded)
        # frame 0 of every draw is the first frame (lossy H.264: close, not equal)
        assert all(np.abs(v[0].astype(float) - image).mean() < 4 for v in decoded)
    truth_alt = [read_frames(p).astype(float) for p in draw_paths(out[R.TRUTH_ALT])]
    assert all(np.abs(v - f).mean() < 4 for v, f in zip(truth_alt, futures))  # the world's, in order
    pans = [read_frames(p).astype(float) for p in draw_paths(out[R.PAN])]
    expected = R.pans(image, 10, 3, R.sample_seed("s0"))  # the default: SPEED_RANGE, seeded by the name
    assert all(np.abs(v - e).mean() < 4 for v, e in zip(pans, expected))
    # built again with fewer draws: the draws beyond them are gone
    R.write_references(
        tmp_path, "s0", clip=image[None], windows=[(0, 10)], fps=8, sidecar={"fps": 8, "metadata": {}},
        kinds=[R.PAN], drawn=R.Drawn(draws=2),
    )  # fmt: skip
    assert len(draw_paths(out[R.PAN])) == 2


def test_truth_alt_without_a_world_to_draw_it_is_refused_and_one_draw_is_too_few(tmp_path):
    with pytest.raises(ValueError, match="needs its world to draw other true futures"):
        R.write_references(tmp_path, "s0", clip=_gradient()[None], windows=[(0, 4)], fps=8, sidecar={},
                           kinds=[R.TRUTH_ALT])  # fmt: skip
    with pytest.raises(ValueError, match="at least 2 draws"):
        R.Drawn(draws=1)
