"""Cross-attention over a padded text context, with the padding's repeated rows counted once.

Wan pads every prompt's umT5 embedding with zeros to 512 tokens and attends to all of them without a
mask, so each cross-attention projects and attends to hundreds of identical padding rows (a toy
prompt is 77-128 tokens; toy generation takes 0.93x the time without them:
benchmarks/perf/context_padding.py). Attention over `m` identical keys (with
their identical values) is attention over one of them whose logit is raised by log m:

    sum_j exp(q.k_j) v_j  over m copies of (k, v)  =  exp(q.k + log m) v

so the trailing run of rows equal to the context's last row is cut to one row with an additive bias of
log(run) on its key. The result is the same function of the weights and inputs (the official model's);
only float summation order changes (tests/svi/test_context_attention.py bounds it). Only rows that are
exactly equal are merged, so a context without padding takes the ordinary path. The merge needs an
additive mask, which the native (torch SDPA) backend takes; with another backend (flash-attn) the
processor leaves the call to diffusers' own.
"""

from __future__ import annotations

import math

import torch
from diffusers.models.attention_dispatch import _AttentionBackendRegistry, dispatch_attention_fn
from diffusers.models.transformers.transformer_wan import (
    WanAttnProcessor,
    _get_added_kv_projections,
    _get_qkv_projections,
)

# umT5's context length in Wan, which diffusers' Wan attention assumes: it takes the last 512 context
# tokens as the text and any before them as the image's (a constant in its processor)
WAN_TEXT_TOKENS = 512
# the backend that takes an additive float mask: torch's SDPA, diffusers' default
MASKED_BACKEND = "native"


def takes_masks(backend) -> bool:
    """Whether the processor's backend (None: the active default, which DIFFUSERS_ATTN_BACKEND may set)
    is torch's SDPA."""
    if backend is None:
        backend = _AttentionBackendRegistry.get_active_backend()[0]
    return getattr(backend, "value", backend) == MASKED_BACKEND


def merge_trailing_repeats(context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """[B, L, D] context -> ([B, K, D] with K <= L, [K] additive key bias or None).

    The trailing rows equal (exactly, in every batch element) to each element's last row are kept once,
    with bias log(run) on that row's key and 0 on the others. None: nothing to merge (run of 1)."""
    same = (context == context[:, -1:]).all(dim=-1).all(dim=0)  # [L]: equal to the last row, all of B
    run = int(same.flip(0).long().cumprod(0).sum())  # length of the trailing run of True
    if run <= 1:
        return context, None
    keep = context.shape[1] - run + 1
    bias = torch.zeros(keep, dtype=context.dtype, device=context.device)
    bias[-1] = math.log(run)
    return context[:, :keep], bias


class MergedPaddingProcessor(WanAttnProcessor):
    """diffusers' Wan attention processor, with the text context's padding merged (module docstring).

    Self-attention, contexts without a repeated tail and backends without additive masks go to
    diffusers' processor unchanged."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        if (
            encoder_hidden_states is None
            or attention_mask is not None
            or not takes_masks(self._attention_backend)
        ):
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)
        # diffusers' split: the last WAN_TEXT_TOKENS rows are the text, any before them the image's
        # (a shorter context, the tiny preset's, is all text: diffusers' image slice of it is empty)
        image_len = (
            max(encoder_hidden_states.shape[1] - WAN_TEXT_TOKENS, 0) if attn.add_k_proj is not None else 0
        )
        text, bias = merge_trailing_repeats(encoder_hidden_states[:, image_len:])
        if bias is None:
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)

        def heads(x: torch.Tensor) -> torch.Tensor:  # [B, N, H*D] -> [B, N, H, D]
            return x.unflatten(2, (attn.heads, -1))

        query, key, value = _get_qkv_projections(attn, hidden_states, text)  # [B, Lq, C], [B, K, C] x 2
        query, key = heads(attn.norm_q(query)), heads(attn.norm_k(key))
        out = dispatch_attention_fn(
            query,
            key,
            heads(value),
            attn_mask=bias.to(query.dtype).view(1, 1, 1, -1),
            backend=self._attention_backend,
        )  # [B, Lq, H, D]
        out = out.flatten(2, 3).type_as(query)
        if image_len > 0:  # the image branch, as diffusers' (its own keys, no mask)
            key_img, value_img = _get_added_kv_projections(attn, encoder_hidden_states[:, :image_len])
            out_img = dispatch_attention_fn(
                query, heads(attn.norm_added_k(key_img)), heads(value_img), backend=self._attention_backend
            )
            out = out + out_img.flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


def merge_context_padding(transformer: torch.nn.Module) -> None:
    """Give every cross-attention (`attn2`) of a Wan transformer the merged-padding processor."""
    for block in transformer.blocks:
        block.attn2.set_processor(MergedPaddingProcessor())


def attend_padding_in_full(transformer: torch.nn.Module) -> None:
    """Give every cross-attention diffusers' own processor back (the padding attended row by row)."""
    for block in transformer.blocks:
        block.attn2.set_processor(WanAttnProcessor())
