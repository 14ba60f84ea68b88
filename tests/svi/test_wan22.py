"""SVI 2.0 / 2.0 Pro on Wan 2.2 I2V A14B: the two-expert presets, the expert switch, the official
conditions and LoRA files, and a crosscheck of the two-expert sampler against diffusers' pipeline.

Each known-answer test states the official behaviour (WanVideoSviProPipeline of the official
repository's svi_wan22 branch) it pins."""

import pytest
import torch

from svi import flow
from svi.config import GenerateConfig, ModelConfig, build_config
from svi.generation.generator import LongVideoGenerator
from svi.generation.sampling import expert_for, noise_seed, total_frames
from svi.model.backbone import load_backbone, save_backbone
from svi.model.i2v_condition import build_condition, pro_condition
from svi.model.presets import PRESETS, SVI_BOUNDARY, WAN22_BOUNDARY, WeightsNotFoundError
from tests.svi.pipelines import diffusers_clip

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # peft notes on fused keys

SMALL = {"num_frames": 9, "height": 32, "width": 32, "steps": 10, "negative_prompt": ""}


@pytest.fixture(scope="module")
def a14b():
    """The tiny two-expert model (random init, no image encoder), shared read-only."""
    return load_backbone(ModelConfig(preset="tiny-a14b"))


# -- the presets -------------------------------------------------------------------------------------


def test_the_a14b_presets_have_two_experts_and_no_image_encoder(a14b):
    for name in ("wan2.2-i2v-a14b", "tiny-a14b"):
        assert PRESETS[name].experts == 2 and not PRESETS[name].image_encoder
    assert len(a14b.experts()) == 2 and a14b.image_encoder is None
    for tf in a14b.experts():  # Wan 2.2 I2V: 36 input channels, no image branch
        assert tf.config.in_channels == 36 and tf.config.image_dim is None
        assert tf.config.added_kv_proj_dim is None
    high, low = (dict(tf.named_parameters()) for tf in a14b.experts())
    assert any((high[k] - low[k]).abs().max() > 0 for k in high)  # two experts, not one twice
    one = load_backbone(ModelConfig(preset="tiny"))  # a one-transformer preset has one
    assert one.transformer_2 is None and len(one.experts()) == 1


def test_the_real_preset_plans_from_diffusers_config_without_weights():
    from svi.model.cost import image_tokens_for, preset_transformer_config

    for expert in (0, 1):
        config, source = preset_transformer_config("wan2.2-i2v-a14b", None, expert)
        assert config["in_channels"] == 36 and config["image_dim"] is None
        assert (
            config["num_layers"] == 40
            and config["num_attention_heads"] * config["attention_head_dim"] == 5120
        )
    assert image_tokens_for("wan2.2-i2v-a14b") == 0 and image_tokens_for("wan2.1-i2v-14b") == 257
    with pytest.raises(ValueError, match="no expert 1"):
        preset_transformer_config("wan2.1-i2v-14b", None, 1)


def test_a_folder_without_an_expert_names_that_expert(a14b, tmp_path):
    folder = save_backbone(a14b, tmp_path / "wan22")
    loaded = load_backbone(ModelConfig(preset="wan2.2-i2v-a14b", weights=str(folder)))
    for ours, theirs in zip(a14b.experts(), loaded.experts()):  # each expert from its own folder
        torch.testing.assert_close(ours.proj_out.weight, theirs.proj_out.weight.float())
    assert loaded.image_encoder is None and loaded.context_tokens == 512
    for f in (folder / "transformer_2").iterdir():
        f.unlink()
    with pytest.raises(WeightsNotFoundError) as err:
        load_backbone(ModelConfig(preset="wan2.2-i2v-a14b", weights=str(folder)))
    msg = str(err.value)
    assert "transformer_2/config.json (the low-noise expert)" in msg and "high-noise" not in msg
    assert "Wan-AI/Wan2.2-I2V-A14B-Diffusers" in msg and "image_encoder" not in msg


# -- sampling: defaults, the expert switch, seeds, stitching --------------------------------------------


def test_svi_pro_sampling_defaults_and_wan22_option():
    """WanVideoSviProPipeline: 81 frames of 480 x 832, 50 steps, shift 5, cfg 5.0 (the README's Pro
    command passes 4.0), the low-noise expert below t = 875. Wan 2.2's own: 0.900, 40 steps, 3.5 / 3.5."""
    g = build_config({"model": {"preset": "wan2.2-i2v-a14b"}}).generate
    assert (g.num_frames, g.height, g.width, g.steps, g.shift) == (81, 480, 832, 50, 5.0)
    assert g.guidance_scale == 5.0 and g.guidance_scale_2 is None and g.boundary == SVI_BOUNDARY == 0.875
    wan = GenerateConfig(boundary=WAN22_BOUNDARY, steps=40, guidance_scale=3.5, guidance_scale_2=3.5)
    assert wan.boundary == 0.9
    # the defaults leave earlier videos' frame hashes as they were; a changed boundary is in the hash
    assert "boundary" not in GenerateConfig().frame_settings() and "boundary" in wan.frame_settings()


def test_the_expert_switch_is_at_t_875():
    assert expert_for(0.875, SVI_BOUNDARY) == 0  # t = 875: still the high-noise expert
    assert expert_for(0.8749, SVI_BOUNDARY) == 1  # below 875: the low-noise one
    sigmas = flow.shifted_sigmas(50, 5.0).tolist()
    # 50 steps at shift 5: 21 high-noise steps at SVI's 0.875, 18 at Wan 2.2's 0.900
    assert [expert_for(s, SVI_BOUNDARY) for s in sigmas] == [0] * 21 + [1] * 29
    assert sum(expert_for(s, WAN22_BOUNDARY) == 0 for s in sigmas) == 18


def test_the_generator_runs_each_expert_on_its_steps(a14b):
    # 10 steps at shift 5: sigmas 1, .978, .952, .921, .882 (t >= 875), then .833 ... (below)
    calls = {0: 0, 1: 0}
    hooks = [
        tf.register_forward_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
        for i, tf in enumerate(a14b.experts())
    ]
    try:
        gen = LongVideoGenerator(a14b, GenerateConfig(**SMALL))
        gen.generate_clip(0, "a", torch.zeros(1, 3, 32, 32), None, None, None, a14b.encode_text([""]))
    finally:
        for h in hooks:
            h.remove()
    assert calls == {0: 5, 1: 5}  # one batched forward (both CFG passes) per step


def test_a_two_expert_model_refuses_strategies_without_one_level_per_clip(a14b):
    with pytest.raises(ValueError, match="two-expert"):
        LongVideoGenerator(a14b, GenerateConfig(**SMALL, strategy="rolling", chaining="latent"))


def test_pro_seeds_and_stitching():
    """A new seed per clip, clip_idx x 42 (generate.noise=official); each later clip drops its first 5
    frames (the anchor frame and the 4 of the carried latent): N clips of 81 have 81 + 76 (N - 1)."""
    assert [noise_seed("official", 7, k) for k in range(4)] == [0, 42, 84, 126]
    pro = GenerateConfig(chaining="latent", motion_latents=1)
    assert pro.lead_frames() == 5 and total_frames(10, 81, pro.lead_frames()) == 81 + 9 * 76


# -- the conditions ---------------------------------------------------------------------------------


def test_pro_condition_layout():
    """y = [VAE(anchor), the previous clip's last latent, zero latents], the mask on latent 0 only;
    clip 1 is [VAE(anchor), zeros]."""
    anchor = torch.randn(1, 16, 1, 4, 4)
    carried = torch.randn(1, 16, 1, 4, 4)
    first, later = pro_condition(anchor, None, 21), pro_condition(anchor, carried, 21)
    for y in (first, later):
        assert y.shape == (1, 20, 21, 4, 4)
        mask = y[:, :4]
        assert (mask[:, :, 0] == 1).all() and (mask[:, :, 1:] == 0).all()  # latent 0 only
        torch.testing.assert_close(y[:, 4:, :1], anchor)
    assert (first[:, 4:, 1:] == 0).all()  # clip 1: the anchor, then zeros
    torch.testing.assert_close(later[:, 4:, 1:2], carried)
    assert (later[:, 4:, 2:] == 0).all()
    # the option: the carried latent marked too (this harness's rule before Pro)
    marked = pro_condition(anchor, carried, 21, mask="carried")
    assert (marked[:, :4, :2] == 1).all() and (marked[:, :4, 2:] == 0).all()


def test_the_generator_builds_the_pro_condition_with_zero_latents_not_encoded_black(a14b):
    cfg = GenerateConfig(**SMALL, chaining="latent")
    gen = LongVideoGenerator(a14b, cfg)
    ref = torch.rand(1, 3, 32, 32) * 2 - 1
    anchor = a14b.encode_video(ref[:, :, None])  # [1, 16, 1, 4, 4]
    f_lat = gen.latent_shape[1]
    torch.testing.assert_close(gen._condition(ref, [None], anchor), pro_condition(anchor, None, f_lat))
    carried = torch.randn(1, 16, 1, 4, 4)
    torch.testing.assert_close(gen._condition(ref, [carried], anchor), pro_condition(anchor, carried, f_lat))
    # why it matters: VAE(black frames) is not the zero latent
    black = a14b.encode_video(torch.zeros(1, 3, 8, 32, 32) - 1)
    assert black.abs().max() > 1e-2
    # the option latent_start=padding encodes [anchor, padding frames] as pixel chaining's clip 0 does
    old = LongVideoGenerator(a14b, cfg.model_copy(update={"latent_start": "padding"}))
    y = old._condition(ref, [None], anchor)
    assert (y[:, 4:, 1:] != 0).any()


def test_svi_20_condition_is_last_frame_then_anchor_repeated(a14b):
    """SVI 2.0: y = VAE([last frame, anchor x 80]), the mask on frame 0 only (pixel chaining, K = 1,
    reference padding, mask first: the defaults)."""
    seen = []
    encode = a14b.encode_video

    def spy(video):
        seen.append(video.clone())
        return encode(video)

    last = torch.rand(1, 3, 1, 32, 32) * 2 - 1
    anchor = torch.rand(1, 3, 32, 32) * 2 - 1
    a14b.encode_video = spy
    try:
        g = GenerateConfig()
        y = build_condition(a14b, last, 9, g.padding, anchor, g.mask)
    finally:
        del a14b.encode_video
    video = seen[0]  # [1, 3, 9, H, W]
    torch.testing.assert_close(video[:, :, :1], last)
    torch.testing.assert_close(video[:, :, 1:], anchor[:, :, None].expand(1, 3, 8, 32, 32))
    assert (y[:, :4, 0] == 1).all() and (y[:, :4, 1:] == 0).all()


# -- official LoRA files, one per expert ----------------------------------------------------------------


def _diffsynth_lora(transformer, seed, rank=2):
    """An official-style per-expert file: DiffSynth names with peft's `.default` (as the released
    SVI_Wan2.2-I2V-A14B_{high,low}_noise_lora_v2.0_pro files), known random tensors."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for i, block in enumerate(transformer.blocks):
        for ours, theirs in (("attn1", "self_attn"), ("attn2", "cross_attn")):
            for lin, short in (("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "o")):
                w = block.get_submodule(f"{ours}.{lin}").weight
                sd[f"blocks.{i}.{theirs}.{short}.lora_A.default.weight"] = torch.randn(
                    rank, w.shape[1], generator=g
                )
                sd[f"blocks.{i}.{theirs}.{short}.lora_B.default.weight"] = torch.randn(
                    w.shape[0], rank, generator=g
                )
    return sd


def _expected(transformer, sd):
    """W + B A for every layer of the file: what loading must give (DiffSynth merges at scale 1)."""
    names = {"self_attn": "attn1", "cross_attn": "attn2"}
    lins = {"q": "to_q", "k": "to_k", "v": "to_v", "o": "to_out.0"}
    out = {}
    for key, a in sd.items():
        if ".lora_A." in key:
            _, i, part, lin = key.split(".")[:4]
            name = f"blocks.{i}.{names[part]}.{lins[lin]}"
            b = sd[key.replace("lora_A", "lora_B")]
            out[name] = transformer.get_submodule(name).weight.detach() + b @ a
    return out


def test_official_per_expert_lora_files_load_into_their_experts(tmp_path):
    from safetensors.torch import save_file

    from svi.model.lora import load_expert_loras

    bb = load_backbone(ModelConfig(preset="tiny-a14b"))
    files, expected = [], []
    for i, (tf, kind) in enumerate(zip(bb.experts(), ("high", "low"))):
        sd = _diffsynth_lora(tf, seed=10 + i)
        expected.append(_expected(tf, sd))
        files.append(tmp_path / f"SVI_Wan2.2-I2V-A14B_{kind}_noise_lora_v2.0_pro.safetensors")
        save_file(sd, str(files[-1]))
    load_expert_loras(bb, files)
    for tf, want in zip(bb.experts(), expected):
        for name, w in want.items():
            torch.testing.assert_close(tf.get_submodule(name).weight, w, rtol=1e-5, atol=1e-5)
        assert not any(".lora_" in n for n, _ in tf.named_parameters())  # merged, as DiffSynth does


def test_a_missing_or_mismatched_expert_file_is_named(tmp_path, a14b):
    from safetensors.torch import save_file

    from svi.model.lora import load_expert_loras

    with pytest.raises(FileNotFoundError, match="low-noise expert's LoRA file not found: .*nowhere"):
        load_expert_loras(a14b, [None, tmp_path / "nowhere.safetensors"])
    bad = _diffsynth_lora(a14b.transformer, seed=3)
    key = "blocks.0.self_attn.q.lora_A.default.weight"
    bad[key] = bad[key][:, :-1].contiguous()  # a LoRA for a narrower model
    save_file(bad, str(tmp_path / "bad.safetensors"))
    before = a14b.transformer_2.blocks[0].attn1.to_q.weight.clone()
    with pytest.raises(
        ValueError, match="bad.safetensors does not fit the low-noise expert.*blocks.0.attn1.to_q"
    ):
        load_expert_loras(a14b, [None, tmp_path / "bad.safetensors"])
    torch.testing.assert_close(a14b.transformer_2.blocks[0].attn1.to_q.weight, before)  # nothing changed
    from svi.model.lora import lora_mismatches

    # a file's non-LoRA tensors (SVI-Dance's pose encoder) are its adapter's, not a mismatch
    assert lora_mismatches(a14b.transformer, {"dwpose_embedding.0.weight": torch.zeros(2, 2)}) == []
    assert lora_mismatches(a14b.transformer, bad)  # the planted narrow layer
    one = load_backbone(ModelConfig(preset="tiny", max_text_tokens=8))
    with pytest.raises(ValueError, match="one transformer"):
        load_expert_loras(one, [None, tmp_path / "bad.safetensors"])


# -- the crosscheck against diffusers ---------------------------------------------------------------------


def test_the_first_clip_matches_diffusers_two_expert_pipeline(a14b):
    """Our sampler with the expert switch and diffusers' WanImageToVideoPipeline(transformer,
    transformer_2, boundary_ratio) give the same first clip from the same noise: condition
    VAE([image, zeros]) with the mask on frame 0 (the pipeline's), Euler at shift 5 over DiffSynth's
    schedule, text CFG 5 for the high-noise expert and 3 for the low-noise one."""
    cfg = GenerateConfig(**SMALL, padding="zeros", guidance_scale=5.0, guidance_scale_2=3.0)
    gen = LongVideoGenerator(a14b, cfg)
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    prompt = "a red square moves left"
    noise = gen.clip_noise(0, 0)
    _, ours = gen.generate_clip(0, prompt, image[None], None, None, None, a14b.encode_text([""]))

    theirs = diffusers_clip(
        a14b,
        image,
        prompt,
        noise,
        cfg,
        pipeline={"transformer_2": a14b.transformer_2, "boundary_ratio": cfg.boundary},
        call={"guidance_scale_2": 3.0},
    )
    assert (ours - noise).abs().max() > 0.1  # it moved
    torch.testing.assert_close(ours, theirs.float(), rtol=1e-4, atol=1e-4)
    # and the switch matters: one expert alone gives another clip
    solo = LongVideoGenerator(a14b, cfg.model_copy(update={"boundary": 0.001}))
    _, high_only = solo.generate_clip(0, prompt, image[None], None, None, None, a14b.encode_text([""]))
    assert (high_only - ours).abs().max() > 1e-2


def test_the_guide_states_the_counted_expert_size():
    """docs/guides/wan22.md's memory figures are the count of the real expert's config, not typed."""
    from pathlib import Path

    from diffusers import WanTransformer3DModel

    from svi.model.cost import preset_transformer_config

    config, _ = preset_transformer_config("wan2.2-i2v-a14b", None)
    with torch.device("meta"):
        n = sum(p.numel() for p in WanTransformer3DModel.from_config(config).parameters())
    guide = (Path(__file__).resolve().parents[2] / "docs" / "guides" / "wan22.md").read_text()
    assert f"{n / 1e9:.2f} B parameters" in guide
    assert (
        f"{2 * n / 1e9:.1f} GB in bf16" in guide and f"both experts on the GPU, {4 * n / 1e9:.1f} GB" in guide
    )


# -- training one expert (reconstructed: the authors' training code is unpublished) ----------------------


def test_each_expert_trains_on_its_own_timestep_range():
    """#79: the experts are trained separately, each on its own range; high t in [875, 1000], low below
    (train.expert_boundary 0.875, SVI's switch; 0.9 is DiffSynth's A14B recipe)."""
    from svi.config import ERFTConfig
    from svi.training.erft import Recycler, expert_ids

    sigmas = flow.shifted_sigmas(1000, 5.0)
    # shift 5: t(k) = 1000 s(1 - k / 1000) >= 875 for k <= 416, >= 900 for k <= 357
    assert expert_ids(sigmas, "high", 0.875) == (0, 417) and expert_ids(sigmas, "low", 0.875) == (417, 1000)
    assert expert_ids(sigmas, "high", 0.9) == (0, 358)
    x0, y = torch.zeros(64, 16, 3, 4, 4), torch.zeros(64, 20, 3, 4, 4)
    for expert in ("high", "low"):
        rec = Recycler(ERFTConfig(mode="plain"), None, seed=1, expert=expert, boundary=0.875)
        t = rec.prepare(x0, y).timestep
        assert ((t >= 875) if expert == "high" else (t < 875)).all()
    everything = Recycler(ERFTConfig(mode="plain"), None, seed=1).prepare(x0, y).timestep
    assert (everything >= 875).any() and (everything < 875).any()


def test_a_run_trains_only_its_expert(tmp_path):
    from svi.config import ConfigError
    from svi.model.lora import add_lora
    from svi.training.erft import Recycler
    from svi.training.train import forward_loss, trained_expert

    cfg = build_config(
        {"model": {"preset": "tiny-a14b"}, "erft": {"mode": "plain"}, "train": {"expert": "low"}}
    )
    bb = load_backbone(cfg.model)
    tf = trained_expert(bb, cfg)
    assert tf is bb.transformer_2
    add_lora(tf, cfg.lora)
    before = {n: p.detach().clone() for n, p in bb.transformer.named_parameters()}
    params = [p for p in tf.parameters() if p.requires_grad]
    lora_before = [p.detach().clone() for p in params]
    rec = Recycler(cfg.erft, None, seed=0, expert="low", boundary=cfg.train.expert_boundary)
    g = torch.Generator().manual_seed(0)
    batch = {
        "video": torch.rand(2, 3, 9, 32, 32, generator=g) * 2 - 1,
        "prompt": ["a", "b"],
        "reference": torch.rand(2, 3, 32, 32, generator=g) * 2 - 1,
    }
    opt = torch.optim.AdamW(params, lr=1e-2)
    for _ in range(2):  # LoRA B starts at zero: the second step moves A too
        loss, _, prep, _ = forward_loss(tf, bb, batch, cfg, rec, "cpu")
        loss.backward()
        opt.step()
        opt.zero_grad()
        assert (prep.timestep < 875).all()
    assert all((a - b).abs().max() > 0 for a, b in zip(params, lora_before))
    assert all(torch.equal(p, before[n]) for n, p in bb.transformer.named_parameters())  # high untouched
    assert not any(".lora_" in n for n, _ in bb.transformer.named_parameters())
    with pytest.raises(ConfigError, match="set train.expert=high"):
        trained_expert(bb, cfg.model_copy(update={"train": cfg.train.model_copy(update={"expert": None})}))
    one = build_config({"train": {"expert": "high"}})
    with pytest.raises(ConfigError, match="leave train.expert unset"):
        trained_expert(load_backbone(one.model), one)


# -- SVI 2.0 Pro's training window (#75; reconstructed) --------------------------------------------------


def test_pro_training_window_is_the_authors_description():
    """#75, 1-based: the anchor from frames 1..k, the motion latent the last latent of frames k+1..k+81,
    the target the 81 frames from k+77. 0-based with k = 10: target 86..166, motion 10..90, anchor 0..9."""
    from svi.training.clips import pro_min_start, pro_window_ids

    k = 10
    target = list(range(k + 76, k + 76 + 81))
    motion = pro_window_ids(target, 81, 1)
    assert motion == list(range(k, k + 81))  # its anchor frames: range(0, motion[0]) = 1-based 1..k
    assert motion[-5:] == target[:5]  # the target's latents 0 and 1 restate the motion latent's frames
    assert pro_min_start(81, 1) == 77 and pro_window_ids(list(range(76, 157)), 81, 1) is None


def test_the_dataset_reads_the_pro_window(tmp_path):
    from svi.training.data import VideoClipDataset, collate
    from tests.svi.test_data import brightness_video, write_category

    step = 8
    folder = write_category(tmp_path, "grey", [("ramp.mp4", "a brightening grey screen")])
    brightness_video(folder / "ramp.mp4", num_frames=30, step=step)
    ds = VideoClipDataset(tmp_path, num_frames=9, height=32, width=32, pro_window=True)

    def frame_of(x):  # the source frame of a uniformly grey frame [3, H, W]
        return round(((x.mean().item() + 1) * 127.5 - 16) / step)

    for epoch in range(6):
        ds.set_epoch(epoch)
        item = ds[0]
        start = frame_of(item["video"][:, 0])
        assert start >= 5  # pro_min_start(9, 1): a motion window and an anchor frame before it
        assert [frame_of(item["motion"][:, i]) for i in range(9)] == list(range(start - 4, start + 5))
        assert 0 <= frame_of(item["anchor"]) < start - 4
    assert set(collate([ds[0]])) >= {"motion", "anchor"}
    brightness_video(folder / "ramp.mp4", num_frames=13, step=step)  # 9 + 4 + 1 = 14 needed
    from svi.training.clips import BadVideoError

    with pytest.raises(BadVideoError):
        VideoClipDataset(tmp_path, num_frames=9, height=32, width=32, pro_window=True)


def test_pro_training_condition_and_image_errors_in_the_motion_slot(a14b):
    from svi.config import DataConfig, ERFTConfig
    from svi.training.batch import encode_batch
    from svi.training.erft import add_image_error, image_error_start

    g = torch.Generator().manual_seed(0)
    video, motion = (torch.rand(1, 3, 9, 32, 32, generator=g) * 2 - 1 for _ in range(2))
    anchor = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    data = DataConfig(num_frames=9, height=32, width=32, window="pro")
    enc = encode_batch(a14b, video, ["a"], data, motion=motion, anchor=anchor)
    want = pro_condition(a14b.encode_video(anchor[:, :, None]), a14b.encode_video(motion)[:, :, -1:], 3)
    torch.testing.assert_close(enc.y, want)
    torch.testing.assert_close(enc.x0, a14b.encode_video(video))
    with pytest.raises(ValueError, match="motion and anchor"):
        encode_batch(a14b, video, ["a"], data)
    # E_img: the motion-latent slot under the Pro window by default, the first latents otherwise
    assert image_error_start("auto", "pro") == 1 and image_error_start("auto", "clip") == 0
    assert image_error_start("first", "pro") == 0
    y, e = torch.zeros(20, 3, 2, 2), torch.ones(16, 3, 2, 2)
    moved = add_image_error(y, e, 1, 0, at=1)
    assert (moved[4:, 1] == 1).all() and (moved[4:, [0, 2]] == 0).all() and (moved[:4] == 0).all()
    # the defaults leave every earlier run's training hash alone (absent from the dumps)
    assert "window" not in DataConfig().model_dump() and "y_error_slot" not in ERFTConfig().model_dump()
    assert DataConfig(window="pro").model_dump()["window"] == "pro"
