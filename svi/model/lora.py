"""LoRA on the Wan transformer with peft, exported and loaded in the formats people use.

- `add_lora` puts a peft adapter on the target modules (diffusers names) and freezes the base; an
  attached conditioning adapter (svi/model/adapters.py) trains or stays frozen as its `trainable` says
  (SVI-Dance's pose encoder trains with the LoRA, SVI-Talk's audio modules stay frozen).
- `export_lora` writes a `.safetensors` that diffusers' Wan pipelines take with `load_lora_weights`;
  a trained adapter's weights go into the same file under their official names (as in SVI-Dance's).
- `load_lora` reads our exports, diffusers files and the official SVI checkpoints, which use
  DiffSynth's Wan key names (`blocks.0.self_attn.q.lora_A.weight`); those are converted by diffusers'
  own Wan converter after adding the `diffusion_model.` prefix it recognises. Adapter keys in the file
  (`dwpose_embedding.*`) go to the attached adapter.
- `load_expert_loras` loads a two-expert model's files (SVI 2.0 / 2.0 Pro on Wan 2.2 A14B ship one per
  expert, `..._high_noise_lora_...` and `..._low_noise_lora_...`, DiffSynth names with `.default`), each
  into its expert, after `lora_mismatches` has checked the file's layers and shapes against that expert.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig as PeftLoraConfig
from peft.utils import get_peft_model_state_dict

from svi.config import LoraConfig

ADAPTER = "default"


def add_lora(transformer: torch.nn.Module, cfg: LoraConfig, adapter_name: str = ADAPTER) -> int:
    """Add a trainable LoRA adapter; everything else is frozen but the attached conditioning adapters
    that train. No target modules: no LoRA (an adapter trains alone). Returns the trainable count."""
    from svi.model.adapters import adapters_of

    transformer.requires_grad_(False)
    if not cfg.target_modules:
        for adapter in adapters_of(transformer).values():
            adapter.requires_grad_(adapter.trainable)
        n = sum(p.numel() for p in transformer.parameters() if p.requires_grad)
        if n == 0:
            raise ValueError("lora.target_modules is empty and no attached adapter trains: nothing to train")
        return n
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
    for name, p in transformer.named_parameters():
        p.requires_grad_(".lora_" in name)
    if not any(p.requires_grad for p in transformer.parameters()):
        raise ValueError(f"LoRA target modules {cfg.target_modules} matched no layer of the transformer")
    for adapter in adapters_of(transformer).values():
        adapter.requires_grad_(adapter.trainable)
    return sum(p.numel() for p in transformer.parameters() if p.requires_grad)


def lora_state_dict(transformer: torch.nn.Module, adapter_name: str = ADAPTER) -> dict[str, torch.Tensor]:
    """The adapter's weights in diffusers naming (`blocks.0.attn1.to_q.lora_A.weight`), on CPU."""
    sd = get_peft_model_state_dict(transformer, adapter_name=adapter_name)
    return {k: v.detach().cpu().contiguous() for k, v in sd.items()}


def export_lora(transformer: torch.nn.Module, path: str | Path, adapter_name: str = ADAPTER) -> Path:
    """Write the adapter as one `.safetensors` file loadable by `WanImageToVideoPipeline.load_lora_weights`."""
    from diffusers import WanImageToVideoPipeline

    from svi.model.adapters import adapters_of

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"LoRA export path must end in .safetensors, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {k: v for a in adapters_of(transformer).values() for k, v in a.export_state_dict().items()}
    if adapter_name not in getattr(transformer, "peft_config", {}):  # no LoRA: the trained adapter alone
        from safetensors.torch import save_file

        if not extra:
            raise ValueError("nothing to export: the transformer has no LoRA and no trained adapter")
        tmp = path.with_name(path.stem + ".tmp.safetensors")
        save_file(extra, str(tmp))
        tmp.replace(path)
        return path
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
    if extra:  # a trained adapter (pose encoder) travels in the same file, as officially
        from safetensors import safe_open
        from safetensors.torch import load_file, save_file

        tmp = path.parent / tmp_name
        with safe_open(str(tmp), "pt") as f:
            file_metadata = f.metadata()
        save_file({**load_file(str(tmp)), **extra}, str(tmp), metadata=file_metadata)
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
    fuse: bool = False,
) -> str:
    """Load a LoRA (our export, a diffusers file, or an official SVI DiffSynth file) as an active adapter,
    or with `fuse` merged into the transformer's own weights at `scale` and its layers dropped (as
    DiffSynth's loader does for the official inference): the same model to float rounding, at the base
    model's cost per step, and a LoRA added later sits on top of it. Keys of an attached conditioning
    adapter (the pose encoder's) are loaded into it."""
    from svi.model.adapters import adapters_of

    sd = _to_tensor_dict(source)
    for adapter in adapters_of(transformer).values():
        sd = adapter.take_exported(sd)
    if any("dwpose_embedding." in k for k in sd):
        raise ValueError(
            f"{source} holds pose-encoder weights (an SVI-Dance file) but the model has no pose adapter: "
            "generate with variant=dance (condition.kind=pose)"
        )
    if not sd:  # the file held a trained adapter alone
        return adapter_name
    sd = to_diffusers_lora(sd)
    transformer.load_lora_adapter(sd, prefix="transformer", adapter_name=adapter_name)
    transformer.set_adapters([adapter_name], weights=[scale])
    if fuse:  # the adapter's scale is set above; fuse_lora's own lora_scale would multiply it again
        transformer.fuse_lora(lora_scale=1.0, adapter_names=[adapter_name])
        transformer.unload_lora()
    return adapter_name


def lora_mismatches(transformer: torch.nn.Module, state_dict: dict) -> list[str]:
    """What in a LoRA state dict (any supported naming) does not fit the transformer: adapted layers it
    lacks, and A / B matrices whose shapes disagree with the layer's [out, in] (checked where the values
    are tensors; dry runs pass names only). Keys that are not LoRA tensors (an attached adapter's weights,
    as SVI-Dance's file holds) are not its business. Empty: it fits."""
    lora = {k: v for k, v in state_dict.items() if _is_lora_key(k)}
    if not lora:
        return []
    sd = to_diffusers_lora(lora)
    modules = dict(transformer.named_modules())
    problems = []
    for key, value in sd.items():
        if ".lora_" not in key:
            continue
        layer, part = key.removeprefix("transformer.").split(".lora_", 1)
        module = modules.get(layer)
        if module is None:
            problems.append(f"{layer}: no such layer")
        elif isinstance(value, torch.Tensor) and hasattr(module, "weight") and value.dim() == 2:
            out_f, in_f = module.weight.shape[:2]
            if part.startswith("A") and value.shape[1] != in_f:
                problems.append(f"{layer}: lora_A is {tuple(value.shape)}, the layer takes {in_f} inputs")
            if part.startswith("B") and value.shape[0] != out_f:
                problems.append(f"{layer}: lora_B is {tuple(value.shape)}, the layer gives {out_f} outputs")
    return problems


def load_expert_loras(
    backbone, files: list[str | Path | None], scale: float = 1.0, fuse: bool = True
) -> list[str | None]:
    """Load each expert's LoRA file into its expert: files[0] into the transformer (the high-noise expert
    of a two-expert model), files[1] into transformer_2 (the low-noise one); None leaves that expert
    bare. A missing file, a file for an expert the model does not have, or a file that does not fit its
    expert (`lora_mismatches`) is an error naming the file and the expert, before any weight changes.
    Returns the adapter names."""
    from svi.model.presets import EXPERT_NAMES

    experts = backbone.experts()
    two = len(experts) == 2
    names = EXPERT_NAMES if two else ("transformer",)
    given = [(i, f) for i, f in enumerate(files) if f is not None]
    for i, f in given:
        if i >= len(experts):
            raise ValueError(
                f"{f}: a LoRA for the low-noise expert, but the {backbone.preset} model has one transformer; "
                "leave generate.lora_2 unset"
            )
        if not isinstance(f, dict) and not Path(f).is_file():
            raise FileNotFoundError(f"the {names[i]}'s LoRA file not found: {f}")
    states = {i: _to_tensor_dict(f) for i, f in given}
    for i, f in given:
        problems = lora_mismatches(experts[i], states[i])
        if problems:
            raise ValueError(
                f"{f} does not fit the {names[i]} of {backbone.preset}: {len(problems)} mismatch(es), e.g. "
                f"{problems[0]}. Is it the other expert's file, or a LoRA for another model?"
            )
    out: list[str | None] = [None] * len(experts)
    for i, _ in given:
        out[i] = load_lora(experts[i], states[i], adapter_name=f"svi_{i}", scale=scale, fuse=fuse)
    return out


def _is_lora_key(key: str) -> bool:
    return any(tag in key for tag in (".lora_A.", ".lora_B.", ".lora_down.", ".lora_up.", ".alpha"))


def lora_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The LoRA tensors of a file that may hold other weights too (an adapter's, a full checkpoint):
    .safetensors are read key by key, so a large file is not loaded for its LoRA part."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys() if _is_lora_key(k)}
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else {}
    return {k: v for k, v in state.items() if _is_lora_key(k)}


def fuse_lora_into_base(transformer: torch.nn.Module, state_dict: dict[str, torch.Tensor]) -> int:
    """Merge a LoRA into the transformer's own weights and drop its layers (`load_lora` with `fuse`):
    the model then is the fine-tuned one, and a LoRA trained later sits on top of it.
    Returns the LoRA tensors merged (0: nothing to merge)."""
    if not state_dict:
        return 0
    load_lora(transformer, state_dict, adapter_name="fused", fuse=True)
    return len(state_dict)
