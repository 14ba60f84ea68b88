"""reports/glossary.py: one glossary, written from its terms, and each term's first use on a page linked
to its entry (the generated results pages by `harness pages`, the guides and the home page by hand)."""

import re
from pathlib import Path

import pytest

from reports import glossary as G

ROOT = Path(__file__).resolve().parents[2]
HREF = "../glossary.md"


def link(word: str, anchor: str) -> str:
    return f"[{word}]({HREF}#{anchor})"


def test_only_the_first_use_of_each_term_is_linked():
    text = "The truth and the truth again; Holm, then Holm.\n\nMore truth.\n"
    assert G.link_terms(text, HREF) == (
        f"The {link('truth', 'truth')} and the truth again; {link('Holm', 'holm')}, then Holm.\n\nMore truth.\n"
    )


@pytest.mark.parametrize(
    "skipped",
    [
        "`truth` in a code span",
        "``a `truth` span``",
        "```text\ntruth in a block\n```",
        "## The truth in a heading",
        "[the truth](scoring.md) as a link's text",
        "[a link](truth.md#truth) by its target",
        "![the truth drawn](plot.png)",
        "<summary>the truth, folded</summary>",
        "<!-- the truth in a comment -->",
        '!!! warning "the truth in a title"',
        "{{ value t truth arm }}",
        "https://example.org/truth",
    ],
)
def test_code_headings_links_and_alt_text_are_never_linked(skipped):
    assert G.link_terms(skipped, HREF) == skipped
    # the first use outside them is the one linked
    assert G.link_terms(f"{skipped}\n\nThe truth.\n", HREF) == f"{skipped}\n\nThe {link('truth', 'truth')}.\n"


def test_a_use_split_over_two_lines_and_a_part_of_a_pattern_are_linked_as_written():
    split = "crossed\ndesign"
    assert G.link_terms(f"the {split}", HREF) == f"the {link(split, 'crossed-design')}"
    assert (
        G.link_terms("kept as that world's record.", HREF)
        == f"kept as that world's {link('record', 'record')}."
    )


@pytest.mark.parametrize(
    "other_sense",
    [
        "a one-sided p of 0.01",  # a test, not the verdict
        "the harness records the commit",  # a verb
        "under a 10 s hang guard",  # a timeout
        "invalid YAML is refused",
        "truth_vae_extra and untruthful",  # parts of other words
        "Can Truth distance judge here, and the truth clip distance?",  # metrics' names, not the reference
    ],
)
def test_a_word_in_another_sense_is_not_linked(other_sense):
    assert G.link_terms(other_sense, HREF) == other_sense


def test_a_page_that_links_an_entry_before_its_first_unlinked_use_is_left_as_it_is():
    linked = f"The {link('truth', 'truth')}, and the truth again.\n"
    assert G.link_terms(linked, HREF) == linked
    late = f"The truth; later {link('the truth', 'truth')}.\n"  # linked, but not at its first use
    assert G.link_terms(late, HREF) == f"The {link('truth', 'truth')}; later {link('the truth', 'truth')}.\n"
    page = (ROOT / "docs" / "results" / "ablation_eimg.md").read_text(encoding="utf-8")
    assert G.link_terms(page, HREF) == page  # generated once: linking twice changes nothing


def test_the_committed_glossary_is_the_one_its_terms_give():
    """`harness pages` writes it and `harness pages --check` compares it (tests/reports/test_pages.py runs
    the check over every generated file); this is that one file, fast."""
    assert (ROOT / G.PAGE).read_text(encoding="utf-8") == G.glossary_page(), "run `harness pages`"


def test_each_entry_has_its_own_anchor_and_its_links_land_on_the_page():
    anchors = [t.anchor for t in G.TERMS]
    assert len(anchors) == len(set(anchors)) and {t.group for t in G.TERMS} == set(G.GROUPS)
    page = G.glossary_page()
    for target in re.findall(r"\]\(#([a-z-]+)\)", page):
        assert target in anchors, target
    for path in re.findall(r"\]\(([a-z0-9_/]+\.md)(?:#[a-z0-9-]+)?\)", page):
        assert (ROOT / "docs" / path).is_file(), path


def guide_pages() -> list[tuple[Path, str]]:
    """(page, the glossary's path from it): the guides and the home page, linked by hand."""
    guides = sorted((ROOT / "docs" / "guides").glob("*.md"))
    return [(p, HREF) for p in guides] + [(ROOT / "docs" / "index.md", "glossary.md")]


def unlinked(text: str, href: str) -> list[str]:
    """'anchor: use' for each term whose first use on a page is not linked to its glossary entry."""
    return [f"{anchor}: {text[start:end]!r}" for start, end, anchor in G.unlinked_uses(text, href)]


def test_every_guide_links_the_first_use_of_each_term():
    found = {
        p.relative_to(ROOT).as_posix(): words
        for p, href in guide_pages()
        if (words := unlinked(p.read_text(encoding="utf-8"), href))
    }
    assert not found, (
        "link each term's first use to its glossary entry (reports/glossary.py link_terms gives the text), "
        f"or reword a use in another sense: {found}"
    )


def test_a_planted_unlinked_first_use_in_a_guide_is_caught():
    path = ROOT / "docs" / "guides" / "scoring.md"
    text = path.read_text(encoding="utf-8")
    title, rest = text.split("\n", 1)
    planted = f"{title}\nA word on the MDD first.\n{rest}"
    assert unlinked(text, HREF) == [] and unlinked(planted, HREF) == ["mdd: 'MDD'"]
