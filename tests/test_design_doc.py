"""docs/design.md lists every module that exists: each package's modules by file name in that
package's table (a folder of modules by its folder, e.g. `cli/`'s commands as `cmd_*.py`)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("svi", "scoring", "toyworld", "reports", "harness", "sweeps", "cli")


def unlisted(doc: str) -> list[str]:
    """The modules of PACKAGES that `doc` does not name (by their path below the package, or their file
    name beside a listed sibling); package files and weights aside."""
    missing = []
    for package in PACKAGES:
        for f in sorted((ROOT / package).rglob("*.py")):
            rel = f.relative_to(ROOT / package).as_posix()
            if f.name in ("__init__.py", "__main__.py") or "weights" in f.parts:
                continue
            if f.name.startswith("cmd_") and "cmd_*.py" in doc:
                continue
            named = (f"{package}/{rel}", f"`{rel}`", f"`{f.name}`", f", {f.name}", f"{rel}`")
            if not any(n in doc for n in named):
                missing.append(f"{package}/{rel}")
    return missing


def test_the_design_page_lists_every_module():
    missing = unlisted((ROOT / "docs" / "design.md").read_text())
    assert not missing, "modules docs/design.md does not list:\n" + "\n".join(missing)


def test_a_new_module_is_caught(tmp_path):
    doc = (ROOT / "docs" / "design.md").read_text()
    assert unlisted(doc.replace("hashing.py", "hash_helpers.py")) == ["harness/base/hashing.py"]
