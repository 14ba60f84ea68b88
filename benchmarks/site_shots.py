"""The built documentation site as a reader at 1400 x 1000 sees it: which tables and code blocks of its
pages are wider than the text column, which blocks of preformatted text wrap their lines, whether a
results page's first screen shows a plot and where its answer picture (the forest plot) ends, each
page's height, and screenshots of results pages (the first screen and the whole page, scaled down).

    python -m benchmarks.site_shots OUT_DIR [--prefix after_] [--page results/mechanisms ...]
        -> OUT_DIR/<prefix><page>_first.png, <prefix><page>_full.png per --page, heights.json
           (page -> height and the answer picture's bottom edge in px, under the prefix's key) and the
           overflow and wrapping lists on stdout

The same measures back tests/test_site_layout.py, so the shots and the test read the page the same way.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from benchmarks.browser import Browser, chromium

WIDTH_PX, HEIGHT_PX = 1400, 1000
# Every table and code block of the article that is wider than its box (it scrolls sideways) or
# reaches past the article's right edge; the closed collapsible blocks are opened first, so what they
# hold is measured too. Preformatted text (```text: a record's table, a diagram) keeps its lines and
# may scroll sideways (WRAPPED_JS checks that it never wraps).
OVERFLOWS_JS = """(() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const article = document.querySelector('article');
  const edge = article.getBoundingClientRect().right;
  const out = [];
  for (const el of article.querySelectorAll('table, pre > code, svg')) {
    if (el.closest('.language-text')) continue;
    const box = el.closest('.md-typeset__scrollwrap') || article;  // the theme's scrolling frame of a table
    const right = Math.min(box.getBoundingClientRect().right, edge);
    if (el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right > right + 1) {
      const text = (el.querySelector('tr') || el).textContent.trim().replace(/\\s+/g, ' ').slice(0, 90);
      const seen = Math.round(right - el.getBoundingClientRect().left);
      out.push(`${el.tagName.toLowerCase()} ${el.scrollWidth} px in ${Math.min(el.clientWidth, seen)} px: ${text}`);
    }
  }
  return out;
})()"""
# The images whose top edge lies within the first screen (the window's height, the page not scrolled).
FIRST_SCREEN_IMAGES_JS = (
    "(() => { window.scrollTo(0, 0); return [...document.querySelectorAll('article img')]"
    ".filter(i => i.getBoundingClientRect().top < window.innerHeight).map(i => i.getAttribute('src')); })()"
)
# The bottom edge of the answer picture (the first forest plot: reports/plots.py's forest_<metric>.png),
# px from the page's top once its image has loaded; null where the page has none.
ANSWER_BOTTOM_JS = (
    "(() => { window.scrollTo(0, 0); const i = [...document.querySelectorAll('article img')]"
    ".find(i => /(^|\\/)forest_[^/]*$/.test(i.getAttribute('src')));"
    " return i && i.complete ? Math.round(i.getBoundingClientRect().bottom + window.scrollY) : null; })()"
)
# Every block of preformatted text (```text: tables of a record, diagrams, folder trees, --help) that
# wraps a line: it shows more line boxes than it has lines. Wrapping hides itself from OVERFLOWS_JS (a
# wrapped block is never too wide). Code blocks of commands and configuration (language-bash, -yaml...)
# wrap by design (docs/stylesheets/extra.css) and are not counted; a block without a language class
# (mkdocs.yml's pygments_lang_class lost) is.
WRAPPED_JS = """(() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const out = [];
  for (const el of document.querySelectorAll('article pre > code')) {
    if (/(^| )language-(?!text( |$))/.test(el.closest('.highlight')?.className || '')) continue;
    const lines = el.textContent.replace(/\\n$/, '').split('\\n').length;
    const range = document.createRange();
    range.selectNodeContents(el);
    const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
    if (tops.size > lines) {
      const first = el.textContent.trim().split('\\n')[0].slice(0, 70);
      out.push(`pre ${lines} line(s) drawn on ${tops.size}: ${first}`);
    }
  }
  return out;
})()"""
HEIGHT_JS = "document.documentElement.scrollHeight"
# Where the first folded block starts (px from the page's top; null: none): what a reader scrolls through
# before the details.
FIRST_FOLD_JS = (
    "(() => { const d = document.querySelector('article details');"
    " return d ? Math.round(d.getBoundingClientRect().top + window.scrollY) : null; })()"
)


def build_site(repo: Path, out: Path) -> Path:
    """`mkdocs build --strict` of `repo` into `out`; the site's folder."""
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)], cwd=repo, check=True
    )
    return out


def results_pages(repo: Path) -> list[str]:
    """The site paths of the results pages ('results/mechanisms'), from docs/results/*.md."""
    return sorted(f"results/{p.stem}" for p in (repo / "docs" / "results").glob("*.md"))


def site_pages(site: Path) -> list[str]:
    """Every page of a built site by its path ('' the home page, 'guides/review', 'results/mechanisms')."""
    pages = (p.parent.relative_to(site).as_posix() for p in site.rglob("index.html"))
    return sorted("" if p == "." else p for p in pages)


def page_url(site: Path, page: str) -> str:
    return (
        (site / page / "index.html").resolve().as_uri() if page else (site / "index.html").resolve().as_uri()
    )


# The page has loaded, its images included (an image not loaded yet has no height).
LOADED_JS = (
    "document.readyState === 'complete' && !!document.querySelector('article') && "
    "[...document.images].every(i => i.complete)"
)


def measure(browser: Browser, site: Path, page: str) -> dict:
    """{'height': px, 'first_fold': px or None, 'answer_bottom': px or None, 'overflows': [what is too
    wide], 'wrapped': [preformatted blocks that wrap], 'first_screen_images': [src]} of one page."""
    if not browser.open(page_url(site, page), LOADED_JS):
        raise TimeoutError(f"{page} did not load")
    images = browser.eval(FIRST_SCREEN_IMAGES_JS) or []
    height = browser.eval(HEIGHT_JS)  # before the collapsible blocks are opened: the page as it opens
    fold = browser.eval(FIRST_FOLD_JS)
    answer = browser.eval(ANSWER_BOTTOM_JS)
    return {"height": height, "first_fold": fold, "answer_bottom": answer,
            "overflows": browser.eval(OVERFLOWS_JS) or [], "wrapped": browser.eval(WRAPPED_JS) or [],
            "first_screen_images": images}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the screenshots and heights.json")
    parser.add_argument("--prefix", default="", help="file-name prefix of the shots (before_, after_)")
    parser.add_argument(
        "--page", action="append", help="a page to screenshot (repeatable; default results/mechanisms)"
    )
    parser.add_argument("--site", type=Path, help="an already built site (default: build one in OUT/site)")
    args = parser.parse_args(argv)
    exe = chromium()
    if exe is None:
        print("no chromium on PATH: apt-get install chromium", file=sys.stderr)
        return 1
    repo = Path(__file__).resolve().parents[1]
    args.out.mkdir(parents=True, exist_ok=True)
    site = args.site or build_site(repo, args.out / "site")
    browser = Browser(exe, WIDTH_PX, HEIGHT_PX)
    try:
        found = {p: measure(browser, site, p) for p in site_pages(site)}
        for page in args.page or ["results/mechanisms"]:
            browser.open(page_url(site, page), LOADED_JS)
            name = page.rsplit("/", 1)[-1] or "index"
            (args.out / f"{args.prefix}{name}_first.png").write_bytes(browser.screenshot())
            (args.out / f"{args.prefix}{name}_full.png").write_bytes(browser.full_page(scale=0.25))
    finally:
        browser.close()
    heights_file = args.out / "heights.json"
    heights = json.loads(heights_file.read_text()) if heights_file.is_file() else {}
    heights[args.prefix.strip("_") or "now"] = {
        p or "index": {"height": m["height"], "answer_bottom": m["answer_bottom"]} for p, m in found.items()
    }
    heights_file.write_text(json.dumps(heights, indent=1) + "\n")
    for page, m in found.items():
        print(f"{page or 'index'}: {m['height']} px (first folded block at {m['first_fold']}, "
              f"answer picture ends at {m['answer_bottom']}), {len(m['overflows'])} too wide, "
              f"{len(m['wrapped'])} wrapped, "
              f"{len(m['first_screen_images'])} image(s) on the first screen")  # fmt: skip
        for line in m["overflows"] + m["wrapped"]:
            print("   ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
