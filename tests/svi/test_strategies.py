"""The long-video strategies beside chaining (svi/generation/strategies/): the math's known answers, the property
tests (rolling with one stage is chaining, FreeNoise with one window is the plain sampler, history
guidance at w = 1 is text CFG), frame counts, resume, batching and configuration errors."""

import json

import numpy as np
import pytest
import torch

from svi import flow
from svi.config import ConfigError, GenerateConfig, build_config, load_config, save_config
from svi.generation.generator import LongVideoGenerator
from svi.generation.sampling import GuidancePass, GuidedVelocity, config_hash, guidance_passes, total_frames
from svi.generation.strategies import framepack, freenoise, history_guidance, rolling
from svi.generation.video import VideoJob, fixed_prompts
from svi.model.backbone import build_tiny
from svi.video_io import read_frames

TINY = dict(num_frames=9, height=32, width=32, steps=2)


@pytest.fixture(scope="module")
def tiny():
    return build_tiny()


@pytest.fixture()
def segments(monkeypatch):
    """The uint8 frames of every segment written, by (video stem, segment name): the frames before the
    codec (the existing generator tests' spy)."""
    import svi.generation.generator as generator_module
    from svi.video_io import write_segment

    written = {}

    def spy(path, frames, fps):
        written[(path.parent.name.removesuffix(".parts"), path.name)] = frames.copy()
        return write_segment(path, frames, fps)

    monkeypatch.setattr(generator_module, "write_segment", spy)
    return written


def _image(seed=0):
    return torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _video(segments, stem):
    """The frames a video's segments hold, in video order (seg_tail last)."""
    names = sorted(n for s, n in segments if s == stem)
    names = [n for n in names if n != "seg_tail.mp4"] + [n for n in names if n == "seg_tail.mp4"]
    return np.concatenate([segments[(stem, n)] for n in names])


def _run(tiny, tmp_path, stem, clips=3, image=0, **generate):
    cfg = GenerateConfig(**TINY, guidance_scale=5.0, **generate)
    gen = LongVideoGenerator(tiny, cfg)
    prompts = [f"p{k}" for k in range(clips)]
    return gen, gen.generate(
        _image(image), fixed_prompts(prompts), tmp_path / f"{stem}.mp4", num_clips=clips, progress=False
    )


# -- configuration ------------------------------------------------------------------------------


def test_chain_configs_hash_as_before_the_strategies_and_the_noise_streams_enter_it():
    # The strategies left chain's digests alone; the noise scheme is in every digest, so a video begun
    # when clip k drew from seed + k (digest b234675203e78fe2 for the defaults) is not resumed under
    # clip_seed's streams. The official negative prompt became the default on purpose (a new digest,
    # 2ade6180a30bdf89); with the former "" (the tiny and toy presets keep it) the digests are as before:
    # noise and after_last_prompt at their defaults leave them alone.
    assert config_hash(GenerateConfig()) == "2ade6180a30bdf89"
    assert config_hash(GenerateConfig(negative_prompt="")) == "97d2d51bf5861311" != "b234675203e78fe2"
    # the toy preset's changed on purpose with toy world 2's text CFG 5 (90dff63288ee6d7f) and back with
    # toy world 3's sampling without it (4c585533ae7989e0, scale 1's again), then with 10 steps, not 20
    assert config_hash(build_config({"model": {"preset": "toy"}}).generate) == "0f53bdd0cd85d467"
    assert config_hash(build_config({"variant": "talk"}).generate) == "547e3077ecf84a0c"
    latent = GenerateConfig(chaining="latent", motion_latents=2, sampler="unipc", negative_prompt="")
    # latent chaining's changed on purpose (00e6d9155210c450 before) when its condition became SVI 2.0 Pro's
    # official one (latent_mask, latent_start enter its hash); framepack builds its own and keeps its digests
    assert config_hash(latent, {"metadata": {"a": 1}, "num_clips": 3}) == "3cf29650e948521c"
    pack = GenerateConfig(**TINY, strategy="framepack", chaining="latent")
    assert "latent_mask" not in pack.frame_settings() and "latent_start" not in pack.frame_settings()
    for key in (
        "strategy", "rolling_stages", "freenoise_stride", "freenoise_weights", "history_scale", "noise",
        "after_last_prompt",
    ):  # fmt: skip
        assert key not in GenerateConfig().frame_settings()


def test_a_strategy_and_only_its_own_settings_enter_the_hash():
    rolling_cfg = GenerateConfig(**TINY, strategy="rolling")
    settings = rolling_cfg.frame_settings()
    assert settings["strategy"] == "rolling" and settings["rolling_stages"] is None
    assert "freenoise_stride" not in settings and "history_scale" not in settings
    assert config_hash(rolling_cfg) != config_hash(GenerateConfig(**TINY))
    two = GenerateConfig(**TINY, strategy="rolling", rolling_stages=2)
    assert config_hash(two) != config_hash(rolling_cfg)
    hg = GenerateConfig(**TINY, strategy="history_guidance", history_scale=3.0)
    assert hg.frame_settings()["history_scale"] == 3.0


def test_a_saved_config_loads_again(tmp_path):
    # every key is written, the other strategies' at their defaults: reloading must not trip the check
    for strategy in ("chain", "rolling", "freenoise"):
        cfg = load_config(None, [f"generate.strategy={strategy}", "model.preset=tiny"])
        save_config(cfg, tmp_path / f"{strategy}.yaml")
        assert load_config(tmp_path / f"{strategy}.yaml") == cfg


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["generate.strategy=rollin"], "generate.strategy"),
        (["generate.strategy=framepack"], "set chaining=latent"),
        (["generate.strategy=rolling", "generate.sampler=unipc"], "set sampler=euler"),
        (["generate.strategy=freenoise", "generate.sampler=unipc"], "set sampler=euler"),
        (["generate.strategy=rolling", "generate.rolling_stages=3"], "try one of [1, 2]"),
        (["generate.strategy=rolling", "generate.motion_frames=3"], "motion_frames = 1 + 4 j"),
        (["generate.strategy=rolling", "generate.assembly=keep_all"], "use assembly=drop_lead"),
        (["generate.strategy=freenoise", "generate.freenoise_stride=3"], "so that windows overlap"),
        (["generate.rolling_stages=2"], "set strategy=rolling or leave rolling_stages out"),
        (
            ["generate.strategy=freenoise", "generate.history_scale=3"],
            "a setting of strategy history_guidance",
        ),
        (["variant=talk", "generate.strategy=history_guidance"], "Use generate.strategy=chain"),
        (["variant=dance", "generate.strategy=rolling"], "takes no pose conditioning"),
    ],
)
def test_strategy_configuration_errors_say_what_to_do(overrides, needle):
    with pytest.raises(ConfigError) as e:
        load_config(None, ["model.preset=tiny", *overrides])
    assert needle in str(e.value)


def test_framepack_needs_a_clip_long_enough_for_its_endpoints():
    with pytest.raises(ValueError, match="lower motion_latents"):
        GenerateConfig(
            **{**TINY, "num_frames": 13}, strategy="framepack", chaining="latent", motion_latents=2
        )
    GenerateConfig(**TINY, strategy="framepack", chaining="latent", motion_latents=1)  # 3 latent frames


def test_an_adapter_model_refuses_another_strategy(tiny):
    from svi.conditions.attach import attach
    from svi.config import ConditionConfig

    bb = build_tiny()
    attach(bb, ConditionConfig(kind="pose"))
    with pytest.raises(ValueError, match="use strategy chain"):
        LongVideoGenerator(bb, GenerateConfig(**TINY, strategy="history_guidance"))


@pytest.mark.parametrize("strategy", ["framepack", "freenoise"])
def test_whole_video_strategies_need_the_length_up_front(tmp_path, tiny, strategy):
    cfg = GenerateConfig(**TINY, strategy=strategy, chaining="latent")
    with pytest.raises(ValueError, match="give num_clips"):
        LongVideoGenerator(tiny, cfg).generate(
            _image(), fixed_prompts(["a", "b"]), tmp_path / "v.mp4", progress=False
        )


# -- per-frame timesteps --------------------------------------------------------------------------


def test_per_frame_sigma_becomes_a_timestep_per_token(tiny):
    cfg = GenerateConfig(**TINY, guidance_scale=5.0)
    c, f, h, w = 16, 3, 4, 4
    y = torch.randn(2, 20, f, h, w)
    velocity = GuidedVelocity(
        tiny.transformer, y, tiny.encode_text(["a", "b"]), tiny.encode_text([""]), None, cfg
    )
    x = torch.randn(2, c, f, h, w, generator=torch.Generator().manual_seed(0))
    sigma = torch.tensor([[0.2, 0.5, 1.0], [0.1, 0.1, 0.9]], dtype=torch.float64)
    t = velocity.timesteps(x, sigma)
    tokens = (h // 2) * (w // 2)  # patch 1 x 2 x 2
    assert t.shape == (4, f * tokens)  # 2 passes x 2 samples
    assert torch.equal(t[0, :tokens], torch.full((tokens,), 200.0))
    assert torch.equal(t[2, -tokens:], torch.full((tokens,), 1000.0))  # the unconditional rows repeat
    # one level in every frame: the same velocity as the per-sample timestep (another code path)
    same = torch.full((2, f), 0.4, dtype=torch.float64)
    torch.testing.assert_close(velocity(x, same), velocity(x, 0.4), atol=1e-5, rtol=1e-5)
    # a frame's own level matters
    assert not torch.allclose(velocity(x, sigma), velocity(x, 0.4))


# -- rolling --------------------------------------------------------------------------------------


def test_rolling_levels_rise_along_the_window_and_the_warmup_reaches_them():
    # 1 condition slot, 2 stages of 2 latent frames, 5 steps per shift (N = 10)
    assert rolling.window_levels(1, 2, 2, 5).tolist() == [5, 5, 5, 0, 0]
    assert rolling.window_levels(2, 1, 4, 3).tolist() == [9, 9, 9, 6, 3, 0]
    assert rolling.window_levels(1, 4, 1, 10).tolist() == [0] * 5  # one stage: chaining's clip
    for lead, group, stages, n in [(1, 2, 2, 5), (2, 1, 4, 3), (1, 1, 5, 2)]:
        reached = sum(rolling.warmup_moves(lead, group, stages, p).long() * n for p in range(stages - 1))
        assert torch.equal(reached, rolling.window_levels(lead, group, stages, n))
    assert rolling.warmup_moves(1, 1, 3, 0).tolist() == [True, True, False, False]


def test_frame_euler_step_is_euler_per_frame():
    x, v = torch.randn(2, 3, 4, 2, 2), torch.randn(2, 3, 4, 2, 2)
    same = torch.full((4,), 0.7, dtype=torch.float64)
    torch.testing.assert_close(
        rolling.frame_euler_step(x, v, same, same - 0.1), flow.euler_step(x, v, 0.7, 0.6)
    )
    sigma = torch.tensor([0.5, 1.0, 1.0, 0.2], dtype=torch.float64)
    nxt = torch.tensor([0.25, 1.0, 0.5, 0.0], dtype=torch.float64)
    out = rolling.frame_euler_step(x, v, sigma, nxt)
    assert torch.equal(out[:, :, 1], x[:, :, 1])  # a waiting frame keeps its value
    torch.testing.assert_close(out[:, :, 3], x[:, :, 3] - 0.2 * v[:, :, 3])


def test_rolling_noise_starts_with_the_clip_noise(tiny):
    gen = LongVideoGenerator(tiny, GenerateConfig(**TINY, seed=4))
    base, extra = rolling.clip_noises(4, 2, gen.latent_shape, 1, 3)
    assert torch.equal(base, gen.clip_noise(4, 2)) and extra.shape == (3, 1, 16, 1, 4, 4)


@pytest.mark.parametrize("chaining", ["pixel", "latent"])
@pytest.mark.bitwise(
    "one thread; with one stage every shift is a whole clip at one noise level from its own clip noise, the operations chaining performs"
)
def test_rolling_with_one_stage_is_chaining_bit_for_bit(tmp_path, tiny, segments, one_thread, chaining):
    # a window of one clip that never rolls: every shift is a whole clip at one noise level, from its own
    # clip noise, conditioned on the previous clip's end; so the frames are chain's, exactly
    _run(tiny, tmp_path, "chain", chaining=chaining)
    _, res = _run(tiny, tmp_path, "rolling", chaining=chaining, strategy="rolling", rolling_stages=1)
    assert np.array_equal(_video(segments, "chain"), _video(segments, "rolling"))
    assert res.num_frames == len(_video(segments, "rolling"))


def test_rolling_denoises_a_window_of_rising_levels(tmp_path, tiny, segments):
    timesteps = []
    hook = tiny.transformer.register_forward_hook(lambda m, args, out: timesteps.append(args[1].clone()))
    try:
        gen, res = _run(tiny, tmp_path, "roll", clips=3, strategy="rolling", rolling_stages=2)
    finally:
        hook.remove()
    # 3 clips of 9 frames, 1 restated: 25 frames, as chaining
    assert res.num_frames == total_frames(3, 9, 1) == len(read_frames(res.path))
    frames = _video(segments, "roll")
    assert frames.shape == (25, 32, 32, 3)
    # clip 0: 2 steps at one level; clip 1: 1 warm-up step, then 2 shifts of 1 step; clip 2: 2 shifts
    assert [t.ndim for t in timesteps] == [1, 1, 2, 2, 2, 2, 2]
    per_frame = [t[0].view(3, -1)[:, 0].tolist() for t in timesteps[2:]]  # the timestep of each latent frame
    assert per_frame[0] == [1000.0, 1000.0, 1000.0]  # warm-up: everything from noise
    for levels in per_frame[1:]:  # a shift: the condition and front group below the back group's noise
        assert levels[0] == levels[1] < levels[2] == 1000.0
    # the window of clip 2 was saved: the rolling state of a video between clips
    meta = json.loads(res.sidecar.read_text())
    assert [c["video_frames"] for c in meta["clips"]] == [[0, 8], [8, 16], [16, 25]]


# -- FreeNoise ------------------------------------------------------------------------------------


def test_freenoise_windows_and_weights_known_answers():
    assert freenoise.window_starts(5, 5, 1) == [0]
    assert freenoise.window_starts(13, 5, 4) == [0, 4, 8]
    assert freenoise.window_starts(12, 5, 4) == [0, 4, 7]  # the last window ends at L
    assert freenoise.position_weights(5).tolist() == [1, 2, 3, 2, 1]
    assert freenoise.position_weights(4).tolist() == [1, 2, 2, 1]
    assert freenoise.position_weights(3, "flat").tolist() == [1, 1, 1]
    assert freenoise.sequence_latents(1, 21, 1) == 21 and freenoise.sequence_latents(3, 21, 1) == 61


def test_freenoise_noise_is_a_local_shuffle_of_the_first_window():
    base = torch.randn(1, 2, 5, 3, 3)
    out = freenoise.reschedule_noise(base, 12, 2, torch.Generator().manual_seed(0))
    assert out.shape == (1, 2, 12, 3, 3) and torch.equal(out[:, :, :5], base)
    for i in range(5, 12, 2):  # block [i, i + S) is a permutation of [i - W, i - W + S)
        block = [out[:, :, j] for j in range(i, min(i + 2, 12))]
        source = [out[:, :, j] for j in range(i - 5, i - 3)]
        assert all(any(torch.equal(b, s) for s in source) for b in block)
        if len(block) == 2:
            assert not torch.equal(block[0], block[1])
    one = freenoise.reschedule_noise(base, 5, 2, torch.Generator().manual_seed(0))
    assert torch.equal(one, base)  # one window: the noise unchanged


def test_freenoise_fusion_is_a_weighted_average():
    weights = freenoise.position_weights(3)  # [1, 2, 1]
    coefficients = freenoise.fusion_coefficients([0, 2], 5, weights)
    assert coefficients[0].tolist() == [1.0, 1.0, 0.5] and coefficients[1].tolist() == [0.5, 1.0, 1.0]
    a = torch.full((1, 1, 3, 1, 1), 2.0)
    b = torch.full((1, 1, 3, 1, 1), 4.0)
    fused = freenoise.fuse([a, b], [0, 2], 5, weights)
    assert fused.flatten().tolist() == [2.0, 2.0, 3.0, 4.0, 4.0]
    # one window: its prediction exactly
    v = torch.randn(1, 16, 5, 2, 2)
    assert torch.equal(freenoise.fuse([v], [0], 5, freenoise.position_weights(5)), v)


@pytest.mark.bitwise(
    "one thread; fusing one window is a weighted average with weight 1, which returns the window's values unchanged"
)
def test_freenoise_with_one_window_is_the_plain_sampler(tmp_path, tiny, segments, one_thread):
    _run(tiny, tmp_path, "chain", clips=1)
    _, res = _run(tiny, tmp_path, "freenoise", clips=1, strategy="freenoise")
    assert np.array_equal(_video(segments, "chain"), _video(segments, "freenoise"))
    assert res.num_frames == 9


def test_freenoise_denoises_every_window_at_every_step(tmp_path, tiny, segments):
    rows = []
    hook = tiny.transformer.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[0]))
    try:
        # 3 clips of 3 latent frames, 1 restated: a sequence of 7, windows of 3 every 1 (the default)
        gen, res = _run(tiny, tmp_path, "fn", clips=3, strategy="freenoise")
    finally:
        hook.remove()
    assert freenoise.window_starts(7, 3, 1) == [0, 1, 2, 3, 4]
    # per step: 5 windows in one chunk (batch_size 8), 2 passes each (CFG)
    assert rows == [10, 10]
    assert res.num_frames == total_frames(3, 9, 1) == len(_video(segments, "fn")) == 25
    meta = json.loads(res.sidecar.read_text())
    assert [c["video_frames"] for c in meta["clips"]] == [[0, 9], [9, 17], [17, 25]]


# -- FramePack ------------------------------------------------------------------------------------


def test_latent_mask_marks_whole_latent_frames():
    from svi.model.i2v_condition import frame_mask, latent_mask

    assert torch.equal(latent_mask(2, 5, [0, 1], (2, 2)), frame_mask(2, 17, 5, (2, 2)))
    mask = latent_mask(1, 4, [0, 3], (1, 1))
    assert mask[0, :, :, 0, 0].tolist() == [[1, 0, 0, 1]] * 4


def test_framepack_section_layout_and_frames():
    anchor, end = torch.full((1, 16, 1, 2, 2), 3.0), torch.full((1, 16, 2, 2, 2), 7.0)
    y = framepack.section_condition(anchor, end, 6)
    assert y.shape == (1, 20, 6, 2, 2)
    assert y[0, 0, :, 0, 0].tolist() == [1, 0, 0, 0, 1, 1]  # the anchor and the end known
    assert y[0, 4:, :, 0, 0].mean(0).tolist() == [3, 0, 0, 0, 7, 7]
    assert framepack.section_condition(anchor, None, 6)[0, 0, :, 0, 0].tolist() == [1, 0, 0, 0, 0, 0]
    # the sections' kept frames tile the video, as N clips of latent chaining with M carried latents
    for m in (1, 2):
        for n in range(1, 6):
            spans = []
            for k in range(n):
                first, last = framepack.section_cut(k, n, 21, m)
                start = framepack.section_start(k, 21, m)
                spans.append((start, start + last - first))
            assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
            assert spans[-1][1] == total_frames(n, 21, 1 + 4 * m)


def test_framepack_makes_the_last_section_first_anchored_and_ended(tmp_path, tiny, segments):
    ys = []
    hook = tiny.transformer.register_forward_pre_hook(lambda m, args: ys.append(args[0][0, 16:].clone()))
    try:
        gen, res = _run(tiny, tmp_path, "fp", clips=3, strategy="framepack", chaining="latent")
    finally:
        hook.remove()
    anchor = tiny.encode_video(_image()[None, :, None])[0, :, 0]  # [16, h, w]
    firsts = ys[:: TINY["steps"]]  # the first forward of each section
    assert len(firsts) == 3
    assert firsts[0][0, :, 0, 0].tolist() == [1, 0, 0]  # section 2: the anchor only
    for y in firsts[1:]:  # sections 1, 0: the anchor and the next section's first latent
        assert y[0, :, 0, 0].tolist() == [1, 0, 1]
    for y in firsts:
        torch.testing.assert_close(y[4:, 0], anchor)
    meta = json.loads(res.sidecar.read_text())
    assert [c["index"] for c in meta["clips"]] == [0, 1, 2]  # in video order, made 2, 1, 0
    assert res.num_frames == total_frames(3, 9, 5) == len(_video(segments, "fp")) == 17


# -- history guidance -------------------------------------------------------------------------------


def test_history_guidance_weights():
    s, w = 5.0, 2.5
    weights = history_guidance.history_weights(s, w)
    assert sum(x for *_, x in weights) == pytest.approx(1.0)
    v_c, v_t, v_h = 0.3, -1.1, 2.0
    expected = v_c + (s - 1) * (v_c - v_t) + (w - 1) * (v_c - v_h)
    got = sum(x * v for (_, _, x), v in zip(weights, (v_c, v_t, v_h)))
    assert got == pytest.approx(expected)
    # w = 1: text CFG's passes; s = 1: vanilla history guidance v_h + w (v_c - v_h)
    hg1 = GenerateConfig(**TINY, strategy="history_guidance", history_scale=1.0, guidance_scale=s)
    assert guidance_passes(hg1) == guidance_passes(GenerateConfig(**TINY, guidance_scale=s))
    vanilla = GenerateConfig(**TINY, strategy="history_guidance", history_scale=w, guidance_scale=1.0)
    assert guidance_passes(vanilla) == [
        GuidancePass(True, frozenset(), w, True),
        GuidancePass(True, frozenset(), 1 - w, False),
    ]
    # clip 0 has no history: chaining's passes
    assert guidance_passes(vanilla, history=False) == [GuidancePass(True, frozenset(), 1.0)]


def test_dropping_the_carried_latents():
    y = torch.arange(2 * 20 * 4, dtype=torch.float32).view(2, 20, 4, 1, 1) + 1
    out = history_guidance.drop_carried(y, 2)
    assert torch.equal(out[:, :, [0, 3]], y[:, :, [0, 3]]) and not out[:, :, 1:3].any()


@pytest.mark.bitwise(
    "one thread; at weight 1 the history term is multiplied by 0 and added, which leaves the conditional velocity's floats unchanged"
)
def test_history_guidance_at_w1_is_chain_bit_for_bit(tmp_path, tiny, segments, one_thread):
    _run(tiny, tmp_path, "chain")
    _run(tiny, tmp_path, "hg", strategy="history_guidance", history_scale=1.0)
    assert np.array_equal(_video(segments, "chain"), _video(segments, "hg"))


@pytest.mark.parametrize("chaining", ["pixel", "latent"])
def test_history_guidance_adds_a_pass_without_the_history(tmp_path, tiny, segments, chaining):
    inputs = []
    hook = tiny.transformer.register_forward_pre_hook(lambda m, args: inputs.append(args[0][:, 16:].clone()))
    try:
        _run(tiny, tmp_path, "hg", clips=2, strategy="history_guidance", chaining=chaining)
    finally:
        hook.remove()
    assert [y.shape[0] for y in inputs] == [2, 2, 3, 3]  # clip 0: text CFG; clip 1: and no history
    y = inputs[2]  # [3 passes, 20, F_lat, h, w]: v_c, v_t (history), v_h (no history)
    assert torch.equal(y[0], y[1]) and not torch.equal(y[0], y[2])
    if chaining == "pixel":  # nothing known, the reference padding everywhere
        from svi.model.i2v_condition import free_condition

        assert not y[2, :4].any()
        torch.testing.assert_close(y[2], free_condition(tiny, _image()[None], 9, "reference")[0])
    else:  # the anchor kept, the carried latent dropped
        assert torch.equal(y[2, :, 0], y[0, :, 0]) and not y[2, :, 1].any()


# -- resume, batching -----------------------------------------------------------------------------

STRATEGIES = {
    "rolling": dict(strategy="rolling", rolling_stages=2),
    "framepack": dict(strategy="framepack", chaining="latent"),
    "freenoise": dict(strategy="freenoise"),
    "history_guidance": dict(strategy="history_guidance"),
}


def _killed_after(prompts, calls):
    """A prompt source that raises at its `calls`-th call: the run dies partway."""
    count = [0]

    def source(k):
        count[0] += 1
        if count[0] > calls:
            raise RuntimeError("killed")
        return prompts[k]

    return source


@pytest.mark.parametrize(
    "name, calls",
    [
        ("rolling", 3),  # killed at clip 3: its window was saved after clip 2
        ("framepack", 3),  # killed at section 0, sections 3, 2, 1 made
        ("freenoise", 5),  # a prompt call per round, 4 more for the windows: killed after step 1 of 2
        ("freenoise", 7),  # killed after the last step and clip 0: resumes in the decoding
        ("history_guidance", 3),
    ],
)
@pytest.mark.bitwise(
    "one thread; the resumed run restores the strategy's saved state and repeats the uninterrupted run's operations from there"
)
def test_a_killed_run_resumes_to_the_same_video(tmp_path, tiny, segments, one_thread, name, calls):
    cfg = GenerateConfig(**TINY, guidance_scale=5.0, **STRATEGIES[name])
    prompts = ["a", "b", "c", "d"]
    full = LongVideoGenerator(tiny, cfg).generate(
        _image(), fixed_prompts(prompts), tmp_path / "full.mp4", num_clips=4, progress=False
    )
    with pytest.raises(RuntimeError, match="killed"):
        LongVideoGenerator(tiny, cfg).generate(
            _image(), _killed_after(prompts, calls), tmp_path / "cut.mp4", num_clips=4, progress=False
        )
    state = torch.load(tmp_path / "cut.parts" / "state.pt", weights_only=False)
    assert state["clips"] or state["strategy"].get("step")  # something was saved to resume from
    if name == "freenoise":
        assert (state["strategy"]["step"], len(state["clips"])) == {5: (1, 0), 7: (2, 1)}[calls]
    assert not (tmp_path / "cut.mp4").exists()
    res = LongVideoGenerator(tiny, cfg).generate(
        _image(), fixed_prompts(prompts), tmp_path / "cut.mp4", num_clips=4, progress=False
    )
    assert res.resumed_from == len(state["clips"]) and not res.skipped
    assert np.array_equal(_video(segments, "full"), _video(segments, "cut"))
    meta_full, meta_cut = (json.loads(r.sidecar.read_text()) for r in (full, res))
    assert meta_full["clips"] == meta_cut["clips"] and meta_cut["complete"]
    assert res.num_frames == full.num_frames == len(read_frames(res.path))


@pytest.mark.parametrize("name", ["rolling", "framepack", "freenoise"])
def test_a_batch_equals_one_video_at_a_time(tmp_path, tiny, segments, name):
    cfg = GenerateConfig(**TINY, guidance_scale=5.0, batch_size=2, **STRATEGIES[name])
    gen = LongVideoGenerator(tiny, cfg)
    lengths = [3, 2]
    jobs = [
        VideoJob(_image(10 + i), fixed_prompts([f"v{i}c{k}" for k in range(n)]), tmp_path / f"b{i}.mp4", n)
        for i, n in enumerate(lengths)
    ]
    batch = gen.generate_batch(jobs, progress=False)
    for i, n in enumerate(lengths):
        alone = gen.generate(
            _image(10 + i),
            fixed_prompts([f"v{i}c{k}" for k in range(n)]),
            tmp_path / f"a{i}.mp4",
            num_clips=n,
            progress=False,
        )
        assert batch[i].num_frames == alone.num_frames == total_frames(n, 9, gen.lead)
        a, b = _video(segments, f"a{i}").astype(int), _video(segments, f"b{i}").astype(int)
        assert a.shape == b.shape and np.abs(a - b).max() <= 1 and np.abs(a - b).mean() < 0.01
