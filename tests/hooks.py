"""The site's MkDocs hooks (docs/hooks/, scripts rather than a package), loaded for their tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_hook(name: str) -> ModuleType:
    """docs/hooks/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(f"{name}_hook", ROOT / "docs" / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
