"""The metric table (scoring/specs.py): facts, groups, builders, expand, and the classes."""

import pytest

from scoring import registry, specs
from scoring.specs import ALL, BACKENDS, GROUPS, SPECS, MetricSpec, expand, spec

VBENCH = [
    "subject_consistency",
    "background_consistency",
    "aesthetic_quality",
    "imaging_quality",
    "dynamic_degree",
    "motion_smoothness",
]
DRIFT = ["colour_shift", "sharpness_loss", "truth_distance"]
PROTOCOLS = [
    "delta_drift_aesthetic",
    "delta_drift_imaging",
    "vde_imaging",
    "vde_motion",
    "vde_aesthetic",
    "vde_background",
    "vde_subject",
]
COHERENCE = ["subject_coherence", "background_coherence"]
GUARDS = ["non_repetition", "truth_clip_distance"]
ENERGY = ["energy_score", "energy_accuracy", "energy_spread"]
CLIP_ENERGY = ["clip_energy_score", "clip_energy_accuracy", "clip_energy_spread"]


def test_groups_and_all():
    assert GROUPS == {
        "vbench": VBENCH,
        "i2v": ["i2v_subject", "i2v_background"],
        "psnr_ssim": ["psnr", "ssim"],
        "sync": ["sync_c", "sync_d"],
        "fvd": ["fvd"],
        "drift": DRIFT,
        "drift_protocols": PROTOCOLS,
        "coherence": COHERENCE,
        "guards": GUARDS,
        "energy": ENERGY,
        "clip_energy": CLIP_ENERGY,
    }
    assert ALL == [n for names in GROUPS.values() for n in names]
    assert all(spec(n).group == g for g, names in GROUPS.items() for n in names)
    assert BACKENDS == ("vbench", "random", "toy")
    # the registry re-exports the table's
    assert registry.ALL is ALL and registry.GROUPS is GROUPS and registry.BACKENDS is BACKENDS
    assert registry.expand is expand


def test_directions_and_needs():
    lower = {"fvd", "sync_d", *DRIFT, *PROTOCOLS, "truth_clip_distance", "energy_score", "energy_accuracy"}
    lower |= {"clip_energy_score", "clip_energy_accuracy"}
    # half the mean distance between two draws: neither more nor less is better
    none = {"energy_spread", "clip_energy_spread"}
    assert {n for n, s in SPECS.items() if s.higher_is_better is False} == lower
    assert {n for n, s in SPECS.items() if s.higher_is_better is None} == none
    assert all(s.higher_is_better is True for n, s in SPECS.items() if n not in lower | none)
    assert {n for n, s in SPECS.items() if s.needs_reference_video} == {
        "psnr",
        "ssim",
        "truth_distance",
        "truth_clip_distance",
        *ENERGY,
        *CLIP_ENERGY,
    }
    assert {n for n, s in SPECS.items() if s.over_draws} == {*ENERGY, *CLIP_ENERGY}
    assert {n for n, s in SPECS.items() if s.needs_input_image} == {"i2v_subject", "i2v_background"}
    assert {n for n, s in SPECS.items() if s.needs_reference_set} == {"fvd"}
    assert {n for n, s in SPECS.items() if s.needs_audio} == {"sync_c", "sync_d"}
    assert [n for n in ALL if not spec(n).needs_reference] == VBENCH + [
        "i2v_subject",
        "i2v_background",
        "sync_c",
        "sync_d",
        "colour_shift",
        "sharpness_loss",
        *PROTOCOLS,
        *COHERENCE,
        "non_repetition",
    ]
    assert {n: s.base for n, s in SPECS.items() if s.base} == {
        "delta_drift_aesthetic": "aesthetic_quality",
        "delta_drift_imaging": "imaging_quality",
        "vde_imaging": "imaging_quality",
        "vde_motion": "motion_smoothness",
        "vde_aesthetic": "aesthetic_quality",
        "vde_background": "background_consistency",
        "vde_subject": "subject_consistency",
        "subject_coherence": "subject_consistency",
        "background_coherence": "background_consistency",
        "non_repetition": "subject_consistency",
    }
    # coherence at a distance rewards a held frame (it is one-sided); the guards cannot be won so
    assert {n for n, s in SPECS.items() if s.one_sided} == set(COHERENCE)


def test_display_facts():
    assert all(spec(n).scale == 100.0 and spec(n).decimals == 2 for n in VBENCH + GROUPS["i2v"])
    assert (spec("psnr").label, spec("ssim").decimals, spec("fvd").decimals) == ("PSNR (dB)", 3, 1)
    assert spec("sync_c").label == "Sync-C" and spec("sync_d").label == "Sync-D"


def test_every_metric_has_a_builder_per_backend_that_imports():
    for name in ALL:
        assert set(spec(name).builders) == set(BACKENDS), name
        for backend in BACKENDS:
            assert callable(spec(name).builder(backend)), (name, backend)


def test_the_classes_read_their_facts_from_the_table():
    from scoring import aesthetic, consistency, drift, fidelity, fvd, motion, sync, truth_clips

    classes = [
        *consistency.BY_NAME.values(),
        *drift.METRICS.values(),
        aesthetic.AestheticQuality,
        motion.DynamicDegree,
        motion.MotionSmoothness,
        motion.ImagingQuality,
        fidelity.PSNR,
        fidelity.SSIM,
        fvd.FVD,
        truth_clips.TruthClipDistance,
        *sync.METRICS.values(),
    ]
    # the drift protocols take their name with their base (one class per protocol), the energy terms theirs
    # (pixel and clip)
    protocols = [
        registry.build(n, backend="toy")
        for n in [*PROTOCOLS, *COHERENCE, "non_repetition", *ENERGY, *CLIP_ENERGY]
    ]
    assert sorted(c.name for c in classes + protocols) == sorted(ALL)
    for cls in classes + protocols:
        s = spec(cls.name)
        assert cls.spec is s
        assert cls.higher_is_better is s.higher_is_better
        assert cls.needs_reference_video is s.needs_reference_video
        assert cls.needs_reference_image is s.needs_input_image
        assert cls.needs_reference_set is s.needs_reference_set
        assert cls.needs_audio is s.needs_audio
    metric = drift.ColourShift()
    assert metric.higher_is_better is False
    with pytest.raises(AttributeError, match="specs.py"):
        metric.higher_is_better = True


def test_expand():
    assert expand("vbench,fvd") == VBENCH + ["fvd"]
    assert expand(" psnr_ssim , psnr,,drift") == ["psnr", "ssim", *DRIFT]  # no repeats, blanks skipped
    assert expand(["ssim", "psnr_ssim"]) == ["ssim", "psnr"]
    assert expand("sync") == ["sync_c", "sync_d"]
    assert expand("") == []


@pytest.mark.parametrize(
    "text, needle",
    [
        ("vbench,sharpness", "unknown metric 'sharpness'; known metrics and groups: vbench, i2v, psnr_ssim"),
        ("sync_e", "unknown metric 'sync_e'; known metrics and groups: .*, sync, .*, sync_c, sync_d"),
    ],
)
def test_expand_errors(text, needle):
    with pytest.raises(ValueError, match=needle):
        expand(text)


def test_spec_and_build_errors():
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        spec("nope")
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        registry.build("nope")
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        registry.build("psnr", backend="gpu")
    with pytest.raises(ValueError, match="unknown needs"):
        MetricSpec("x", "g", "X", needs=frozenset({"subtitles"}))
    with pytest.raises(ValueError, match="unknown backends"):
        MetricSpec("x", "g", "X", builders={"tpu": "m:f"})


def test_builders_build_the_named_metric():
    for name in ["psnr", "ssim", *DRIFT]:
        for backend in BACKENDS:
            assert registry.build(name, backend=backend).name == name
    assert specs.resolve("scoring.builders:fidelity")("ssim").name == "ssim"
