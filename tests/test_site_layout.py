"""The documentation site as a reader at 1400 x 1000 sees it, in headless Chromium (where one is
installed): no table or code block of any page (the results pages, the CLI page and the home page
among them) is wider than the text column, and every results page generated from a bundle shows a
plot on its first screen
(benchmarks/site_shots.py measures both; `python -m benchmarks.site_shots OUT` prints the same). Under
10 s each (a strict build of the site and its two dozen pages), so they run in the default suite."""

import re
import shutil
from pathlib import Path

import pytest

from benchmarks.browser import Browser, chromium
from benchmarks.site_shots import HEIGHT_PX, WIDTH_PX, build_site, measure, results_pages, site_pages
from reports.pages import bundle_folders

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
    """One line per table or code block wider than its column, and per generated results page whose
    first screen holds no plot."""
    lines = [f"{page or 'index'}: {wide}" for page, m in found.items() for wide in m["overflows"]]
    generated = {f"results/{b.name}" for b in bundle_folders(REPO)}
    lines += [
        f"{page}: no plot on the first screen ({WIDTH_PX}x{HEIGHT_PX})"
        for page, m in found.items()
        if page in generated and not m["first_screen_images"]
    ]
    return lines


def test_the_sites_tables_and_code_fit_their_column_and_results_pages_open_on_a_plot(tmp_path, browser):
    found = _checked(browser, build_site(REPO, tmp_path / "site"))
    pages = {"", "cli", "design", "guides/review", *results_pages(REPO)}
    assert pages <= set(found) and all(m["height"] > 1000 for m in found.values())
    problems = _problems(found)
    assert problems == [], "too wide at 1400 px, or no plot on the first screen:\n" + "\n".join(problems)


def test_a_planted_wide_table_and_a_page_without_its_plot_fail_the_check(tmp_path, browser):
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "docs", copy / "docs")
    shutil.copy(REPO / "mkdocs.yml", copy / "mkdocs.yml")
    page = copy / "docs" / "results" / "mechanisms.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n" + PLANTED + "\n", encoding="utf-8")
    talk = copy / "docs" / "results" / "svi_talk.md"  # its answer's plots taken out
    talk.write_text(re.sub(r"^!\[.*$", "", talk.read_text(encoding="utf-8"), flags=re.M), encoding="utf-8")
    problems = _problems(_checked(browser, build_site(copy, tmp_path / "site")))
    assert len(problems) == 2, problems
    assert problems[0].startswith("results/mechanisms: table") and "metric 0" in problems[0]
    assert problems[1] == f"results/svi_talk: no plot on the first screen ({WIDTH_PX}x{HEIGHT_PX})"
