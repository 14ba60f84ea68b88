"""LoRA on the Wan transformer with peft, exported and loaded in the formats people use.

- `add_lora` puts a peft adapter on the target modules (diffusers names) and freezes the base.
- `export_lora` writes a `.safetensors` that diffusers' Wan pipelines take with `load_lora_weights`.
- `load_lora` reads our exports, diffusers files and the official SVI checkpoints, which use
  DiffSynth's Wan key names (`blocks.0.self_attn.q.lora_A.weight`); those are converted by diffusers'
  own Wan converter after adding the `diffusion_model.` prefix it recognises.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig as PeftLoraConfig
from peft.utils import get_peft_model_state_dict

from svi.config import LoraConfig

ADAPTER = "default"


def add_lora(transformer: torch.nn.Module, cfg: LoraConfig, adapter_name: str = ADAPTER) -> int:
    """Add a trainable LoRA adapter; everything else is frozen. Returns the trainable parameter count."""
    transformer.requires_grad_(False)
    transformer.add_adapter(
        PeftLoraConfig(
            r=cfg.rank,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=list(cfg.target_modules),
            init_lora_weights=True,  # B = 0: the adapted model starts as the base model
        ),
        adapter_name=adapter_name,
    )
    n = 0
    for name, p in transformer.named_parameters():
        p.requires_grad_(".lora_" in name)
        n += p.numel() if p.requires_grad else 0
    if n == 0:
        raise ValueError(f"LoRA target modules {cfg.target_modules} matched no layer of the transformer")
    return n


def lora_state_dict(transformer: torch.nn.Module, adapter_name: str = ADAPTER) -> dict[str, torch.Tensor]:
    """The adapter's weights in diffusers naming (`blocks.0.attn1.to_q.lora_A.weight`), on CPU."""
    sd = get_peft_model_state_dict(transformer, adapter_name=adapter_name)
    return {k: v.detach().cpu().contiguous() for k, v in sd.items()}


def export_lora(transformer: torch.nn.Module, path: str | Path, adapter_name: str = ADAPTER) -> Path:
    """Write the adapter as one `.safetensors` file loadable by `WanImageToVideoPipeline.load_lora_weights`."""
    from diffusers import WanImageToVideoPipeline

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"LoRA export path must end in .safetensors, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = transformer.peft_config[adapter_name]
    metadata = {
        "r": cfg.r,
        "lora_alpha": cfg.lora_alpha,
        "target_modules": sorted(cfg.target_modules),
    }
    tmp_name = path.stem + ".tmp.safetensors"
    WanImageToVideoPipeline.save_lora_weights(
        save_directory=path.parent,
        transformer_lora_layers=lora_state_dict(transformer, adapter_name),
        weight_name=tmp_name,
        transformer_lora_adapter_metadata=metadata,
    )
    (path.parent / tmp_name).replace(path)  # a reader never sees a half-written file
    return path


def _to_tensor_dict(source: str | Path | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(source, dict):
        return dict(source)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"LoRA file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def is_diffsynth_lora(state_dict: dict[str, torch.Tensor]) -> bool:
    """Official SVI / DiffSynth keys: `blocks.N.self_attn.q.lora_A.weight` (no model prefix)."""
    return any(k.startswith("blocks.") and (".self_attn." in k or ".cross_attn." in k) for k in state_dict)


def to_diffusers_lora(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Convert any supported LoRA state dict to diffusers' `transformer.`-prefixed naming."""
    from diffusers import WanImageToVideoPipeline

    sd = {k.replace(".default.", "."): v for k, v in state_dict.items()}
    if is_diffsynth_lora(sd):
        # diffusers converts DiffSynth/ComfyUI Wan names when they carry this prefix.
        sd = {f"diffusion_model.{k}": v for k, v in sd.items()}
    sd = WanImageToVideoPipeline.lora_state_dict(sd)
    if not any(k.startswith("transformer.") for k in sd):
        sd = {f"transformer.{k}": v for k, v in sd.items()}
    return sd


def load_lora(
    transformer: torch.nn.Module,
    source: str | Path | dict[str, torch.Tensor],
    adapter_name: str = "svi",
    scale: float = 1.0,
) -> str:
    """Load a LoRA (our export, a diffusers file, or an official SVI DiffSynth file) as an active adapter."""
    sd = to_diffusers_lora(_to_tensor_dict(source))
    transformer.load_lora_adapter(sd, prefix="transformer", adapter_name=adapter_name)
    transformer.set_adapters([adapter_name], weights=[scale])
    return adapter_name
