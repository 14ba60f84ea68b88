"""Names from data written as text: never as markup, never as a formula.

Experiment, arm, track, sample, metric and host names come from whoever declared or ran an
experiment, and a results bundle arrives in a pull request; the reports write them into Markdown
(report.md, and from it the published MkDocs pages), HTML, LaTeX and CSV. Each writer passes every
such name through the function for its format, so `<img src=x onerror=alert(1)>` is shown, not run,
and `=cmd|' /C calc'!A0` is a cell of text, not a spreadsheet formula:

    markdown_text(s)  Python-Markdown as MkDocs runs it (tables, attr_list, admonition, ...)
    markdown_prose(s) a bundle's prose (notes.md, the description): Markdown kept, raw HTML, attribute
                      lists and any link but http(s) or relative shown as text
    html_text(s)      HTML text and attribute values
    latex_text(s)     LaTeX text, also as a table row's first cell
    csv_cell(v)       a CSV cell a spreadsheet opens; csv_value undoes it on reading the file back
    markup_in(v)      where a value from a bundle holds what could start markup: the readers of a
                      bundle's manifest and registration refuse it there, so no field, a new one
                      included, reaches a page, a picture or the MLflow UI as markup

Our own words stay as written (their Markdown is meant): `words(template, *names)` puts names into
them, keeping the plain text (LaTeX and HTML writers escape it whole) and the Markdown side by side;
`plain(text)` is a text whose every character is literal in Markdown too.
"""

from __future__ import annotations

import html
import re

# Markdown: characters that start markup anywhere in a line (emphasis, code, attr_list's
# `{: key=value }` on a heading or table cell, a table's cell border, the escape itself), each
# escaped with a backslash: Python-Markdown's escapes (with the tables extension, `|` too).
_MD_BACKSLASHED = frozenset("\\`*{}|")
# As character references: `<`, `>` and `&` (raw HTML and references are passed through, and a
# backslash does not stop them), and the brackets of links and images, so that what reads the
# Markdown back by pattern (a page rewriting `![caption](plot.png)`) never meets a bracket of a name.
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "&#91;", "]": "&#93;"}
# A line break inside a name would end the table row (or the heading) and start a block of its own.
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x85\u2028\u2029]")


def markdown_text(s: object) -> str:
    """`s` as literal Markdown text: & < > [ ] as references; backslash, backtick, * { } | backslashed;
    _ backslashed unless it sits between two letters or digits (there it never opens or closes
    emphasis, in Python-Markdown as in CommonMark, so no_eimg and consistent_100s stay as they are);
    line breaks as spaces. For text within a line (a table cell, a heading's text, a paragraph past
    its first word, an image's caption), which is where the reports write names: the rest (- + # > .
    ! ( =) is markup only at a line's start or right after a bracket, so "full - base" stays as it
    is."""
    text = _LINE_BREAKS.sub(" ", str(s))
    out = []
    for i, ch in enumerate(text):
        if ch in _MD_ENTITIES:
            out.append(_MD_ENTITIES[ch])
        elif ch in _MD_BACKSLASHED:
            out.append("\\" + ch)
        elif ch == "_":
            inside = 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
            out.append("_" if inside else "\\_")
        else:
            out.append(ch)
    return "".join(out)


def html_text(s: object) -> str:
    """`s` as HTML text or a quoted attribute value: `&`, `<`, `>`, `"` and `'` as entities."""
    return html.escape(str(s), quote=True)


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # braced, so a name at a table row's start is not read as the optional argument of the `\\` or
    # `\midrule` before it (`\\ [x]` is "skip x")
    "[": "{[}",
    "]": "{]}",
}


def latex_text(s: object) -> str:
    """`s` as LaTeX text: `\\ & % $ # _ { } ~ ^` escaped, `[` `]` braced, line breaks as spaces (a
    blank line in a table cell ends the paragraph the table is in)."""
    return "".join(_LATEX.get(ch, ch) for ch in _LINE_BREAKS.sub(" ", str(s)))


# A spreadsheet runs a cell starting with one of these as a formula (OWASP, "CSV injection"). `'`
# too, so that csv_value can tell a prefix added here from a name that starts with `'`.
_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: a string starting with `= + - @`, tab, CR (or `'`)
    gets a leading `'`. Anything that is not a string (numbers, NaN, booleans) is returned unchanged,
    so a negative number stays a number: apply it to text columns only."""
    if isinstance(value, str) and value.startswith(_CSV_TRIGGERS):
        return "'" + value
    return value


def csv_value(value: object) -> object:
    """The value `csv_cell` was given, from the cell it wrote (reading a report's CSV back)."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(_CSV_TRIGGERS):
        return value[1:]
    return value


class Words(str):
    """Our words with names from data in them (`words`). As a str it is the plain text: what the
    LaTeX and HTML writers escape whole and what a reader of a table's notes sees; `markdown` is the
    same text for a Markdown page, our words as written (their `code` meant) and each name through
    `markdown_text`."""

    markdown: str


def words(template: str, *names: object) -> Words:
    """`template` (ours) with each `{}` filled by a name: `words("Δ = arm - {} (the reference arm)", ref)`."""
    out = Words(template.format(*(str(n) for n in names)))
    out.markdown = template.format(*(markdown_text(n) for n in names))
    return out


def plain(text: str) -> Words:
    """A text shown literally in every format, Markdown included (names with words of ours that have no
    markup: its Markdown is `markdown_text` of all of it)."""
    return words("{}", text)


# A `<` that can open HTML (a tag, a comment, an autolink, an e-mail link): any `<` but one before a
# space or the end ("p < 0.001" stays as written).
_OPENS_HTML = re.compile(r"<(?=[^\s])")
# A link's target after `](` (an inline link or image: Python-Markdown takes it up to the closing
# bracket or a title, spaces and all) or `]:` (a reference definition: one word, perhaps on the next
# line), kept only when it is http(s) or relative: no scheme, and none of the characters a browser
# would decode or drop into one (`&`, `:`, `\`, whitespace inside). Relative targets stop at `]`, so the
# targets of consecutive links never overlap and the scan stays linear. A target that starts with `//`
# is not relative: a browser takes `//evil.example/x` as that host, on the page's scheme.
_LINK_START = re.compile(r"\](?=\(|:)")
_RELATIVE = r"(?!//)[A-Za-z0-9._~!$'()*+,;=@%/?#-]*"
_SAFE_TARGET = re.compile(
    r"\(\s*+<?(?:https?://|" + _RELATIVE + r"(?=>|\)|\s*+$|\s++[\"'(\)])|(?=\)|$))"
    r"|:[ \t]*+\n?+[ \t]*+(?=\S)<?(?:https?://|" + _RELATIVE + r"(?=>|\s|$))",
    re.I,
)


def markdown_prose(text: str) -> str:
    """Prose from a bundle (its notes, its description) as Markdown that is only text and links: every
    `<` that could open raw HTML as `&lt;` (in code spans too, where it then reads `&lt;`: a code span is
    not told apart from the text around it safely), every `{` `}` as references (no attribute list can
    set `onclick`), and the `]` of a link or reference definition whose target is neither http(s) nor
    relative as `&#93;`, so it reads as the text it was. Our own Markdown (emphasis, lists, code,
    relative and http(s) links) is kept. Linear in the text's length."""
    out, last = [], 0
    for m in _LINK_START.finditer(text):
        if not _SAFE_TARGET.match(text, m.end()):
            out += [text[last : m.start()], "&#93;"]
            last = m.end()
    text = "".join([*out, text[last:]])
    text = _OPENS_HTML.sub("&lt;", text)
    return text.replace("{", "&#123;").replace("}", "&#125;")


def markdown_of(text: str) -> str:
    """A text's Markdown: a `Words`' own, any other str is ours (written as it is)."""
    return text.markdown if isinstance(text, Words) else text


# What a value from a bundle (a manifest or a registration: names, settings, dates, reasons) may not
# hold outside its prose: `<` `>` (raw HTML, an autolink), `[` `]` (a link or an image), `{` `}` (an
# attribute list's `onclick`), and control characters and line breaks (a new block: a heading, raw HTML
# on a line of its own). None of the harness's own values holds one; prose goes through markdown_prose.
_MARKUP = re.compile(r"[<>\[\]{}\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The prose of a manifest and of a registration (both carry the declaration): its description, Markdown
# for a page through markdown_prose.
PROSE_FIELDS = frozenset({"declaration.description"})


def markup_in(value: object, prose: frozenset[str] = frozenset(), at: str = "") -> str | None:
    """The path (`declaration.suites[0].length`) of the first string in `value`, a key or a value at any
    depth, that holds a character that could start markup in a page (`< > [ ] { }`, a control character
    or a line break), with the character; None if there is none. Paths in `prose` are not looked into
    (their text reaches a page through `markdown_prose`). A bundle's readers call it on everything they
    read, so a field added later is covered without being named."""
    if at in prose:
        return None
    if isinstance(value, str):
        m = _MARKUP.search(value)
        return f"{at or 'the value'} holds {m[0]!r}" if m else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{at}.{key}" if at else str(key)
            found = markup_in(key, at=f"{where} (a key)") or markup_in(item, prose, where)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = markup_in(item, prose, f"{at}[{i}]")
            if found:
                return found
    return None
