"""Where the shipped declarations live: `configs/` at the repository's root, data rather than code.

configs/experiments/   the experiments `harness list` shows and `harness run NAME` finds
configs/recipes/       SVI configurations an experiment or `harness train` extends
configs/sweeps/        the Optuna sweeps `harness sweep NAME` finds
"""

from __future__ import annotations

from pathlib import Path

CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"
EXPERIMENTS_DIR = CONFIGS_DIR / "experiments"
RECIPES_DIR = CONFIGS_DIR / "recipes"
SWEEPS_DIR = CONFIGS_DIR / "sweeps"
