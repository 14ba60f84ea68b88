"""reports/ names no configuration key by hand: what a report shows of a configuration comes from the
runs and the experiment's declared overrides, so a renamed or added setting needs no edit here."""

import ast
from pathlib import Path

from svi.config import SVIConfig

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = tuple(f"{name}." for name in SVIConfig.model_fields)  # "erft.", "train.", ...


def config_keys_named(source: str) -> list[str]:
    """The string constants of a module that spell a dotted configuration key ("erft.p_img")."""
    return [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(SECTIONS)
        and " " not in node.value
    ]  # fmt: skip


def test_reports_name_no_configuration_key():
    named = {
        str(p.relative_to(ROOT)): keys
        for p in sorted((ROOT / "reports").glob("*.py"))
        if (keys := config_keys_named(p.read_text()))
    }
    assert not named, named


def test_a_planted_key_is_found():
    assert config_keys_named('ORDER = ["erft.p_vid", "a sentence. with a dot"]\n') == ["erft.p_vid"]
