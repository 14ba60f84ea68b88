"""reports/verdicts.py: the two verdicts where one flag stood. Known answers on the issue's cases (colour
shift on a creative and on a consistent track, PSNR whose truth is a ceiling), the warning, the truth_vae
ceiling, the toy world's committed verdicts, and the committed bundles themselves."""

import math
from pathlib import Path

import pandas as pd
import pytest

from reports import margins as M
from reports import verdicts as V
from reports.bundle import read_bundle
from scoring import references as R

ROOT = Path(__file__).resolve().parents[2]
S = V.Score


def _arms(*means):
    return {f"arm{i}": S(m) for i, m in enumerate(means)}


def test_colour_shift_on_a_creative_track_is_invalid():
    """Truth 0.317, frozen 0, arms 0.11-0.19 (ablation_eimg, creative_100s): frozen beats reality by more
    than the arms are apart."""
    found = V.validity(
        "colour_shift", S(0.317, 0.25, 0.38), {"frozen": S(0.0, 0.0, 0.0), "loop": S(0.0001, 0.0, 0.0002)},
        _arms(0.112, 0.15, 0.188), anchored=False,
    )  # fmt: skip
    assert found.verdict == V.INVALID and found.against == "frozen"
    assert found.gap == pytest.approx(-0.317) and found.spread == pytest.approx(0.188 - 0.112)
    # the arms beat the truth on a metric not anchored to it: flagged
    arms = {"full": S(0.112, 0.09, 0.13), "plain": S(0.188, 0.16, 0.21)}
    assert V.better_than_reality("colour_shift", S(0.317, 0.25, 0.38), arms, anchored=False) == [
        "full",
        "plain",
    ]
    assert V.better_than_reality("colour_shift", S(0.317, 0.25, 0.38), arms, anchored=True) == []


def test_colour_shift_on_a_consistent_track_is_one_sided():
    """Truth 0.004, frozen 0, arms 0.14-0.17: both trivial and real sit at the good end, far from the arms."""
    found = V.validity(
        "colour_shift", S(0.0038, 0.002, 0.006), {"frozen": S(0.0, 0.0, 0.0), "pingpong": S(0.0085, 0.007, 0.010)},
        _arms(0.141, 0.170), anchored=False,
    )  # fmt: skip
    assert found.verdict == V.ONE_SIDED and found.against == "frozen"
    assert not V.asks_competence(found.verdict)


def test_an_anchored_metric_earns_valid_from_another_true_future():
    """PSNR is anchored to the truth (not scored against itself): the truth cannot judge it. It is valid
    only where another true future (what a perfect sampler makes) beats every trivial video; without one
    its validity is unknown here (competence still asked). Frozen 17.47 dB against arms 10.9-12.6: no
    arm beats standing still, a verdict on the models."""
    refs = {"frozen": S(17.47, 17.0, 17.9), "loop": S(16.11, 15.6, 16.6)}
    arms = {"base": S(12.64, 12.1, 13.2), "full": S(10.94, 10.2, 11.7)}
    unknown = V.validity("psnr", None, refs, arms, anchored=True)
    assert unknown.verdict == V.UNKNOWN and math.isnan(unknown.gap) and V.asks_competence(unknown.verdict)
    found = V.validity("psnr", None, refs, arms, anchored=True, alternative=S(19.0, 18.5, 19.5))
    assert found.verdict == V.VALID and found.gap == pytest.approx(19.0 - 17.47)
    assert V.standing_still("psnr", refs, arms) == []
    # a held frame nearer the truth than another true future: the metric rewards the mean
    mean = V.validity("psnr", None, refs, arms, anchored=True, alternative=S(15.0, 14.5, 15.5))
    assert mean.verdict == V.REWARDS_MEAN and not V.asks_competence(mean.verdict)
    assert mean.gap == pytest.approx(15.0 - 17.47)
    # intervals that overlap decide nothing; the truth itself is never what an anchored metric is judged by
    assert V.validity("psnr", None, refs, arms, True, S(17.5, 16.5, 18.5)).verdict == V.UNDECIDED
    assert V.validity("psnr", S(99.0, 98.0, 100.0), refs, arms, True).verdict == V.UNKNOWN
    # an arm whose interval clears the best reference beats standing still; one that only touches it does not
    assert V.standing_still("psnr", refs, {"good": S(18.5, 18.0, 19.0), "near": S(18.0, 17.5, 18.5)}) == [
        "good"
    ]


def test_pan_is_a_trivial_video_an_anchored_metric_must_beat():
    """Truth distance (lower is better) in toy world 3's shape: the held frame 0.149, the first frame
    panned 0.182, another true future 0.161 (a perfect sampler's distance): frozen wins, so the distance
    rewards the mean. Its energy score: frozen 0.149, pan 0.097, another true future 0.075: valid."""
    arms = {"base": S(0.167, 0.16, 0.174)}
    distance = {"frozen": S(0.149, 0.145, 0.153), "pan": S(0.182, 0.175, 0.189)}
    found = V.validity("truth_distance", None, distance, arms, True, S(0.161, 0.157, 0.165))
    assert found.verdict == V.REWARDS_MEAN and found.against == "frozen"
    energy = {"frozen": S(0.149, 0.145, 0.153), "pan": S(0.097, 0.093, 0.101)}
    found = V.validity("truth_distance", None, energy, arms, True, S(0.075, 0.072, 0.078))
    assert found.verdict == V.VALID and found.against == "pan"


def test_the_other_verdicts():
    refs = {"frozen": S(0.5, 0.45, 0.55), "loop": S(0.6, 0.55, 0.65)}
    # the truth beats every trivial video, intervals clear: valid (a higher-is-better metric)
    assert (
        V.validity("subject_consistency", S(0.9, 0.85, 0.95), refs, _arms(0.7, 0.8), False).verdict == V.VALID
    )
    # intervals that overlap decide nothing
    assert (
        V.validity("subject_consistency", S(0.62, 0.5, 0.74), refs, _arms(0.7, 0.8), False).verdict
        == V.UNDECIDED
    )
    # no truth and not anchored: validity unknown here; competence is still asked
    unknown = V.validity("subject_consistency", None, refs, _arms(0.7), False)
    assert unknown.verdict == V.UNKNOWN and V.asks_competence(unknown.verdict)
    assert V.validity("subject_consistency", None, {}, _arms(0.7), False) is None  # no reference: no verdict
    # one arm: the spread is 0, so any clear win of a trivial video over the truth is invalid
    assert V.validity("subject_consistency", S(0.3, 0.28, 0.32), refs, _arms(0.1), False).verdict == V.INVALID
    # a missing bound is the mean (one video, a set-level metric)
    assert V.clear_better("colour_shift", S(0.2), S(0.3)) and not V.clear_better(
        "colour_shift", S(0.2, 0.1, 0.35), S(0.3)
    )


def _frames():
    summary = pd.DataFrame(
        [{"track": "t", "metric": m, "arm": a, "mean": v, "low": v - 0.01, "high": v + 0.01, "contrast": "reference"}
         for m, a, v in (("colour_shift", "base", 0.14), ("colour_shift", "full", 0.17),
                         ("psnr", "base", 12.6), ("psnr", "full", 10.9))]
    )  # fmt: skip
    refs = pd.DataFrame(
        [{"track": "t", "arm": k, "metric": m, "mean": v, "low": v - 0.001, "high": v + 0.001, "n": 8}
         for m, k, v in (("colour_shift", "frozen", 0.0), ("colour_shift", "loop", 0.0001),
                         ("colour_shift", "truth", 0.0038), ("psnr", "frozen", 17.47), ("psnr", "loop", 16.11),
                         ("psnr", "truth_vae", 18.58), ("colour_shift", "truth_vae", 30.0),
                         ("psnr", "truth_alt", 19.2))]
    )  # fmt: skip
    return summary, refs


def test_verdicts_per_track_with_the_truth_vae_ceiling():
    summary, refs = _frames()
    found = {v.metric: v for v in V.verdicts(summary, refs, ["base", "full"])}
    cs, psnr = found["colour_shift"], found["psnr"]
    assert cs.validity.verdict == V.ONE_SIDED and cs.competence == V.NOT_ASKED
    assert cs.best == ("frozen", 0.0)  # truth_vae is a ceiling, never a degenerate reference
    assert psnr.validity.verdict == V.VALID and psnr.competence == V.NO_ARM
    assert psnr.under_ceiling == {"base": pytest.approx(12.6 - 18.58), "full": pytest.approx(10.9 - 18.58)}
    frame = V.verdict_frame(list(found.values()), ["base", "full"]).set_index("metric")
    assert frame.at["PSNR (dB)", "valid?"] == "valid"
    assert frame.at["PSNR (dB)", "any arm beats standing still?"] == V.NO_ARM
    assert (
        frame.at["PSNR (dB)", "base margin"] == "-4.87"
        and frame.at["PSNR (dB)", "full under truth_vae"] == "-7.68"
    )
    words = V.sentence(psnr)
    assert (
        "valid (another true future beats every trivial video, frozen (17.47) included" in words
        and "No arm beats standing still" in words
    )
    assert "Margin under the truth_vae ceiling: base -5.98, full -7.68." in words
    assert "all on the wrong side of frozen's." in words  # 10.9-12.6 dB against the held frame's 17.47

    # without the ceiling row: nothing about it
    plain = V.verdicts(summary, refs[refs["arm"] != R.TRUTH_VAE], ["base", "full"])
    assert all(not v.under_ceiling for v in plain)


def test_a_track_without_a_truth_gives_the_toy_worlds_verdict_as_prior():
    summary, refs = _frames()
    refs = refs[~refs["arm"].isin([V.TRUTH, R.TRUTH_VAE])]
    cs = next(v for v in V.verdicts(summary, refs, ["base", "full"]) if v.metric == "colour_shift")
    assert cs.validity.verdict == V.UNKNOWN
    priors = pd.DataFrame(
        [[2, "creative_100s", "colour_shift", V.INVALID, "b1"], [2, "consistent_100s", "colour_shift", V.ONE_SIDED, "b2"],
         [2, "creative_100s", "colour_shift", V.INVALID, "b0"]], columns=V.VERDICT_COLUMNS,
    )  # fmt: skip
    text = V.priors_text(priors, "colour_shift")
    assert text == (
        "world 2: one-sided on consistent_100s (b2); world 2: invalid on this suite on creative_100s (b0, b1)"
    )
    assert f"prior evidence from the toy world: {text}" in V.sentence(cs, text)
    assert V.known_verdict(priors, 2, "creative_100s", "colour_shift") == V.INVALID
    assert V.known_verdict(priors, 3, "creative_100s", "colour_shift") is None  # another world knows nothing


def test_the_score_rows_give_both_verdicts():
    head, rows, unknown = V.score_rows(
        {"subject_consistency": 0.8, "psnr": 20.0},
        {
            "frozen": {"subject_consistency": 1.0, "psnr": 17.0},
            "loop": {"subject_consistency": 0.9, "psnr": 16.0},
        },
        pd.DataFrame(
            [[2, "consistent_100s", "subject_consistency", V.ONE_SIDED, "b"]], columns=V.VERDICT_COLUMNS
        ),
    )
    assert head == ["metric", "videos", "frozen", "loop", "margin", "valid?", "beats standing still?"]
    sub = next(r for r in rows if r[0] == "subject_consistency")
    assert sub[1:] == ["0.8000", "1.0000", "0.9000", "-0.2000", V.UNKNOWN, "no (frozen wins)"]
    psnr = next(r for r in rows if r[0] == "psnr")
    # anchored to the truth, with no other true future in a folder of videos: unknown, competence still asked
    assert psnr[1:] == ["20.0000", "17.0000", "16.0000", "+3.0000", V.UNKNOWN, "yes"]
    assert "subject_consistency: world 2: one-sided on consistent_100s (b)" in unknown


def demo_verdicts(folder):
    """{(track, metric): verdict} of a committed ablation_eimg bundle, recomputed from it, and its manifest."""
    from reports import tables as T

    runs, samples, manifest = read_bundle(folder)
    runs, samples, refs = M.split(runs, samples)
    summary = T.summarize(T.finished(runs), samples, manifest["arm_order"], experiment="ablation_eimg")
    verdicts = V.verdicts(summary, M.reference_means(refs), manifest["arm_order"])
    return {(v.track, v.metric): v for v in verdicts}, manifest


def test_the_committed_bundles_give_the_issues_verdicts():
    """ablation_eimg in toy world 2 (results/world2/ablation_eimg), recomputed from its bundle: colour shift
    one-sided on consistent_100s and invalid on creative_100s; PSNR, anchored to the truth, of unknown
    validity (the bundle holds no other true future), with no arm beating standing still; the committed
    table says the same of erft_confirm's registered primary."""
    found, _ = demo_verdicts(ROOT / "results" / "world2" / "ablation_eimg")
    assert found[("consistent_100s", "colour_shift")].validity.verdict == V.ONE_SIDED
    assert found[("creative_100s", "colour_shift")].validity.verdict == V.INVALID
    for track in ("consistent_100s", "creative_100s"):
        assert found[(track, "psnr")].validity.verdict == V.UNKNOWN
        assert found[(track, "psnr")].competence == V.NO_ARM
    table = V.read_verdicts(ROOT)
    assert V.known_verdict(table, 2, "creative_100s", "colour_shift") == V.INVALID
    mine = table[(table["bundle"] == "erft_confirm") & (table["metric"] == "colour_shift")]
    assert list(mine["validity"]) == [V.INVALID]


def test_world_3s_bundle_judges_anchored_metrics_by_another_true_future():
    """results/ablation_eimg in toy world 3, with truth_alt and pan: the energy score is valid on both
    tracks (another true future beats every trivial video on it, pan included); the distance from one
    draw to the truth is valid on the creative track and undecided on the consistent one, where the
    intervals do not separate another true future from the trivial videos; colour shift, which the
    truth's travelling camera changes, is invalid on both."""
    found, manifest = demo_verdicts(ROOT / "results" / "ablation_eimg")
    assert manifest["versions"]["toy_world"] == 3
    for track in ("consistent_100s", "creative_100s"):
        assert found[(track, "energy_score")].validity.verdict == V.VALID
        assert found[(track, "colour_shift")].validity.verdict == V.INVALID
    assert found[("creative_100s", "truth_distance")].validity.verdict == V.VALID
    assert found[("consistent_100s", "truth_distance")].validity.verdict == V.UNDECIDED


def test_the_first_screen_states_the_primarys_verdicts_and_its_guards(tmp_path):
    """erft_confirm's report, rebuilt from its bundle with a guard: its answer section opens, above the
    forest plot, on its registered primary being invalid on its suite and what its answer still says,
    then the guard's verdicts and arms; the registration section says it too."""
    from reports.bundle import build_report_from

    files = build_report_from(ROOT / "results" / "erft_confirm", tmp_path, guards=["ssim"])
    report = files["report.md"].read_text()
    answer = report[report.index("## Answer: Colour shift") : report.index("](forest_colour_shift.png)")]
    assert "creative_100s, Colour shift: invalid on this suite (frozen" in answer
    assert "Its answer still compares the arms with each other on Colour shift" in answer
    assert "the registered experiment keeps it as its primary" in answer
    assert "Guards (declared beside the primary): creative_100s, SSIM: validity unknown here" in answer
    registered = report[report.index("## Pre-registered hypotheses") : report.index("## Answer")]
    assert "> **Note:** Can Colour shift judge here" in registered
    assert "| creative_100s | Colour shift | invalid on this suite | not asked |" in report


def test_the_report_section_gives_the_prior_where_no_truth_exists():
    from reports import build as B

    summary, refs = _frames()
    refs = refs[~refs["arm"].isin([V.TRUTH, R.TRUTH_VAE])]
    found = V.verdicts(summary, refs, ["base", "full"])
    priors = pd.DataFrame([[2, "creative_100s", "colour_shift", V.INVALID, "b"]], columns=V.VERDICT_COLUMNS)
    empty = pd.DataFrame(columns=["track", "arm", "sample", "seed", "level", "window", "metric", "value"])
    doc = B._Doc("t")
    B._degenerate_section(doc, found, refs, empty, empty, ["base", "full"], priors)
    text = "\n".join(doc.md)
    assert "| t | Colour shift | validity unknown here | no arm beats standing still |" in text
    assert (
        "Validity unknown here (the track has no truth, or, on a metric anchored to the truth, no other "
        "true future beside it); the toy world's verdicts, the prior evidence: "
        "t: Colour shift: world 2: invalid on this suite on creative_100s (b)." in text
    )
    assert (
        "No arm beats standing still (a verdict on the models, where the metric can judge): t: Colour shift; t: PSNR (dB)."
        in text
    )


def test_a_sentence_never_reads_as_a_win_its_intervals_do_not_give():
    """ablation_eimg's creative track as the page once put it: the arms' means below pingpong's on a
    lower-is-better metric, intervals overlapping. The sentence says both, not a bare 'no arm beats'."""
    v = V.Verdicts(
        "creative_100s", "truth_distance", V.Validity(V.VALID, "pingpong", 0.01, 0.003), [], [],
        ("pingpong", 0.3295), math.nan, {"base": 0.3227, "full": 0.3199},
    )  # fmt: skip
    words = V.sentence(v)
    assert "No arm beats standing still: the best degenerate reference is pingpong (0.3295)" in words
    assert "the arms' means are below pingpong's, but their intervals overlap it: not separated" in words


def test_a_question_not_asked_is_said_to_be_not_asked():
    v = V.Verdicts(
        "creative_100s", "colour_shift", V.Validity(V.INVALID, "frozen", -0.3, 0.01), [], [],
        ("frozen", 0.0), 0.3, {"base": 0.1},
    )  # fmt: skip
    assert "Whether an arm beats standing still is not asked on Colour shift here" in V.sentence(v)


def test_an_unknown_verdict_is_no_prior_evidence():
    priors = pd.DataFrame(
        [[3, "consistent_100s", "psnr", V.UNKNOWN, "b1"], [2, "creative_100s", "psnr", V.INVALID, "b0"]],
        columns=V.VERDICT_COLUMNS,
    )
    assert V.priors_text(priors, "psnr") == "world 2: invalid on this suite on creative_100s (b0)"
    assert V.priors_text(priors[priors["validity"] == V.UNKNOWN], "psnr") == ""
