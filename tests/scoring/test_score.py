"""score_suite / build_metrics / write_scores: the one scoring path of `harness score` and `harness run`."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from scoring import registry
from scoring import score as scoring
from scoring.score import build_metrics, score_suite, write_scores
from scoring.stream import report_rows, score_videos
from toyworld.synthetic import moving_square_frames, write_video

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # FVD warns about tiny sets, rightly

FRAMES, CLIP = 16, 8  # one 16-frame FVD clip per video, two windows
NAMES = "psnr_ssim,fvd,colour_shift,truth_distance,subject_consistency"


def _sidecar(path):
    clips = [{"index": i, "video_frames": [s, s + CLIP]} for i, s in enumerate(range(0, FRAMES, CLIP))]
    path.with_suffix(".json").write_text(json.dumps({"clips": clips}))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two 'generated' videos (sidecars with 2 clips each) that fade; their true videos (with sidecars)
    in truth/; the same true videos without sidecars (real videos) in real/."""
    root = tmp_path_factory.mktemp("scoring")
    videos, truth = [], {}
    for i, (colour, direction) in enumerate([((230, 40, 40), "right"), ((40, 200, 60), "down")]):
        frames = moving_square_frames(FRAMES, 32, 32, colour, direction, seed=i)  # uint8 [F, 32, 32, 3]
        fade = np.linspace(1.0, 0.6, FRAMES)[:, None, None, None]
        video, true = root / "gen" / f"v{i}.mp4", root / "truth" / f"v{i}.mp4"
        write_video(video, (frames * fade).round().astype(np.uint8))
        write_video(true, frames)
        (root / "real").mkdir(exist_ok=True)
        shutil.copy(
            true, root / "real" / true.name
        )  # a copy: x264 may not encode the same frames twice alike
        _sidecar(video)
        _sidecar(true)
        videos.append(video)
        truth[video.stem] = true
    return {"videos": videos, "truth": truth, "real": sorted((root / "real").glob("*.mp4"))}


def test_the_same_numbers_as_score_videos(data):
    refs = list(data["truth"].values())
    report = score_suite(
        data["videos"],
        NAMES,
        backend="toy",
        reference_videos=data["truth"],
        reference_set=refs,
        progress=False,
    )
    # by hand: fresh metrics, FVD's reference scored with the same window, then the suite
    metrics = [registry.build(n, backend="toy") for n in registry.expand(NAMES)]
    fvd = next(m for m in metrics if m.name == "fvd")
    ref = score_videos(refs, [fvd], window="clip", progress=False, aggregate=False)
    fvd.reference_features = fvd.features_of([v.results["fvd"] for v in ref.videos])
    suite = score_videos(
        data["videos"], metrics, window="clip", reference_videos=data["truth"], progress=False
    )
    expected = suite.to_json()

    assert report["unavailable"] == {} and report["fvd_reference_failed"] == []
    assert list(report["aggregate"]) == registry.expand(NAMES)
    assert report["aggregate"] == expected["aggregate"]
    assert report["videos"][0]["window_scores"]["colour_shift"][0] == 0.0  # the first window is the reference
    for got, want in zip(report["videos"], expected["videos"]):
        assert got["windows"] == want["windows"] == [(0, 8), (8, 16)]
        assert got["scores"] == want["scores"] and got["window_scores"] == want["window_scores"]
    per_window = fvd.per_window([v.results["fvd"] for v in suite.videos])
    assert report["fvd_per_window"] == per_window and per_window[0] is not None


def test_unmet_needs_are_unavailable_with_a_reason(data):
    report = score_suite(data["videos"], "psnr,fvd,i2v_subject,colour_shift", backend="toy", progress=False)
    assert list(report["aggregate"]) == ["colour_shift"] and report["num_videos"] == 2
    reasons = report["unavailable"]
    assert set(reasons) == {"psnr", "fvd", "i2v_subject"}
    assert "ground-truth video" in reasons["psnr"] and "reference set" in reasons["fvd"]
    assert "input image" in reasons["i2v_subject"]  # the sidecars have no metadata.image
    assert "fvd_per_window" not in report
    long = score_suite(
        data["videos"], "fvd", backend="toy", long=True, reference_set=data["real"], progress=False
    )
    assert "without long" in long["unavailable"]["fvd"]


def test_audio_metrics_need_every_videos_audio(data, tmp_path):
    reasons = score_suite(data["videos"], "sync,colour_shift", backend="random", progress=False)[
        "unavailable"
    ]
    assert set(reasons) == {"sync_c", "sync_d"}
    assert "audio" in reasons["sync_c"] and "2 video(s) have none: v0, v1" in reasons["sync_c"]
    some = {"v0": tmp_path / "v0.wav"}  # only checked for presence here: nothing is scored
    reasons = score_suite(data["videos"], "sync_d", backend="random", audio=some, progress=False)[
        "unavailable"
    ]
    assert "1 video(s) have none: v1" in reasons["sync_d"]
    build_metrics.cache_clear()


def test_fvd_reference_set_is_read_with_the_videos_window(data, monkeypatch):
    calls = []

    def spy(paths, metrics, **kw):
        calls.append((sorted(p.name for p in paths), [m.name for m in metrics], kw["window"]))
        return score_videos(paths, metrics, **kw)

    monkeypatch.setattr(scoring, "score_videos", spy)
    window = f"{CLIP / 16}s"  # the clips' grid in seconds (16 fps)
    refs = list(data["truth"].values())
    by_truth = score_suite(
        data["videos"], "fvd", backend="toy", window=window, reference_set=refs, progress=False
    )
    assert calls == [(["v0.mp4", "v1.mp4"], ["fvd"], window)] * 2  # the reference set, then the videos
    # real videos have no sidecar: under "clip" each is read as one window, which gives the same features
    calls.clear()
    real = score_suite(data["videos"], "fvd", backend="toy", reference_set=data["real"], progress=False)
    assert [c[2] for c in calls] == ["video", "clip"]
    assert real["aggregate"]["fvd"] == by_truth["aggregate"]["fvd"]


def test_bad_input_fails_before_any_work(data, monkeypatch):
    def no_build(*a, **kw):
        raise AssertionError("built a metric")

    monkeypatch.setattr(registry, "build", no_build)
    with pytest.raises(ValueError, match="unknown metric 'sharpness'"):
        score_suite(data["videos"], "vbench,sharpness", progress=False)
    with pytest.raises(ValueError, match="--window"):
        score_suite(data["videos"], "colour_shift", window="often", progress=False)
    with pytest.raises(ValueError, match="unknown backend"):
        score_suite(data["videos"], "colour_shift", backend="gpu", progress=False)
    with pytest.raises(ValueError, match="unknown build option"):
        score_suite(data["videos"], "colour_shift", build_options={"cache": "x"}, progress=False)


def test_build_metrics_is_cached_and_lists_what_cannot_be_built(monkeypatch):
    first, _ = build_metrics("colour_shift,ssim", "toy")
    again, _ = build_metrics(["colour_shift", "ssim"], "toy")
    assert [m.name for m in first] == ["colour_shift", "ssim"] and all(a is b for a, b in zip(first, again))

    build = registry.build

    def without_ssim(name, **kw):
        if name == "ssim":
            raise registry.MetricUnavailable("no SSIM here")
        return build(name, **kw)

    monkeypatch.setattr(registry, "build", without_ssim)
    build_metrics.cache_clear()
    metrics, unavailable = build_metrics("colour_shift,ssim", "toy", device="cpu")
    assert [m.name for m in metrics] == ["colour_shift"] and unavailable == {"ssim": "no SSIM here"}
    build_metrics.cache_clear()


def test_write_scores(data, tmp_path):
    report = score_suite(
        data["videos"], "ssim,colour_shift", backend="toy", reference_videos=data["truth"], progress=False
    )
    json_path, csv_path = write_scores(report, tmp_path / "out")
    assert json.loads(json_path.read_text())["aggregate"] == pytest.approx(report["aggregate"])
    table = pd.read_csv(csv_path)
    assert list(table["level"]) == ["window", "window", "video"] * 2 + ["suite"]
    assert table[table.level == "suite"]["ssim"].item() == pytest.approx(report["aggregate"]["ssim"])
    assert "window,v0,1,8,16," in csv_path.read_text()  # integer columns: 1,8,16 and not 1.0,8.0,16.0
    # the rows of a report read back from disk are the same as the suite's
    assert report_rows(json.loads(json_path.read_text())) == report_rows(report)


def test_scoring_the_same_videos_twice_gives_the_same_numbers(data):
    """The evaluator's noise floor on the CPU is 0: two scorings of the same videos, each with metrics
    built afresh (network weights included), agree in every per-video, per-window and suite value."""
    kwargs = dict(backend="toy", reference_videos=data["truth"], reference_set=list(data["truth"].values()))
    first = score_suite(data["videos"], NAMES + ",vbench", progress=False, **kwargs)
    build_metrics.cache_clear()  # the second pass builds its networks again
    second = score_suite(data["videos"], NAMES + ",vbench", progress=False, **kwargs)
    assert json.dumps(first, sort_keys=True, default=str) == json.dumps(second, sort_keys=True, default=str)
    assert first["aggregate"]["subject_consistency"] is not None
