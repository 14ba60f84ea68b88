"""The text padding's identical rows attended once: the same function as diffusers' processor.

The merged and the full attention differ only in float summation order (softmax over fewer terms, one
of them weighted by exp(log m) instead of m equal terms), so outputs are compared with a tolerance of a
few float32 ulps of the values' size times the reduction length, not with ==.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from svi.model.context_attention import (
    MergedPaddingProcessor,
    attend_padding_in_full,
    merge_context_padding,
    merge_trailing_repeats,
    takes_masks,
)


def test_the_trailing_run_of_the_last_row_is_kept_once_with_log_of_its_length():
    a, b, p = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]), torch.zeros(2)
    kept, bias = merge_trailing_repeats(torch.stack([a, b, p, p, p])[None])  # [1, 5, 2]
    assert kept.shape == (1, 3, 2) and torch.equal(kept[0], torch.stack([a, b, p]))
    assert bias.tolist() == pytest.approx([0.0, 0.0, math.log(3)])


def test_nothing_is_merged_without_a_repeated_tail_or_when_only_a_middle_row_repeats():
    a, p = torch.tensor([1.0]), torch.tensor([0.0])
    for rows in ([a, p], [p, p, a]):  # a run of one; repeats that do not end the context
        context = torch.stack(rows)[None]
        kept, bias = merge_trailing_repeats(context)
        assert bias is None and kept is context


def test_a_batch_merges_the_run_every_element_shares():
    a, p = torch.tensor([1.0]), torch.tensor([0.0])
    context = torch.stack([torch.stack([a, p, p, p]), torch.stack([a, a, p, p])])  # runs of 3 and 2
    kept, bias = merge_trailing_repeats(context)
    assert kept.shape == (2, 3, 1) and bias.tolist() == pytest.approx([0.0, 0.0, math.log(2)])


def test_a_context_of_one_repeated_row_keeps_one_row():
    kept, bias = merge_trailing_repeats(torch.ones(2, 6, 3))
    assert kept.shape == (2, 1, 3) and bias.tolist() == pytest.approx([math.log(6)])


def test_attention_over_the_merged_keys_equals_attention_over_all_of_them():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 4, 7, 8, generator=g)  # [B, H, Lq, D]
    real = torch.randn(2, 4, 5, 8, generator=g)
    pad_k, pad_v = torch.randn(2, 4, 1, 8, generator=g), torch.randn(2, 4, 1, 8, generator=g)
    k = torch.cat([real, pad_k.expand(-1, -1, 40, -1)], 2)  # 5 real keys and 40 copies of one
    v = torch.cat([real.flip(-1), pad_v.expand(-1, -1, 40, -1)], 2)
    full = F.scaled_dot_product_attention(q, k, v)
    bias = torch.zeros(6)
    bias[-1] = math.log(40)
    merged = F.scaled_dot_product_attention(q, k[:, :, :6], v[:, :, :6], attn_mask=bias.view(1, 1, 1, -1))
    torch.testing.assert_close(merged, full, rtol=0, atol=45 * 4 * torch.finfo(torch.float32).eps)


@pytest.fixture(scope="module")
def toy_transformer():
    from svi.config import build_config
    from svi.model.backbone import load_backbone

    bb = load_backbone(build_config({"model": {"preset": "toy"}}).model)
    with torch.no_grad():
        context = bb.encode_text(["a red ball rolls left", "two birds fly over the hills at dusk, far away"])
        image = bb.encode_image(torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)))
    return bb.transformer, context, image


def forward(transformer, context, image, grad: bool = False):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, transformer.config.in_channels, 5, 8, 8, generator=g)  # [B, 36, F, h, w]
    with torch.set_grad_enabled(grad):
        return transformer(
            hidden_states=x,
            timestep=torch.tensor([900.0, 100.0]),
            encoder_hidden_states=context,
            encoder_hidden_states_image=image,
            return_dict=False,
        )[0]


def test_load_backbone_gives_every_cross_attention_the_merged_processor(toy_transformer):
    transformer, _, _ = toy_transformer
    assert all(isinstance(b.attn2.processor, MergedPaddingProcessor) for b in transformer.blocks)
    assert not any(isinstance(b.attn1.processor, MergedPaddingProcessor) for b in transformer.blocks)


def test_the_toy_transformer_gives_diffusers_outputs_and_gradients(toy_transformer):
    """The committed toy model, its 512-token text context (text of ~40 tokens, the rest padding) and
    its image tokens: output and the LoRA-relevant gradients (attn2's to_k / to_v) as with diffusers'
    own processor, to float32 summation order."""
    transformer, context, image = toy_transformer
    to_k = transformer.blocks[0].attn2.to_k.weight
    results = []
    try:
        for install in (attend_padding_in_full, merge_context_padding):
            install(transformer)
            transformer.zero_grad()
            out = forward(transformer, context, image, grad=True)  # [B, 16, F, h, w]
            out.square().mean().backward()
            results.append((out.detach(), to_k.grad.clone()))
    finally:
        merge_context_padding(transformer)
        transformer.zero_grad()
    (out_full, grad_full), (out_merged, grad_merged) = results
    scale = out_full.abs().max().item()
    # the text softmax sums up to 512 terms; every later layer carries the difference (6 layers)
    tol = 512 * 6 * torch.finfo(torch.float32).eps * scale
    torch.testing.assert_close(out_merged, out_full, rtol=0, atol=tol)
    torch.testing.assert_close(grad_merged, grad_full, rtol=1e-3, atol=1e-3 * grad_full.abs().max().item())


def test_a_context_without_padding_and_another_backend_take_diffusers_path(toy_transformer, monkeypatch):
    transformer, context, image = toy_transformer
    calls = []
    real = MergedPaddingProcessor.__mro__[1].__call__
    monkeypatch.setattr(
        MergedPaddingProcessor.__mro__[1], "__call__", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    distinct = torch.randn(context.shape, generator=torch.Generator().manual_seed(3))  # no repeated tail
    forward(transformer, distinct, image)
    assert len(calls) == 2 * len(transformer.blocks)  # self- and cross-attention, every block
    assert takes_masks(None) and takes_masks("native") and not takes_masks("flash")
