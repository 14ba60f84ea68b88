"""MkDocs hook: the testing guide's measured figures included from the runs' own records.

On the page `guides/testing.md`, a marker line `<!-- record NAME -->` is replaced by the file
docs/records/NAME.txt (written by `python -m benchmarks.record NAME -- COMMAND`: the command, its
commit, the machine, the wall time and the output's last lines) in a text block, so the test counts
and times the guide shows are the run's own output, never typed. Only that page: a results page
(from a bundle's notes, which may come from anyone) never includes files. A marker whose record is
missing stops the build, saying how to make it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.exceptions import PluginError

PAGE = "guides/testing.md"
RECORDS = Path(__file__).resolve().parents[1] / "records"
MARKER = re.compile(r"^<!-- record ([a-z0-9_-]+) -->$", re.M)


def record_block(name: str) -> str:
    path = RECORDS / f"{name}.txt"
    if not path.is_file():
        raise PluginError(
            f"docs/{PAGE}: no record docs/records/{name}.txt; make it with "
            f"`python -m benchmarks.record {name} -- COMMAND` and commit it"
        )
    return "```text\n" + path.read_text().rstrip() + "\n```"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    return MARKER.sub(lambda m: record_block(m[1]), markdown)
