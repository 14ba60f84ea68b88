"""What the world-3 probes of `python -m benchmarks.toyworld` share: the demo's recipe as they chain it."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "configs" / "recipes" / "toy_shot.yaml"


def recipe(weights: str | None, overrides: list[str]):
    """The demo recipe's configuration with `--weights` and `--set`; refuses (ValueError) a weights
    folder that is not there and a configuration this script does not chain as the generator would
    (it chains pixel frames clip by clip)."""
    from svi.config import load_config

    if weights and not Path(weights).is_dir():
        raise ValueError(
            f"--weights {weights}: no such folder (a toy model folder, e.g. <run>/pretrain/model)"
        )
    cfg = load_config(RECIPE, [*([f"model.weights={weights}"] if weights else []), *overrides])
    g = cfg.generate
    if g.strategy != "chain" or g.chaining != "pixel" or g.assembly != "drop_lead":
        raise ValueError(
            f"generate.strategy={g.strategy}, chaining={g.chaining}, assembly={g.assembly}: this check chains "
            "pixel frames (strategy chain, chaining pixel, assembly drop_lead, the demo's); drop those --set"
        )
    return cfg
