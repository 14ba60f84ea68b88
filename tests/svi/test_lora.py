"""LoRA: the official target set, diffusers-compatible export, official (DiffSynth) key loading."""

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline, WanTransformer3DModel

from svi.config import LoraConfig
from svi.model.backbone import build_tiny
from svi.model.lora import add_lora, export_lora, is_diffsynth_lora, load_lora, lora_state_dict

pytestmark = pytest.mark.filterwarnings(
    "ignore::RuntimeWarning"
)  # peft notes diffusers' zero-filled img keys


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(1, 36, 3, 4, 4, generator=g),
        torch.tensor([321.0]),
        torch.randn(1, 8, 32, generator=g),
        torch.randn(1, 17, 32, generator=g),
    )


def _randomise_lora(transformer, seed=1):
    g = torch.Generator().manual_seed(seed)
    for name, p in transformer.named_parameters():
        if ".lora_" in name:
            p.data = torch.randn(p.shape, generator=g) * 0.2


def test_official_target_set_on_the_14b_architecture():
    # The real Wan 2.1 I2V 14B config on the meta device: no memory, exact parameter counts.
    with torch.device("meta"):
        model = WanTransformer3DModel(
            in_channels=36, image_dim=1280, added_kv_proj_dim=5120, num_layers=40, ffn_dim=13824
        )
    n = add_lora(model, LoraConfig())
    # per block: 8 attention linears 5120x5120 and FFN 5120->13824->5120, rank 128 (docs/method.md §5: ~613M)
    per_block = 8 * 128 * (5120 + 5120) + 2 * 128 * (5120 + 13824)
    assert n == 40 * per_block == 613_416_960
    names = {
        k.rsplit(".lora_", 1)[0].split(".", 2)[2] for k, p in model.named_parameters() if p.requires_grad
    }
    assert names == {
        "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
        "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0",
        "ffn.net.0.proj", "ffn.net.2",
    }  # fmt: skip
    assert not any(p.requires_grad for k, p in model.named_parameters() if ".lora_" not in k)


def test_export_loads_in_diffusers_pipeline(tmp_path):
    bb = build_tiny()
    add_lora(bb.transformer, LoraConfig(rank=4, alpha=8))
    _randomise_lora(bb.transformer)
    with torch.no_grad():
        ours = bb.transformer(*_inputs(), return_dict=False)[0]
    path = export_lora(bb.transformer, tmp_path / "adapter.safetensors")
    assert path.is_file() and not list(tmp_path.glob("*.tmp.*"))

    fresh = build_tiny()
    pipe = WanImageToVideoPipeline(
        tokenizer=fresh.tokenizer,
        text_encoder=fresh.text_encoder,
        vae=fresh.vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
        image_processor=fresh.image_processor,
        image_encoder=fresh.image_encoder,
        transformer=fresh.transformer,
    )
    with torch.no_grad():
        base = fresh.transformer(*_inputs(), return_dict=False)[0]
    pipe.load_lora_weights(str(path))
    with torch.no_grad():
        loaded = fresh.transformer(*_inputs(), return_dict=False)[0]
    assert (base - ours).abs().max() > 1e-3  # the adapter matters
    torch.testing.assert_close(loaded, ours)  # alpha/rank scaling survived the file


def _diffsynth_state_dict(transformer, rank=4, seed=2):
    """An official-SVI-style LoRA for the tiny model, DiffSynth names, no alpha (scale 1)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for i, _ in enumerate(transformer.blocks):
        block = transformer.blocks[i]
        for ours, theirs in [("attn1", "self_attn"), ("attn2", "cross_attn")]:
            attn = getattr(block, ours)
            for lin, short in [("to_q", "q"), ("to_k", "k"), ("to_v", "v")]:
                w = getattr(attn, lin).weight
                sd[f"blocks.{i}.{theirs}.{short}.lora_A.weight"] = (
                    torch.randn(rank, w.shape[1], generator=g) * 0.2
                )
                sd[f"blocks.{i}.{theirs}.{short}.lora_B.weight"] = (
                    torch.randn(w.shape[0], rank, generator=g) * 0.2
                )
            w = attn.to_out[0].weight
            sd[f"blocks.{i}.{theirs}.o.lora_A.weight"] = torch.randn(rank, w.shape[1], generator=g) * 0.2
            sd[f"blocks.{i}.{theirs}.o.lora_B.weight"] = torch.randn(w.shape[0], rank, generator=g) * 0.2
        for idx, lin in [("0", block.ffn.net[0].proj), ("2", block.ffn.net[2])]:
            w = lin.weight
            sd[f"blocks.{i}.ffn.{idx}.lora_A.weight"] = torch.randn(rank, w.shape[1], generator=g) * 0.2
            sd[f"blocks.{i}.ffn.{idx}.lora_B.weight"] = torch.randn(w.shape[0], rank, generator=g) * 0.2
    return sd


def _merge_by_hand(transformer, sd):
    """W += B @ A for every DiffSynth key: the reference the loader must reproduce."""
    names = {"self_attn": "attn1", "cross_attn": "attn2"}
    lin_names = {"q": "to_q", "k": "to_k", "v": "to_v", "o": "to_out.0"}
    for key, a in sd.items():
        if ".lora_A." not in key:
            continue
        b = sd[key.replace("lora_A", "lora_B")]
        _, i, part, lin = key.split(".")[:4]
        if part == "ffn":
            module = (
                transformer.blocks[int(i)].ffn.net[0].proj
                if lin == "0"
                else transformer.blocks[int(i)].ffn.net[2]
            )
        else:
            module = transformer.blocks[int(i)].get_submodule(f"{names[part]}.{lin_names[lin]}")
        module.weight.data += b @ a


def test_official_diffsynth_lora_loads(tmp_path):
    from safetensors.torch import save_file

    bb = build_tiny()
    sd = _diffsynth_state_dict(bb.transformer)
    assert is_diffsynth_lora(sd)
    ref = build_tiny()
    _merge_by_hand(ref.transformer, sd)
    with torch.no_grad():
        expected = ref.transformer(*_inputs(), return_dict=False)[0]
        base = bb.transformer(*_inputs(), return_dict=False)[0]

    f = tmp_path / "svi_shot.safetensors"
    save_file(sd, str(f))
    load_lora(bb.transformer, f)
    with torch.no_grad():
        got = bb.transformer(*_inputs(), return_dict=False)[0]
    assert (base - expected).abs().max() > 1e-2
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_a_fused_lora_is_the_official_merge_at_its_scale_with_no_lora_layer_left(scale):
    # DiffSynth merges a LoRA into the weights as it loads it (W += scale B A): `fuse` gives that
    # model, as the active adapter at the same scale does, at the bare model's cost per step.
    sd = _diffsynth_state_dict(build_tiny().transformer)
    ref = build_tiny()
    _merge_by_hand(ref.transformer, {k: v * scale if ".lora_B." in k else v for k, v in sd.items()})
    active, fused = build_tiny(), build_tiny()
    load_lora(active.transformer, sd, scale=scale)
    load_lora(fused.transformer, sd, scale=scale, fuse=True)
    assert not any(".lora_" in n for n, _ in fused.transformer.named_parameters())
    with torch.no_grad():
        expected = ref.transformer(*_inputs(), return_dict=False)[0]
        for model in (active, fused):
            torch.testing.assert_close(
                model.transformer(*_inputs(), return_dict=False)[0], expected, rtol=1e-4, atol=1e-5
            )


def test_peft_adapter_name_in_keys_is_accepted():
    bb = build_tiny()
    sd = {
        k.replace(".lora_A.", ".lora_A.default."): v for k, v in _diffsynth_state_dict(bb.transformer).items()
    }
    load_lora(bb.transformer, sd)
    assert "svi" in bb.transformer.peft_config


def test_lora_state_dict_keys_are_diffusers_names():
    bb = build_tiny()
    add_lora(bb.transformer, LoraConfig(rank=2, alpha=2))
    keys = lora_state_dict(bb.transformer)
    assert "blocks.0.attn1.to_q.lora_A.weight" in keys and "blocks.1.ffn.net.2.lora_B.weight" in keys


def test_targets_that_match_nothing_are_an_error():
    bb = build_tiny()
    with pytest.raises(ValueError):
        add_lora(bb.transformer, LoraConfig(target_modules=["no_such_layer"]))
