"""Configuration: variants, overrides, and errors that name the key."""

import pytest

from svi.config import ConfigError, load_config, parse_override, save_config


def test_defaults_are_svi_shot():
    cfg = load_config()
    assert (cfg.erft.p_noi, cfg.erft.p_img, cfg.erft.p_vid, cfg.erft.p_clean) == (0.01, 0.9, 0.9, 0.2)
    assert cfg.lora.rank == 128 and cfg.lora.alpha == 128
    assert cfg.memory.num_slots == 50 and cfg.memory.capacity == 500 and cfg.memory.replacement == "l2"


def test_variants_and_explicit_values_win(tmp_path):
    f = tmp_path / "film.yaml"
    f.write_text("variant: film\nerft:\n  p_img: 0.0\n")
    cfg = load_config(f)
    assert cfg.erft.p_clean == 0.5 and cfg.data.cond_frames == 5 and cfg.data.padding == "zeros"
    assert cfg.erft.p_img == 0.0
    shot = load_config(None, ["variant=shot"])
    assert shot.data.padding == "reference" and shot.data.cond_frames == 1


def test_extends_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("train:\n  steps: 10\n  lr: 0.001\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\ntrain:\n  steps: 20\n")
    cfg = load_config(tmp_path / "child.yaml", ["train.seed=3", "lora.target_modules=[to_q]"])
    assert (cfg.train.steps, cfg.train.lr, cfg.train.seed) == (20, 0.001, 3)
    assert cfg.lora.target_modules == ["to_q"]
    assert parse_override("a.b=[1, 2]") == {"a": {"b": [1, 2]}}


@pytest.mark.parametrize(
    "override, needle",
    [
        ("erft.p_img=1.5", "erft.p_img: Input should be less than or equal to 1"),
        ("erft.p_bogus=0.1", "erft.p_bogus: unknown key"),
        ("train.steps=many", "train.steps"),
        ("data.num_frames=80", "must be 4k+1"),
        ("memory.replacement=lru", "memory.replacement"),
        ("data.width=100", "multiple of 16 (VAE x8, patch x2); try 96 or 112"),
        ("data.cond_frames=81", "must be < num_frames"),
    ],
)
def test_bad_values_name_the_key(override, needle):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert needle in str(e.value)
    assert override in str(e.value)  # the source is named


def test_bad_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML"):
        load_config(f)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_save_round_trip(tmp_path):
    cfg = load_config(None, ["variant=film", "train.steps=7"])
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg


def test_model_preset_accepts_exactly_the_table_names():
    import typing

    from svi.config import ModelConfig
    from svi.model.presets import PRESETS

    assert set(typing.get_args(ModelConfig.model_fields["preset"].annotation)) == set(PRESETS)
    for name in PRESETS:
        assert ModelConfig(preset=name).preset == name
    with pytest.raises(
        ConfigError,
        match="'tiny', 'toy', 'wan2.1-i2v-14b', 'tiny-a14b', 'toy-a14b', 'wan2.2-i2v-a14b', 'tiny-ti2v' or "
        "'wan2.2-ti2v-5b'",
    ):
        load_config(None, ["model.preset=wan9"])


def test_preset_defaults_come_from_the_table():
    from svi.model.presets import PRESETS

    for name, preset in PRESETS.items():
        cfg = load_config(None, [f"model.preset={name}"])
        for section, values in preset.defaults.items():
            for key, value in values.items():
                assert getattr(getattr(cfg, section), key) == value, (name, section, key)
    assert PRESETS["tiny"].defaults["generate"]["num_frames"] == 9
    assert PRESETS["wan2.1-i2v-14b"].defaults == {}  # Wan's clip size is the schema's default
    assert load_config(None, ["model.preset=wan2.1-i2v-14b"]).generate.num_frames == 81
    # The file's values win over the preset's defaults.
    assert load_config(None, ["model.preset=toy", "generate.steps=3"]).generate.steps == 3


def test_presets_table_is_torch_free():
    import subprocess
    import sys

    code = "import sys, svi.config, svi.model.presets; print(any(m in sys.modules for m in ('torch', 'diffusers')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_precision_lives_in_the_model_section():
    assert load_config().model.precision == "auto"
    assert load_config(None, ["model.precision=bf16"]).model.precision == "bf16"
    with pytest.raises(ConfigError, match="train.precision: unknown key"):
        load_config(None, ["train.precision=bf16"])
    with pytest.raises(ConfigError, match="model.precision"):
        load_config(None, ["model.precision=fp16"])


@pytest.mark.parametrize(
    "generate, ratio, lead",
    [
        ({"chaining": "pixel", "motion_frames": 1}, 4, 1),
        ({"chaining": "pixel", "motion_frames": 5}, 4, 5),
        ({"chaining": "latent", "motion_latents": 1}, 4, 5),  # anchor + 4 frames of one latent
        ({"chaining": "latent", "motion_latents": 2}, 4, 9),
        ({"chaining": "latent", "motion_latents": 2}, 2, 5),
    ],
)
def test_lead_frames_known_answers(generate, ratio, lead):
    from svi.config import GenerateConfig
    from svi.generation.sampling import lead_frames

    g = GenerateConfig(**generate)
    assert g.lead_frames(ratio) == lead == lead_frames(g, ratio)


def test_overlap_validator_uses_lead_frames():
    # 9-frame clips: latent chaining with 2 carried latents restates 9 frames, leaving none new.
    with pytest.raises(ConfigError, match="no new frame after 9 condition frames"):
        load_config(None, ["generate.num_frames=9", "generate.chaining=latent", "generate.motion_latents=2"])
    cfg = load_config(
        None, ["generate.num_frames=13", "generate.chaining=latent", "generate.motion_latents=2"]
    )
    assert cfg.generate.lead_frames() == 9


def test_a_float_written_without_a_dot_is_a_number():
    """YAML 1.2 reads 1e30 and 1e-4 as floats, PyYAML (YAML 1.1) as strings; the schema takes a number
    only as a number, so the declarations' reader resolves them as 1.2 does (a quoted one stays text)."""
    from svi.config import load_yaml_text, parse_override

    assert load_yaml_text("1e30", "t") == 1e30 and load_yaml_text("-2E-4", "t") == -2e-4
    assert load_yaml_text("10", "t") == 10 and isinstance(load_yaml_text("10", "t"), int)
    assert load_yaml_text('"1e3"', "t") == "1e3"
    assert parse_override("train.lr=1e30") == {"train": {"lr": 1e30}}
