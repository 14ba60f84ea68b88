"""A scoring network saved with its configuration in the safetensors header (the toy encoder, the toy
sync network): one way to write and read such a file, and one error that says how to make it."""

from __future__ import annotations

from pathlib import Path

import torch


class SavedNetwork:
    """Mixed into an nn.Module whose `config` has `to_json` / `from_json` (its `config_class`).
    `default_weights`: the committed file; `train_command`: how to make one (named when it is missing)."""

    config_class: type
    default_weights: Path
    train_command: str

    def save(self, path: str | Path, metadata: dict[str, str] | None = None) -> None:
        """Weights (float32) with the config and any extra string metadata in the safetensors header."""
        from safetensors.torch import save_file

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        meta = {
            "format": "pt",
            "model": type(self).__name__,
            "config": self.config.to_json(),
            **(metadata or {}),
        }
        save_file(state, str(path), metadata=meta)

    @classmethod
    def from_file(cls, path: str | Path | None = None, device: str | torch.device = "cpu"):
        """The committed weights (default) or another file written by `save`, in eval mode."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        path = Path(path) if path is not None else cls.default_weights
        if not path.is_file():
            raise FileNotFoundError(
                f"{cls.__name__} weights not found at {path}; train them with `{cls.train_command} --out {path}`"
            )
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("model", cls.__name__) != cls.__name__ or "config" not in meta:
            raise ValueError(
                f"{path} is not a file written by {cls.__name__}.save (no {cls.__name__} config metadata)"
            )
        model = cls(cls.config_class.from_json(meta["config"]))
        model.load_state_dict(load_file(str(path)))
        model.metadata = meta
        return model.to(device).eval()

    @classmethod
    def from_committed(cls, device: str | torch.device = "cpu"):
        """The committed weights (`default_weights`)."""
        return cls.from_file(cls.default_weights, device)
