"""MkDocs hook: the CLI reference page (docs/cli.md) written from the harness's own argument parsers.

On the page `cli.md`, the marker line `<!-- cli-reference -->` is replaced by the `--help` text of the
top-level `harness` command and of each subcommand, in fenced code blocks, so the reference cannot
drift from the code. The parsers come from `cli.build_parser()`, which returns the top-level
parser and a dict of subcommand name -> parser. Registered under `hooks:` in mkdocs.yml.

If the harness cannot be imported, the build stops with an error that says so (the page is never
published with the marker left in or an empty reference).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError

PAGE = "cli.md"
MARKER = "<!-- cli-reference -->"
# argparse wraps help text to the terminal's width: fix it so the page is the same on every machine, at the
# 80 columns a terminal has and the text column of the site holds without scrolling (at 1400 px).
HELP_COLUMNS = "80"


def _parsers():
    repo_root = str(Path(__file__).resolve().parents[2])
    if repo_root not in sys.path:
        sys.path.insert(0, repo_root)
    try:
        from cli import build_parser

        return build_parser()
    except Exception as e:  # an import or a parser that fails: say which and stop the build
        raise PluginError(
            "docs/hooks/cli_reference.py: cannot build the CLI reference from "
            f"cli.build_parser() ({type(e).__name__}: {e}); install the project (make setup) and "
            "check that `python -c 'from cli import build_parser; build_parser()'` works"
        ) from e


def _help_text(parser) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS
    try:
        return parser.format_help().rstrip()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def reference_markdown() -> str:
    """The generated reference: `harness --help`, then one section per subcommand."""
    top, subcommands = _parsers()
    parts = ["## `harness`", "", "```text", _help_text(top), "```"]
    for name, parser in subcommands.items():
        parts += ["", f"## `harness {name}`", "", "```text", _help_text(parser), "```"]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(
            f"docs/{PAGE}: the marker line {MARKER} is missing, so no CLI reference was written"
        )
    return markdown.replace(MARKER, reference_markdown(), 1)
