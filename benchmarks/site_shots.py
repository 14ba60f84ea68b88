"""The built documentation site as a reader at 1400 x 1000 sees it: which tables and code blocks of its
pages are wider than the text column, whether a results page's first screen shows a plot, each page's height,
and screenshots of a results page (its first screen and the whole page, scaled down).

    python -m benchmarks.site_shots OUT_DIR [--prefix after_] [--page results/mechanisms]
        -> OUT_DIR/<prefix>mechanisms_first.png, <prefix>mechanisms_full.png, heights.json
           (page -> height in px, under the prefix's key) and the overflow list on stdout

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
# hold is measured too.
OVERFLOWS_JS = """(() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const article = document.querySelector('article');
  const edge = article.getBoundingClientRect().right;
  const out = [];
  for (const el of article.querySelectorAll('table, pre > code, svg')) {
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


def measure(browser: Browser, site: Path, page: str) -> dict:
    """{'height': px, 'first_fold': px or None, 'overflows': [what is too wide], 'first_screen_images':
    [src]} of one page."""
    if not browser.open(
        page_url(site, page), "document.readyState === 'complete' && !!document.querySelector('article')"
    ):
        raise TimeoutError(f"{page} did not load")
    images = browser.eval(FIRST_SCREEN_IMAGES_JS) or []
    height = browser.eval(HEIGHT_JS)  # before the collapsible blocks are opened: the page as it opens
    fold = browser.eval(FIRST_FOLD_JS)
    return {"height": height, "first_fold": fold, "overflows": browser.eval(OVERFLOWS_JS) or [],
            "first_screen_images": images}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the screenshots and heights.json")
    parser.add_argument("--prefix", default="", help="file-name prefix of the shots (before_, after_)")
    parser.add_argument("--page", default="results/mechanisms", help="the page to screenshot")
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
        browser.open(page_url(site, args.page))
        name = args.page.rsplit("/", 1)[-1]
        (args.out / f"{args.prefix}{name}_first.png").write_bytes(browser.screenshot())
        (args.out / f"{args.prefix}{name}_full.png").write_bytes(browser.full_page(scale=0.25))
    finally:
        browser.close()
    heights_file = args.out / "heights.json"
    heights = json.loads(heights_file.read_text()) if heights_file.is_file() else {}
    heights[args.prefix.strip("_") or "now"] = {p or "index": m["height"] for p, m in found.items()}
    heights_file.write_text(json.dumps(heights, indent=1) + "\n")
    for page, m in found.items():
        print(f"{page or 'index'}: {m['height']} px (first folded block at {m['first_fold']}), "
              f"{len(m['overflows'])} too wide, "
              f"{len(m['first_screen_images'])} image(s) on the first screen")  # fmt: skip
        for line in m["overflows"]:
            print("   ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
