"""The figures in README.md and docs/index.md come from placeholders or records: a number on either page
lies in a block `harness pages` fills from a bundle (`<!-- results:EXPERIMENT -->`), in code, in a link's
target, or is one of the few structural numbers below; a timing, a count, a lead in dB or a gate's value
typed by hand fails here. Those figures live where they are measured (the generated results pages, the
runs' records in docs/records/ that the guides include) and the front pages link them."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRONT = ("README.md", "docs/index.md")

# The numbers a front page may state as they are: names and labels, not measurements.
ALLOWED = {
    r"Wan \d\.\d": "the model's version (Wan 2.1)",
    r"SVI \d\.\d(?: and \d\.\d Pro)?": "the method's versions (SVI 2.0, and 2.0 Pro)",
    r"Apache-\d\.\d": "the licence",
    r"\b\d+\.\d+\.\d+\b": "a version string",
    r"\b(?:toy )?worlds? \d\b": "a toy world's number, its label",
    r"\b\d+% interval": "the reports' interval level (reports/stats.py LEVEL)",
    r"§\d+": "a section number",
}
FILLED = re.compile(r"<!-- (results:\S+) -->.*?<!-- /\1 -->", re.S)  # harness pages writes these
NOT_PROSE = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?^[ \t]*\1[ \t]*$"  # a code block
    r"|(`+)(?:(?!\n[ \t]*\n).)+?\2"  # a code span
    r"|<!--.*?-->"  # a comment (a record's marker among them)
    r"|\]\([^)\s]*\)"  # a link's target
    r"|https?://\S+"
    r"|\{\{[^\n]*?\}\}",  # a placeholder
    re.M | re.S,
)
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*(?!\w)")


def typed_figures(text: str) -> list[str]:
    """Each number of `text` that is neither filled in, code, a link target nor allowed, with its words."""
    prose = NOT_PROSE.sub(" ", FILLED.sub(" ", text))
    prose = re.sub("|".join(ALLOWED), " ", prose)
    return [" ".join(prose[max(0, m.start() - 30) : m.end() + 20].split()) for m in NUMBER.finditer(prose)]


@pytest.mark.parametrize("page", FRONT)
def test_the_front_pages_type_no_figure_by_hand(page):
    found = typed_figures((ROOT / page).read_text(encoding="utf-8"))
    assert not found, (
        f"{page}: figures typed by hand; link the generated page or record that holds them, or fill them "
        f"from a bundle (a `<!-- results:EXPERIMENT -->` block): {found}"
    )


@pytest.mark.parametrize(
    "planted",
    [
        "`make demo` takes 9 min 17 s on this machine.",
        "The base's energy score over the first 10 s is 0.1307.",
        "truth_vae leads the held frame by +8.96 dB (gate G1).",
        "`make test` runs 1,339 tests.",
        "a difference of -0.0322",
    ],
)
def test_a_planted_hand_typed_figure_is_caught(planted):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert typed_figures(text) == []
    assert typed_figures(text.replace("## Set up and run", f"{planted}\n\n## Set up and run")) != []


def test_numbers_in_code_links_filled_blocks_and_the_allowed_names_pass():
    text = (
        "Wan 2.1 I2V 14B, SVI 2.0, toy world 3 and world 2, fp32, G1-G4, 95% intervals, `torch==2.13.0`, "
        "[the demo](testing.md#the-demo-2), torch 2.13.0, Apache-2.0, §4.\n\n```text\n9 min 17 s\n```\n"
        "<!-- results:x -->\n| base | 0.1445 [0.1181, 0.1709] |\n<!-- /results:x -->\n<!-- record demo -->\n"
    )
    assert typed_figures(text) == []
