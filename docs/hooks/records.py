"""MkDocs hook: measured figures included from the runs' own records.

On the pages in PAGES, a marker line `<!-- record NAME -->` is replaced by the file
docs/records/NAME.txt (written by `python -m benchmarks.record NAME -- COMMAND`: the command, its
commit, the machine, the wall time and the output's last lines) in a text block, and a marker line
`<!-- table NAME -->` by docs/records/NAME.md as it is (tables a script printed, such as
`benchmarks.toyworld pretrain_record --markdown`), so the test counts, times and losses the pages
show are the runs' own output, never typed. Only those pages: a results page made from a bundle's
notes (which may come from anyone) never includes files. A marker whose record is missing stops the
build, saying how to make it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.exceptions import PluginError

PAGE = "guides/testing.md"
PAGES = (PAGE, "guides/toyworld_record.md")
RECORDS = Path(__file__).resolve().parents[1] / "records"
MARKER = re.compile(r"^<!-- (record|table) ([a-z0-9_-]+) -->$", re.M)


def record_block(kind: str, name: str, page: str = PAGE) -> str:
    path = RECORDS / f"{name}.{'txt' if kind == 'record' else 'md'}"
    if not path.is_file():
        how = (
            "python -m benchmarks.record NAME -- COMMAND" if kind == "record" else "the script the page names"
        )
        raise PluginError(
            f"docs/{page}: no record docs/records/{path.name}; make it with `{how}` and commit it"
        )
    if kind == "table":
        return path.read_text().rstrip()
    return "```text\n" + path.read_text().rstrip() + "\n```"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri not in PAGES:
        return markdown
    return MARKER.sub(lambda m: record_block(m[1], m[2], page.file.src_uri), markdown)
