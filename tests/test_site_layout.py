"""The documentation site as a reader at 1400 x 1000 sees it, in headless Chromium (where one is
installed): no table or code block of any page (the results pages, the CLI page and the home page
among them) is wider than the text column, no block of preformatted text wraps its lines (it scrolls
sideways instead), and every results page generated from a bundle shows a plot on its first screen
and its whole answer picture (the forest plot) within it
(benchmarks/site_shots.py measures these; `python -m benchmarks.site_shots OUT` prints the same). Under
10 s each (a strict build of the site and its two dozen pages), so they run in the default suite."""

import re
import shutil
from pathlib import Path

import pytest

from benchmarks.browser import Browser, chromium
from benchmarks.site_shots import HEIGHT_PX, WIDTH_PX, build_site, measure, results_pages, site_pages
from reports.pages import bundle_folders, page_name

REPO = Path(__file__).resolve().parents[1]
# The 17 columns of an "other metrics" table as the reports once wrote it: a number and its interval each.
PLANTED = "\n".join(
    [
        "| Arm | n | " + " | ".join(f"metric {i} ↓" for i in range(15)) + " |",
        "|:--|" + "--:|" * 16,
        "| diffusion_forcing_erft | 8×3 | "
        + " | ".join(f"0.{i:04d} [0.0491, 0.2385]" for i in range(15))
        + " |",
    ]
)


@pytest.fixture(scope="module")
def browser():
    exe = chromium()
    if exe is None:
        pytest.skip(
            "no chromium on PATH: apt-get install chromium (or put chromium or google-chrome on PATH)"
        )
    b = Browser(exe, WIDTH_PX, HEIGHT_PX)
    yield b
    b.close()


def _checked(browser: Browser, site: Path) -> dict[str, dict]:
    """The measures of every page of a built site."""
    return {page: measure(browser, site, page) for page in site_pages(site)}


def _problems(found: dict[str, dict]) -> list[str]:
    """One line per table or code block wider than its column, per block of preformatted text that
    wraps, per generated results page whose first screen holds no plot and per one whose answer
    picture ends below the first screen."""
    lines = [
        f"{page or 'index'}: {bad}" for page, m in found.items() for bad in m["overflows"] + m["wrapped"]
    ]
    generated = {f"results/{page_name(b)}" for b in bundle_folders(REPO)}
    lines += [
        f"{page}: no plot on the first screen ({WIDTH_PX}x{HEIGHT_PX})"
        for page, m in found.items()
        if page in generated and not m["first_screen_images"]
    ]
    lines += [
        f"{page}: the answer picture ends at {m['answer_bottom']} px, below the first screen ({HEIGHT_PX} px)"
        for page, m in found.items()
        if page in generated and m["answer_bottom"] is not None and m["answer_bottom"] > HEIGHT_PX
    ]
    return lines


def has_a_comparison(bundle) -> bool:
    """A bundle with a finished unit of an arm that is not the baseline, so a difference to draw: one
    still holding its baseline alone (a demo begun again in a new toy world) has no forest plot yet."""
    from reports.bundle import read_manifest

    manifest = read_manifest(bundle)
    arms = manifest["declaration"]["arms"]
    return any(
        u.get("role") != "reference" and arms[u["arm"]].get("role") != "baseline" for u in manifest["units"]
    )


def test_the_sites_tables_and_code_fit_their_column_and_results_pages_open_on_their_answer(tmp_path, browser):
    found = _checked(browser, build_site(REPO, tmp_path / "site"))
    pages = {"", "cli", "design", "guides/review", *results_pages(REPO)}
    assert pages <= set(found) and all(m["height"] > 1000 for m in found.values())
    compared = {f"results/{page_name(b)}" for b in bundle_folders(REPO) if has_a_comparison(b)}
    assert compared and all(found[p]["answer_bottom"] for p in compared)  # their forest plots
    problems = _problems(found)
    assert problems == [], (
        "too wide or wrapped at 1400 px, or the answer not on the first screen:\n" + "\n".join(problems)
    )


def test_planted_layout_defects_fail_the_check(tmp_path, browser):
    """A wide table, a page without its plots, an answer picture taller than the first screen and text
    blocks that wrap (the site built without its blocks' language classes, as it once was)."""
    from PIL import Image

    copy = tmp_path / "repo"
    shutil.copytree(REPO / "docs", copy / "docs")
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    (copy / "mkdocs.yml").write_text(re.sub(r"pymdownx\.highlight:\n.*\n", "pymdownx.highlight\n", config))
    page = copy / "docs" / "results" / "mechanisms.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n" + PLANTED + "\n", encoding="utf-8")
    talk = copy / "docs" / "results" / "svi_talk.md"  # its answer's plots taken out
    talk.write_text(re.sub(r"^!\[.*$", "", talk.read_text(encoding="utf-8"), flags=re.M), encoding="utf-8")
    tall = copy / "docs" / "results" / "svi_dance" / "forest_ssim.png"  # 768 x 1300 px: past any first screen
    Image.new("RGB", (768, 1300), "white").save(tall)
    problems = _problems(_checked(browser, build_site(copy, tmp_path / "site")))
    assert [p for p in problems if p.startswith("results/")] == [
        next(p for p in problems if p.startswith("results/mechanisms: table") and "metric 0" in p),
        f"results/svi_talk: no plot on the first screen ({WIDTH_PX}x{HEIGHT_PX})",
        next(
            p for p in problems if re.fullmatch(r"results/svi_dance: the answer picture ends at \d+ px.*", p)
        ),
    ], problems
    assert any(p.startswith("guides/testing: pre ") and "$ make demo" in p for p in problems), problems
